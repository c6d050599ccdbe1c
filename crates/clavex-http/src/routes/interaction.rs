//! The browser-facing half of the code flow: the authorization endpoint, the login and consent
//! forms, and the static assets of their pages.

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use clavex_core::flows::interaction::{
    BrowserContext, ConsentForm, ErrorPage, Interaction, LoginForm, LoginOutcome,
};
use clavex_core::form::Params;
use clavex_core::policy::lifetimes::SESSION_LIFETIME_SECS;

use super::pages::{
    browser_id, cookie_names, favicon, read_cookie, respond, set_cookie, stylesheet,
};
use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{Connection, Form, OrgPath};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/static/clavex.css", get(stylesheet))
        .route("/favicon.ico", get(favicon))
        .route("/{org}/authorize", get(authorize))
        .route("/{org}/login", post(login))
        .route("/{org}/consent", post(consent))
}

async fn authorize(
    State(state): State<AppState>,
    org: OrgPath,
    Connection(connection): Connection,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let query = Params::parse(query.unwrap_or_default().as_bytes())?;
    let names = cookie_names(&state, &org);
    let (browser, new_browser) = browser_id(&headers, &names);
    let session = read_cookie(&headers, &names.session);
    let context = BrowserContext {
        browser_id: &browser,
        session: session.as_deref(),
        connection: &connection,
    };
    let interaction = state.engine.authorize(org.id()?, &query, &context).await?;
    let mut response = respond(&state, &org, interaction).await?;
    if new_browser {
        set_cookie(&mut response, &names, &names.browser, &browser, None);
    }
    Ok(response)
}

/// A form posted without the browser cookie cannot be tied to a browser (CSRF): start again.
async fn cookies_required(state: &AppState, org: &OrgPath) -> ApiResult<Response> {
    respond(
        state,
        org,
        Interaction::ErrorPage(ErrorPage::CookiesRequired),
    )
    .await
}

async fn login(
    State(state): State<AppState>,
    org: OrgPath,
    Connection(connection): Connection,
    headers: HeaderMap,
    Form(params, ..): Form,
) -> ApiResult<Response> {
    let names = cookie_names(&state, &org);
    let Some(browser) = read_cookie(&headers, &names.browser) else {
        return cookies_required(&state, &org).await;
    };
    let session = read_cookie(&headers, &names.session);
    let context = BrowserContext {
        browser_id: &browser,
        session: session.as_deref(),
        connection: &connection,
    };
    let form = LoginForm {
        client_id: params.single("client_id")?.unwrap_or(""),
        request_uri: params.single("request_uri")?.unwrap_or(""),
        csrf: params.single("csrf")?.unwrap_or(""),
        username: params.single("username")?.unwrap_or(""),
        password: params.single("password")?.unwrap_or(""),
        cancel: params.single("action")? == Some("cancel"),
    };
    match state.engine.login(org.id()?, &form, &context).await? {
        LoginOutcome::SignedIn { session, next } => {
            let mut response = respond(&state, &org, next).await?;
            set_cookie(
                &mut response,
                &names,
                &names.session,
                &session,
                Some(SESSION_LIFETIME_SECS),
            );
            Ok(response)
        }
        LoginOutcome::Continue(next) => respond(&state, &org, next).await,
    }
}

async fn consent(
    State(state): State<AppState>,
    org: OrgPath,
    Connection(connection): Connection,
    headers: HeaderMap,
    Form(params, ..): Form,
) -> ApiResult<Response> {
    let names = cookie_names(&state, &org);
    let Some(browser) = read_cookie(&headers, &names.browser) else {
        return cookies_required(&state, &org).await;
    };
    let session = read_cookie(&headers, &names.session);
    let context = BrowserContext {
        browser_id: &browser,
        session: session.as_deref(),
        connection: &connection,
    };
    let form = ConsentForm {
        client_id: params.single("client_id")?.unwrap_or(""),
        request_uri: params.single("request_uri")?.unwrap_or(""),
        csrf: params.single("csrf")?.unwrap_or(""),
        approve: params.single("action")? == Some("approve"),
    };
    let interaction = state.engine.consent(org.id()?, &form, &context).await?;
    respond(&state, &org, interaction).await
}
