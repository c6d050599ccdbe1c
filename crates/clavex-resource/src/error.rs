//! Errors of a protected resource (RFC 6750 §3, RFC 9449 §7.1) and how to answer them over HTTP.

use std::fmt;

use clavex_jose::Algorithm;
use serde_json::json;

use crate::dpop::DpopError;
use crate::policy;

/// The registered error codes a resource server answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceErrorCode {
    /// RFC 6750 §3.1: malformed request (duplicate headers, token in the query or body). 400.
    InvalidRequest,
    /// RFC 6750 §3.1: the access token is missing, malformed, expired, revoked or not ours. 401.
    InvalidToken,
    /// RFC 9449 §7.1: the DPoP proof is missing or invalid, or does not match the token. 401.
    InvalidDpopProof,
    /// RFC 6750 §3.1: the token lacks a scope the resource needs. 403.
    InsufficientScope,
    /// Not a protocol error: the resource server could not decide (JWKS unreachable, replay store
    /// failing). 500, without a challenge; the description is for logs, not for the client.
    ServerError,
}

impl ResourceErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceErrorCode::InvalidRequest => "invalid_request",
            ResourceErrorCode::InvalidToken => "invalid_token",
            ResourceErrorCode::InvalidDpopProof => "invalid_dpop_proof",
            ResourceErrorCode::InsufficientScope => "insufficient_scope",
            ResourceErrorCode::ServerError => "server_error",
        }
    }

    /// The HTTP status: 400, 401, 403, or 500 for [`ResourceErrorCode::ServerError`].
    pub fn status(self) -> u16 {
        match self {
            ResourceErrorCode::InvalidRequest => 400,
            ResourceErrorCode::InvalidToken | ResourceErrorCode::InvalidDpopProof => 401,
            ResourceErrorCode::InsufficientScope => 403,
            ResourceErrorCode::ServerError => 500,
        }
    }
}

impl fmt::Display for ResourceErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused resource request: a registered code and a description that is safe to show (it never
/// contains the presented credential), except for [`ResourceErrorCode::ServerError`], whose
/// description is internal (log it; [`ResourceError::public_description`] hides it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct ResourceError {
    pub code: ResourceErrorCode,
    pub description: String,
}

const GENERIC_SERVER_ERROR: &str = "the resource server could not verify the request";

impl ResourceError {
    pub fn new(code: ResourceErrorCode, description: impl Into<String>) -> Self {
        ResourceError {
            code,
            description: description.into(),
        }
    }
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(ResourceErrorCode::InvalidRequest, description)
    }
    pub fn invalid_token(description: impl Into<String>) -> Self {
        Self::new(ResourceErrorCode::InvalidToken, description)
    }
    pub fn invalid_dpop_proof(description: impl Into<String>) -> Self {
        Self::new(ResourceErrorCode::InvalidDpopProof, description)
    }
    pub fn insufficient_scope(description: impl Into<String>) -> Self {
        Self::new(ResourceErrorCode::InsufficientScope, description)
    }
    pub fn server_error(description: impl Into<String>) -> Self {
        Self::new(ResourceErrorCode::ServerError, description)
    }

    /// The HTTP status to answer with (400, 401, 403 or 500).
    pub fn status(&self) -> u16 {
        self.code.status()
    }

    /// The description to send to the client: the description, or a generic text for server errors.
    pub fn public_description(&self) -> &str {
        match self.code {
            ResourceErrorCode::ServerError => GENERIC_SERVER_ERROR,
            _ => &self.description,
        }
    }

    /// The `WWW-Authenticate` value (RFC 9449 §7.1, RFC 6750 §3) advertising FAPI 2.0's algorithms:
    /// `DPoP error="…", error_description="…", algs="ES256 PS256 EdDSA"`. `None` for server errors,
    /// which are not an authentication challenge.
    pub fn www_authenticate(&self) -> Option<String> {
        self.www_authenticate_with(&policy::FAPI_ALGORITHMS)
    }

    /// As [`ResourceError::www_authenticate`], advertising `algs`.
    pub fn www_authenticate_with(&self, algs: &[Algorithm]) -> Option<String> {
        if self.code == ResourceErrorCode::ServerError {
            return None;
        }
        Some(format!(
            "DPoP error=\"{}\", error_description=\"{}\", algs=\"{}\"",
            self.code.as_str(),
            quoted(&self.description),
            policy::algs_parameter(algs)
        ))
    }

    /// The JSON body: `{"error": …, "error_description": …}`.
    pub fn body(&self) -> serde_json::Value {
        json!({ "error": self.code.as_str(), "error_description": self.public_description() })
    }
}

/// RFC 7235 quoted-string content: no `"` or `\`, and only visible ASCII and spaces (a header value
/// cannot carry anything else reliably, and RFC 6750 §3 restricts `error_description` so).
fn quoted(description: &str) -> String {
    description
        .chars()
        .map(|c| match c {
            '"' | '\\' => '\'',
            ' '..='~' => c,
            _ => '?',
        })
        .collect()
}

impl From<DpopError> for ResourceError {
    fn from(err: DpopError) -> Self {
        ResourceError::invalid_dpop_proof(err.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_and_status() {
        let err = ResourceError::invalid_token("the \"token\" has expired\n");
        assert_eq!(err.status(), 401);
        assert_eq!(
            err.www_authenticate().as_deref(),
            Some(
                "DPoP error=\"invalid_token\", error_description=\"the 'token' has expired?\", algs=\"ES256 PS256 EdDSA\""
            )
        );
        assert_eq!(ResourceError::invalid_request("x").status(), 400);
        assert_eq!(ResourceError::insufficient_scope("x").status(), 403);
        let internal = ResourceError::server_error("jwks: connection refused");
        assert_eq!(internal.status(), 500);
        assert_eq!(internal.www_authenticate(), None);
        assert_eq!(
            internal.body()["error_description"],
            "the resource server could not verify the request"
        );
    }
}
