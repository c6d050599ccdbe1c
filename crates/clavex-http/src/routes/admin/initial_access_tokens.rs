//! `/api/v1/organizations/{org}/initial-access-tokens` (RFC 7591 §3).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;

use clavex_core::admin::CreateInitialAccessToken;

use super::{AdminBody, respond};
use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{Connection, OrgAdmin};

pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/api/v1/organizations/{org}/initial-access-tokens",
        post(create_initial_access_token),
    )
}

async fn create_initial_access_token(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Connection(connection): Connection,
    AdminBody(request): AdminBody<CreateInitialAccessToken>,
) -> ApiResult<Response> {
    Ok(respond(
        StatusCode::CREATED,
        &state
            .engine
            .create_initial_access_token(admin.org.id()?, request, &admin.actor, &connection)
            .await?,
    ))
}
