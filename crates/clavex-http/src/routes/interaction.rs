//! The browser-facing half of the code flow (authorization endpoint, login, consent) and the
//! back-channel PAR and UserInfo endpoints.

use std::net::SocketAddr;

use askama::Template;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use clavex_core::OAuthError;
use clavex_core::authorization::{
    BrowserContext, ConsentForm, DetailView, Interaction, InteractionView, LoginForm, LoginOutcome,
    ParRequest, ScopeView,
};
use clavex_core::form::{MAX_FORM_BYTES, Params};
use clavex_core::userinfo::ResourceRequest;
use cookie::{Cookie, SameSite};

use super::{is_form, read_body};
use crate::AppState;
use crate::error::ApiResult;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/static/clavex.css", get(stylesheet))
        .route("/favicon.ico", get(favicon))
        .route("/{org}/par", post(par))
        .route("/{org}/authorize", get(authorize))
        .route("/{org}/login", post(login))
        .route("/{org}/consent", post(consent))
        .route("/{org}/userinfo", get(userinfo).post(userinfo))
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    org_id: &'a str,
    org_name: &'a str,
    client_id: &'a str,
    client_name: &'a str,
    request_uri: &'a str,
    csrf: &'a str,
    message: Option<&'a str>,
    username: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    org_id: &'a str,
    org_name: &'a str,
    client_id: &'a str,
    client_name: &'a str,
    request_uri: &'a str,
    csrf: &'a str,
    scopes: &'a [ScopeView],
    details: &'a [DetailView],
    username: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    org_name: &'a str,
    title: &'a str,
    message: &'a str,
}

const CSS: &str = include_str!("../../templates/clavex.css");

/// No icon: an empty answer stops browsers from logging a 404 on every page.
async fn favicon() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    response
}

async fn stylesheet() -> Response {
    let mut response = CSS.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

/// Security headers of every page: no framing (clickjacking of the consent page), no caching, no
/// scripts at all.
fn page(status: StatusCode, html: String) -> Response {
    let mut response = (status, axum::response::Html(html)).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

fn render(template: &impl Template) -> ApiResult<String> {
    template
        .render()
        .map_err(|e| clavex_core::Error::Internal(format!("template: {e}")).into())
}

fn login_page(view: &InteractionView) -> ApiResult<Response> {
    let html = render(&LoginPage {
        org_id: &view.org_id,
        org_name: &view.org_name,
        client_id: &view.client_id,
        client_name: &view.client_name,
        request_uri: &view.request_uri,
        csrf: &view.csrf,
        message: view.message.as_deref(),
        username: view.username.as_deref(),
    })?;
    // A re-shown form is not an HTTP authentication challenge (no WWW-Authenticate), so failed
    // attempts are 400, and throttled ones 429.
    let status = if view.throttled {
        StatusCode::TOO_MANY_REQUESTS
    } else if view.message.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok(page(status, html))
}

async fn respond(state: &AppState, org: &str, interaction: Interaction) -> ApiResult<Response> {
    match interaction {
        Interaction::Login(view) => login_page(&view),
        Interaction::Consent(view) => {
            let html = render(&ConsentPage {
                org_id: &view.org_id,
                org_name: &view.org_name,
                client_id: &view.client_id,
                client_name: &view.client_name,
                request_uri: &view.request_uri,
                csrf: &view.csrf,
                scopes: &view.scopes,
                details: &view.details,
                username: view.username.as_deref(),
            })?;
            Ok(page(StatusCode::OK, html))
        }
        Interaction::Redirect(location) => {
            let mut response = StatusCode::SEE_OTHER.into_response();
            let value = HeaderValue::from_str(&location).map_err(|_| {
                clavex_core::Error::Internal("redirect location is not a header value".into())
            })?;
            response.headers_mut().insert(header::LOCATION, value);
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Ok(response)
        }
        Interaction::ErrorPage {
            status,
            title,
            message,
        } => {
            let org_name = match state.engine.org(org).await {
                Ok(ctx) => ctx.record.display_name.clone(),
                Err(_) => "Clavex".to_owned(),
            };
            let html = render(&ErrorPage {
                org_name: &org_name,
                title: &title,
                message: &message,
            })?;
            Ok(page(
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
                html,
            ))
        }
    }
}

/// Cookies are `__Host-` prefixed and `Secure` when the public URL is https (the prefix requires it).
struct CookieNames {
    secure: bool,
    browser: String,
    session: String,
}

fn cookie_names(state: &AppState, org: &str) -> CookieNames {
    let secure = state.engine.public_url().starts_with("https://");
    let prefix = if secure { "__Host-" } else { "" };
    CookieNames {
        secure,
        browser: format!("{prefix}clavex_browser"),
        session: format!("{prefix}clavex_session_{org}"),
    }
}

fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

fn set_cookie(
    response: &mut Response,
    names: &CookieNames,
    name: &str,
    value: &str,
    max_age: Option<i64>,
) {
    let mut cookie = Cookie::build((name.to_owned(), value.to_owned()))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(names.secure);
    if let Some(seconds) = max_age {
        cookie = cookie.max_age(cookie::time::Duration::seconds(seconds));
    }
    if let Ok(v) = HeaderValue::from_str(&cookie.build().to_string()) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// The browser's id cookie, created when absent.
fn browser_id(headers: &HeaderMap, names: &CookieNames) -> (String, bool) {
    match read_cookie(headers, &names.browser) {
        Some(id) => (id, false),
        None => (clavex_jose::random_token(24), true),
    }
}

async fn form(headers: &HeaderMap, body: Body) -> ApiResult<Params> {
    if !is_form(headers) {
        return Err(OAuthError::invalid_request(
            "the request must be application/x-www-form-urlencoded",
        )
        .into());
    }
    let bytes = read_body(body, MAX_FORM_BYTES).await?;
    Ok(Params::parse(&bytes)?)
}

async fn par(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let params = form(&headers, body).await?;
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
        .push_authorization_request(
            &org,
            ParRequest {
                params,
                dpop,
                authorization_header,
            },
        )
        .await?;
    let mut http = super::no_store((StatusCode::CREATED, axum::Json(response)).into_response());
    super::add_dpop_nonce(&state, &org, &mut http).await;
    Ok(http)
}

async fn authorize(
    State(state): State<AppState>,
    Path(org): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let query = Params::parse(query.unwrap_or_default().as_bytes())?;
    let names = cookie_names(&state, &org);
    let (browser, new_browser) = browser_id(&headers, &names);
    let session = read_cookie(&headers, &names.session);
    let ip = state.client_ip(peer.ip(), &headers).to_string();
    let context = BrowserContext {
        browser_id: &browser,
        session: session.as_deref(),
        client_ip: &ip,
    };
    let interaction = state.engine.authorize(&org, &query, &context).await?;
    let mut response = respond(&state, &org, interaction).await?;
    if new_browser {
        set_cookie(&mut response, &names, &names.browser, &browser, None);
    }
    Ok(response)
}

async fn login(
    State(state): State<AppState>,
    Path(org): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let params = form(&headers, body).await?;
    let names = cookie_names(&state, &org);
    let Some(browser) = read_cookie(&headers, &names.browser) else {
        let page = Interaction::ErrorPage {
            status: 400,
            title: "Cookies required".into(),
            message: "Please enable cookies and start again from the application.".into(),
        };
        return respond(&state, &org, page).await;
    };
    let session = read_cookie(&headers, &names.session);
    let ip = state.client_ip(peer.ip(), &headers).to_string();
    let context = BrowserContext {
        browser_id: &browser,
        session: session.as_deref(),
        client_ip: &ip,
    };
    let form = LoginForm {
        client_id: params.single("client_id")?.unwrap_or(""),
        request_uri: params.single("request_uri")?.unwrap_or(""),
        csrf: params.single("csrf")?.unwrap_or(""),
        username: params.single("username")?.unwrap_or(""),
        password: params.single("password")?.unwrap_or(""),
        cancel: params.single("action")? == Some("cancel"),
    };
    match state.engine.login(&org, &form, &context).await? {
        LoginOutcome::SignedIn { session, next } => {
            let mut response = respond(&state, &org, next).await?;
            set_cookie(
                &mut response,
                &names,
                &names.session,
                &session,
                Some(clavex_core::authorization::SESSION_LIFETIME_SECS),
            );
            Ok(response)
        }
        LoginOutcome::Continue(next) => respond(&state, &org, next).await,
    }
}

async fn consent(
    State(state): State<AppState>,
    Path(org): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let params = form(&headers, body).await?;
    let names = cookie_names(&state, &org);
    let Some(browser) = read_cookie(&headers, &names.browser) else {
        let page = Interaction::ErrorPage {
            status: 400,
            title: "Cookies required".into(),
            message: "Please enable cookies and start again from the application.".into(),
        };
        return respond(&state, &org, page).await;
    };
    let session = read_cookie(&headers, &names.session);
    let ip = state.client_ip(peer.ip(), &headers).to_string();
    let context = BrowserContext {
        browser_id: &browser,
        session: session.as_deref(),
        client_ip: &ip,
    };
    let action = params.single("action")?;
    let form = ConsentForm {
        client_id: params.single("client_id")?.unwrap_or(""),
        request_uri: params.single("request_uri")?.unwrap_or(""),
        csrf: params.single("csrf")?.unwrap_or(""),
        approve: action == Some("approve"),
    };
    let interaction = state.engine.consent(&org, &form, &context).await?;
    respond(&state, &org, interaction).await
}

async fn userinfo(
    State(state): State<AppState>,
    Path(org): Path<String>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> ApiResult<Response> {
    let query = Params::parse(query.unwrap_or_default().as_bytes())?;
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
    };
    let claims = state.engine.userinfo(&org, &request).await?;
    Ok(super::no_store(axum::Json(claims).into_response()))
}
