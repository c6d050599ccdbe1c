//! `POST /{org}/par`: pushed authorization requests (RFC 9126).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use clavex_core::flows::par::ParRequest;

use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{ClientAuthentication, Connection, DpopProofs, Form, OrgPath};

pub fn routes() -> Router<AppState> {
    Router::new().route("/{org}/par", post(par))
}

async fn par(
    State(state): State<AppState>,
    org: OrgPath,
    Connection(connection): Connection,
    dpop: DpopProofs,
    client: ClientAuthentication,
    Form(params, ..): Form,
) -> ApiResult<Response> {
    let org = org.id()?;
    let response = state
        .engine
        .push_authorization_request(
            org,
            ParRequest {
                params,
                dpop: dpop.as_strs(),
                authorization_header: client.authorization(),
                connection: &connection,
            },
        )
        .await?;
    let mut http = super::no_store((StatusCode::CREATED, axum::Json(response)).into_response());
    super::add_dpop_nonce(&state, org, &mut http).await;
    Ok(http)
}
