//! Dynamic client registration (RFC 7591) at `/{org}/register` and client management (RFC 7592) at
//! `/{org}/register/{client_id}`. The engine decides everything (`clavex_core::flows::registration`); these handlers
//! only read the bearer token and the JSON body.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use clavex_core::OAuthError;
use clavex_core::flows::registration::ClientRegistrationRequest;
use serde_json::Value;

use super::read_body;
use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{Connection, OrgPath, bearer};

/// A registration body: metadata with an inline JWKS of a few keys fits easily.
const MAX_REGISTRATION_BODY: usize = 64 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/{org}/register", post(register))
        .route(
            "/{org}/register/{client_id}",
            axum::routing::get(read).put(update).delete(delete),
        )
}

/// The request body (RFC 7591 §3.1: `application/json`), read into its typed request.
fn metadata(headers: &HeaderMap, bytes: &[u8]) -> ApiResult<ClientRegistrationRequest> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(OAuthError::invalid_client_metadata(
            "the registration request must be a JSON document (Content-Type: application/json)",
        )
        .into());
    }
    let body: Value = serde_json::from_slice(bytes).map_err(|_| {
        OAuthError::invalid_client_metadata("the registration request is not valid JSON")
    })?;
    Ok(ClientRegistrationRequest::from_json(&body)?)
}

/// Client information responses carry credentials: never cached.
fn client_information(status: StatusCode, value: &Value) -> Response {
    super::no_store((status, axum::Json(value)).into_response())
}

async fn register(
    State(state): State<AppState>,
    org: OrgPath,
    Connection(connection): Connection,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let bytes = read_body(body, MAX_REGISTRATION_BODY).await?;
    // Who may register is checked before the body is looked at.
    let permit = state
        .engine
        .dcr_permit(org.id()?, bearer(&headers), &connection)
        .await?;
    let request = metadata(&headers, &bytes)?;
    let info = state.engine.dcr_register(permit, request).await?;
    let mut response = client_information(StatusCode::CREATED, &info);
    if let Some(location) = info["registration_client_uri"]
        .as_str()
        .and_then(|uri| HeaderValue::from_str(uri).ok())
    {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

async fn read(
    State(state): State<AppState>,
    org: OrgPath,
    Path((_, client_id)): Path<(String, String)>,
    Connection(connection): Connection,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let auth = state
        .engine
        .dcr_authenticate(org.id()?, &client_id, bearer(&headers), &connection)
        .await?;
    Ok(client_information(
        StatusCode::OK,
        &state.engine.dcr_read(&auth)?,
    ))
}

async fn update(
    State(state): State<AppState>,
    org: OrgPath,
    Path((_, client_id)): Path<(String, String)>,
    Connection(connection): Connection,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let bytes = read_body(body, MAX_REGISTRATION_BODY).await?;
    let auth = state
        .engine
        .dcr_authenticate(org.id()?, &client_id, bearer(&headers), &connection)
        .await?;
    let request = metadata(&headers, &bytes)?;
    Ok(client_information(
        StatusCode::OK,
        &state.engine.dcr_update(&auth, request).await?,
    ))
}

async fn delete(
    State(state): State<AppState>,
    org: OrgPath,
    Path((_, client_id)): Path<(String, String)>,
    Connection(connection): Connection,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let auth = state
        .engine
        .dcr_authenticate(org.id()?, &client_id, bearer(&headers), &connection)
        .await?;
    state.engine.dcr_delete(auth).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
