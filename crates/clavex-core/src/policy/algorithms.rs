//! Algorithms (FAPI 2.0 SP §5.4): only PS256, ES256 and EdDSA (Ed25519), for every signature Clavex
//! accepts or makes. The list is shared with every resource server, so it is defined once in
//! `clavex-resource` (which this crate depends on; it cannot depend on the engine) and re-exported.

use clavex_jose::Algorithm;

pub use clavex_resource::policy::{
    ADVERTISED_ALGORITHMS, FAPI_ALGORITHMS, algs_parameter, allowed_algorithm, fapi_algorithm,
};

/// What Clavex signs with when a client registered no preference for an object (ID token, JARM
/// response, signed introspection, access token): ES256, the FAPI 2.0 default.
pub const DEFAULT_SIGNING_ALGORITHM: Algorithm = Algorithm::Es256;

/// The algorithm to sign an object for a client with: the one it registered (checked at
/// registration, so any name here is a FAPI algorithm), else [`DEFAULT_SIGNING_ALGORITHM`].
pub fn signing_algorithm(registered: Option<&str>) -> Result<Algorithm, String> {
    match registered {
        Some(name) => fapi_algorithm(name),
        None => Ok(DEFAULT_SIGNING_ALGORITHM),
    }
}

/// The `algs` of Clavex's own `WWW-Authenticate: DPoP` challenges (RFC 9449 §7.1).
pub fn dpop_challenge_algs() -> String {
    algs_parameter(&FAPI_ALGORITHMS)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn fapi_algorithms_accepted() {
        for good in ["PS256", "ES256", "EdDSA", "Ed25519"] {
            assert!(fapi_algorithm(good).is_ok(), "{good}");
        }
        assert_eq!(signing_algorithm(None).unwrap(), Algorithm::Es256);
        assert_eq!(signing_algorithm(Some("PS256")).unwrap(), Algorithm::Ps256);
        assert_eq!(dpop_challenge_algs(), "ES256 PS256 EdDSA");
    }

    #[test]
    fn algorithms_outside_fapi_are_refused() {
        for bad in ["none", "RS256", "HS256", "ES384", ""] {
            assert!(fapi_algorithm(bad).is_err(), "{bad}");
            assert!(signing_algorithm(Some(bad)).is_err(), "{bad}");
        }
    }
}
