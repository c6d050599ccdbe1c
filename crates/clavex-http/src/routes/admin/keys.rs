//! `/api/v1/organizations/{org}/keys[/rotate]`.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use clavex_core::admin::RotateKeys;

use super::{AdminBody, respond};
use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{Connection, OrgAdmin};

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
    Connection(connection): Connection,
    AdminBody(request): AdminBody<RotateKeys>,
) -> ApiResult<Response> {
    Ok(respond(
        StatusCode::OK,
        &state
            .engine
            .rotate_keys(admin.org.id()?, request, &admin.actor, &connection)
            .await?,
    ))
}
