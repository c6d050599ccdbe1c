mod admin;
mod interaction;
mod oauth;

use axum::Router;
use axum::body::{Body, Bytes};

use crate::AppState;
use crate::error::ApiResult;

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(oauth::routes())
        .merge(interaction::routes())
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
