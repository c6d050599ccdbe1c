//! A demo bank API protected by `clavex-resource`: the resource server of the README walkthrough and
//! of the conformance suite's `plain_oauth` runs (`resource.resourceUrl` = `{public_url}/accounts`).
//!
//! - `GET /accounts`: the demo accounts of the token's `sub`.
//! - `GET /accounts/{id}`: one of them (404 for any other id).
//! - `POST /payments`: a payment, executed only when the token (scope `payments`) carries a
//!   `payment_initiation` authorization detail (RFC 9396) with the same amount, creditor and
//!   remittance information; 403 `insufficient_scope` otherwise.
//!
//! Every request needs a DPoP-bound access token of the configured issuer with scope `accounts`
//! (401 `invalid_token`/`invalid_dpop_proof`, 400 `invalid_request`, 403 `insufficient_scope`, with a
//! `WWW-Authenticate: DPoP` challenge). Every response carries `Date`, `Cache-Control: no-store` and
//! `x-fapi-interaction-id` (the request's, which must be a UUID, or a fresh one).

use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use clavex_resource::{
    ResourceConfig, ResourceError, ResourceRequest, ResourceVerifier, VerifiedAccessToken,
};
use serde_json::{Value, json};

/// FAPI's interaction id header (FAPI 2.0 SP §5.3.4, echoed by the resource server).
pub const INTERACTION_ID: HeaderName = HeaderName::from_static("x-fapi-interaction-id");

/// Unix seconds; tests inject a clock they can move.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(|| {
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    })
}

/// How the bank verifies tokens and where it is reachable.
#[derive(Clone)]
pub struct Config {
    /// What tokens are accepted: issuer, keys (`jwks_uri`), audiences, replay cache.
    pub resource: ResourceConfig,
    /// The bank's own public base URL, without trailing slash (`htu` of proofs is this plus the
    /// request path); never taken from `Host`.
    pub public_url: String,
    /// The scope every endpoint requires.
    pub required_scope: String,
    pub clock: Clock,
}

impl Config {
    /// Tokens of `issuer` (keys at `{issuer}/jwks`) whose `aud` is `{issuer}/api` (Clavex's default
    /// audience), scope `accounts`, system time.
    pub fn new(issuer: &str, public_url: &str) -> Config {
        let mut resource = ResourceConfig::new(issuer);
        resource.audiences = vec![format!("{}/api", issuer.trim_end_matches('/'))];
        Config {
            resource,
            public_url: public_url.trim_end_matches('/').to_owned(),
            required_scope: "accounts".to_owned(),
            clock: system_clock(),
        }
    }
}

struct Bank {
    verifier: ResourceVerifier,
    public_url: String,
    required_scope: String,
    clock: Clock,
}

/// The bank's routes. Fails only if `config.resource.jwks_uri` is not an http(s) URL.
pub fn router(config: Config) -> Result<Router, ResourceError> {
    let bank = Arc::new(Bank {
        verifier: ResourceVerifier::new(config.resource)?,
        public_url: config.public_url,
        required_scope: config.required_scope,
        clock: config.clock,
    });
    Ok(Router::new()
        .route("/accounts", get(list_accounts))
        .route("/accounts/{id}", get(one_account))
        .route("/payments", post(initiate_payment))
        .layer(axum::middleware::from_fn(fapi_headers))
        .with_state(bank))
}

/// Serves [`router`] on `listener` until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, config: Config) -> std::io::Result<()> {
    let app = router(config).map_err(|e| std::io::Error::other(e.to_string()))?;
    axum::serve(listener, app).await
}

fn is_uuid(value: &str) -> bool {
    value.len() == 36 && uuid::Uuid::try_parse(value).is_ok()
}

/// `x-fapi-interaction-id` in and out, `Date` and `Cache-Control` on every response.
async fn fapi_headers(request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(&INTERACTION_ID)
        .map(|v| v.to_str().ok().filter(|s| is_uuid(s)).map(str::to_owned));
    let (mut response, interaction_id) = match presented {
        Some(Some(id)) => (next.run(request).await, id),
        None => (next.run(request).await, uuid::Uuid::now_v7().to_string()),
        Some(None) => (
            error_response(
                &ResourceError::invalid_request("x-fapi-interaction-id must be a UUID"),
                None,
            ),
            uuid::Uuid::now_v7().to_string(),
        ),
    };
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&interaction_id) {
        headers.insert(INTERACTION_ID, v);
    }
    if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(SystemTime::now())) {
        headers.insert(header::DATE, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn error_response(err: &ResourceError, challenge: Option<String>) -> Response {
    if err.status() >= 500 {
        tracing::error!(error = %err.description, "request could not be verified");
    }
    let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::UNAUTHORIZED);
    let mut response = (status, axum::Json(err.body())).into_response();
    if let Some(value) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

impl Bank {
    /// The token of a request, verified, with the required scope.
    async fn authorize(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Result<VerifiedAccessToken, Response> {
        self.authorize_for(method, uri, headers, &self.required_scope)
            .await
    }

    /// The token of a request, verified, with `scope`.
    async fn authorize_for(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        scope: &str,
    ) -> Result<VerifiedAccessToken, Response> {
        let fail = |err: ResourceError| error_response(&err, self.verifier.challenge(&err));
        let values = |name: HeaderName, err: fn() -> ResourceError| {
            headers
                .get_all(name)
                .iter()
                .map(|v| v.to_str().map_err(|_| err()))
                .collect::<Result<Vec<&str>, _>>()
        };
        let authorization = values(header::AUTHORIZATION, || {
            ResourceError::invalid_request("the Authorization header is not ASCII")
        })
        .map_err(fail)?;
        let dpop = values(HeaderName::from_static("dpop"), || {
            ResourceError::invalid_dpop_proof("DPoP header is not ASCII")
        })
        .map_err(fail)?;
        let token_in_query = uri.query().is_some_and(|q| {
            url::form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "access_token")
        });
        let url = format!("{}{}", self.public_url, uri.path());
        let request = ResourceRequest {
            method: method.as_str(),
            url: &url,
            authorization: &authorization,
            dpop: &dpop,
            token_in_query,
            token_in_body: false,
        };
        let token = self
            .verifier
            .verify(&request, (self.clock)())
            .await
            .map_err(fail)?;
        token.require_scope(scope).map_err(fail)?;
        Ok(token)
    }
}

/// Two demo accounts per subject, derived from it so that they are stable across restarts.
pub fn accounts_for(sub: &str) -> Vec<Value> {
    let digest = clavex_jose::sha256(sub.as_bytes());
    let tag: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    let digits: String = digest
        .iter()
        .skip(4)
        .take(10)
        .map(|b| char::from(b'0' + b % 10))
        .collect();
    let cents = |i: usize| {
        u32::from(digest.get(i).copied().unwrap_or(0)) * 997
            + u32::from(digest.get(i + 1).copied().unwrap_or(0))
    };
    let amount = |c: u32| format!("{}.{:02}", c / 100, c % 100);
    vec![
        json!({
            "account_id": format!("acc-{tag}-1"),
            "name": "Current account",
            "type": "current",
            "iban": format!("DE00 DEMO {} {}", &digits[..4], &digits[4..]),
            "currency": "EUR",
            "balance": amount(cents(14)),
        }),
        json!({
            "account_id": format!("acc-{tag}-2"),
            "name": "Savings account",
            "type": "savings",
            "iban": format!("DE00 DEMO {} {}", &digits[4..8], &digits[..6]),
            "currency": "EUR",
            "balance": amount(cents(16) * 7),
        }),
    ]
}

async fn list_accounts(
    State(bank): State<Arc<Bank>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let token = match bank.authorize(&method, &uri, &headers).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let sub = token.subject().unwrap_or_default();
    axum::Json(json!({ "sub": sub, "accounts": accounts_for(sub) })).into_response()
}

async fn one_account(
    State(bank): State<Arc<Bank>>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let token = match bank.authorize(&method, &uri, &headers).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let sub = token.subject().unwrap_or_default();
    match accounts_for(sub)
        .into_iter()
        .find(|a| a["account_id"] == id.as_str())
    {
        Some(account) => axum::Json(account).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({ "error": "not_found", "error_description": "no such account" })),
        )
            .into_response(),
    }
}

/// The members of a payment that the user approved and the payment must repeat exactly.
const PAYMENT_MEMBERS: [&str; 4] = [
    "instructedAmount",
    "creditorName",
    "creditorAccount",
    "remittanceInformationUnstructured",
];

/// `POST /payments`: executes the payment only if the token carries a `payment_initiation`
/// authorization detail (RFC 9396) with exactly these amount, creditor and remittance members —
/// the user approved this payment, not just "payments".
async fn initiate_payment(
    State(bank): State<Arc<Bank>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let token = match bank
        .authorize_for(&method, &uri, &headers, "payments")
        .await
    {
        Ok(token) => token,
        Err(response) => return response,
    };
    let Ok(Value::Object(payment)) = serde_json::from_slice::<Value>(&body) else {
        return error_response(
            &ResourceError::invalid_request("the payment must be a JSON object"),
            None,
        );
    };
    let approved = token
        .authorization_details_of_type("payment_initiation")
        .into_iter()
        .any(|detail| {
            PAYMENT_MEMBERS
                .iter()
                .all(|member| detail.get(*member) == payment.get(*member))
        });
    if !approved {
        return (
            StatusCode::FORBIDDEN,
            axum::Json(json!({
                "error": "insufficient_scope",
                "error_description": "the access token's authorization_details do not approve this payment",
            })),
        )
            .into_response();
    }
    let mut created = serde_json::Map::new();
    created.insert(
        "payment_id".into(),
        Value::String(uuid::Uuid::now_v7().to_string()),
    );
    created.insert(
        "status".into(),
        Value::String("AcceptedSettlementInProcess".into()),
    );
    created.insert(
        "debtor".into(),
        Value::String(token.subject().unwrap_or_default().to_owned()),
    );
    for member in PAYMENT_MEMBERS {
        if let Some(value) = payment.get(member) {
            created.insert(member.to_owned(), value.clone());
        }
    }
    (StatusCode::CREATED, axum::Json(Value::Object(created))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_are_stable_per_subject() {
        let a = accounts_for("alice");
        assert_eq!(a, accounts_for("alice"));
        assert_ne!(a, accounts_for("bob"));
        assert_eq!(a.len(), 2);
        assert_ne!(a[0]["account_id"], a[1]["account_id"]);
    }

    #[test]
    fn interaction_ids_must_be_hyphenated_uuids() {
        assert!(is_uuid("8f1b2c3d-4e5f-4a6b-9c7d-0123456789ab"));
        assert!(is_uuid("8F1B2C3D-4E5F-4A6B-9C7D-0123456789AB"));
        assert!(!is_uuid("8f1b2c3d4e5f4a6b9c7d0123456789ab"));
        assert!(!is_uuid("{8f1b2c3d-4e5f-4a6b-9c7d-0123456789a}"));
        assert!(!is_uuid("not-a-uuid"));
    }
}
