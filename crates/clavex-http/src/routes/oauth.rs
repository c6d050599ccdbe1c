//! OAuth endpoints of an organization: discovery, JWKS, token, revocation, introspection; and the
//! node's health probes.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use clavex_core::OAuthError;
use clavex_core::form::{MAX_FORM_BYTES, Params};
use clavex_core::issued_tokens::TokenQuery;
use clavex_core::token::TokenRequest;

use super::{is_form, no_store, read_body};
use crate::AppState;
use crate::error::ApiResult;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route(
            "/.well-known/oauth-authorization-server/{org}",
            get(discovery),
        )
        .route("/{org}/.well-known/openid-configuration", get(discovery))
        .route("/{org}/jwks", get(jwks))
        .route("/{org}/token", post(token))
        .route("/{org}/revoke", post(revoke))
        .route("/{org}/introspect", post(introspect))
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.engine.store().ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

fn public_json(value: serde_json::Value, max_age: u32) -> Response {
    let mut response = axum::Json(value).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        response.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    response
}

async fn discovery(State(state): State<AppState>, Path(org): Path<String>) -> ApiResult<Response> {
    Ok(public_json(state.engine.discovery(&org).await?, 300))
}

async fn jwks(State(state): State<AppState>, Path(org): Path<String>) -> ApiResult<Response> {
    state.engine.org(&org).await?;
    let keys = state.engine.org_keys(&org).await?;
    let mut response = public_json(keys.jwks.clone(), 60);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    Ok(response)
}

async fn token(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    if !is_form(&headers) {
        return Err(OAuthError::invalid_request(
            "the token request must be application/x-www-form-urlencoded",
        )
        .into());
    }
    let bytes = read_body(body, MAX_FORM_BYTES).await?;
    let params = Params::parse(&bytes)?;
    let mut dpop = Vec::new();
    for value in headers.get_all("dpop") {
        dpop.push(
            value
                .to_str()
                .map_err(|_| OAuthError::invalid_dpop_proof("DPoP header is not ASCII"))?,
        );
    }
    let authorization_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let response = state
        .engine
        .token(
            &org,
            TokenRequest {
                params,
                dpop,
                authorization_header,
            },
        )
        .await?;
    let mut http = no_store(axum::Json(response).into_response());
    super::add_dpop_nonce(&state, &org, &mut http).await;
    Ok(http)
}

/// The form and `Authorization` header of a revocation or introspection request.
async fn token_query<'h>(
    headers: &'h HeaderMap,
    body: Body,
    what: &str,
) -> ApiResult<TokenQuery<'h>> {
    if !is_form(headers) {
        return Err(OAuthError::invalid_request(format!(
            "the {what} request must be application/x-www-form-urlencoded"
        ))
        .into());
    }
    let bytes = read_body(body, MAX_FORM_BYTES).await?;
    Ok(TokenQuery {
        params: Params::parse(&bytes)?,
        authorization_header: headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
    })
}

/// RFC 7009: an empty 200 whether or not the token was known.
async fn revoke(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let query = token_query(&headers, body, "revocation").await?;
    state.engine.revoke(&org, query).await?;
    Ok(no_store(StatusCode::OK.into_response()))
}

/// RFC 7662: `{"active": …}` and, when active, the token's claims; as a signed JWT (RFC 9701) when
/// the caller accepts `application/token-introspection+jwt`.
async fn introspect(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let wants_jwt = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|media| {
            media
                .split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case(INTROSPECTION_JWT_MEDIA_TYPE))
        });
    let query = token_query(&headers, body, "introspection").await?;
    if wants_jwt {
        let jwt = state.engine.introspect_signed(&org, query).await?;
        let mut response = jwt.into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(INTROSPECTION_JWT_MEDIA_TYPE),
        );
        return Ok(no_store(response));
    }
    let answer = state.engine.introspect(&org, query).await?;
    Ok(no_store(axum::Json(answer).into_response()))
}

const INTROSPECTION_JWT_MEDIA_TYPE: &str = "application/token-introspection+jwt";
