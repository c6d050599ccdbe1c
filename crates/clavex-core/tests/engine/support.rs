//! The harness of the engine tests: an `Engine` over a private in-memory SQLite store and a
//! `ManualClock`, with an organization, clients and a user created through the engine's own admin
//! operations; and the client's side of the protocol (client assertions, DPoP proofs, request
//! objects, PKCE) signed directly with `clavex-jose`. No HTTP, no sockets: every request is a call
//! of an `Engine` method, every answer its `Result`.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clavex_core::admin::{
    AdminActor, AdminRequest, CreateClient, CreateOrganization, CreateUser, UpdateOrganization,
};
use clavex_core::clock::ManualClock;
use clavex_core::flows::interaction::{
    BrowserContext, ConsentForm, Interaction, LoginForm, LoginOutcome,
};
use clavex_core::flows::par::{ParRequest, ParResponse};
use clavex_core::flows::token::{TokenRequest, TokenResponse};
use clavex_core::form::Params;
use clavex_core::ids::OrgId;
use clavex_core::master_key::MasterKey;
use clavex_core::{ConnectionFacts, Engine, EngineConfig, Error};
use clavex_jose::{Algorithm, SigningKey};
use clavex_store::sqlite::SqliteStore;
use serde_json::{Map, Value, json};

pub const PUBLIC_URL: &str = "https://id.example";
pub const ORG: &str = "acme";
pub const ISSUER: &str = "https://id.example/acme";
pub const TOKEN_ENDPOINT: &str = "https://id.example/acme/token";
pub const PAR_ENDPOINT: &str = "https://id.example/acme/par";
pub const REDIRECT_URI: &str = "https://tpp.example.com/callback";
/// A second registered redirect URI, with a query of its own.
pub const REDIRECT_URI_WITH_QUERY: &str =
    "https://tpp.example.com/callback?dummy1=lorem&dummy2=ipsum";
pub const USERNAME: &str = "alice";
pub const PASSWORD: &str = "correct horse battery";
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Where every harness clock starts (a fixed instant, so runs are reproducible).
pub const START: i64 = 1_800_000_000;
/// The one browser of a harness (its CSRF binding).
const BROWSER_ID: &str = "engine-test-browser";

/// A form as a client sends it: ordered pairs, edited by name.
#[derive(Debug, Clone, Default)]
pub struct Form(Vec<(String, String)>);

impl Form {
    pub fn new(pairs: &[(&str, &str)]) -> Form {
        Form(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    /// Replaces every `name` with one `value`.
    pub fn set(self, name: &str, value: &str) -> Form {
        self.without(name).with(name, value)
    }

    /// Appends `name=value` (a repeated parameter when `name` is already there).
    pub fn with(mut self, name: &str, value: &str) -> Form {
        self.0.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn without(mut self, name: &str) -> Form {
        self.0.retain(|(k, _)| k != name);
        self
    }

    pub fn params(&self) -> Params {
        Params::from_pairs(self.0.clone())
    }
}

/// A client-side key: signs client assertions, DPoP proofs and request objects.
pub struct ClientKey {
    pub key: SigningKey,
}

impl ClientKey {
    pub fn new(alg: Algorithm) -> ClientKey {
        ClientKey {
            key: SigningKey::generate(alg, clavex_jose::random_token(8)).expect("key"),
        }
    }

    pub fn es256() -> ClientKey {
        Self::new(Algorithm::Es256)
    }

    /// A different key under the same `kid` (a key the client never registered, posing as one).
    pub fn impostor_of(other: &ClientKey) -> ClientKey {
        ClientKey {
            key: SigningKey::generate(other.key.alg(), other.key.kid().to_owned()).expect("key"),
        }
    }

    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.key.public_jwk()] })
    }

    pub fn thumbprint(&self) -> String {
        self.key.thumbprint()
    }

    /// Signs `claims` with `kid` and the extra header members.
    pub fn sign(&self, typ: Option<&str>, extra_header: Option<Value>, claims: &Value) -> String {
        let extra: Option<Map<String, Value>> = extra_header.and_then(|v| v.as_object().cloned());
        self.key
            .sign_jwt(typ, extra.as_ref(), true, claims)
            .expect("sign")
    }

    pub fn assertion_claims(&self, client_id: &str, aud: &str, now: i64) -> Value {
        json!({
            "iss": client_id, "sub": client_id, "aud": aud,
            "iat": now, "exp": now + 60, "jti": clavex_jose::random_token(12),
        })
    }

    /// A valid `private_key_jwt` client assertion.
    pub fn assertion(&self, client_id: &str, aud: &str, now: i64) -> String {
        self.sign(None, None, &self.assertion_claims(client_id, aud, now))
    }

    pub fn dpop_claims(&self, htm: &str, htu: &str, now: i64) -> Value {
        json!({ "jti": clavex_jose::random_token(12), "htm": htm, "htu": htu, "iat": now })
    }

    /// The public JWK a DPoP proof carries in its header (no `kid`).
    pub fn proof_jwk(&self) -> Value {
        let mut jwk = self.key.public_jwk();
        if let Some(obj) = jwk.as_object_mut() {
            obj.remove("kid");
        }
        jwk
    }

    /// A DPoP proof of `claims` (start from [`ClientKey::dpop_claims`]).
    pub fn dpop_with(&self, claims: &Value) -> String {
        let extra: Map<String, Value> =
            [("jwk".to_owned(), self.proof_jwk())].into_iter().collect();
        self.key
            .sign_jwt(Some("dpop+jwt"), Some(&extra), false, claims)
            .expect("sign proof")
    }

    pub fn dpop_proof(&self, htm: &str, htu: &str, now: i64) -> String {
        self.dpop_with(&self.dpop_claims(htm, htu, now))
    }
}

/// `claims` with `name` set to `value`, or removed when `value` is `Value::Null`.
pub fn with_claim(mut claims: Value, name: &str, value: Value) -> Value {
    let obj = claims.as_object_mut().expect("claims are an object");
    if value.is_null() {
        obj.remove(name);
    } else {
        obj.insert(name.to_owned(), value);
    }
    claims
}

/// A compact JWS assembled by hand (for `alg=none`, HMAC, broken structure).
pub fn raw_jwt(header: &Value, claims: &Value, signature: &[u8]) -> String {
    let b64 = |v: &Value| clavex_jose::b64url_encode(v.to_string().as_bytes());
    format!(
        "{}.{}.{}",
        b64(header),
        b64(claims),
        clavex_jose::b64url_encode(signature)
    )
}

/// An RS256 (RSASSA-PKCS1-v1_5) JWS made with the RSA key of a PS256 `key`: a signature that is
/// cryptographically fine but of an algorithm FAPI 2.0 forbids.
pub fn rs256_jwt(key: &ClientKey, header: &Value, claims: &Value) -> String {
    let b64 = |v: &Value| clavex_jose::b64url_encode(v.to_string().as_bytes());
    let input = format!("{}.{}", b64(header), b64(claims));
    let pkcs8 = key.key.to_pkcs8().expect("pkcs8");
    let pair = aws_lc_rs::rsa::KeyPair::from_pkcs8(&pkcs8).expect("an RSA key");
    let mut signature = vec![0u8; pair.public_modulus_len()];
    pair.sign(
        &aws_lc_rs::signature::RSA_PKCS1_SHA256,
        &aws_lc_rs::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    .expect("rs256 signature");
    format!("{input}.{}", clavex_jose::b64url_encode(&signature))
}

/// An HS256 JWS under `secret`.
pub fn hs256_jwt(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let b64 = |v: &Value| clavex_jose::b64url_encode(v.to_string().as_bytes());
    let input = format!("{}.{}", b64(header), b64(claims));
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", clavex_jose::b64url_encode(tag.as_ref()))
}

/// The claims of a JWT the engine issued, unverified (to look at `cnf`, `scope`, ...).
pub fn jwt_claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a compact JWS");
    serde_json::from_slice(&clavex_jose::b64url_decode(payload).expect("base64url")).expect("JSON")
}

/// A PKCE pair (RFC 7636): a 64-character verifier and its S256 challenge.
pub fn pkce() -> (String, String) {
    let verifier = format!(
        "{}{}",
        clavex_jose::random_token(32),
        "-._~abcdefghijklmnopqrstu"
    );
    let challenge = clavex_jose::b64url_encode(&clavex_jose::sha256(verifier.as_bytes()));
    (verifier, challenge)
}

/// The OAuth error code of an engine error, as the HTTP layer would answer it.
pub fn error_code(err: &Error) -> &'static str {
    match err {
        Error::OAuth(e) => e.code.as_str(),
        Error::UseDpopNonce { .. } => "use_dpop_nonce",
        Error::ClientChallenge { .. } => "invalid_client",
        other => panic!("not an OAuth error: {other:?}"),
    }
}

pub fn error_description(err: &Error) -> &str {
    match err {
        Error::OAuth(e) => &e.description,
        Error::UseDpopNonce { description, .. } | Error::ClientChallenge { description, .. } => {
            description
        }
        other => panic!("not an OAuth error: {other:?}"),
    }
}

/// Asserts that `result` is the OAuth error `code` with a description containing `fragment`, and
/// returns the error.
#[track_caller]
pub fn assert_refused<T: Debug>(result: Result<T, Error>, code: &str, fragment: &str) -> Error {
    let err = match result {
        Ok(value) => panic!("expected {code} ({fragment}), got success: {value:?}"),
        Err(err) => err,
    };
    assert_eq!(error_code(&err), code, "error code of {err:?}");
    assert!(
        error_description(&err).contains(fragment),
        "error_description {:?} should contain {fragment:?}",
        error_description(&err)
    );
    err
}

/// The query parameters of an authorization response (a redirect); panics on any other step.
pub fn redirect_params(step: &Interaction) -> HashMap<String, String> {
    let Interaction::Redirect(location) = step else {
        panic!("expected a redirect to the client, got {step:?}");
    };
    url::Url::parse(location)
        .expect("redirect URL")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Asserts an error authorization response with `code` (and `iss`, RFC 9207).
#[track_caller]
pub fn assert_redirect_error(step: &Interaction, code: &str, fragment: &str) {
    let params = redirect_params(step);
    assert_eq!(
        params.get("error").map(String::as_str),
        Some(code),
        "{params:?}"
    );
    assert!(
        params
            .get("error_description")
            .is_some_and(|d| d.contains(fragment)),
        "error_description should contain {fragment:?}: {params:?}"
    );
    assert_eq!(params.get("iss").map(String::as_str), Some(ISSUER));
}

/// A registered client and its key.
pub struct TestClient {
    pub client_id: String,
    pub key: ClientKey,
}

/// A code ready to redeem: the code, the PKCE verifier of its request, and the client.
pub struct Authorized {
    pub code: String,
    pub verifier: String,
}

/// An engine, its clock, organization `acme` with its default settings (or a patch), and the user
/// alice.
pub struct Harness {
    pub engine: Engine,
    /// Organization [`ORG`], as the engine takes it.
    pub org: OrgId,
    pub clock: ManualClock,
    pub connection: ConnectionFacts,
    /// alice's user id.
    pub user_id: String,
    /// The browser's session cookie, once alice has signed in.
    session: Mutex<Option<String>>,
}

impl Harness {
    pub async fn new() -> Harness {
        Self::with_settings(None).await
    }

    /// A harness whose organization is created with this settings patch.
    pub async fn with_settings(settings: Option<Value>) -> Harness {
        let store = Arc::new(SqliteStore::open_memory().await.expect("in-memory store"));
        let clock = ManualClock::new(START);
        let master = MasterKey::from_bytes(&[7u8; 32]).expect("master key");
        let engine = Engine::new(
            store,
            Arc::new(clock.clone()),
            master,
            EngineConfig {
                public_url: PUBLIC_URL.to_owned(),
                jwks_fetch_allow: Vec::new(),
                cache_ttl: Duration::from_secs(5),
            },
        )
        .expect("engine");
        let mut request = CreateOrganization::new(ORG, Some("ACME Bank")).expect("organization id");
        request.settings = settings.and_then(|s| s.as_object().cloned());
        let connection = ConnectionFacts::loopback();
        engine
            .create_organization(request, &AdminActor::Cli, &connection)
            .await
            .expect("organization");
        let org = OrgId::parse(ORG).expect("organization id");
        let user = CreateUser::from_json(&json!({"username": USERNAME, "password": PASSWORD}))
            .expect("user body");
        let user = engine
            .create_user(&org, user, &AdminActor::Cli, &connection)
            .await
            .expect("user");
        Harness {
            engine,
            org,
            clock,
            connection: ConnectionFacts::loopback(),
            user_id: user.user_id,
            session: Mutex::new(None),
        }
    }

    pub fn now(&self) -> i64 {
        use clavex_core::clock::Clock as _;
        self.clock.now()
    }

    /// Registers a code-flow client (authorization_code, refresh_token, client_credentials) with an
    /// inline JWKS of a fresh ES256 key; `extra` members replace or add to the metadata.
    pub async fn client(&self, extra: Value) -> TestClient {
        self.client_with_key(ClientKey::es256(), extra).await
    }

    pub async fn client_with_key(&self, key: ClientKey, extra: Value) -> TestClient {
        let mut body = json!({
            "client_name": "PSD2 TPP Client",
            "redirect_uris": [REDIRECT_URI, REDIRECT_URI_WITH_QUERY],
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": key.jwks(),
            "require_pushed_authorization_requests": true,
            "require_dpop": true,
        });
        if let (Some(obj), Some(more)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in more {
                obj.insert(k.clone(), v.clone());
            }
        }
        let metadata = self
            .engine
            .register_client(
                &self.org,
                CreateClient::from_json(&body).expect("client body"),
                &AdminActor::Cli,
                &self.connection,
            )
            .await
            .expect("client registration");
        TestClient {
            client_id: metadata.client_id.to_string(),
            key,
        }
    }

    /// Changes organization settings through the admin operation.
    pub async fn patch_settings(&self, patch: Value) {
        self.engine
            .patch_organization(
                &self.org,
                UpdateOrganization::from_json(&patch).expect("settings patch body"),
                &AdminActor::Cli,
                &self.connection,
            )
            .await
            .expect("settings patch");
    }

    // ---- back channel ----

    /// The client-authentication members of a back-channel form: a fresh assertion.
    pub fn authenticated(&self, client: &TestClient) -> Form {
        self.authenticated_with(
            client,
            &client.key.assertion(&client.client_id, ISSUER, self.now()),
        )
    }

    /// `form` with a fresh client assertion of `client` (an assertion is single use).
    pub fn reauthenticated(&self, client: &TestClient, form: Form) -> Form {
        let assertion = client.key.assertion(&client.client_id, ISSUER, self.now());
        form.set("client_assertion", &assertion)
    }

    /// The client-authentication members with this `assertion`.
    pub fn authenticated_with(&self, client: &TestClient, assertion: &str) -> Form {
        Form::new(&[
            ("client_id", &client.client_id),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion),
        ])
    }

    /// A valid pushed authorization request of `client` (scope `openid accounts`, PKCE S256, state,
    /// nonce) and its PKCE verifier.
    pub fn par_form(&self, client: &TestClient) -> (Form, String) {
        let (verifier, challenge) = pkce();
        let form = self
            .authenticated(client)
            .set("response_type", "code")
            .set("redirect_uri", REDIRECT_URI)
            .set("scope", "openid accounts")
            .set("code_challenge", &challenge)
            .set("code_challenge_method", "S256")
            .set("state", "state-1")
            .set("nonce", "nonce-1");
        (form, verifier)
    }

    pub async fn push(&self, form: &Form, dpop: &[&str]) -> Result<ParResponse, Error> {
        self.engine
            .push_authorization_request(
                &self.org,
                ParRequest {
                    params: form.params(),
                    dpop: dpop.to_vec(),
                    authorization_header: None,
                    connection: &self.connection,
                },
            )
            .await
    }

    pub async fn token(&self, form: &Form, dpop: &[&str]) -> Result<TokenResponse, Error> {
        self.token_with_header(form, dpop, None).await
    }

    pub async fn token_with_header(
        &self,
        form: &Form,
        dpop: &[&str],
        authorization_header: Option<&str>,
    ) -> Result<TokenResponse, Error> {
        self.engine
            .token(
                &self.org,
                TokenRequest {
                    params: form.params(),
                    dpop: dpop.to_vec(),
                    authorization_header,
                    connection: &self.connection,
                },
            )
            .await
    }

    /// A fresh DPoP proof of `key` for the token endpoint.
    pub fn token_proof(&self, key: &ClientKey) -> String {
        key.dpop_proof("POST", TOKEN_ENDPOINT, self.now())
    }

    /// A fresh DPoP proof of `key` for the PAR endpoint.
    pub fn par_proof(&self, key: &ClientKey) -> String {
        key.dpop_proof("POST", PAR_ENDPOINT, self.now())
    }

    /// A client_credentials request of `client` (fresh assertion) with these proofs.
    pub async fn client_credentials(
        &self,
        client: &TestClient,
        dpop: &[&str],
    ) -> Result<TokenResponse, Error> {
        let form = self
            .authenticated(client)
            .set("grant_type", "client_credentials");
        self.token(&form, dpop).await
    }

    /// The token request that redeems `authorized` for `client` (fresh assertion, no proof).
    pub fn code_form(&self, client: &TestClient, authorized: &Authorized) -> Form {
        self.authenticated(client)
            .set("grant_type", "authorization_code")
            .set("code", &authorized.code)
            .set("redirect_uri", REDIRECT_URI)
            .set("code_verifier", &authorized.verifier)
    }

    /// Redeems `authorized` for `client` with a fresh proof of `dpop_key`.
    pub async fn redeem(
        &self,
        client: &TestClient,
        authorized: &Authorized,
        dpop_key: &ClientKey,
    ) -> Result<TokenResponse, Error> {
        let form = self.code_form(client, authorized);
        self.token(&form, &[&self.token_proof(dpop_key)]).await
    }

    /// A refresh request of `client` for `refresh_token` (fresh assertion, no proof).
    pub fn refresh_form(&self, client: &TestClient, refresh_token: &str) -> Form {
        self.authenticated(client)
            .set("grant_type", "refresh_token")
            .set("refresh_token", refresh_token)
    }

    // ---- front channel ----

    fn browser<'a>(&'a self, session: Option<&'a str>) -> BrowserContext<'a> {
        BrowserContext {
            browser_id: BROWSER_ID,
            session,
            connection: &self.connection,
        }
    }

    fn current_session(&self) -> Option<String> {
        self.session.lock().expect("session lock").clone()
    }

    /// `GET /authorize` with `client_id` and `request_uri` (either may be left out), with the
    /// browser's session if it has one.
    pub async fn authorize(
        &self,
        client_id: Option<&str>,
        request_uri: Option<&str>,
    ) -> Interaction {
        let mut query = Form::default();
        if let Some(id) = client_id {
            query = query.set("client_id", id);
        }
        if let Some(uri) = request_uri {
            query = query.set("request_uri", uri);
        }
        self.authorize_query(&query).await
    }

    /// `GET /authorize` with any front-channel query.
    pub async fn authorize_query(&self, query: &Form) -> Interaction {
        let session = self.current_session();
        self.engine
            .authorize(
                &self.org,
                &query.params(),
                &self.browser(session.as_deref()),
            )
            .await
            .expect("authorize")
    }

    /// Posts the login form as alice with `csrf`; keeps the new session.
    pub async fn sign_in(&self, client_id: &str, request_uri: &str, csrf: &str) -> Interaction {
        let session = self.current_session();
        let outcome = self
            .engine
            .login(
                &self.org,
                &LoginForm {
                    client_id,
                    request_uri,
                    csrf,
                    username: USERNAME,
                    password: PASSWORD,
                    cancel: false,
                },
                &self.browser(session.as_deref()),
            )
            .await
            .expect("login");
        match outcome {
            LoginOutcome::SignedIn { session, next } => {
                *self.session.lock().expect("session lock") = Some(session);
                next
            }
            LoginOutcome::Continue(next) => next,
        }
    }

    /// Posts the consent form (approve or deny) with `csrf`.
    pub async fn consent(
        &self,
        client_id: &str,
        request_uri: &str,
        csrf: &str,
        approve: bool,
    ) -> Interaction {
        let session = self.current_session();
        self.engine
            .consent(
                &self.org,
                &ConsentForm {
                    client_id,
                    request_uri,
                    csrf,
                    approve,
                },
                &self.browser(session.as_deref()),
            )
            .await
            .expect("consent")
    }

    /// Drives the browser from `/authorize` through login and consent (approving) to the step
    /// after them: normally the authorization response.
    pub async fn approve(&self, client_id: &str, request_uri: &str) -> Interaction {
        let mut step = self.authorize(Some(client_id), Some(request_uri)).await;
        for _ in 0..2 {
            step = match step {
                Interaction::Login(view) => self.sign_in(client_id, request_uri, &view.csrf).await,
                Interaction::Consent(view) => {
                    self.consent(client_id, request_uri, &view.csrf, true).await
                }
                done => return done,
            };
        }
        step
    }

    /// The code of an approved authorization of a pushed `form`.
    pub async fn code_of(&self, client: &TestClient, request_uri: &str) -> String {
        let step = self.approve(&client.client_id, request_uri).await;
        redirect_params(&step)
            .remove("code")
            .unwrap_or_else(|| panic!("no code in {step:?}"))
    }

    /// A whole authorization of `client`: PAR (with a proof of `par_key` when given), login,
    /// consent; the code and its verifier.
    pub async fn authorized(&self, client: &TestClient, par_key: Option<&ClientKey>) -> Authorized {
        let (form, verifier) = self.par_form(client);
        let proofs: Vec<String> = par_key.map(|k| self.par_proof(k)).into_iter().collect();
        let proof_refs: Vec<&str> = proofs.iter().map(String::as_str).collect();
        let pushed = self.push(&form, &proof_refs).await.expect("PAR");
        Authorized {
            code: self.code_of(client, &pushed.request_uri).await,
            verifier,
        }
    }

    /// A whole authorization and its redemption with a proof of `dpop_key`: the token response.
    pub async fn tokens(&self, client: &TestClient, dpop_key: &ClientKey) -> TokenResponse {
        let authorized = self.authorized(client, None).await;
        self.redeem(client, &authorized, dpop_key)
            .await
            .expect("code redemption")
    }
}
