//! Routes, one module per operation (mirroring `clavex_core::flows` and `clavex_core::admin`).
//! Every handler extracts (see [`crate::extract`]), makes one engine call and responds.

mod admin;
mod discovery;
mod interaction;
mod issued_tokens;
mod pages;
mod par;
mod register;
mod token;
mod userinfo;

use axum::Router;
use axum::body::{Body, Bytes};

use crate::AppState;
use crate::error::ApiResult;

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(discovery::routes())
        .merge(token::routes())
        .merge(issued_tokens::routes())
        .merge(par::routes())
        .merge(interaction::routes())
        .merge(userinfo::routes())
        .merge(register::routes())
        .merge(admin::routes())
}

/// Reads a body up to `limit` bytes; a larger body is an `invalid_request`, not a bare 413.
pub(crate) async fn read_body(body: Body, limit: usize) -> ApiResult<Bytes> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        clavex_core::OAuthError::invalid_request(format!(
            "request body is larger than {limit} bytes"
        ))
        .into()
    })
}

/// RFC 9449 §8.2: with server nonces on, every answer of PAR and token carries a fresh
/// `DPoP-Nonce`, so clients need not fail once to learn it.
pub(crate) async fn add_dpop_nonce(
    state: &AppState,
    org: &clavex_core::ids::OrgId,
    response: &mut axum::response::Response,
) {
    if let Ok(ctx) = state.engine.org(org).await
        && let Some(nonce) = state.engine.dpop_nonce(&ctx)
        && let Ok(value) = axum::http::HeaderValue::from_str(&nonce)
    {
        response.headers_mut().insert("dpop-nonce", value);
    }
}

/// Is the request body `application/x-www-form-urlencoded` (parameters after `;` ignored)?
pub(crate) fn is_form(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// Responses that carry credentials or personal data are never cached (RFC 6749 §5.1, RFC 9126
/// §2.2, RFC 7591 §3.2.1): `Cache-Control: no-store` and `Pragma: no-cache`.
pub(crate) fn no_store(mut response: axum::response::Response) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}
