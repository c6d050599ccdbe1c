//! Discovery (RFC 8414, OIDC Discovery), the organization's JWKS, and the node's health probes.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::AppState;
use crate::error::ApiResult;
use crate::extract::OrgPath;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route(
            "/.well-known/oauth-authorization-server/{org}",
            get(discovery),
        )
        .route("/{org}/.well-known/openid-configuration", get(discovery))
        .route("/{org}/jwks", get(jwks))
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.engine.store().ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

fn public_json(value: serde_json::Value, max_age: u32) -> Response {
    let mut response = axum::Json(value).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        response.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    response
}

async fn discovery(State(state): State<AppState>, org: OrgPath) -> ApiResult<Response> {
    Ok(public_json(state.engine.discovery(org.id()?).await?, 300))
}

async fn jwks(State(state): State<AppState>, org: OrgPath) -> ApiResult<Response> {
    let org = org.id()?;
    state.engine.org(org).await?;
    let keys = state.engine.org_keys(org).await?;
    let mut response = public_json(keys.jwks.clone(), 60);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    Ok(response)
}
