//! `/api/v1/organizations/{org}/users[/{user_id}]`.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;

use clavex_core::admin::{CreateUser, UpdateUser};

use super::{AdminBody, no_content, respond};
use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{Connection, OrgAdmin};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/organizations/{org}/users",
            get(list_users).post(create_user),
        )
        .route(
            "/api/v1/organizations/{org}/users/{user_id}",
            get(get_user).patch(patch_user).delete(delete_user),
        )
}

async fn list_users(State(state): State<AppState>, admin: OrgAdmin) -> ApiResult<Response> {
    Ok(respond(
        StatusCode::OK,
        &state.engine.list_users(&admin.org).await?,
    ))
}

async fn create_user(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Connection(connection): Connection,
    AdminBody(request): AdminBody<CreateUser>,
) -> ApiResult<Response> {
    Ok(respond(
        StatusCode::CREATED,
        &state
            .engine
            .create_user(&admin.org, request, &admin.actor, &connection)
            .await?,
    ))
}

async fn get_user(
    State(state): State<AppState>,
    _: OrgAdmin,
    Path((org, user_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    Ok(respond(
        StatusCode::OK,
        &state.engine.get_user(&org, &user_id).await?,
    ))
}

async fn patch_user(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Connection(connection): Connection,
    Path((org, user_id)): Path<(String, String)>,
    AdminBody(request): AdminBody<UpdateUser>,
) -> ApiResult<Response> {
    Ok(respond(
        StatusCode::OK,
        &state
            .engine
            .patch_user(&org, &user_id, request, &admin.actor, &connection)
            .await?,
    ))
}

async fn delete_user(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Connection(connection): Connection,
    Path((org, user_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    state
        .engine
        .delete_user(&org, &user_id, &admin.actor, &connection)
        .await?;
    Ok(no_content())
}
