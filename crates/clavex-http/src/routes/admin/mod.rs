//! The Admin API (`/api/v1`): organizations, clients, users, keys and initial access tokens, with
//! bearer admin tokens ([`crate::extract::Admin`], [`crate::extract::OrgAdmin`]). One module per
//! resource, as in `clavex_core::admin`.

mod clients;
mod initial_access_tokens;
mod keys;
mod orgs;
mod users;

use axum::Router;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use clavex_core::Error;
use clavex_core::admin::AdminRequest;
use serde::Serialize;
use serde_json::{Value, json};

use super::read_body;
use crate::AppState;
use crate::error::ApiError;

const MAX_ADMIN_BODY: usize = 256 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .merge(orgs::routes())
        .merge(clients::routes())
        .merge(users::routes())
        .merge(keys::routes())
        .merge(initial_access_tokens::routes())
}

async fn openapi() -> Response {
    axum::Json(crate::openapi::document()).into_response()
}

/// An Admin API JSON body of at most [`MAX_ADMIN_BODY`] bytes; empty means `{}`.
pub(super) struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, _: &S) -> Result<Self, ApiError> {
        let bytes = read_body(request.into_body(), MAX_ADMIN_BODY).await?;
        if bytes.is_empty() {
            return Ok(JsonBody(json!({})));
        }
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::BadRequest(format!("body is not valid JSON: {e}")))?;
        if contains_nul(&value) {
            return Err(Error::BadRequest(
                "strings in the body must not contain NUL characters".into(),
            )
            .into());
        }
        Ok(JsonBody(value))
    }
}

/// An Admin API body read into its typed request `T` at the boundary (its messages are the
/// engine's, [`AdminRequest::from_json`]).
pub(super) struct AdminBody<T>(pub T);

impl<S: Send + Sync, T: AdminRequest> FromRequest<S> for AdminBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let JsonBody(body) = JsonBody::from_request(request, state).await?;
        Ok(AdminBody(T::from_json(&body)?))
    }
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
