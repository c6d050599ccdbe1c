//! `POST /{org}/token` (RFC 6749 §3.2, RFC 9449 §5).

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use clavex_core::flows::token::TokenRequest;

use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{
    ClientAuthentication, Connection, DpopProofs, Form, OrgPath, TokenRequestForm,
};

pub fn routes() -> Router<AppState> {
    Router::new().route("/{org}/token", post(token))
}

async fn token(
    State(state): State<AppState>,
    org: OrgPath,
    Connection(connection): Connection,
    dpop: DpopProofs,
    client: ClientAuthentication,
    Form(params, ..): Form<TokenRequestForm>,
) -> ApiResult<Response> {
    let org = org.id()?;
    let response = state
        .engine
        .token(
            org,
            TokenRequest {
                params,
                dpop: dpop.as_strs(),
                authorization_header: client.authorization(),
                connection: &connection,
            },
        )
        .await?;
    let mut http = super::no_store(axum::Json(response).into_response());
    super::add_dpop_nonce(&state, org, &mut http).await;
    Ok(http)
}
