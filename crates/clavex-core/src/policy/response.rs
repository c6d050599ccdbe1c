//! Response types and modes: FAPI 2.0 SP §5.3.2.2-1 allows only `response_type=code`; JARM (FAPI 2.0
//! Message Signing §5.4) adds `response_mode=jwt` / `query.jwt`.

use crate::error::{ErrorCode, OAuthError};

/// The only response type FAPI 2.0 allows.
pub const RESPONSE_TYPE_CODE: &str = "code";

/// How the authorization response reaches the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    /// Query parameters with RFC 9207 `iss`.
    Query,
    /// JARM: one signed JWT in the `response` query parameter.
    Jwt,
}

impl ResponseMode {
    pub fn is_jwt(self) -> bool {
        self == ResponseMode::Jwt
    }
}

/// `response_type` of a pushed request: required, and `code`.
pub fn check_response_type(value: Option<&str>) -> Result<(), OAuthError> {
    match value {
        None => Err(OAuthError::invalid_request("response_type is required")),
        Some(RESPONSE_TYPE_CODE) => Ok(()),
        Some(other) => Err(OAuthError::new(
            ErrorCode::UnsupportedResponseType,
            format!("response_type {other} is not allowed; FAPI 2.0 allows only code"),
        )),
    }
}

/// `response_mode` of a pushed request. JARM §2.3: for the code flow `jwt` means `query.jwt`.
pub fn check_response_mode(value: Option<&str>) -> Result<ResponseMode, OAuthError> {
    match value {
        None | Some("query") => Ok(ResponseMode::Query),
        Some("jwt" | "query.jwt") => Ok(ResponseMode::Jwt),
        Some(other) => Err(OAuthError::invalid_request(format!(
            "response_mode {other} is not supported; use query, jwt or query.jwt"
        ))),
    }
}

/// The response mode an unpushed (refused) front-channel request asked for, for its error report:
/// a client that asked for JARM gets the error as JARM too (the conformance suite's unpushed-request
/// module accepts nothing else in its JARM variant); anything unknown falls back to query.
pub fn front_channel_response_mode(value: Option<&str>) -> ResponseMode {
    check_response_mode(value).unwrap_or(ResponseMode::Query)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn code_accepted() {
        check_response_type(Some("code")).unwrap();
    }

    #[test]
    fn other_response_types_refused() {
        assert_eq!(
            check_response_type(None).unwrap_err().code,
            ErrorCode::InvalidRequest
        );
        for other in ["token", "code id_token", "id_token", "Code"] {
            assert_eq!(
                check_response_type(Some(other)).unwrap_err().code,
                ErrorCode::UnsupportedResponseType
            );
        }
    }

    #[test]
    fn response_modes() {
        assert_eq!(check_response_mode(None).unwrap(), ResponseMode::Query);
        assert_eq!(
            check_response_mode(Some("query")).unwrap(),
            ResponseMode::Query
        );
        assert_eq!(check_response_mode(Some("jwt")).unwrap(), ResponseMode::Jwt);
        assert_eq!(
            check_response_mode(Some("query.jwt")).unwrap(),
            ResponseMode::Jwt
        );
        for bad in [
            "fragment",
            "form_post",
            "fragment.jwt",
            "form_post.jwt",
            "JWT",
        ] {
            assert_eq!(
                check_response_mode(Some(bad)).unwrap_err().code,
                ErrorCode::InvalidRequest,
                "{bad}"
            );
        }
        assert_eq!(front_channel_response_mode(Some("jwt")), ResponseMode::Jwt);
        assert_eq!(
            front_channel_response_mode(Some("fragment")),
            ResponseMode::Query
        );
    }
}
