//! What the browser sees during an authorization: the login and consent pages' data, the error pages,
//! and the forms they post back (bound to the browser by a CSRF token).

use serde::Serialize;
use serde_json::Value;

use crate::artifacts::PushedRequest;
use crate::client::ResolvedClient;
use crate::connection::ConnectionFacts;
use crate::engine::{Engine, OrgContext};
use crate::ids::{ClientId, OrgId};

/// A scope as the consent page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ScopeView {
    pub name: String,
    pub description: String,
}

/// One `authorization_details` object as the consent page shows it: its type and its members.
#[derive(Debug, Clone)]
pub struct DetailView {
    pub kind: String,
    /// `member: value` lines (values as compact JSON, strings unquoted), in the object's order.
    pub lines: Vec<String>,
}

fn detail_views(details: Option<&Value>) -> Vec<DetailView> {
    let Some(items) = details.and_then(Value::as_array) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(Value::as_object)
        .map(|object| DetailView {
            kind: object
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            lines: object
                .iter()
                .filter(|(k, _)| k.as_str() != "type")
                .map(|(k, v)| match v {
                    Value::String(s) => format!("{k}: {s}"),
                    other => format!("{k}: {other}"),
                })
                .collect(),
        })
        .collect()
}

/// What the login and consent pages need.
#[derive(Debug, Clone)]
pub struct InteractionView {
    pub org_id: OrgId,
    pub org_name: String,
    pub client_id: ClientId,
    pub client_name: String,
    pub request_uri: String,
    pub csrf: String,
    pub scopes: Vec<ScopeView>,
    /// RFC 9396 `authorization_details`, one entry per object, for the consent page.
    pub details: Vec<DetailView>,
    /// A message for the user (e.g. wrong credentials), safe to display.
    pub message: Option<String>,
    /// The signed-in user (consent page), or the login name typed before a failed attempt.
    pub username: Option<String>,
    /// Sign-in is refused for now because of too many failed attempts.
    pub throttled: bool,
}

/// What the authorization endpoint (and the interaction steps) decide.
#[derive(Debug)]
pub enum Interaction {
    Login(InteractionView),
    Consent(InteractionView),
    /// Send the browser here with 303 See Other (RFC 9700 §4.12; FAPI 2.0 SP §5.3.2.2-10).
    Redirect(String),
    /// An error the user must see, because there is no verified redirect URI to report it to.
    ErrorPage(ErrorPage),
}

/// Why the browser sees an error page instead of going back to the client. The HTTP layer picks the
/// status; the wording is here, once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorPage {
    /// The front channel named no `client_id`.
    MissingClientId,
    /// The `client_id` names no client of this organization.
    UnknownClient,
    /// FAPI 2.0 SP §5.3.2.2-3: an authorization request that was not pushed first.
    NotPushed,
    /// The `request_uri` is unknown, or expired long ago and was forgotten.
    UnknownRequest,
    /// The `request_uri` was pushed by another client than the one named.
    OtherClientsRequest,
    /// The login or consent form's CSRF token is not this browser's.
    FormExpired,
    /// The `request_uri` disappeared between the consent and the code.
    RequestGone,
    /// The browser sent no browser cookie with a form.
    CookiesRequired,
}

impl ErrorPage {
    pub fn title(self) -> &'static str {
        match self {
            ErrorPage::MissingClientId | ErrorPage::NotPushed | ErrorPage::OtherClientsRequest => {
                "Invalid request"
            }
            ErrorPage::UnknownClient => "Unknown application",
            ErrorPage::UnknownRequest | ErrorPage::RequestGone => "Request expired",
            ErrorPage::FormExpired => "Session expired",
            ErrorPage::CookiesRequired => "Cookies required",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            ErrorPage::MissingClientId => "The request has no client_id.",
            ErrorPage::UnknownClient => "The application that sent you here is not registered.",
            ErrorPage::NotPushed => {
                "Authorization requests must be pushed to the PAR endpoint first."
            }
            ErrorPage::UnknownRequest => {
                "This sign-in link is unknown or has expired. Please start again from the application."
            }
            ErrorPage::OtherClientsRequest => "This sign-in link belongs to another application.",
            ErrorPage::FormExpired => {
                "The form has expired or was not sent from this browser. Please start again from the application."
            }
            ErrorPage::RequestGone => "This sign-in link is unknown or has expired.",
            ErrorPage::CookiesRequired => {
                "Please enable cookies and start again from the application."
            }
        }
    }
}

/// Cookie values the browser presented.
pub struct BrowserContext<'a> {
    /// A random per-browser value (set by the HTTP layer) that binds forms to this browser (CSRF).
    pub browser_id: &'a str,
    /// The session cookie of this organization, if any.
    pub session: Option<&'a str>,
    /// The connection (its peer address is what login throttling counts).
    pub connection: &'a ConnectionFacts,
}

pub struct LoginForm<'a> {
    pub client_id: &'a str,
    pub request_uri: &'a str,
    pub csrf: &'a str,
    pub username: &'a str,
    pub password: &'a str,
    pub cancel: bool,
}

pub struct ConsentForm<'a> {
    pub client_id: &'a str,
    pub request_uri: &'a str,
    pub csrf: &'a str,
    pub approve: bool,
}

/// The result of a login attempt.
pub enum LoginOutcome {
    /// Signed in: set this session cookie value, then continue (usually to the consent page).
    SignedIn {
        session: String,
        next: Interaction,
    },
    Continue(Interaction),
}

fn scope_description(scope: &str) -> String {
    match scope {
        "openid" => "Confirm who you are (your user identifier)".to_owned(),
        "profile" => "Your name and profile details".to_owned(),
        "email" => "Your email address".to_owned(),
        "address" => "Your postal address".to_owned(),
        "phone" => "Your phone number".to_owned(),
        "offline_access" => "Keep access while you are away".to_owned(),
        "accounts" => "Read your account details, balances and transactions".to_owned(),
        "payments" => "Initiate payments from your accounts".to_owned(),
        other => format!("Access \"{other}\""),
    }
}

impl Engine {
    fn csrf_token(&self, browser_id: &str, request_uri: &str) -> String {
        let secret = self.master.derive("clavex csrf v1");
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_slice());
        let tag = aws_lc_rs::hmac::sign(&key, format!("{browser_id}\u{0}{request_uri}").as_bytes());
        clavex_jose::b64url_encode(tag.as_ref())
    }

    pub(crate) fn csrf_ok(&self, browser_id: &str, request_uri: &str, presented: &str) -> bool {
        let expected = self.csrf_token(browser_id, request_uri);
        subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), presented.as_bytes()).into()
    }

    pub(crate) fn view(
        &self,
        org: &OrgContext,
        client: &ResolvedClient,
        pushed: &PushedRequest,
        request_uri: &str,
        browser_id: &str,
    ) -> InteractionView {
        InteractionView {
            org_id: org.id.clone(),
            org_name: org.record.display_name.clone(),
            client_id: client.metadata.client_id.clone(),
            client_name: client
                .metadata
                .client_name
                .clone()
                .unwrap_or_else(|| client.metadata.client_id.to_string()),
            request_uri: request_uri.to_owned(),
            csrf: self.csrf_token(browser_id, request_uri),
            scopes: pushed
                .scope
                .iter()
                .map(|s| ScopeView {
                    name: s.to_owned(),
                    description: scope_description(s),
                })
                .collect(),
            details: detail_views(pushed.authorization_details.as_ref()),
            message: None,
            username: None,
            throttled: false,
        }
    }
}
