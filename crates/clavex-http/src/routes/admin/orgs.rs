//! `/api/v1/organizations[/{org}]`.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use clavex_core::Error;
use clavex_core::admin::AdminPrincipal;
use serde_json::{Value, json};

use super::{JsonBody, no_content, respond};
use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{Admin, OrgAdmin, OrgPath, ServerAdmin};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/organizations", get(list_orgs).post(create_org))
        .route(
            "/api/v1/organizations/{org}",
            get(get_org).patch(patch_org).delete(delete_org),
        )
}

async fn list_orgs(State(state): State<AppState>, Admin(principal): Admin) -> ApiResult<Response> {
    let views = match principal {
        AdminPrincipal::Server => state.engine.list_organizations().await?,
        AdminPrincipal::Org(own) => vec![state.engine.get_organization(&own).await?],
    };
    Ok(respond(StatusCode::OK, &views))
}

async fn create_org(
    State(state): State<AppState>,
    _: ServerAdmin,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let id = body
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::BadRequest("id is required".into()))?;
    let display_name = match body.get("display_name") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err(Error::BadRequest("display_name must be a string".into()).into()),
    };
    let (view, token) = state
        .engine
        .create_organization(id, display_name, body.get("settings"))
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
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    Ok(respond(
        StatusCode::OK,
        &state
            .engine
            .patch_organization(admin.org.id()?, &body)
            .await?,
    ))
}

async fn delete_org(
    State(state): State<AppState>,
    _: ServerAdmin,
    org: OrgPath,
) -> ApiResult<Response> {
    state.engine.delete_organization(org.id()?).await?;
    Ok(no_content())
}
