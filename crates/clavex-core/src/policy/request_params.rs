//! Size and shape limits of the free-form parameters of an authorization request (`state`, `nonce`,
//! `claims`), so that what is stored and echoed stays bounded.

use serde_json::Value;

use crate::error::OAuthError;

pub const MAX_STATE_LEN: usize = 4096;
pub const MAX_NONCE_LEN: usize = 4096;

/// `state` and `nonce`: opaque to us, but bounded.
pub fn check_opaque(
    name: &str,
    value: Option<&str>,
    max: usize,
) -> Result<Option<String>, OAuthError> {
    match value {
        Some(v) if v.len() > max => Err(OAuthError::invalid_request(format!(
            "{name} is longer than {max} characters"
        ))),
        other => Ok(other.map(str::to_owned)),
    }
}

/// OIDC Core §5.5 `claims`: a JSON object.
pub fn parse_claims_request(value: Option<&str>) -> Result<Option<Value>, OAuthError> {
    let Some(text) = value else {
        return Ok(None);
    };
    let value: Value = serde_json::from_str(text)
        .map_err(|_| OAuthError::invalid_request("claims must be a JSON object"))?;
    if !value.is_object() {
        return Err(OAuthError::invalid_request("claims must be a JSON object"));
    }
    Ok(Some(value))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn opaque_values() {
        assert_eq!(check_opaque("state", None, 4).unwrap(), None);
        assert_eq!(
            check_opaque("state", Some("abcd"), 4).unwrap().as_deref(),
            Some("abcd")
        );
        let err = check_opaque("state", Some("abcde"), 4).unwrap_err();
        assert_eq!(err.description, "state is longer than 4 characters");
    }

    #[test]
    fn claims_request() {
        assert!(parse_claims_request(None).unwrap().is_none());
        assert!(
            parse_claims_request(Some(r#"{"id_token":{"email":null}}"#))
                .unwrap()
                .is_some()
        );
        for bad in ["[]", "\"x\"", "{", "null"] {
            assert!(parse_claims_request(Some(bad)).is_err(), "{bad}");
        }
    }
}
