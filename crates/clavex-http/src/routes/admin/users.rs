//! `/api/v1/organizations/{org}/users[/{user_id}]`.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use clavex_core::admin::users::unknown_user;

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
        &state.engine.list_users(admin.org.id()?).await?,
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
            .create_user(admin.org.id()?, request, &admin.actor, &connection)
            .await?,
    ))
}

// An organization that could not exist holds no users: asked about one of them, the answer is the
// one for an unknown user, as the store's answer always was.

async fn get_user(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Path((_, user_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let org = admin.org.id_or_else(|| unknown_user(&user_id))?;
    Ok(respond(
        StatusCode::OK,
        &state.engine.get_user(org, &user_id).await?,
    ))
}

async fn patch_user(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Connection(connection): Connection,
    Path((_, user_id)): Path<(String, String)>,
    AdminBody(request): AdminBody<UpdateUser>,
) -> ApiResult<Response> {
    let org = admin.org.id_or_else(|| unknown_user(&user_id))?;
    Ok(respond(
        StatusCode::OK,
        &state
            .engine
            .patch_user(org, &user_id, request, &admin.actor, &connection)
            .await?,
    ))
}

async fn delete_user(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Connection(connection): Connection,
    Path((_, user_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let org = admin.org.id_or_else(|| unknown_user(&user_id))?;
    state
        .engine
        .delete_user(org, &user_id, &admin.actor, &connection)
        .await?;
    Ok(no_content())
}
