//! The front half of the authorization-code flow: pushed authorization requests (RFC 9126 + FAPI 2.0
//! SP §5.3.2.2), the authorization endpoint, the login and consent interaction, and the authorization
//! response (RFC 9207 `iss`).
//!
//! Only pushed parameters are ever used; the front channel carries `client_id` and `request_uri`, and
//! anything else in it is ignored. Nothing is redirected to a URI that was not verified at PAR.

use std::sync::Arc;

use clavex_store::{ArtifactKind, ArtifactRecord, ConsentRecord, Consumed, GrantRecord};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::client::ResolvedClient;
use crate::dpop::{self, DpopContext};
use crate::engine::{Engine, OrgContext};
use crate::error::{Error, ErrorCode, OAuthError, Result};
use crate::form::Params;
use crate::policy;

pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// A validated pushed authorization request, stored (as JSON) under the hash of its `request_uri`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PushedRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub code_challenge: String,
    /// The DPoP key the code is bound to (from a proof at PAR and/or `dpop_jkt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<String>,
    #[serde(default)]
    pub prompt: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<i64>,
    /// The OIDC `claims` request parameter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr_values: Option<String>,
    /// `response_mode=jwt` / `query.jwt` (JARM): the authorization response is one signed JWT.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub jarm: bool,
    /// RFC 9396 `authorization_details`, checked at PAR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_details: Option<Value>,
    pub created_at: i64,
}

impl PushedRequest {
    pub fn has_openid(&self) -> bool {
        self.scope.iter().any(|s| s == "openid")
    }
}

/// What the grant remembers: who authorized what, and when.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GrantPayload {
    pub user_id: String,
    pub scope: Vec<String>,
    pub auth_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// RFC 9396: what the user approved, carried into every access token of the grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_details: Option<Value>,
}

/// What an authorization code carries to the token endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodePayload {
    pub redirect_uri: String,
    pub code_challenge: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

/// A browser session (stored under the hash of the cookie value).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionPayload {
    pub user_id: String,
    pub auth_time: i64,
    /// The pushed request this login was made for: it satisfies that request's `prompt=login` even
    /// when the login happened within the same second as the push.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_for: Option<String>,
}

pub struct ParRequest<'a> {
    pub params: Params,
    pub dpop: Vec<&'a str>,
    pub authorization_header: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub struct ParResponse {
    pub request_uri: String,
    pub expires_in: i64,
}

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
    pub org_id: String,
    pub org_name: String,
    pub client_id: String,
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
    ErrorPage {
        status: u16,
        title: String,
        message: String,
    },
}

/// Cookie values the browser presented.
pub struct BrowserContext<'a> {
    /// A random per-browser value (set by the HTTP layer) that binds forms to this browser (CSRF).
    pub browser_id: &'a str,
    /// The session cookie of this organization, if any.
    pub session: Option<&'a str>,
    /// Client IP for login throttling.
    pub client_ip: &'a str,
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

pub const PAR_LIFETIME_SECS: i64 = 90;
/// How long a spent or expired `request_uri` is remembered, to answer `invalid_request_uri`.
const PAR_RETAIN_SECS: i64 = 3600;
pub const CODE_LIFETIME_SECS: i64 = 60;
const CODE_RETAIN_SECS: i64 = 3600;
pub const SESSION_LIFETIME_SECS: i64 = 8 * 3600;
pub const GRANT_LIFETIME_SECS: i64 = 30 * 24 * 3600;
const MAX_STATE_LEN: usize = 4096;
const MAX_NONCE_LEN: usize = 4096;
/// Failed logins allowed per account and per address in one window before logins are refused.
const LOGIN_FAILURES_PER_WINDOW: i64 = 10;
const LOGIN_WINDOW_SECS: i64 = 900;

fn invalid_request(msg: impl Into<String>) -> Error {
    Error::OAuth(OAuthError::invalid_request(msg))
}

fn is_b64url(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub(crate) fn hash_secret(value: &str) -> Vec<u8> {
    clavex_jose::sha256(value.as_bytes()).to_vec()
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

/// Builds the authorization response URI: the registered redirect URI with its own query kept and
/// ours appended (RFC 6749 §4.1.2, RFC 9207 `iss`).
pub fn response_uri(redirect_uri: &str, params: &[(&str, &str)]) -> Result<String> {
    let mut url = url::Url::parse(redirect_uri)
        .map_err(|_| Error::Internal("stored redirect_uri does not parse".into()))?;
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in params {
            query.append_pair(k, v);
        }
    }
    Ok(url.to_string())
}

impl Engine {
    fn csrf_token(&self, browser_id: &str, request_uri: &str) -> String {
        let secret = self.master.derive("clavex csrf v1");
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_slice());
        let tag = aws_lc_rs::hmac::sign(&key, format!("{browser_id}\u{0}{request_uri}").as_bytes());
        clavex_jose::b64url_encode(tag.as_ref())
    }

    fn csrf_ok(&self, browser_id: &str, request_uri: &str, presented: &str) -> bool {
        let expected = self.csrf_token(browser_id, request_uri);
        subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), presented.as_bytes()).into()
    }

    /// `POST /{org}/par` (RFC 9126 §2).
    pub async fn push_authorization_request(
        &self,
        org_id: &str,
        request: ParRequest<'_>,
    ) -> Result<ParResponse> {
        let org = self.org(org_id).await?;
        self.push_request(&org, &request).await.map_err(|err| {
            crate::client_auth::with_client_challenge(err, &org, request.authorization_header)
        })
    }

    async fn push_request(
        &self,
        org: &OrgContext,
        request: &ParRequest<'_>,
    ) -> Result<ParResponse> {
        let form = &request.params;
        // RFC 9126 §2.1: request_uri must not be pushed.
        if form.single("request_uri")?.is_some() {
            return Err(invalid_request(
                "request_uri must not be sent to the pushed authorization request endpoint",
            ));
        }
        let authenticated = self
            .authenticate_client(org, form, request.authorization_header)
            .await?;
        let client = authenticated.client.clone();
        let metadata = &client.metadata;
        // JAR (RFC 9101 §5, FAPI 2.0 MS §5.3.1): with a request object, its claims are the whole
        // authorization request; the outer form only authenticates the client.
        let from_request_object = match form.single("request")? {
            Some(request_object) => Some(
                self.verify_request_object(org, &client, request_object)
                    .await?,
            ),
            None if metadata.require_signed_request_object => {
                return Err(invalid_request(
                    "this client must push a signed request object (JAR): send the authorization parameters in the request parameter",
                ));
            }
            None => None,
        };
        let params = from_request_object.as_ref().unwrap_or(form);
        match params.single("response_type")? {
            None => return Err(invalid_request("response_type is required")),
            Some("code") => {}
            Some(other) => {
                return Err(OAuthError::new(
                    ErrorCode::UnsupportedResponseType,
                    format!("response_type {other} is not allowed; FAPI 2.0 allows only code"),
                )
                .into());
            }
        }
        if !metadata.allows_grant("authorization_code") {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "this client is not registered for the authorization_code grant",
            )
            .into());
        }
        let redirect_uri = params
            .single("redirect_uri")?
            .ok_or_else(|| invalid_request("redirect_uri is required (FAPI 2.0 SP §5.3.2.2)"))?;
        if !metadata.redirect_uris.iter().any(|r| r == redirect_uri) {
            return Err(invalid_request(
                "redirect_uri is not registered for this client",
            ));
        }
        let scope =
            self.check_authorization_scope(org, &client, params.single("scope")?.unwrap_or(""))?;
        let method = params.single("code_challenge_method")?;
        let challenge = params.single("code_challenge")?;
        match (challenge, method) {
            (None, _) => {
                return Err(invalid_request(
                    "code_challenge is required: FAPI 2.0 requires PKCE with S256",
                ));
            }
            (Some(_), Some("S256")) => {}
            (Some(_), Some(other)) => {
                return Err(invalid_request(format!(
                    "code_challenge_method {other} is not allowed; use S256"
                )));
            }
            (Some(_), None) => {
                return Err(invalid_request("code_challenge_method S256 is required"));
            }
        }
        let code_challenge = challenge.unwrap_or_default();
        if code_challenge.len() != 43 || !is_b64url(code_challenge) {
            return Err(invalid_request(
                "code_challenge must be the base64url SHA-256 of the code_verifier (43 characters)",
            ));
        }
        // JARM §2.3: for the code flow `jwt` means `query.jwt`.
        let jarm = match params.single("response_mode")? {
            None | Some("query") => false,
            Some("jwt" | "query.jwt") => true,
            Some(other) => {
                return Err(invalid_request(format!(
                    "response_mode {other} is not supported; use query, jwt or query.jwt"
                )));
            }
        };
        let authorization_details = match params.single("authorization_details")? {
            None => None,
            Some(text) => Some(
                policy::check_authorization_details(
                    text,
                    &org.settings.authorization_details_types,
                )
                .map_err(|m| OAuthError::new(ErrorCode::InvalidAuthorizationDetails, m))?,
            ),
        };
        let state = params.single("state")?.map(str::to_owned);
        if state.as_ref().is_some_and(|s| s.len() > MAX_STATE_LEN) {
            return Err(invalid_request(format!(
                "state is longer than {MAX_STATE_LEN} characters"
            )));
        }
        let nonce = params.single("nonce")?.map(str::to_owned);
        if nonce.as_ref().is_some_and(|n| n.len() > MAX_NONCE_LEN) {
            return Err(invalid_request(format!(
                "nonce is longer than {MAX_NONCE_LEN} characters"
            )));
        }
        let prompt: Vec<String> = params
            .single("prompt")?
            .unwrap_or("")
            .split(' ')
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect();
        for p in &prompt {
            if !["none", "login", "consent", "select_account"].contains(&p.as_str()) {
                return Err(invalid_request(format!(
                    "prompt value {p} is not supported"
                )));
            }
        }
        if prompt.iter().any(|p| p == "none") && prompt.len() > 1 {
            return Err(invalid_request(
                "prompt=none cannot be combined with other values",
            ));
        }
        let max_age = match params.single("max_age")? {
            None => None,
            Some(v) => Some(
                v.parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| invalid_request("max_age must be a non-negative integer"))?,
            ),
        };
        let claims = match params.single("claims")? {
            None => None,
            Some(text) => {
                let value: Value = serde_json::from_str(text)
                    .map_err(|_| invalid_request("claims must be a JSON object"))?;
                if !value.is_object() {
                    return Err(invalid_request("claims must be a JSON object"));
                }
                Some(value)
            }
        };
        let now = self.now();
        let dpop_jkt_param = params.single("dpop_jkt")?;
        if let Some(jkt) = dpop_jkt_param
            && (jkt.len() != 43 || !is_b64url(jkt))
        {
            return Err(invalid_request(
                "dpop_jkt must be a base64url SHA-256 JWK thumbprint",
            ));
        }
        // RFC 9449 §10: a proof at PAR binds the code to its key; with dpop_jkt too, both must agree.
        let proof = if request.dpop.is_empty() {
            None
        } else {
            let proof = dpop::verify_proof(
                &request.dpop,
                &DpopContext {
                    method: "POST",
                    url: &org.par_endpoint,
                    access_token: None,
                },
                now,
            )?;
            self.check_dpop_nonce(org, &proof)?;
            if dpop_jkt_param.is_some_and(|jkt| jkt != proof.jkt) {
                return Err(OAuthError::invalid_dpop_proof(
                    "dpop_jkt does not match the key of the DPoP proof",
                )
                .into());
            }
            Some(proof)
        };
        let dpop_jkt = proof
            .as_ref()
            .map(|p| p.jkt.clone())
            .or_else(|| dpop_jkt_param.map(str::to_owned));

        self.record_request_uses(org, proof.as_ref(), &authenticated)
            .await?;

        let pushed = PushedRequest {
            client_id: metadata.client_id.clone(),
            redirect_uri: redirect_uri.to_owned(),
            scope,
            state,
            nonce,
            code_challenge: code_challenge.to_owned(),
            dpop_jkt,
            prompt,
            max_age,
            claims,
            acr_values: params.single("acr_values")?.map(str::to_owned),
            jarm,
            authorization_details,
            created_at: now,
        };
        let request_uri = format!("{REQUEST_URI_PREFIX}{}", clavex_jose::random_token(32));
        self.store
            .insert_artifact(&ArtifactRecord {
                kind: ArtifactKind::PushedRequest,
                id_hash: hash_secret(&request_uri),
                org_id: org.record.id.clone(),
                client_id: Some(metadata.client_id.clone()),
                grant_id: None,
                payload_json: serde_json::to_string(&pushed)
                    .map_err(|e| Error::Internal(e.to_string()))?,
                created_at: now,
                expires_at: now + PAR_LIFETIME_SECS,
                retain_until: now + PAR_LIFETIME_SECS + PAR_RETAIN_SECS,
                used_at: None,
            })
            .await?;
        Ok(ParResponse {
            request_uri,
            expires_in: PAR_LIFETIME_SECS,
        })
    }

    fn check_authorization_scope(
        &self,
        org: &OrgContext,
        client: &ResolvedClient,
        requested: &str,
    ) -> Result<Vec<String>> {
        let mut granted: Vec<String> = Vec::new();
        for token in requested.split(' ').filter(|t| !t.is_empty()) {
            if !policy::valid_scope_token(token) {
                return Err(OAuthError::invalid_scope(
                    "scope contains characters outside RFC 6749 §3.3",
                )
                .into());
            }
            let known = policy::OIDC_SCOPES.contains(&token)
                || token == "offline_access"
                || org.settings.scopes.iter().any(|s| s == token);
            if !known {
                return Err(OAuthError::invalid_scope(format!(
                    "scope {token} is not offered by this organization"
                ))
                .into());
            }
            if let Some(allowed) = &client.metadata.scope
                && !policy::OIDC_SCOPES.contains(&token)
                && !allowed.split(' ').any(|s| s == token)
            {
                return Err(OAuthError::invalid_scope(format!(
                    "scope {token} is not registered for this client"
                ))
                .into());
            }
            if !granted.iter().any(|g| g == token) {
                granted.push(token.to_owned());
            }
        }
        Ok(granted)
    }

    fn error_page(status: u16, title: &str, message: impl Into<String>) -> Interaction {
        Interaction::ErrorPage {
            status,
            title: title.to_owned(),
            message: message.into(),
        }
    }

    /// The authorization response of a pushed request, success or error, in its response mode:
    /// query parameters with `iss` (RFC 9207), or with JARM one `response` parameter carrying a JWT
    /// signed by the organization (`authorization_signed_response_alg` of the client, ES256 by
    /// default) with `iss`, `aud`, `exp` and the same parameters.
    async fn respond_to_pushed(
        &self,
        org: &OrgContext,
        client: &ResolvedClient,
        pushed: &PushedRequest,
        params: &[(&str, &str)],
    ) -> Result<Interaction> {
        self.respond(
            org,
            client,
            &pushed.redirect_uri,
            pushed.state.as_deref(),
            pushed.jarm,
            params,
        )
        .await
    }

    /// An authorization response to `redirect_uri` (registered for `client`), plain or JARM.
    async fn respond(
        &self,
        org: &OrgContext,
        client: &ResolvedClient,
        redirect_uri: &str,
        state: Option<&str>,
        jarm: bool,
        params: &[(&str, &str)],
    ) -> Result<Interaction> {
        let mut all: Vec<(&str, &str)> = params.to_vec();
        if let Some(state) = state {
            all.push(("state", state));
        }
        if !jarm {
            all.push(("iss", &org.issuer));
            return Ok(Interaction::Redirect(response_uri(redirect_uri, &all)?));
        }
        let alg = match client.metadata.authorization_signed_response_alg.as_deref() {
            Some(name) => clavex_jose::Algorithm::parse(name)
                .map_err(|e| Error::Internal(format!("client authorization response alg: {e}")))?,
            None => clavex_jose::Algorithm::Es256,
        };
        let keys = self.org_keys(&org.record.id).await?;
        let signer = keys.signer(alg)?;
        let now = self.now();
        let mut claims = serde_json::Map::new();
        claims.insert("iss".into(), Value::String(org.issuer.clone()));
        claims.insert(
            "aud".into(),
            Value::String(client.metadata.client_id.clone()),
        );
        claims.insert("iat".into(), Value::from(now));
        claims.insert(
            "exp".into(),
            Value::from(now + policy::AUTHORIZATION_RESPONSE_LIFETIME_SECS),
        );
        for (name, value) in &all {
            claims.insert((*name).to_owned(), Value::String((*value).to_owned()));
        }
        let response = signer
            .sign_jwt(None, None, true, &Value::Object(claims))
            .map_err(|e| Error::Internal(format!("signing the authorization response: {e}")))?;
        Ok(Interaction::Redirect(response_uri(
            redirect_uri,
            &[("response", &response)],
        )?))
    }

    /// An error answered to the client of a pushed request, in the request's response mode.
    async fn pushed_error(
        &self,
        org: &OrgContext,
        client: &ResolvedClient,
        pushed: &PushedRequest,
        code: ErrorCode,
        description: &str,
    ) -> Result<Interaction> {
        self.respond_to_pushed(
            org,
            client,
            pushed,
            &[("error", code.as_str()), ("error_description", description)],
        )
        .await
    }

    /// Loads the pushed request for the front channel. Errors are already decided as page or redirect.
    async fn load_pushed(
        &self,
        org: &OrgContext,
        client_id: Option<&str>,
        request_uri: Option<&str>,
        query: Option<&Params>,
    ) -> Result<
        std::result::Result<(Arc<ResolvedClient>, PushedRequest, ArtifactRecord), Interaction>,
    > {
        let Some(client_id) = client_id else {
            return Ok(Err(Self::error_page(
                400,
                "Invalid request",
                "The request has no client_id.",
            )));
        };
        let Some(client) = self.client(&org.record.id, client_id).await? else {
            return Ok(Err(Self::error_page(
                400,
                "Unknown application",
                "The application that sent you here is not registered.",
            )));
        };
        let Some(request_uri) = request_uri else {
            // FAPI 2.0 SP §5.3.2.2-3: only pushed requests. Report on the redirect URI only when the
            // front channel names one that is registered exactly.
            let redirect = query.and_then(|q| q.single("redirect_uri").ok().flatten());
            let state = query.and_then(|q| q.single("state").ok().flatten());
            // A client that asked for JARM gets the error as JARM too (the conformance suite's
            // unpushed-request module accepts nothing else in its JARM variant).
            let jarm = query
                .and_then(|q| q.single("response_mode").ok().flatten())
                .is_some_and(|m| m == "jwt" || m == "query.jwt");
            return Ok(Err(match redirect {
                Some(r) if client.metadata.redirect_uris.iter().any(|x| x == r) => {
                    self.respond(
                        org,
                        &client,
                        r,
                        state,
                        jarm,
                        &[
                            ("error", ErrorCode::InvalidRequest.as_str()),
                            (
                                "error_description",
                                "authorization requests must be pushed first (PAR): send client_id and request_uri only",
                            ),
                        ],
                    )
                    .await?
                }
                _ => Self::error_page(
                    400,
                    "Invalid request",
                    "Authorization requests must be pushed to the PAR endpoint first.",
                ),
            }));
        };
        let Some(record) = self
            .store
            .get_artifact(ArtifactKind::PushedRequest, &hash_secret(request_uri))
            .await?
        else {
            return Ok(Err(Self::error_page(
                400,
                "Request expired",
                "This sign-in link is unknown or has expired. Please start again from the application.",
            )));
        };
        if record.org_id != org.record.id || record.client_id.as_deref() != Some(client_id) {
            return Ok(Err(Self::error_page(
                400,
                "Invalid request",
                "This sign-in link belongs to another application.",
            )));
        }
        let pushed: PushedRequest = serde_json::from_str(&record.payload_json)
            .map_err(|e| Error::Internal(format!("pushed request: {e}")))?;
        let now = self.now();
        if record.used_at.is_some() || record.expires_at <= now {
            let why = if record.used_at.is_some() {
                "request_uri has already been used"
            } else {
                "request_uri has expired"
            };
            return Ok(Err(self
                .pushed_error(org, &client, &pushed, ErrorCode::InvalidRequestUri, why)
                .await?));
        }
        Ok(Ok((client, pushed, record)))
    }

    async fn session(
        &self,
        org: &OrgContext,
        cookie: Option<&str>,
    ) -> Result<Option<SessionPayload>> {
        let Some(cookie) = cookie else {
            return Ok(None);
        };
        let Some(record) = self
            .store
            .get_artifact(ArtifactKind::Session, &hash_secret(cookie))
            .await?
        else {
            return Ok(None);
        };
        // A session belongs to one organization: a login in one never counts in another.
        if record.org_id != org.record.id || record.expires_at <= self.now() {
            return Ok(None);
        }
        let Ok(payload) = serde_json::from_str::<SessionPayload>(&record.payload_json) else {
            return Ok(None);
        };
        // A user deleted since the login is signed out everywhere.
        if self
            .store
            .get_user(&org.record.id, &payload.user_id)
            .await?
            .is_none()
        {
            self.store
                .delete_artifact(ArtifactKind::Session, &hash_secret(cookie))
                .await?;
            return Ok(None);
        }
        Ok(Some(payload))
    }

    fn view(
        &self,
        org: &OrgContext,
        client: &ResolvedClient,
        pushed: &PushedRequest,
        request_uri: &str,
        browser_id: &str,
    ) -> InteractionView {
        InteractionView {
            org_id: org.record.id.clone(),
            org_name: org.record.display_name.clone(),
            client_id: client.metadata.client_id.clone(),
            client_name: client
                .metadata
                .client_name
                .clone()
                .unwrap_or_else(|| client.metadata.client_id.clone()),
            request_uri: request_uri.to_owned(),
            csrf: self.csrf_token(browser_id, request_uri),
            scopes: pushed
                .scope
                .iter()
                .map(|s| ScopeView {
                    name: s.clone(),
                    description: scope_description(s),
                })
                .collect(),
            details: detail_views(pushed.authorization_details.as_ref()),
            message: None,
            username: None,
            throttled: false,
        }
    }

    /// `GET /{org}/authorize`: validates the pushed request (without using it up) and decides what
    /// the browser sees next.
    pub async fn authorize(
        &self,
        org_id: &str,
        query: &Params,
        browser: &BrowserContext<'_>,
    ) -> Result<Interaction> {
        let org = self.org(org_id).await?;
        let client_id = query.single("client_id").ok().flatten();
        let request_uri = query.single("request_uri").ok().flatten();
        let (client, pushed, _record) = match self
            .load_pushed(&org, client_id, request_uri, Some(query))
            .await?
        {
            Ok(found) => found,
            Err(interaction) => return Ok(interaction),
        };
        let request_uri = request_uri.unwrap_or_default();
        self.next_step(&org, &client, &pushed, request_uri, browser)
            .await
    }

    /// Login when needed, consent when needed, else the authorization response.
    async fn next_step(
        &self,
        org: &OrgContext,
        client: &Arc<ResolvedClient>,
        pushed: &PushedRequest,
        request_uri: &str,
        browser: &BrowserContext<'_>,
    ) -> Result<Interaction> {
        let now = self.now();
        let request_uri_tag = clavex_jose::b64url_encode(&hash_secret(request_uri));
        let session = self.session(org, browser.session).await?;
        let session = session.filter(|s| {
            // prompt=login and max_age=0: a login that happened after the request was pushed, or
            // for this very request, satisfies them.
            let logged_in_for_this = s.auth_time > pushed.created_at
                || s.login_for.as_deref() == Some(request_uri_tag.as_str());
            let fresh_enough = policy::authentication_fresh_enough(
                s.auth_time,
                pushed.max_age,
                now,
                logged_in_for_this,
            );
            let login_forced = pushed.prompt.iter().any(|p| p == "login") && !logged_in_for_this;
            fresh_enough && !login_forced
        });
        let prompt_none = pushed.prompt.iter().any(|p| p == "none");
        let Some(session) = session else {
            if prompt_none {
                self.spend_pushed(request_uri).await?;
                return self
                    .pushed_error(
                        org,
                        client,
                        pushed,
                        ErrorCode::LoginRequired,
                        "the user is not signed in",
                    )
                    .await;
            }
            return Ok(Interaction::Login(self.view(
                org,
                client,
                pushed,
                request_uri,
                browser.browser_id,
            )));
        };
        let consent = self
            .store
            .get_consent(&org.record.id, &session.user_id, &client.metadata.client_id)
            .await?;
        let covered = consent.is_some_and(|c| {
            pushed
                .scope
                .iter()
                .all(|s| c.scope.split(' ').any(|g| g == s))
        });
        // A remembered consent covers scopes, never a particular payment or account request:
        // authorization_details are approved each time.
        let forced =
            pushed.prompt.iter().any(|p| p == "consent") || pushed.authorization_details.is_some();
        if covered && !forced {
            return self
                .complete_authorization(org, client, pushed, request_uri, &session)
                .await;
        }
        if prompt_none {
            self.spend_pushed(request_uri).await?;
            return self
                .pushed_error(
                    org,
                    client,
                    pushed,
                    ErrorCode::ConsentRequired,
                    "the user has not consented",
                )
                .await;
        }
        let mut view = self.view(org, client, pushed, request_uri, browser.browser_id);
        view.username = self
            .store
            .get_user(&org.record.id, &session.user_id)
            .await?
            .map(|u| u.username);
        Ok(Interaction::Consent(view))
    }

    async fn spend_pushed(&self, request_uri: &str) -> Result<()> {
        self.store
            .consume_artifact(
                ArtifactKind::PushedRequest,
                &hash_secret(request_uri),
                self.now(),
            )
            .await?;
        Ok(())
    }

    /// `POST /{org}/login`.
    pub async fn login(
        &self,
        org_id: &str,
        form: &LoginForm<'_>,
        browser: &BrowserContext<'_>,
    ) -> Result<LoginOutcome> {
        let org = self.org(org_id).await?;
        let (client, pushed, _record) = match self
            .load_pushed(&org, Some(form.client_id), Some(form.request_uri), None)
            .await?
        {
            Ok(found) => found,
            Err(interaction) => return Ok(LoginOutcome::Continue(interaction)),
        };
        if !self.csrf_ok(browser.browser_id, form.request_uri, form.csrf) {
            return Ok(LoginOutcome::Continue(Self::error_page(
                400,
                "Session expired",
                "The form has expired or was not sent from this browser. Please start again from the application.",
            )));
        }
        if form.cancel {
            return Ok(LoginOutcome::Continue(
                self.deny(
                    &org,
                    &client,
                    &pushed,
                    form.request_uri,
                    "the user cancelled the sign-in",
                )
                .await?,
            ));
        }
        let now = self.now();
        let window = now - now.rem_euclid(LOGIN_WINDOW_SECS);
        let login = form.username.trim();
        let account = if login.is_empty() {
            None
        } else {
            self.store.find_user_by_login(&org.record.id, login).await?
        };
        let account_key = policy::login_account_counter_key(
            &org.record.id,
            account.as_ref().map(|u| u.user_id.as_str()),
            login,
        );
        let address_key = policy::login_address_counter_key(&org.record.id, browser.client_ip);
        let mut view = self.view(&org, &client, &pushed, form.request_uri, browser.browser_id);
        if self.store.read_counter(&account_key, window).await? >= LOGIN_FAILURES_PER_WINDOW
            || self.store.read_counter(&address_key, window).await? >= LOGIN_FAILURES_PER_WINDOW
        {
            view.throttled = true;
            view.message = Some(
                "Too many failed sign-in attempts. Please wait a few minutes and try again."
                    .to_owned(),
            );
            return Ok(LoginOutcome::Continue(Interaction::Login(view)));
        }
        let user = if login.is_empty() || form.password.is_empty() {
            None
        } else {
            self.verify_user_password(&org.record.id, login, form.password)
                .await?
        };
        let Some(user) = user else {
            self.store.bump_counter(&account_key, window, now).await?;
            self.store.bump_counter(&address_key, window, now).await?;
            view.username = Some(login.to_owned());
            view.message = Some("The username or password is incorrect.".to_owned());
            return Ok(LoginOutcome::Continue(Interaction::Login(view)));
        };
        self.store.reset_counter(&account_key).await?;
        // A new session id at every login (session fixation).
        if let Some(old) = browser.session {
            self.store
                .delete_artifact(ArtifactKind::Session, &hash_secret(old))
                .await?;
        }
        let session_value = clavex_jose::random_token(32);
        let payload = SessionPayload {
            user_id: user.user_id.clone(),
            auth_time: now,
            login_for: Some(clavex_jose::b64url_encode(&hash_secret(form.request_uri))),
        };
        self.store
            .insert_artifact(&ArtifactRecord {
                kind: ArtifactKind::Session,
                id_hash: hash_secret(&session_value),
                org_id: org.record.id.clone(),
                client_id: None,
                grant_id: None,
                payload_json: serde_json::to_string(&payload)
                    .map_err(|e| Error::Internal(e.to_string()))?,
                created_at: now,
                expires_at: now + SESSION_LIFETIME_SECS,
                retain_until: now + SESSION_LIFETIME_SECS,
                used_at: None,
            })
            .await?;
        let next_browser = BrowserContext {
            browser_id: browser.browser_id,
            session: Some(&session_value),
            client_ip: browser.client_ip,
        };
        let next = self
            .next_step(&org, &client, &pushed, form.request_uri, &next_browser)
            .await?;
        Ok(LoginOutcome::SignedIn {
            session: session_value,
            next,
        })
    }

    /// `POST /{org}/consent`.
    pub async fn consent(
        &self,
        org_id: &str,
        form: &ConsentForm<'_>,
        browser: &BrowserContext<'_>,
    ) -> Result<Interaction> {
        let org = self.org(org_id).await?;
        let (client, pushed, _record) = match self
            .load_pushed(&org, Some(form.client_id), Some(form.request_uri), None)
            .await?
        {
            Ok(found) => found,
            Err(interaction) => return Ok(interaction),
        };
        if !self.csrf_ok(browser.browser_id, form.request_uri, form.csrf) {
            return Ok(Self::error_page(
                400,
                "Session expired",
                "The form has expired or was not sent from this browser. Please start again from the application.",
            ));
        }
        if !form.approve {
            return self
                .deny(
                    &org,
                    &client,
                    &pushed,
                    form.request_uri,
                    "the user denied the request",
                )
                .await;
        }
        let Some(session) = self.session(&org, browser.session).await? else {
            return Ok(Interaction::Login(self.view(
                &org,
                &client,
                &pushed,
                form.request_uri,
                browser.browser_id,
            )));
        };
        let now = self.now();
        self.store
            .upsert_consent(&ConsentRecord {
                org_id: org.record.id.clone(),
                user_id: session.user_id.clone(),
                client_id: client.metadata.client_id.clone(),
                scope: pushed.scope.join(" "),
                created_at: now,
                updated_at: now,
            })
            .await?;
        self.complete_authorization(&org, &client, &pushed, form.request_uri, &session)
            .await
    }

    async fn deny(
        &self,
        org: &OrgContext,
        client: &ResolvedClient,
        pushed: &PushedRequest,
        request_uri: &str,
        why: &str,
    ) -> Result<Interaction> {
        self.spend_pushed(request_uri).await?;
        self.pushed_error(org, client, pushed, ErrorCode::AccessDenied, why)
            .await
    }

    /// The point of authorization: uses up the `request_uri` (exactly once, on any node), records the
    /// grant and issues the code, in one transaction: either all three happen or none.
    async fn complete_authorization(
        &self,
        org: &OrgContext,
        client: &ResolvedClient,
        pushed: &PushedRequest,
        request_uri: &str,
        session: &SessionPayload,
    ) -> Result<Interaction> {
        let now = self.now();
        let grant_id = uuid::Uuid::now_v7().to_string();
        // OIDC Core §3.1.2.1: `acr` is the class the authentication *satisfied*. Clavex signs users
        // in with a password only and defines no class for it, so a requested `acr_values` is never
        // echoed as if it had been performed.
        let grant = GrantPayload {
            user_id: session.user_id.clone(),
            scope: pushed.scope.clone(),
            auth_time: session.auth_time,
            claims: pushed.claims.clone(),
            acr: None,
            authorization_details: pushed.authorization_details.clone(),
        };
        let grant_record = GrantRecord {
            grant_id: grant_id.clone(),
            org_id: org.record.id.clone(),
            client_id: client.metadata.client_id.clone(),
            user_id: Some(session.user_id.clone()),
            payload_json: serde_json::to_string(&grant)
                .map_err(|e| Error::Internal(e.to_string()))?,
            created_at: now,
            expires_at: now + GRANT_LIFETIME_SECS,
            revoked_at: None,
        };
        let code = clavex_jose::random_token(32);
        let code_payload = CodePayload {
            redirect_uri: pushed.redirect_uri.clone(),
            code_challenge: pushed.code_challenge.clone(),
            dpop_jkt: pushed.dpop_jkt.clone(),
            nonce: pushed.nonce.clone(),
        };
        let code_record = ArtifactRecord {
            kind: ArtifactKind::AuthorizationCode,
            id_hash: hash_secret(&code),
            org_id: org.record.id.clone(),
            client_id: Some(client.metadata.client_id.clone()),
            grant_id: Some(grant_id),
            payload_json: serde_json::to_string(&code_payload)
                .map_err(|e| Error::Internal(e.to_string()))?,
            created_at: now,
            expires_at: now + CODE_LIFETIME_SECS,
            retain_until: now + CODE_LIFETIME_SECS + CODE_RETAIN_SECS,
            used_at: None,
        };
        match self
            .store
            .consume_artifact_and_issue(
                ArtifactKind::PushedRequest,
                &hash_secret(request_uri),
                now,
                &grant_record,
                &code_record,
            )
            .await?
        {
            Consumed::Fresh(_) => {}
            Consumed::AlreadyUsed(_) | Consumed::Expired(_) => {
                return self
                    .pushed_error(
                        org,
                        client,
                        pushed,
                        ErrorCode::InvalidRequestUri,
                        "request_uri has already been used or has expired",
                    )
                    .await;
            }
            Consumed::Missing => {
                return Ok(Self::error_page(
                    400,
                    "Request expired",
                    "This sign-in link is unknown or has expired.",
                ));
            }
        }
        self.respond_to_pushed(org, client, pushed, &[("code", &code)])
            .await
    }

    /// Ends the browser session of this organization (logout).
    pub async fn end_session(&self, session_cookie: &str) -> Result<()> {
        self.store
            .delete_artifact(ArtifactKind::Session, &hash_secret(session_cookie))
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn response_uri_keeps_registered_query() {
        let uri = response_uri(
            "https://tpp.example/cb?dummy1=lorem&dummy2=ipsum",
            &[
                ("code", "abc"),
                ("state", "s t"),
                ("iss", "https://id.example/acme"),
            ],
        )
        .unwrap();
        assert_eq!(
            uri,
            "https://tpp.example/cb?dummy1=lorem&dummy2=ipsum&code=abc&state=s+t&iss=https%3A%2F%2Fid.example%2Facme"
        );
    }
}
