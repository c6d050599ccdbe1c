//! Typed errors of the engine. `clavex-http` maps them to HTTP responses in exactly one place.

use std::fmt;

/// Registered OAuth error codes (RFC 6749 §5.2, RFC 6750 §3.1, RFC 7009, RFC 8707, RFC 9449,
/// RFC 7591).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    /// RFC 7009 §2.2.1: the server cannot revoke this type of token.
    UnsupportedTokenType,
    InvalidScope,
    InvalidTarget,
    InvalidDpopProof,
    UseDpopNonce,
    InvalidToken,
    InvalidClientMetadata,
    InvalidRedirectUri,
    InvalidSoftwareStatement,
    UnsupportedResponseType,
    InvalidRequestUri,
    InvalidRequestObject,
    /// RFC 9396 §5.
    InvalidAuthorizationDetails,
    AccessDenied,
    LoginRequired,
    ConsentRequired,
    InsufficientScope,
    ServerError,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::UnsupportedTokenType => "unsupported_token_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::InvalidTarget => "invalid_target",
            ErrorCode::InvalidDpopProof => "invalid_dpop_proof",
            ErrorCode::UseDpopNonce => "use_dpop_nonce",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InvalidClientMetadata => "invalid_client_metadata",
            ErrorCode::InvalidRedirectUri => "invalid_redirect_uri",
            ErrorCode::InvalidSoftwareStatement => "invalid_software_statement",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::InvalidRequestUri => "invalid_request_uri",
            ErrorCode::InvalidRequestObject => "invalid_request_object",
            ErrorCode::InvalidAuthorizationDetails => "invalid_authorization_details",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::ConsentRequired => "consent_required",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::ServerError => "server_error",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error returned to an OAuth client: a registered code and a description that is safe to show
/// (it never contains internals, secrets or the presented credential).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: String,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        OAuthError {
            code,
            description: description.into(),
        }
    }
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }
    pub fn invalid_client(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidClient, description)
    }
    pub fn invalid_dpop_proof(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidDpopProof, description)
    }
    pub fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidScope, description)
    }
    pub fn invalid_target(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidTarget, description)
    }
    pub fn invalid_client_metadata(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidClientMetadata, description)
    }
    pub fn invalid_redirect_uri(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRedirectUri, description)
    }
    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }
}

/// Everything the engine can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A protocol error for an OAuth endpoint (token, discovery, ...).
    #[error(transparent)]
    OAuth(#[from] OAuthError),
    /// RFC 9449 §8: the proof lacks a valid server nonce; answered `use_dpop_nonce` with a fresh
    /// nonce in the `DPoP-Nonce` header.
    #[error("use_dpop_nonce: {description}")]
    UseDpopNonce { description: String, nonce: String },
    /// RFC 6749 §5.2: client authentication failed and the client had tried the HTTP
    /// `Authorization` header (e.g. `Basic`, which FAPI 2.0 refuses). Answered 401 `invalid_client`
    /// with a `WWW-Authenticate` challenge for the `scheme` the client used, in `realm` (the
    /// organization's issuer).
    #[error("invalid_client: {description}")]
    ClientChallenge {
        description: String,
        scheme: String,
        realm: String,
    },
    /// A protected-resource error (RFC 6750 §3, RFC 9449 §7.1): answered with the resource crate's
    /// status and `WWW-Authenticate` challenge. Never a server error (those are `Internal`).
    #[error("resource: {0}")]
    Resource(clavex_resource::ResourceError),
    /// The Admin API caller is not authenticated.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The Admin API caller is authenticated but may not touch this resource.
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    /// An Admin API request body is invalid (the message says what to fix).
    #[error("invalid request: {0}")]
    BadRequest(String),
    /// An unexpected failure; it goes to logs with its whole source chain (once, where it becomes a
    /// response), the client sees a generic `server_error`.
    #[error("internal error: {context}")]
    Internal {
        /// What was being done, for the log.
        context: String,
        /// Why it failed.
        #[source]
        source: Option<BoxError>,
    },
}

/// The source of an internal error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl Error {
    /// An internal error caused by `source`, while doing `context`.
    pub fn internal(context: impl Into<String>, source: impl Into<BoxError>) -> Error {
        Error::Internal {
            context: context.into(),
            source: Some(source.into()),
        }
    }

    /// An internal error with no underlying error (a broken invariant).
    pub fn invariant(context: impl Into<String>) -> Error {
        Error::Internal {
            context: context.into(),
            source: None,
        }
    }

    /// The error and every source below it, `: `-separated, for the one log line of an internal error.
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut next = std::error::Error::source(self);
        while let Some(cause) = next {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            next = cause.source();
        }
        text
    }
}

impl From<clavex_store::StoreError> for Error {
    fn from(err: clavex_store::StoreError) -> Self {
        match err {
            clavex_store::StoreError::Conflict(what) => Error::Conflict(what),
            clavex_store::StoreError::NotFound => Error::NotFound("resource".to_owned()),
            err @ clavex_store::StoreError::Backend(_) => Error::internal("store", err),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
