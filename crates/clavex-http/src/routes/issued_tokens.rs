//! Questions about issued tokens: revocation (RFC 7009) and introspection (RFC 7662, signed as
//! RFC 9701 on request).

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use clavex_core::flows::issued_tokens::TokenQuery;

use super::no_store;
use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{
    ClientAuthentication, Connection, Form, IntrospectionForm, OrgPath, RevocationForm,
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/{org}/revoke", post(revoke))
        .route("/{org}/introspect", post(introspect))
}

/// RFC 7009: an empty 200 whether or not the token was known.
async fn revoke(
    State(state): State<AppState>,
    org: OrgPath,
    Connection(connection): Connection,
    client: ClientAuthentication,
    Form(params, ..): Form<RevocationForm>,
) -> ApiResult<Response> {
    let query = TokenQuery {
        params,
        authorization_header: client.authorization(),
        connection: &connection,
    };
    state.engine.revoke(org.id()?, query).await?;
    Ok(no_store(StatusCode::OK.into_response()))
}

const INTROSPECTION_JWT_MEDIA_TYPE: &str = "application/token-introspection+jwt";

/// Does the caller accept `application/token-introspection+jwt` (RFC 9701 §4)?
fn wants_signed_answer(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|media| {
            media
                .split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case(INTROSPECTION_JWT_MEDIA_TYPE))
        })
}

/// RFC 7662: `{"active": …}` and, when active, the token's claims; as a signed JWT (RFC 9701) when
/// the caller accepts `application/token-introspection+jwt`.
async fn introspect(
    State(state): State<AppState>,
    org: OrgPath,
    Connection(connection): Connection,
    client: ClientAuthentication,
    headers: HeaderMap,
    Form(params, ..): Form<IntrospectionForm>,
) -> ApiResult<Response> {
    let query = TokenQuery {
        params,
        authorization_header: client.authorization(),
        connection: &connection,
    };
    let org = org.id()?;
    if wants_signed_answer(&headers) {
        let jwt = state.engine.introspect_signed(org, query).await?;
        let mut response = jwt.into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(INTROSPECTION_JWT_MEDIA_TYPE),
        );
        return Ok(no_store(response));
    }
    let answer = state.engine.introspect(org, query).await?;
    Ok(no_store(axum::Json(answer).into_response()))
}
