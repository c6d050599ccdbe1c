//! The single error type of this crate.
//!
//! Every message is written to be shown to a client as-is (e.g. in an OAuth
//! `error_description`): it names the rule that failed and never includes key
//! material. Values that come from the request (an `alg` name, a member name, a
//! `kid`) are echoed only after [`sanitize`] has cut them to a short run of
//! printable ASCII, so an attacker cannot make us reflect megabytes or control
//! characters.

use crate::alg::Algorithm;

/// Why a JOSE object or key was refused, or why a key operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JoseError {
    // ----- algorithms -----
    /// `alg` is not one of the FAPI 2.0 algorithms (FAPI 2.0 Security Profile §5.4.1).
    #[error("unsupported alg {0}: only PS256, ES256 and EdDSA are allowed")]
    UnsupportedAlgorithm(String),

    /// The key exists but is of a type (or carries a JWK `alg`) that does not fit the JWS `alg`.
    #[error("key cannot be used with alg {0}")]
    KeyAlgorithmMismatch(Algorithm),

    // ----- compact JWS shape (RFC 7515 §7.1) -----
    /// Longer than [`crate::JwsLimits::max_total_len`].
    #[error("JWS is longer than {max} bytes")]
    JwsTooLong {
        /// The configured limit.
        max: usize,
    },

    /// Not exactly `header.payload.signature`.
    #[error("JWS must have three segments")]
    JwsSegments,

    /// A segment, or a JWK member, is not strict unpadded base64url (RFC 7515 §2).
    #[error("{0} is not valid base64url without padding")]
    InvalidBase64(&'static str),

    /// The third segment is empty: an unsecured JWS (RFC 7515 §A.5) is never accepted.
    #[error("JWS signature is empty")]
    EmptySignature,

    /// The header or payload is not JSON.
    #[error("JWS {0} is not valid JSON")]
    InvalidJson(&'static str),

    /// The header or payload is JSON but not an object.
    #[error("JWS {0} is not a JSON object")]
    NotJsonObject(&'static str),

    /// A JSON object has the same member name twice (RFC 7515 §5.2 step 4, RFC 7519 §7.2 step 10).
    #[error("JWS {part} has duplicate member '{name}'")]
    DuplicateMember {
        /// `header` or `payload`.
        part: &'static str,
        /// The repeated name (sanitized).
        name: String,
    },

    /// The header has no `alg` (RFC 7515 §4.1.1).
    #[error("JWS header alg is missing")]
    MissingAlg,

    /// A header member that must be a string is not one.
    #[error("JWS header member '{0}' must be a string")]
    HeaderMemberNotString(&'static str),

    /// `crit` present: we implement no extensions, so per RFC 7515 §4.1.11 we must reject.
    #[error("crit header is not supported")]
    CritUnsupported,

    /// A header member we refuse outright (`b64`, `jku`, `x5u`).
    #[error("JWS header member '{0}' is not allowed")]
    ForbiddenHeader(&'static str),

    /// The signature does not verify.
    #[error("signature verification failed")]
    SignatureInvalid,

    // ----- JWK (RFC 7517, RFC 7518 §6, RFC 8037) -----
    /// The JWK is not a JSON object.
    #[error("JWK must be a JSON object")]
    JwkNotObject,

    /// A JWK member required for its `kty` is absent.
    #[error("JWK is missing required member '{0}'")]
    JwkMissingMember(&'static str),

    /// A JWK member has the wrong JSON type.
    #[error("JWK member '{0}' must be a string")]
    JwkMemberNotString(&'static str),

    /// A private (or symmetric secret) member is present where only a public key is acceptable.
    #[error("JWK contains private key member '{0}'")]
    PrivateKeyMember(&'static str),

    /// `kty` is `oct`: symmetric keys are never accepted (FAPI 2.0 uses asymmetric client auth only).
    #[error("JWK kty oct is not allowed: symmetric keys are not accepted")]
    SymmetricKey,

    /// `kty` is none of EC, RSA, OKP.
    #[error("unsupported JWK kty {0}: only EC, RSA and OKP are allowed")]
    UnsupportedKeyType(String),

    /// `crv` is not P-256 (EC) or Ed25519 (OKP).
    #[error("unsupported {kty} curve {crv}: only {expected} is allowed")]
    UnsupportedCurve {
        /// `EC` or `OKP`.
        kty: &'static str,
        /// The curve given (sanitized).
        crv: String,
        /// The one curve we accept for this `kty`.
        expected: &'static str,
    },

    /// The JWK's `alg` is ours but its curve is not the one that `alg` requires.
    #[error("{kty} key curve {crv} does not match alg {alg}")]
    CurveAlgorithmMismatch {
        /// `EC` or `OKP`.
        kty: &'static str,
        /// The curve given (sanitized).
        crv: String,
        /// The JWK's `alg`.
        alg: Algorithm,
    },

    /// The JWK's `alg` is ours but belongs to another key type.
    #[error("JWK alg {alg} does not fit kty {kty}")]
    JwkAlgorithmMismatch {
        /// The key type.
        kty: &'static str,
        /// The JWK's `alg`.
        alg: Algorithm,
    },

    /// RSA modulus shorter than 2048 bits (FAPI 2.0 Security Profile §5.4.1, RFC 7518 §3.5).
    #[error("RSA key is {0} bits; at least 2048 are required")]
    RsaKeyTooSmall(usize),

    /// RSA modulus longer than aws-lc-rs verifies (8192 bits).
    #[error("RSA key is {0} bits; at most 8192 are supported")]
    RsaKeyTooLarge(usize),

    /// A structurally valid JWK whose key material is wrong (length, encoding, not on the curve).
    #[error("invalid JWK: {0}")]
    InvalidKey(&'static str),

    // ----- JWK Set (RFC 7517 §5) -----
    /// Not `{"keys":[...]}`, or an empty set.
    #[error("invalid JWK set: {0}")]
    InvalidJwkSet(&'static str),

    /// Two keys share a `kid`, so `kid` could not select one key unambiguously.
    #[error("JWK set has duplicate kid '{0}'")]
    DuplicateKid(String),

    /// One key of the set was refused; the inner error names the rule.
    #[error("JWK set key {index}: {source}")]
    KeyInSet {
        /// Position of the key in `keys`.
        index: usize,
        /// Why that key was refused.
        source: Box<JoseError>,
    },

    // ----- signing keys -----
    /// The PKCS#8 document is not a private key of the requested algorithm.
    #[error("PKCS#8 document is not a valid {0} private key")]
    InvalidPkcs8(Algorithm),

    /// aws-lc-rs failed to generate a key.
    #[error("key generation failed")]
    KeyGeneration,

    /// aws-lc-rs failed to serialize a key.
    #[error("key serialization failed")]
    KeySerialization,

    /// aws-lc-rs failed to sign.
    #[error("signing failed")]
    SigningFailed,

    /// JWT claims must be a JSON object (RFC 7519 §7.2 step 10).
    #[error("JWT claims must be a JSON object")]
    ClaimsNotObject,

    /// An `extra_header` member would overwrite one this crate sets.
    #[error("extra header member '{0}' conflicts with a generated header member")]
    HeaderConflict(String),

    /// JSON serialization failed (never expected for `serde_json::Value`).
    #[error("JSON serialization failed")]
    Serialization,
}

/// Cut a client-supplied string to at most 64 printable ASCII characters for use in an
/// error message; anything else becomes `?`.
pub(crate) fn sanitize(s: &str) -> String {
    const MAX: usize = 64;
    let mut out: String = s
        .chars()
        .take(MAX)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if s.chars().nth(MAX).is_some() {
        out.push_str("...");
    }
    out
}

/// Parsing lives here rather than in `alg.rs` so that `alg` needs nothing from this module, which
/// already depends on it (several variants carry an [`Algorithm`]).
impl Algorithm {
    /// Parse a JOSE `alg` name.
    ///
    /// Names are case-sensitive (RFC 7515 §4.1.1). `Ed25519` is the fully-specified
    /// name for the same algorithm as `EdDSA`-with-Ed25519 (RFC 9864), so both
    /// map to [`Algorithm::EdDsa`]; our only OKP curve is Ed25519, so the two are
    /// the same operation here.
    ///
    /// # Errors
    /// [`JoseError::UnsupportedAlgorithm`] for anything else, `none` included.
    pub fn parse(name: &str) -> Result<Algorithm, JoseError> {
        match name {
            "ES256" => Ok(Algorithm::Es256),
            "PS256" => Ok(Algorithm::Ps256),
            "EdDSA" | "Ed25519" => Ok(Algorithm::EdDsa),
            other => Err(JoseError::UnsupportedAlgorithm(sanitize(other))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_cuts_and_replaces() {
        assert_eq!(sanitize("RS256"), "RS256");
        assert_eq!(sanitize("a\nb\u{e9}"), "a?b?");
        let long = "x".repeat(100);
        assert_eq!(sanitize(&long), format!("{}...", "x".repeat(64)));
    }
}
