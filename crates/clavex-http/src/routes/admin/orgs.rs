//! `/api/v1/organizations[/{org}]`.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use clavex_core::admin::{AdminPrincipal, CreateOrganization, UpdateOrganization};
use serde_json::json;

use super::{AdminBody, no_content, respond};
use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{Admin, Connection, OrgAdmin, OrgPath, ServerAdmin};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/organizations", get(list_orgs).post(create_org))
        .route(
            "/api/v1/organizations/{org}",
            get(get_org).patch(patch_org).delete(delete_org),
        )
}

async fn list_orgs(State(state): State<AppState>, admin: Admin) -> ApiResult<Response> {
    let views = match admin.principal {
        AdminPrincipal::Server => state.engine.list_organizations().await?,
        AdminPrincipal::Org(own) => vec![state.engine.get_organization(&own).await?],
    };
    Ok(respond(StatusCode::OK, &views))
}

async fn create_org(
    State(state): State<AppState>,
    admin: ServerAdmin,
    Connection(connection): Connection,
    AdminBody(request): AdminBody<CreateOrganization>,
) -> ApiResult<Response> {
    let (view, token) = state
        .engine
        .create_organization(request, &admin.actor, &connection)
        .await?;
    Ok(respond(
        StatusCode::CREATED,
        &json!({ "organization": view, "admin_token": token }),
    ))
}

async fn get_org(State(state): State<AppState>, admin: OrgAdmin) -> ApiResult<Response> {
    Ok(respond(
        StatusCode::OK,
        &state.engine.get_organization(admin.org.id()?).await?,
    ))
}

async fn patch_org(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Connection(connection): Connection,
    AdminBody(request): AdminBody<UpdateOrganization>,
) -> ApiResult<Response> {
    Ok(respond(
        StatusCode::OK,
        &state
            .engine
            .patch_organization(admin.org.id()?, request, &admin.actor, &connection)
            .await?,
    ))
}

async fn delete_org(
    State(state): State<AppState>,
    admin: ServerAdmin,
    Connection(connection): Connection,
    org: OrgPath,
) -> ApiResult<Response> {
    state
        .engine
        .delete_organization(org.id()?, &admin.actor, &connection)
        .await?;
    Ok(no_content())
}
