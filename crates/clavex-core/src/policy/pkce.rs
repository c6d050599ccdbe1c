//! PKCE (RFC 7636), both halves: the challenge a pushed request must carry (FAPI 2.0 SP
//! §5.3.2.2-5: S256 only) and the verifier the token request must present.

use crate::error::OAuthError;

/// A checked `code_challenge`: the base64url SHA-256 of a verifier (43 characters).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A challenge read back from a stored artifact (it was checked when it was pushed).
    pub fn from_stored(value: String) -> CodeChallenge {
        CodeChallenge(value)
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// Is `value` made of base64url characters only?
pub(crate) fn is_b64url(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// FAPI 2.0 SP §5.3.2.2-5 / RFC 7636 §4.3: `code_challenge` is required, with
/// `code_challenge_method=S256`, and is a base64url SHA-256 (43 characters). Errors are
/// `invalid_request`.
pub fn check_code_challenge(
    challenge: Option<&str>,
    method: Option<&str>,
) -> Result<CodeChallenge, OAuthError> {
    let challenge = match (challenge, method) {
        (None, _) => {
            return Err(OAuthError::invalid_request(
                "code_challenge is required: FAPI 2.0 requires PKCE with S256",
            ));
        }
        (Some(challenge), Some("S256")) => challenge,
        (Some(_), Some(other)) => {
            return Err(OAuthError::invalid_request(format!(
                "code_challenge_method {other} is not allowed; use S256"
            )));
        }
        (Some(_), None) => {
            return Err(OAuthError::invalid_request(
                "code_challenge_method S256 is required",
            ));
        }
    };
    if challenge.len() != 43 || !is_b64url(challenge) {
        return Err(OAuthError::invalid_request(
            "code_challenge must be the base64url SHA-256 of the code_verifier (43 characters)",
        ));
    }
    Ok(CodeChallenge(challenge.to_owned()))
}

/// RFC 7636 §4.1: 43-128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~".
fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// RFC 7636 §4.6: the token request's `code_verifier` must be present, well formed, and hash (S256)
/// to the challenge the code was issued for; compared in constant time. Errors are `invalid_grant`.
pub fn verify_code_verifier(
    verifier: Option<&str>,
    challenge: &CodeChallenge,
) -> Result<(), OAuthError> {
    let verifier =
        verifier.ok_or_else(|| OAuthError::invalid_grant("code_verifier is required (PKCE)"))?;
    if !valid_verifier(verifier) {
        return Err(OAuthError::invalid_grant(
            "code_verifier must be 43-128 characters of A-Z a-z 0-9 - . _ ~",
        ));
    }
    let computed = clavex_jose::b64url_encode(&clavex_jose::sha256(verifier.as_bytes()));
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        computed.as_bytes(),
        challenge.as_str().as_bytes(),
    )) {
        return Err(OAuthError::invalid_grant(
            "code_verifier does not match the code_challenge",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::error::ErrorCode;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn s256_challenge_accepted() {
        let c = check_code_challenge(Some(CHALLENGE), Some("S256")).unwrap();
        assert_eq!(c.as_str(), CHALLENGE);
    }

    #[test]
    fn challenge_rejections() {
        let code = |c, m| check_code_challenge(c, m).unwrap_err().code;
        assert_eq!(code(None, Some("S256")), ErrorCode::InvalidRequest);
        assert_eq!(
            code(Some(CHALLENGE), Some("plain")),
            ErrorCode::InvalidRequest
        );
        assert_eq!(code(Some(CHALLENGE), None), ErrorCode::InvalidRequest);
        assert_eq!(code(Some("short"), Some("S256")), ErrorCode::InvalidRequest);
        let bad_chars = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM";
        assert_eq!(
            code(Some(bad_chars), Some("S256")),
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn matching_verifier_accepted() {
        let c = check_code_challenge(Some(CHALLENGE), Some("S256")).unwrap();
        verify_code_verifier(Some(VERIFIER), &c).unwrap();
    }

    #[test]
    fn verifier_rejections() {
        let c = check_code_challenge(Some(CHALLENGE), Some("S256")).unwrap();
        let long = "a".repeat(129);
        let bad_char = format!("{VERIFIER}!");
        // The last one is well formed, but not the one the challenge was made from.
        let other = "a".repeat(43);
        let cases: [Option<&str>; 5] = [
            None,
            Some("too-short"),
            Some(&long),
            Some(&bad_char),
            Some(&other),
        ];
        for v in cases {
            assert_eq!(
                verify_code_verifier(v, &c).map_err(|e| e.code),
                Err(ErrorCode::InvalidGrant),
                "{v:?}"
            );
        }
    }
}
