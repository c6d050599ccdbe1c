//! The Admin API (`/api/v1`): organizations, clients, users and keys, with bearer admin tokens.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use clavex_core::Error;
use clavex_core::admin::AdminPrincipal;
use serde::Serialize;
use serde_json::{Value, json};

use super::read_body;
use crate::AppState;
use crate::error::ApiResult;

const MAX_ADMIN_BODY: usize = 256 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/organizations", get(list_orgs).post(create_org))
        .route(
            "/api/v1/organizations/{org}",
            get(get_org).patch(patch_org).delete(delete_org),
        )
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
        .route(
            "/api/v1/organizations/{org}/users",
            get(list_users).post(create_user),
        )
        .route(
            "/api/v1/organizations/{org}/users/{user_id}",
            get(get_user).patch(patch_user).delete(delete_user),
        )
        .route("/api/v1/organizations/{org}/keys", get(list_keys))
        .route("/api/v1/organizations/{org}/keys/rotate", post(rotate_keys))
        .route(
            "/api/v1/organizations/{org}/initial-access-tokens",
            post(create_initial_access_token),
        )
}

async fn openapi() -> Response {
    axum::Json(crate::openapi::document()).into_response()
}

async fn principal(state: &AppState, headers: &HeaderMap) -> ApiResult<AdminPrincipal> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Error::Unauthorized("missing admin token".into()))?;
    let token = value
        .get(..7)
        .filter(|scheme| scheme.eq_ignore_ascii_case("bearer "))
        .and_then(|_| value.get(7..))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            Error::Unauthorized("the Authorization header must be Bearer <admin token>".into())
        })?;
    Ok(state.engine.authenticate_admin(token).await?)
}

async fn org_principal(state: &AppState, headers: &HeaderMap, org: &str) -> ApiResult<()> {
    principal(state, headers).await?.ensure_org(org)?;
    Ok(())
}

async fn json_body(body: Body) -> ApiResult<Value> {
    let bytes = read_body(body, MAX_ADMIN_BODY).await?;
    if bytes.is_empty() {
        return Ok(json!({}));
    }
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| Error::BadRequest(format!("body is not valid JSON: {e}")))?;
    if contains_nul(&value) {
        return Err(Error::BadRequest(
            "strings in the body must not contain NUL characters".into(),
        )
        .into());
    }
    Ok(value)
}

/// PostgreSQL text cannot hold NUL, and no admin value needs one.
fn contains_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(contains_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)),
        _ => false,
    }
}

fn respond<T: Serialize>(status: StatusCode, value: &T) -> Response {
    super::no_store((status, axum::Json(value)).into_response())
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

// ---- organizations ----

async fn list_orgs(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let views = match principal(&state, &headers).await? {
        AdminPrincipal::Server => state.engine.list_organizations().await?,
        AdminPrincipal::Org(own) => vec![state.engine.get_organization(&own).await?],
    };
    Ok(respond(StatusCode::OK, &views))
}

async fn create_org(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    principal(&state, &headers).await?.ensure_server()?;
    let body = json_body(body).await?;
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

async fn get_org(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(org): Path<String>,
) -> ApiResult<Response> {
    org_principal(&state, &headers, &org).await?;
    Ok(respond(
        StatusCode::OK,
        &state.engine.get_organization(&org).await?,
    ))
}

async fn patch_org(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(org): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    org_principal(&state, &headers, &org).await?;
    let body = json_body(body).await?;
    Ok(respond(
        StatusCode::OK,
        &state.engine.patch_organization(&org, &body).await?,
    ))
}

async fn delete_org(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(org): Path<String>,
) -> ApiResult<Response> {
    principal(&state, &headers).await?.ensure_server()?;
    state.engine.delete_organization(&org).await?;
    Ok(no_content())
}

// ---- clients ----

async fn list_clients(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(org): Path<String>,
) -> ApiResult<Response> {
    org_principal(&state, &headers, &org).await?;
    Ok(respond(
        StatusCode::OK,
        &state.engine.list_clients(&org).await?,
    ))
}

async fn create_client(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(org): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    org_principal(&state, &headers, &org).await?;
    let body = json_body(body).await?;
    let metadata = state.engine.register_client(&org, &body).await?;
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
    headers: HeaderMap,
    Path((org, client_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    org_principal(&state, &headers, &org).await?;
    Ok(respond(
        StatusCode::OK,
        &state.engine.get_client(&org, &client_id).await?,
    ))
}

async fn put_client(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((org, client_id)): Path<(String, String)>,
    body: Body,
) -> ApiResult<Response> {
    org_principal(&state, &headers, &org).await?;
    let body = json_body(body).await?;
    Ok(respond(
        StatusCode::OK,
        &state
            .engine
            .update_client(&org, &client_id, &body, false)
            .await?,
    ))
}

async fn patch_client(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((org, client_id)): Path<(String, String)>,
    body: Body,
) -> ApiResult<Response> {
    org_principal(&state, &headers, &org).await?;
    let body = json_body(body).await?;
    Ok(respond(
        StatusCode::OK,
        &state
            .engine
            .update_client(&org, &client_id, &body, true)
            .await?,
    ))
}

async fn delete_client(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((org, client_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    org_principal(&state, &headers, &org).await?;
    state.engine.delete_client(&org, &client_id).await?;
    Ok(no_content())
}

// ---- users ----

async fn list_users(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(org): Path<String>,
) -> ApiResult<Response> {
    org_principal(&state, &headers, &org).await?;
    Ok(respond(
        StatusCode::OK,
        &state.engine.list_users(&org).await?,
    ))
}

async fn create_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(org): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    org_principal(&state, &headers, &org).await?;
    let body = json_body(body).await?;
    Ok(respond(
        StatusCode::CREATED,
        &state.engine.create_user(&org, &body).await?,
    ))
}

async fn get_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((org, user_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    org_principal(&state, &headers, &org).await?;
    Ok(respond(
        StatusCode::OK,
        &state.engine.get_user(&org, &user_id).await?,
    ))
}

async fn patch_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((org, user_id)): Path<(String, String)>,
    body: Body,
) -> ApiResult<Response> {
    org_principal(&state, &headers, &org).await?;
    let body = json_body(body).await?;
    Ok(respond(
        StatusCode::OK,
        &state.engine.patch_user(&org, &user_id, &body).await?,
    ))
}

async fn delete_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((org, user_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    org_principal(&state, &headers, &org).await?;
    state.engine.delete_user(&org, &user_id).await?;
    Ok(no_content())
}

// ---- keys ----

async fn list_keys(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(org): Path<String>,
) -> ApiResult<Response> {
    org_principal(&state, &headers, &org).await?;
    Ok(respond(
        StatusCode::OK,
        &state.engine.list_keys(&org).await?,
    ))
}

async fn rotate_keys(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(org): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    org_principal(&state, &headers, &org).await?;
    let body = json_body(body).await?;
    let alg = match body.get("alg") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err(Error::BadRequest("alg must be a string".into()).into()),
    };
    Ok(respond(
        StatusCode::OK,
        &state.engine.rotate_keys(&org, alg).await?,
    ))
}

// ---- dynamic registration ----

async fn create_initial_access_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(org): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    org_principal(&state, &headers, &org).await?;
    let body = json_body(body).await?;
    Ok(respond(
        StatusCode::CREATED,
        &state
            .engine
            .create_initial_access_token(&org, &body)
            .await?,
    ))
}
