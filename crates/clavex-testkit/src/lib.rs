//! Test helpers for Clavex's integration tests: a real node on a real store (a temporary SQLite file,
//! or a fresh PostgreSQL schema when `CLAVEX_TEST_DATABASE=postgres`), a manual clock, and the client
//! side of the protocol (keys, client assertions, DPoP proofs, raw JWTs for negative tests).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod flow;
mod pg_schemas;

use std::sync::Arc;

use clavex::app::Application;
use clavex::config::Config;
use clavex_core::clock::{Clock, ManualClock, SystemClock};
use clavex_jose::{Algorithm, SigningKey};
use clavex_store::Store;
use serde_json::{Map, Value, json};

pub use reqwest::StatusCode;

pub const ORG: &str = "acme";
pub const ORG_TOKEN: &str = "clx_test_org_admin_token_0123456789";
pub const SERVER_TOKEN: &str = "clx_test_server_admin_token_0123456789";

/// Which store the tests run on: `CLAVEX_TEST_DATABASE=sqlite` (default) or `postgres`.
pub fn backend() -> String {
    std::env::var("CLAVEX_TEST_DATABASE").unwrap_or_else(|_| "sqlite".to_owned())
}

pub fn pg_url() -> String {
    std::env::var("CLAVEX_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A running node. Dropping it stops the server.
pub struct TestServer {
    /// `http://127.0.0.1:{port}`, also the public URL.
    pub base: String,
    pub issuer: String,
    pub token_endpoint: String,
    pub clock: ManualClock,
    pub http: reqwest::Client,
    pub engine: Arc<clavex_core::Engine>,
    pub store: Arc<dyn Store>,
    /// Where the store lives, when this node opened it (so a test can open it again).
    pub store_location: Option<StoreLocation>,
    _data: Option<tempfile::TempDir>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub struct SpawnOptions {
    pub jwks_fetch_allow: Vec<String>,
    /// Reuse this store (e.g. to restart a node on the same data).
    pub store: Option<Arc<dyn Store>>,
    pub data_dir: Option<tempfile::TempDir>,
}

impl Default for SpawnOptions {
    fn default() -> Self {
        SpawnOptions {
            jwks_fetch_allow: vec!["127.0.0.1".to_owned()],
            store: None,
            data_dir: None,
        }
    }
}

/// Opens a fresh store of the configured backend.
pub async fn fresh_store(data_dir: &std::path::Path) -> Arc<dyn Store> {
    fresh_store_at(data_dir).await.0
}

/// Where a test store lives: enough to open it again with new connections (a restart).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    Sqlite { url: String },
    Postgres { url: String, schema: String },
}

/// Opens an existing store again (migrations are idempotent), as a restarted node would.
pub async fn open_store(location: &StoreLocation) -> Arc<dyn Store> {
    match location {
        StoreLocation::Sqlite { url } => Arc::new(
            clavex_store::sqlite::SqliteStore::connect(url)
                .await
                .expect("reopen sqlite store"),
        ),
        StoreLocation::Postgres { url, schema } => Arc::new(
            clavex_store::postgres::PgStore::connect_with_schema(url, schema)
                .await
                .expect("reopen postgres store"),
        ),
    }
}

/// As [`fresh_store`], and says where the store lives.
pub async fn fresh_store_at(data_dir: &std::path::Path) -> (Arc<dyn Store>, StoreLocation) {
    match backend().as_str() {
        "postgres" => {
            // Dropped by a later run once this process has ended (see `pg_schemas`).
            let schema = pg_schemas::new_schema_name(&pg_url()).await;
            let store = clavex_store::postgres::PgStore::connect_with_schema(&pg_url(), &schema)
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL at {} is required for CLAVEX_TEST_DATABASE=postgres: {e}",
                        pg_url()
                    )
                });
            (
                Arc::new(store),
                StoreLocation::Postgres {
                    url: pg_url(),
                    schema,
                },
            )
        }
        "sqlite" => {
            let url = format!("sqlite://{}", data_dir.join("clavex.db").display());
            let store = clavex_store::sqlite::SqliteStore::connect(&url)
                .await
                .expect("sqlite store");
            (Arc::new(store), StoreLocation::Sqlite { url })
        }
        other => panic!("unknown CLAVEX_TEST_DATABASE {other}"),
    }
}

pub async fn spawn() -> TestServer {
    spawn_with(SpawnOptions::default()).await
}

pub async fn spawn_with(options: SpawnOptions) -> TestServer {
    spawn_node(options, None).await
}

/// A node whose public URL is `http://{public_host}` (default port 80), whatever port it listens on:
/// its HTTP client resolves `public_host` to the listening socket. Two nodes spawned with the same
/// host and store share issuers, as the nodes of one deployment do; the port-less URL also lets tests
/// exercise default-port normalisation.
pub async fn spawn_public(options: SpawnOptions, public_host: &str) -> TestServer {
    spawn_node(options, Some(public_host)).await
}

async fn spawn_node(options: SpawnOptions, public_host: Option<&str>) -> TestServer {
    let data = match options.data_dir {
        Some(d) => d,
        None => tempfile::tempdir().expect("tempdir"),
    };
    let (store, store_location) = match options.store {
        Some(s) => (s, None),
        None => {
            let (store, location) = fresh_store_at(data.path()).await;
            (store, Some(location))
        }
    };
    // Port 0: `Application` binds before it builds the engine, and without a configured public URL
    // derives every issuer from the address it really listens on. A probe socket dropped and bound
    // again by the server would race with any other process taking the port in between.
    let config = Config {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        public_url: public_host.map(|host| format!("http://{host}")),
        data_dir: data.path().to_path_buf(),
        master_key: Some(
            "0000000000000000000000000000000000000000000000000000000000000001".to_owned(),
        ),
        bootstrap_admin_token: Some(ORG_TOKEN.to_owned()),
        server_admin_token: Some(SERVER_TOKEN.to_owned()),
        jwks_fetch_allow: options.jwks_fetch_allow,
        ..Config::default()
    };
    let clock = ManualClock::new(SystemClock.now());
    let app = Application::build_with_store(&config, Arc::new(clock.clone()), store.clone())
        .await
        .expect("build app");
    let addr = app.local_addr();
    let (base, http) = match public_host {
        None => (format!("http://{addr}"), reqwest::Client::new()),
        Some(host) => (
            format!("http://{host}"),
            reqwest::Client::builder()
                .resolve(host, addr)
                .build()
                .expect("http client"),
        ),
    };
    let engine = app.engine.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let _ = app
            .run_until(async move {
                let _ = rx.await;
            })
            .await;
    });
    let issuer = format!("{base}/{ORG}");
    TestServer {
        token_endpoint: format!("{issuer}/token"),
        issuer,
        base,
        clock,
        http,
        engine,
        store,
        store_location,
        _data: Some(data),
        shutdown: Some(tx),
        task: Some(task),
    }
}

/// An HTTP answer: status, headers and the body parsed as JSON (`Value::Null` if it is not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Answer {
    pub async fn from(response: reqwest::Response) -> Answer {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
            text,
        }
    }

    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }

    pub fn description(&self) -> &str {
        self.body["error_description"].as_str().unwrap_or("")
    }

    /// Asserts an OAuth error with `code`, and a description containing `fragment`.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str, fragment: &str) {
        assert_eq!(self.status.as_u16(), status, "status; body: {}", self.text);
        assert_eq!(self.error(), code, "error code; body: {}", self.text);
        assert!(
            self.description().contains(fragment),
            "error_description {:?} should contain {fragment:?}",
            self.description()
        );
    }
}

impl TestServer {
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Answer {
        let mut request = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        Answer::from(request.send().await.expect("admin request")).await
    }

    /// Registers a client through the Admin API and returns its metadata.
    pub async fn register_client(&self, body: Value) -> Value {
        let answer = self
            .admin(
                reqwest::Method::POST,
                &format!("/api/v1/organizations/{ORG}/clients"),
                ORG_TOKEN,
                Some(body),
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::CREATED,
            "client registration: {}",
            answer.text
        );
        answer.body
    }

    /// A ready client-credentials client with an inline JWKS of `key`.
    pub async fn client_credentials_client(&self, key: &ClientKey) -> String {
        let md = self
            .register_client(json!({
                "client_name": "test client",
                "grant_types": ["client_credentials"],
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": key.jwks(),
            }))
            .await;
        md["client_id"].as_str().expect("client_id").to_owned()
    }

    pub async fn token_request(&self, form: &[(&str, &str)], dpop: &[&str]) -> Answer {
        let mut request = self.http.post(&self.token_endpoint).form(form);
        for proof in dpop {
            request = request.header("DPoP", *proof);
        }
        Answer::from(request.send().await.expect("token request")).await
    }

    /// A valid client-credentials request for `client_id` with fresh assertion and proof.
    pub async fn client_credentials(
        &self,
        client_id: &str,
        client_key: &ClientKey,
        dpop_key: &ClientKey,
        extra: &[(&str, &str)],
    ) -> Answer {
        let assertion = client_key.assertion(client_id, &self.issuer, self.now());
        let proof = dpop_key.dpop_proof("POST", &self.token_endpoint, self.now());
        let mut form = vec![
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion.as_str()),
        ];
        form.extend_from_slice(extra);
        self.token_request(&form, &[&proof]).await
    }
}

/// A client-side key: signs assertions and DPoP proofs.
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

    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.key.public_jwk()] })
    }

    pub fn thumbprint(&self) -> String {
        self.key.thumbprint()
    }

    /// Signs `claims` with extra header members.
    pub fn sign(&self, typ: Option<&str>, extra_header: Option<Value>, claims: Value) -> String {
        let extra: Option<Map<String, Value>> = extra_header.and_then(|v| v.as_object().cloned());
        self.key
            .sign_jwt(typ, extra.as_ref(), true, &claims)
            .expect("sign")
    }

    pub fn assertion_claims(&self, client_id: &str, aud: &str, now: i64) -> Value {
        json!({ "iss": client_id, "sub": client_id, "aud": aud, "iat": now, "exp": now + 60, "jti": clavex_jose::random_token(12) })
    }

    /// A valid `private_key_jwt` client assertion.
    pub fn assertion(&self, client_id: &str, aud: &str, now: i64) -> String {
        self.sign(None, None, self.assertion_claims(client_id, aud, now))
    }

    pub fn dpop_claims(&self, htm: &str, htu: &str, now: i64) -> Value {
        json!({ "jti": clavex_jose::random_token(12), "htm": htm, "htu": htu, "iat": now })
    }

    /// A DPoP proof with `claims` (use [`ClientKey::dpop_claims`] and change what the test needs).
    pub fn dpop_with(&self, claims: Value) -> String {
        let mut jwk = self.key.public_jwk();
        if let Some(obj) = jwk.as_object_mut() {
            obj.remove("kid");
        }
        let extra: Map<String, Value> = [("jwk".to_owned(), jwk)].into_iter().collect();
        self.key
            .sign_jwt(Some("dpop+jwt"), Some(&extra), false, &claims)
            .expect("sign proof")
    }

    pub fn dpop_proof(&self, htm: &str, htu: &str, now: i64) -> String {
        self.dpop_with(self.dpop_claims(htm, htu, now))
    }
}

pub fn b64(bytes: &[u8]) -> String {
    clavex_jose::b64url_encode(bytes)
}

/// A compact JWS assembled by hand (for `alg=none`, wrong types, broken structure).
pub fn raw_jwt(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes()),
        b64(signature)
    )
}

/// An RS256 (RSASSA-PKCS1-v1_5) signature with an RSA key, which FAPI 2.0 forbids.
pub fn rs256_jwt(rsa: &ClientKey, claims: &Value) -> String {
    let header = json!({ "alg": "RS256", "kid": rsa.key.kid() });
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let pkcs8 = rsa.key.to_pkcs8().expect("pkcs8");
    let pair = aws_lc_rs::rsa::KeyPair::from_pkcs8(&pkcs8).expect("rsa key");
    let mut sig = vec![0u8; pair.public_modulus_len()];
    pair.sign(
        &aws_lc_rs::signature::RSA_PKCS1_SHA256,
        &aws_lc_rs::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .expect("rs256 sign");
    format!("{input}.{}", b64(&sig))
}

/// Decodes a JWT's header and claims without verifying (to inspect what the server issued).
pub fn decode_unverified(jwt: &str) -> (Value, Value) {
    let mut parts = jwt.split('.');
    let header = clavex_jose::b64url_decode(parts.next().expect("header")).expect("b64");
    let claims = clavex_jose::b64url_decode(parts.next().expect("claims")).expect("b64");
    (
        serde_json::from_slice(&header).expect("json"),
        serde_json::from_slice(&claims).expect("json"),
    )
}

/// What is left of a node stopped with [`TestServer::stop`]: its store, where the store lives, and
/// its data directory (kept, so a SQLite file survives the restart).
pub struct StoppedServer {
    pub store: Arc<dyn Store>,
    pub store_location: Option<StoreLocation>,
    pub data_dir: tempfile::TempDir,
}

impl TestServer {
    /// Stops the node gracefully and waits until it has stopped serving.
    pub async fn stop(mut self) -> StoppedServer {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // Idle keep-alive connections of our own client would only delay the graceful shutdown.
        self.http = reqwest::Client::new();
        if let Some(task) = self.task.take() {
            tokio::time::timeout(std::time::Duration::from_secs(20), task)
                .await
                .expect("server did not stop within 20 s")
                .expect("server task");
        }
        StoppedServer {
            store: self.store.clone(),
            store_location: self.store_location.clone(),
            data_dir: self._data.take().expect("data dir"),
        }
    }

    /// The issuer of organization `org` on this node.
    pub fn issuer_of(&self, org: &str) -> String {
        format!("{}/{org}", self.base)
    }

    /// An Admin API request with full control: no token at all (`None`) and a raw body.
    pub async fn admin_raw(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, &str)>,
    ) -> Answer {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some((content_type, body)) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body.to_owned());
        }
        Answer::from(request.send().await.expect("admin request")).await
    }

    /// A GET without credentials (discovery, JWKS, health).
    pub async fn get(&self, path: &str) -> Answer {
        Answer::from(
            self.http
                .get(self.url(path))
                .send()
                .await
                .expect("GET request"),
        )
        .await
    }

    /// Registers a client in organization `org` with that organization's admin `token`.
    pub async fn register_client_in(&self, org: &str, token: &str, body: Value) -> Value {
        let answer = self
            .admin(
                reqwest::Method::POST,
                &format!("/api/v1/organizations/{org}/clients"),
                token,
                Some(body),
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::CREATED,
            "client registration in {org}: {}",
            answer.text
        );
        answer.body
    }

    /// A client-credentials request at organization `org`'s token endpoint, with an assertion whose
    /// audience is that organization's issuer.
    pub async fn client_credentials_at(
        &self,
        org: &str,
        client_id: &str,
        client_key: &ClientKey,
        dpop_key: &ClientKey,
        extra: &[(&str, &str)],
    ) -> Answer {
        let issuer = self.issuer_of(org);
        let token_endpoint = format!("{issuer}/token");
        let assertion = client_key.assertion(client_id, &issuer, self.now());
        let proof = dpop_key.dpop_proof("POST", &token_endpoint, self.now());
        let mut form = vec![
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion.as_str()),
        ];
        form.extend_from_slice(extra);
        let request = self
            .http
            .post(&token_endpoint)
            .form(&form)
            .header("DPoP", proof);
        Answer::from(request.send().await.expect("token request")).await
    }
}

/// Verifies a JWT issued by the server against a published JWKS document: the key is chosen by the
/// JWT's `kid`. Returns the claims, or why verification failed.
pub fn verify_with_jwks(jwt: &str, jwks: &Value) -> Result<Value, String> {
    let set = clavex_jose::JwkSet::from_json(jwks).map_err(|e| format!("jwks: {e}"))?;
    let jws = clavex_jose::Jws::parse(jwt, &clavex_jose::JwsLimits::default())
        .map_err(|e| format!("jws: {e}"))?;
    let kid = jws.kid().ok_or("the JWT has no kid")?;
    let key = set
        .keys()
        .iter()
        .find(|k| k.kid() == Some(kid))
        .ok_or_else(|| format!("kid {kid} is not in the JWKS"))?;
    jws.verify_with(key).map_err(|e| format!("verify: {e}"))?;
    Ok(Value::Object(jws.claims().clone()))
}

// ---- token endpoint negative tests: assertions, proofs and JWS built by hand ----

/// `client_assertion_type` for `private_key_jwt` (RFC 7523 §2.2).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

impl Answer {
    /// [`Answer::assert_error`] for the token endpoint, plus what every OAuth error response there
    /// must look like: a JSON body, `Cache-Control: no-store`, and 401 only for `invalid_client`
    /// (RFC 6749 §5.2), 400 for everything else.
    #[track_caller]
    pub fn assert_oauth_error(&self, status: u16, code: &str, fragment: &str) {
        self.assert_error(status, code, fragment);
        let expected = if code == "invalid_client" { 401 } else { 400 };
        assert_eq!(
            status, expected,
            "test expectation: {code} is answered with {expected}"
        );
        assert!(
            self.headers
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/json")),
            "error content type: {:?}",
            self.headers.get(reqwest::header::CONTENT_TYPE)
        );
        assert_eq!(
            self.headers
                .get(reqwest::header::CACHE_CONTROL)
                .and_then(|v| v.to_str().ok()),
            Some("no-store"),
            "error responses must not be cached"
        );
    }
}

impl TestServer {
    /// `grant_type=client_credentials` with this (possibly broken) `client_assertion`, the
    /// jwt-bearer assertion type, `extra` parameters and these `DPoP` header values.
    pub async fn client_credentials_with(
        &self,
        assertion: &str,
        dpop: &[&str],
        extra: &[(&str, &str)],
    ) -> Answer {
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion),
        ];
        form.extend_from_slice(extra);
        self.token_request(&form, dpop).await
    }

    /// A token request with extra HTTP headers (e.g. `Authorization`).
    pub async fn token_request_with_headers(
        &self,
        form: &[(&str, &str)],
        dpop: &[&str],
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut request = self.http.post(&self.token_endpoint).form(form);
        for proof in dpop {
            request = request.header("DPoP", *proof);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Answer::from(request.send().await.expect("token request")).await
    }

    /// A fresh valid DPoP proof for this node's token endpoint.
    pub fn token_proof(&self, dpop_key: &ClientKey) -> String {
        dpop_key.dpop_proof("POST", &self.token_endpoint, self.now())
    }

    /// `PATCH /api/v1/organizations/acme` with the org admin token; asserts 200.
    pub async fn patch_org(&self, body: Value) -> Value {
        let answer = self
            .admin(
                reqwest::Method::PATCH,
                &format!("/api/v1/organizations/{ORG}"),
                ORG_TOKEN,
                Some(body),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "org patch: {}", answer.text);
        answer.body
    }
}

impl ClientKey {
    /// A key with a chosen `kid`.
    pub fn with_kid(alg: Algorithm, kid: &str) -> ClientKey {
        ClientKey {
            key: SigningKey::generate(alg, kid.to_owned()).expect("key"),
        }
    }

    /// The public JWK as a DPoP proof carries it (no `kid`).
    pub fn dpop_jwk(&self) -> Value {
        let mut jwk = self.key.public_jwk();
        if let Some(obj) = jwk.as_object_mut() {
            obj.remove("kid");
        }
        jwk
    }

    /// The protected header [`ClientKey::dpop_with`] uses, to be changed by negative tests.
    pub fn dpop_header(&self) -> Value {
        json!({ "typ": "dpop+jwt", "alg": self.key.alg().as_str(), "jwk": self.dpop_jwk() })
    }

    /// Signs `header` exactly as given (any `alg` name, `typ`, `kid`, `jwk`) with this key.
    pub fn sign_raw(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let sig = self.key.sign(input.as_bytes()).expect("sign");
        format!("{input}.{}", b64(&sig))
    }
}

/// RS256 over `header` exactly as given, with an RSA key (`ClientKey::new(Algorithm::Ps256)`).
pub fn rs256_sign(rsa: &ClientKey, header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let pkcs8 = rsa.key.to_pkcs8().expect("pkcs8");
    let pair = aws_lc_rs::rsa::KeyPair::from_pkcs8(&pkcs8).expect("rsa key");
    let mut sig = vec![0u8; pair.public_modulus_len()];
    pair.sign(
        &aws_lc_rs::signature::RSA_PKCS1_SHA256,
        &aws_lc_rs::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .expect("rs256 sign");
    format!("{input}.{}", b64(&sig))
}

/// HS256 (HMAC-SHA-256 with a shared `secret`) over `header` exactly as given.
pub fn hs256_sign(secret: &[u8], header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
}

/// RFC 7638 JWK thumbprint computed here, independently of the server's JOSE code: the required
/// members of the `kty`, in lexicographic order, no whitespace, SHA-256, base64url.
pub fn rfc7638_thumbprint(jwk: &Value) -> String {
    let member = |name: &str| jwk[name].as_str().expect("thumbprint member").to_owned();
    let canonical = match jwk["kty"].as_str().expect("kty") {
        "EC" => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            member("crv"),
            member("x"),
            member("y")
        ),
        "RSA" => format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            member("e"),
            member("n")
        ),
        "OKP" => format!(
            r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#,
            member("crv"),
            member("x")
        ),
        other => panic!("no thumbprint rule for kty {other}"),
    };
    b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes()).as_ref())
}
