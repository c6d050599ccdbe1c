//! `/api/v1/organizations/{org}/clients[/{client_id}]`.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::get;

use clavex_core::admin::{CreateClient, UpdateClient};

use super::{AdminBody, no_content, respond};
use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{Connection, OrgAdmin};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/organizations/{org}/clients",
            get(list_clients).post(create_client),
        )
        .route(
            "/api/v1/organizations/{org}/clients/{client_id}",
            get(get_client)
                .put(put_client)
                .patch(patch_client)
                .delete(delete_client),
        )
}

async fn list_clients(State(state): State<AppState>, admin: OrgAdmin) -> ApiResult<Response> {
    Ok(respond(
        StatusCode::OK,
        &state.engine.list_clients(&admin.org).await?,
    ))
}

async fn create_client(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Connection(connection): Connection,
    AdminBody(request): AdminBody<CreateClient>,
) -> ApiResult<Response> {
    let metadata = state
        .engine
        .register_client(&admin.org, request, &admin.actor, &connection)
        .await?;
    let org = admin.org;
    let mut response = respond(StatusCode::CREATED, &metadata);
    if let Ok(location) = HeaderValue::from_str(&format!(
        "/api/v1/organizations/{org}/clients/{}",
        metadata.client_id
    )) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

async fn get_client(
    State(state): State<AppState>,
    _: OrgAdmin,
    Path((org, client_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    Ok(respond(
        StatusCode::OK,
        &state.engine.get_client(&org, &client_id).await?,
    ))
}

async fn put_client(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Connection(connection): Connection,
    Path((org, client_id)): Path<(String, String)>,
    AdminBody(request): AdminBody<UpdateClient>,
) -> ApiResult<Response> {
    Ok(respond(
        StatusCode::OK,
        &state
            .engine
            .update_client(&org, &client_id, request, false, &admin.actor, &connection)
            .await?,
    ))
}

async fn patch_client(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Connection(connection): Connection,
    Path((org, client_id)): Path<(String, String)>,
    AdminBody(request): AdminBody<UpdateClient>,
) -> ApiResult<Response> {
    Ok(respond(
        StatusCode::OK,
        &state
            .engine
            .update_client(&org, &client_id, request, true, &admin.actor, &connection)
            .await?,
    ))
}

async fn delete_client(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Connection(connection): Connection,
    Path((org, client_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    state
        .engine
        .delete_client(&org, &client_id, &admin.actor, &connection)
        .await?;
    Ok(no_content())
}
