//! The one place where engine errors become HTTP responses.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use clavex_core::{Error, ErrorCode};
use serde_json::json;

pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        ApiError(err)
    }
}

impl From<clavex_core::OAuthError> for ApiError {
    fn from(err: clavex_core::OAuthError) -> Self {
        ApiError(Error::OAuth(err))
    }
}

fn oauth_status(code: ErrorCode) -> StatusCode {
    match code {
        // RFC 6749 §5.2 allows 401 for invalid_client; RFC 6750 §3.1 requires it for invalid_token.
        ErrorCode::InvalidClient | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

fn body(status: StatusCode, error: &str, description: &str) -> Response {
    let mut response = (
        status,
        axum::Json(json!({ "error": error, "error_description": description })),
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// An RFC 9110 §5.6.4 quoted-string.
fn quoted_string(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self.0 {
            Error::OAuth(err) if err.code == ErrorCode::InvalidToken => {
                // RFC 6750 §3: a bearer-token endpoint (dynamic registration, RFC 7591/7592) says
                // how to authenticate.
                let quoted = err.description.replace(['"', '\\'], "'");
                let challenge =
                    format!("Bearer error=\"invalid_token\", error_description=\"{quoted}\"");
                let mut response = body(
                    StatusCode::UNAUTHORIZED,
                    err.code.as_str(),
                    &err.description,
                );
                if let Ok(value) = HeaderValue::from_str(&challenge) {
                    response
                        .headers_mut()
                        .insert(header::WWW_AUTHENTICATE, value);
                }
                response
            }
            Error::OAuth(err) => body(oauth_status(err.code), err.code.as_str(), &err.description),
            Error::ClientChallenge {
                description,
                scheme,
                realm,
            } => {
                // RFC 6749 §5.2: a client that tried the Authorization header gets a challenge for
                // the scheme it used (RFC 9110 §11.6.1; `realm` as RFC 7617 requires for Basic).
                let challenge = format!("{scheme} realm={}", quoted_string(&realm));
                let mut response = body(
                    StatusCode::UNAUTHORIZED,
                    ErrorCode::InvalidClient.as_str(),
                    &description,
                );
                if let Ok(value) = HeaderValue::from_str(&challenge) {
                    response
                        .headers_mut()
                        .insert(header::WWW_AUTHENTICATE, value);
                }
                response
            }
            Error::UseDpopNonce { description, nonce } => {
                let mut response = body(StatusCode::BAD_REQUEST, "use_dpop_nonce", &description);
                if let Ok(value) = HeaderValue::from_str(&nonce) {
                    response.headers_mut().insert("dpop-nonce", value);
                }
                response
            }
            Error::Resource(err) => {
                // RFC 6750 §3 / RFC 9449 §7.1: status, challenge and body as the resource crate
                // defines them for every resource server (algorithms from its FAPI policy).
                let status =
                    StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let mut response = body(status, err.code.as_str(), err.public_description());
                if let Some(value) = err
                    .www_authenticate()
                    .and_then(|c| HeaderValue::from_str(&c).ok())
                {
                    response
                        .headers_mut()
                        .insert(header::WWW_AUTHENTICATE, value);
                }
                response
            }
            Error::Unauthorized(msg) => {
                let mut response = body(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    &format!("{msg}; send Authorization: Bearer <admin token>"),
                );
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"clavex-admin\""),
                );
                response
            }
            Error::Forbidden(msg) => body(StatusCode::FORBIDDEN, "forbidden", &msg),
            Error::NotFound(what) => body(
                StatusCode::NOT_FOUND,
                "not_found",
                &format!("{what} not found"),
            ),
            Error::Conflict(msg) => body(StatusCode::CONFLICT, "conflict", &msg),
            Error::BadRequest(msg) => body(StatusCode::BAD_REQUEST, "invalid_request", &msg),
            err @ Error::Internal { .. } => {
                // The one log line of an internal error, with its whole source chain.
                tracing::error!(error = %err.chain(), "request failed");
                body(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "the server could not complete the request",
                )
            }
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
