//! The FAPI 2.0 / RFC 9449 constants that both sides of a DPoP-protected exchange need: the
//! authorization server (`clavex-core` re-exports them from its `policy` module) and every resource
//! server. They are defined here, once, because `clavex-core` depends on this crate and not the other
//! way round, and because a resource server must not need the engine to know them.

use clavex_jose::Algorithm;

/// FAPI 2.0 SP §5.4: only PS256, ES256 and EdDSA (Ed25519) for every signature we accept or make.
pub const FAPI_ALGORITHMS: [Algorithm; 3] = [Algorithm::Ps256, Algorithm::Es256, Algorithm::EdDsa];

/// Names advertised in discovery. The fully-specified `Ed25519` is accepted on input but not
/// advertised, because the conformance suite flags any name outside PS256/ES256/EdDSA.
pub const ADVERTISED_ALGORITHMS: [&str; 3] = ["PS256", "ES256", "EdDSA"];

/// FAPI 2.0 SP §5.3.2.1-13: accept `iat`/`nbf` up to 10 s in the future (clock skew).
pub const MAX_FUTURE_SKEW_SECS: i64 = 10;
/// RFC 9449 §11.1: a DPoP proof is accepted up to this age (by its `iat`).
pub const DPOP_MAX_AGE_SECS: i64 = 60;
/// Bound on `jti` lengths we store, so replay records stay small.
pub const MAX_JTI_LEN: usize = 256;
/// Bound on the encoded size of any JWT we parse from a client.
pub const MAX_JWT_LEN: usize = 16 * 1024;

/// Parses an algorithm name and refuses anything outside FAPI's list (`none`, RS256, HS256, ...).
pub fn fapi_algorithm(name: &str) -> Result<Algorithm, String> {
    allowed_algorithm(name, &FAPI_ALGORITHMS)
}

/// Parses an algorithm name and refuses anything outside `allowed` (itself a subset of FAPI's list,
/// since [`Algorithm`] cannot express anything else).
pub fn allowed_algorithm(name: &str, allowed: &[Algorithm]) -> Result<Algorithm, String> {
    match Algorithm::parse(name) {
        Ok(alg) if allowed.contains(&alg) => Ok(alg),
        _ => Err(format!(
            "algorithm {name} is not allowed; use one of {}",
            allowed
                .iter()
                .map(|a| match a {
                    Algorithm::EdDsa => "EdDSA (Ed25519)",
                    other => other.as_str(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The `algs` parameter of a `WWW-Authenticate: DPoP` challenge (RFC 9449 §7.1): space-separated, in
/// one fixed order (ES256, PS256, EdDSA) whatever the order of `allowed`, so that every Clavex
/// resource, UserInfo included, sends the same challenge.
pub fn algs_parameter(allowed: &[Algorithm]) -> String {
    [Algorithm::Es256, Algorithm::Ps256, Algorithm::EdDsa]
        .into_iter()
        .filter(|a| allowed.contains(a))
        .map(Algorithm::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_messages() {
        assert_eq!(fapi_algorithm("ES256"), Ok(Algorithm::Es256));
        assert_eq!(fapi_algorithm("Ed25519"), Ok(Algorithm::EdDsa));
        assert_eq!(
            fapi_algorithm("RS256").err().as_deref(),
            Some("algorithm RS256 is not allowed; use one of PS256, ES256, EdDSA (Ed25519)")
        );
        assert_eq!(
            allowed_algorithm("PS256", &[Algorithm::Es256])
                .err()
                .as_deref(),
            Some("algorithm PS256 is not allowed; use one of ES256")
        );
        assert_eq!(algs_parameter(&FAPI_ALGORITHMS), "ES256 PS256 EdDSA");
        assert_eq!(
            algs_parameter(&[Algorithm::EdDsa, Algorithm::Es256]),
            "ES256 EdDSA"
        );
    }
}
