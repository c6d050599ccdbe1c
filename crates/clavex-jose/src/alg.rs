//! The three JWS algorithms FAPI 2.0 permits.
//!
//! FAPI 2.0 Security Profile §5.4.1 allows only PS256, ES256 and EdDSA (Ed25519) for
//! signing and verification; `none` (RFC 7518 §3.6), the RSASSA-PKCS1-v1_5 family
//! (RS*), HMAC (HS*) and other curves are refused by construction: they have no
//! variant here, so no code path can select them.
//!
//! This module uses nothing else of the crate: [`crate::JoseError`] names an `Algorithm` in
//! several variants, so the one fallible operation, [`Algorithm::parse`], lives beside that error
//! in `error.rs`; otherwise `alg` and `error` would depend on each other.

use std::fmt;

/// A FAPI 2.0 JWS algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// ECDSA P-256 with SHA-256, fixed 64-byte `r || s` signatures (RFC 7518 §3.4).
    Es256,
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256 and 32-byte salt (RFC 7518 §3.5).
    Ps256,
    /// Ed25519 (RFC 8037 §3.1).
    EdDsa,
}

impl Algorithm {
    /// Every supported algorithm, in the order we advertise them in metadata.
    pub const ALL: [Algorithm; 3] = [Algorithm::Ps256, Algorithm::Es256, Algorithm::EdDsa];

    /// The registered JOSE name (RFC 7518 §3.1, RFC 8037 §3.1).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Es256 => "ES256",
            Algorithm::Ps256 => "PS256",
            Algorithm::EdDsa => "EdDSA",
        }
    }

    /// The JWK `kty` that can carry a key for this algorithm.
    #[must_use]
    pub(crate) fn kty(self) -> &'static str {
        match self {
            Algorithm::Es256 => "EC",
            Algorithm::Ps256 => "RSA",
            Algorithm::EdDsa => "OKP",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::JoseError;

    #[test]
    fn parse_accepts_only_fapi_algorithms() {
        assert_eq!(Algorithm::parse("ES256"), Ok(Algorithm::Es256));
        assert_eq!(Algorithm::parse("PS256"), Ok(Algorithm::Ps256));
        assert_eq!(Algorithm::parse("EdDSA"), Ok(Algorithm::EdDsa));
        assert_eq!(Algorithm::parse("Ed25519"), Ok(Algorithm::EdDsa));
        for bad in [
            "none", "None", "RS256", "HS256", "ES384", "ES512", "PS384", "es256", "EDDSA", "Ed448",
            "ES256K", "", " ES256",
        ] {
            assert!(
                matches!(
                    Algorithm::parse(bad),
                    Err(JoseError::UnsupportedAlgorithm(_))
                ),
                "{bad} accepted"
            );
        }
    }

    #[test]
    fn round_trips_and_message() {
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::parse(alg.as_str()), Ok(alg));
        }
        let err = Algorithm::parse("RS256").err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("unsupported alg RS256: only PS256, ES256 and EdDSA are allowed")
        );
    }
}
