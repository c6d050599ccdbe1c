//! `/api/v1/organizations/{org}/keys[/rotate]`.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use clavex_core::Error;
use serde_json::Value;

use super::{JsonBody, respond};
use crate::AppState;
use crate::error::ApiResult;
use crate::extract::OrgAdmin;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/organizations/{org}/keys", get(list_keys))
        .route("/api/v1/organizations/{org}/keys/rotate", post(rotate_keys))
}

async fn list_keys(State(state): State<AppState>, admin: OrgAdmin) -> ApiResult<Response> {
    Ok(respond(
        StatusCode::OK,
        &state.engine.list_keys(admin.org.id()?).await?,
    ))
}

async fn rotate_keys(
    State(state): State<AppState>,
    admin: OrgAdmin,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let alg = match body.get("alg") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err(Error::BadRequest("alg must be a string".into()).into()),
    };
    Ok(respond(
        StatusCode::OK,
        &state.engine.rotate_keys(admin.org.id()?, alg).await?,
    ))
}
