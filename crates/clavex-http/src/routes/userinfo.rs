//! `GET`/`POST /{org}/userinfo` (OIDC Core §5.3), a DPoP-protected resource.

use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use clavex_core::flows::userinfo::ResourceRequest;
use clavex_core::form::{MAX_FORM_BYTES, Params};

use super::{is_form, read_body};
use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{Connection, OrgPath};

pub fn routes() -> Router<AppState> {
    Router::new().route("/{org}/userinfo", get(userinfo).post(userinfo))
}

async fn userinfo(
    State(state): State<AppState>,
    org: OrgPath,
    Connection(connection): Connection,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> ApiResult<Response> {
    let query = Params::parse(query.unwrap_or_default().as_bytes())?;
    // RFC 6750 §2.2/§2.3: a token in the body or query is noticed only to be refused.
    let token_in_body = if method == Method::POST && is_form(&headers) {
        let bytes = read_body(body, MAX_FORM_BYTES).await?;
        Params::parse(&bytes)?
            .single("access_token")
            .ok()
            .flatten()
            .is_some()
    } else {
        false
    };
    // A resource request's headers are handed over raw: `clavex-resource` decides about every
    // malformed or repeated one (RFC 9449 §7.1), as it does for any resource server.
    let authorization: Vec<&str> = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let dpop: Vec<&str> = headers
        .get_all("dpop")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let request = ResourceRequest {
        method: method.as_str(),
        authorization,
        dpop,
        token_in_query: query.single("access_token").ok().flatten().is_some(),
        token_in_body,
        connection: &connection,
    };
    let claims = state.engine.userinfo(org.id()?, &request).await?;
    Ok(super::no_store(axum::Json(claims).into_response()))
}
