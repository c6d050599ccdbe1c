//! The pages the browser sees (login, consent, error), their security headers, and the cookies that
//! bind a browser to its session.

use askama::Template;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use clavex_core::flows::interaction::{
    DetailView, ErrorPage, Interaction, InteractionView, ScopeView,
};
use cookie::{Cookie, SameSite};

use crate::AppState;
use crate::error::ApiResult;
use crate::extract::OrgPath;

/// Every error page is a refused request: the user can only start again from the application.
fn error_page_status(reason: ErrorPage) -> StatusCode {
    match reason {
        ErrorPage::MissingClientId
        | ErrorPage::UnknownClient
        | ErrorPage::NotPushed
        | ErrorPage::UnknownRequest
        | ErrorPage::OtherClientsRequest
        | ErrorPage::FormExpired
        | ErrorPage::RequestGone
        | ErrorPage::CookiesRequired => StatusCode::BAD_REQUEST,
    }
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
struct ErrorPageTemplate<'a> {
    org_name: &'a str,
    title: &'a str,
    message: &'a str,
}

const CSS: &str = include_str!("../../templates/clavex.css");

/// No icon: an empty answer stops browsers from logging a 404 on every page.
pub(super) async fn favicon() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    response
}

pub(super) async fn stylesheet() -> Response {
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
        .map_err(|e| clavex_core::Error::internal("template", e).into())
}

fn login_page(view: &InteractionView) -> ApiResult<Response> {
    let html = render(&LoginPage {
        org_id: view.org_id.as_str(),
        org_name: &view.org_name,
        client_id: view.client_id.as_str(),
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

pub(super) async fn respond(
    state: &AppState,
    org: &OrgPath,
    interaction: Interaction,
) -> ApiResult<Response> {
    match interaction {
        Interaction::Login(view) => login_page(&view),
        Interaction::Consent(view) => {
            let html = render(&ConsentPage {
                org_id: view.org_id.as_str(),
                org_name: &view.org_name,
                client_id: view.client_id.as_str(),
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
                clavex_core::Error::invariant("redirect location is not a header value")
            })?;
            response.headers_mut().insert(header::LOCATION, value);
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Ok(response)
        }
        Interaction::ErrorPage(reason) => {
            let known = match org.parsed() {
                Some(id) => state.engine.org(id).await.ok(),
                None => None,
            };
            let org_name = match known {
                Some(ctx) => ctx.record.display_name.clone(),
                None => "Clavex".to_owned(),
            };
            let html = render(&ErrorPageTemplate {
                org_name: &org_name,
                title: reason.title(),
                message: reason.message(),
            })?;
            Ok(page(error_page_status(reason), html))
        }
    }
}

/// Cookies are `__Host-` prefixed and `Secure` when the public URL is https (the prefix requires it).
pub(super) struct CookieNames {
    secure: bool,
    pub browser: String,
    pub session: String,
}

/// Named after the `{org}` segment as sent: they are read before the organization is looked up.
pub(super) fn cookie_names(state: &AppState, org: &OrgPath) -> CookieNames {
    let secure = state.engine.public_url().starts_with("https://");
    let prefix = if secure { "__Host-" } else { "" };
    CookieNames {
        secure,
        browser: format!("{prefix}clavex_browser"),
        session: format!("{prefix}clavex_session_{}", org.segment()),
    }
}

pub(super) fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
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

pub(super) fn set_cookie(
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
pub(super) fn browser_id(headers: &HeaderMap, names: &CookieNames) -> (String, bool) {
    match read_cookie(headers, &names.browser) {
        Some(id) => (id, false),
        None => (clavex_jose::random_token(24), true),
    }
}
