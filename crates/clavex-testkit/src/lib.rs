//! Test helpers for Clavex's integration tests: a real node on a real store (a temporary SQLite file,
//! or a fresh PostgreSQL schema when `CLAVEX_TEST_DATABASE=postgres`), a manual clock, and the client
//! side of the protocol (keys, client assertions, DPoP proofs, raw JWTs for negative tests).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

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
    _data: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
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
    match backend().as_str() {
        "postgres" => {
            let schema = format!(
                "clavex_it_{}",
                clavex_jose::random_token(9)
                    .to_lowercase()
                    .replace(['-', '_'], "x")
            );
            let store = clavex_store::postgres::PgStore::connect_with_schema(&pg_url(), &schema)
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL at {} is required for CLAVEX_TEST_DATABASE=postgres: {e}",
                        pg_url()
                    )
                });
            Arc::new(store)
        }
        "sqlite" => {
            let url = format!("sqlite://{}", data_dir.join("clavex.db").display());
            Arc::new(
                clavex_store::sqlite::SqliteStore::connect(&url)
                    .await
                    .expect("sqlite store"),
            )
        }
        other => panic!("unknown CLAVEX_TEST_DATABASE {other}"),
    }
}

pub async fn spawn() -> TestServer {
    spawn_with(SpawnOptions::default()).await
}

pub async fn spawn_with(options: SpawnOptions) -> TestServer {
    let data = match options.data_dir {
        Some(d) => d,
        None => tempfile::tempdir().expect("tempdir"),
    };
    let store = match options.store {
        Some(s) => s,
        None => fresh_store(data.path()).await,
    };
    // Bind first to learn the port, so the public URL (and every issuer) is known before start.
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = probe.local_addr().expect("addr");
    drop(probe);
    let base = format!("http://{addr}");
    let config = Config {
        listen: addr,
        public_url: Some(base.clone()),
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
    let engine = app.engine.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
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
        http: reqwest::Client::new(),
        engine,
        store,
        _data: data,
        shutdown: Some(tx),
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
