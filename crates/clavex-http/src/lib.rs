//! Clavex's HTTP layer: axum routes for the OAuth endpoints and the Admin API. Handlers are thin: they
//! extract plain values, call one `Engine` method, and map the result. No SQL, no protocol decisions.

mod error;
mod openapi;
mod routes;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::IntoResponse as _;
use clavex_core::Engine;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

pub use error::{ApiError, ApiResult};

#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
}

/// A path that carries an encoded NUL names nothing Clavex stores (and PostgreSQL text cannot hold
/// one), so it is answered before any handler looks it up.
async fn refuse_nul_in_path(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if request.uri().path().to_ascii_lowercase().contains("%00") {
        return error::ApiError(clavex_core::Error::NotFound("resource".into())).into_response();
    }
    next.run(request).await
}

/// The whole HTTP surface of one node.
pub fn router(engine: Arc<Engine>) -> Router {
    let state = AppState { engine };
    routes::routes()
        .with_state(state)
        .layer(axum::middleware::from_fn(refuse_nul_in_path))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(TraceLayer::new_for_http())
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            HeaderName::from_static("dpop"),
            header::COOKIE,
        ]))
        .layer(CatchPanicLayer::new())
}
