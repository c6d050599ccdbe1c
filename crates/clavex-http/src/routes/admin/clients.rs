//! `/api/v1/organizations/{org}/clients[/{client_id}]`.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use clavex_core::admin::clients::unknown_client;
use clavex_core::admin::{CreateClient, UpdateClient};
use clavex_core::connection::ConnectionFacts;
use clavex_core::ids::ClientId;

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
        &state.engine.list_clients(admin.org.id()?).await?,
    ))
}

async fn create_client(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Connection(connection): Connection,
    AdminBody(request): AdminBody<CreateClient>,
) -> ApiResult<Response> {
    let org = admin.org.id()?;
    let metadata = state
        .engine
        .register_client(org, request, &admin.actor, &connection)
        .await?;
    let mut response = respond(StatusCode::CREATED, &metadata);
    if let Ok(location) = HeaderValue::from_str(&format!(
        "/api/v1/organizations/{org}/clients/{}",
        metadata.client_id
    )) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

// An id that could not be a client's names none, and an organization that could not exist holds
// none: either way the answer is the one for an unknown client, as the store's answer always was.

async fn get_client(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Path((_, client_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let org = admin.org.id_or_else(|| unknown_client(&client_id))?;
    let client_id = ClientId::parse(&client_id).map_err(|_| unknown_client(&client_id))?;
    Ok(respond(
        StatusCode::OK,
        &state.engine.get_client(org, &client_id).await?,
    ))
}

async fn put_client(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Connection(connection): Connection,
    Path((_, client_id)): Path<(String, String)>,
    AdminBody(request): AdminBody<UpdateClient>,
) -> ApiResult<Response> {
    update_client(&state, &admin, &connection, &client_id, request, false).await
}

async fn patch_client(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Connection(connection): Connection,
    Path((_, client_id)): Path<(String, String)>,
    AdminBody(request): AdminBody<UpdateClient>,
) -> ApiResult<Response> {
    update_client(&state, &admin, &connection, &client_id, request, true).await
}

/// `PUT` and `PATCH`: an update looks the organization up before the client, so an id that could
/// not be a client's is answered as an unknown client only once the organization is known to exist.
async fn update_client(
    state: &AppState,
    admin: &OrgAdmin,
    connection: &ConnectionFacts,
    client_id: &str,
    request: UpdateClient,
    merge: bool,
) -> ApiResult<Response> {
    let org = admin.org.id()?;
    let Ok(client_id) = ClientId::parse(client_id) else {
        state.engine.org(org).await?;
        return Err(unknown_client(client_id).into());
    };
    Ok(respond(
        StatusCode::OK,
        &state
            .engine
            .update_client(org, &client_id, request, merge, &admin.actor, connection)
            .await?,
    ))
}

async fn delete_client(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Connection(connection): Connection,
    Path((_, client_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let org = admin.org.id_or_else(|| unknown_client(&client_id))?;
    let client_id = ClientId::parse(&client_id).map_err(|_| unknown_client(&client_id))?;
    state
        .engine
        .delete_client(org, &client_id, &admin.actor, &connection)
        .await?;
    Ok(no_content())
}
