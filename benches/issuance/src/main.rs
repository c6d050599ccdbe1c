//! In-process benchmark of token and PAR issuance, for instruction counts under callgrind
//! (`cargo xtask bench-instr`, see `docs/benchmarks.md`).
//!
//! The real application router (configuration, SQLite file store in a temporary directory, master
//! key, bootstrapped organization) is driven with `tower::ServiceExt::oneshot` on a current-thread
//! tokio runtime: no sockets, no HTTP parsing, one request at a time. The benchmark client is
//! registered through the Admin API over the same router, and every credential (client assertion,
//! DPoP proof) is signed before the measured region.
//!
//! For each workload (token, then PAR): `--warmup` unmeasured requests (statement caches, pool
//! connections, organization/client/key caches), then `--requests` requests inside
//! [`bench_region`], the one function whose entry and return callgrind's `--zero-before` and
//! `--dump-after` point at. Each region prints a line `region <n> <workload> <requests>` so the
//! n-th callgrind dump can be told apart. Every response is checked after the region.
//!
//! Without valgrind it runs as a plain smoke test and prints wall-clock times.

mod compat;

use std::net::SocketAddr;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail, ensure};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, StatusCode, header};
use clavex_jose::{Algorithm, SigningKey};
use http_body_util::BodyExt as _;
use serde_json::{Map, Value, json};
use tokio::runtime::Runtime;
use tower::ServiceExt as _;

const ORG: &str = "acme";
/// Issuer base; its length is fixed so that no revision pays for a longer URL.
const PUBLIC_URL: &str = "http://clavex.bench";
const ADMIN_TOKEN: &str = "clx_bench_instr_admin_token_0123456789";
const REDIRECT_URI: &str = "https://tpp.example.com/cb";
const REDIRECT_URI_ENCODED: &str = "https%3A%2F%2Ftpp.example.com%2Fcb";
const ASSERTION_TYPE_ENCODED: &str =
    "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer";
const FORM: &str = "application/x-www-form-urlencoded";
/// The peer address `into_make_service_with_connect_info` would attach.
const PEER: ([u8; 4], u16) = ([127, 0, 0, 1], 40000);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Workload {
    /// `POST /{org}/token`: client_credentials, private_key_jwt (ES256) + DPoP proof (ES256).
    Token,
    /// `POST /{org}/par`: private_key_jwt, PKCE S256, redirect_uri, scope, state, nonce, dpop_jkt.
    Par,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Token => "token",
            Workload::Par => "par",
        }
    }
}

struct Options {
    requests: usize,
    warmup: usize,
    workloads: Vec<Workload>,
}

fn parse_args() -> Result<Options> {
    let mut options = Options {
        requests: 200,
        warmup: 50,
        workloads: vec![Workload::Token, Workload::Par],
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| anyhow!("{name} needs a value"));
        match arg.as_str() {
            "--requests" => options.requests = value("--requests")?.parse()?,
            "--warmup" => options.warmup = value("--warmup")?.parse()?,
            "--workloads" => {
                options.workloads = value("--workloads")?
                    .split(',')
                    .map(|w| match w.trim() {
                        "token" => Ok(Workload::Token),
                        "par" => Ok(Workload::Par),
                        other => Err(anyhow!("unknown workload {other:?} (token, par)")),
                    })
                    .collect::<Result<_>>()?;
            }
            "-h" | "--help" => {
                println!(
                    "issuance-bench [--requests N (200)] [--warmup N (50)] [--workloads token,par]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (see --help)"),
        }
    }
    ensure!(options.requests > 0, "--requests must be at least 1");
    Ok(options)
}

fn main() -> Result<()> {
    let options = parse_args()?;
    // `cargo xtask bench-instr` checks that each binary is the revision it built.
    println!("harness {}", env!("CARGO_MANIFEST_DIR"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the tokio runtime")?;
    let data = tempfile::tempdir().context("creating the data directory")?;
    let node = runtime.block_on(compat::node(data.path(), PUBLIC_URL, ORG, ADMIN_TOKEN))?;
    let router = node.router.clone();

    let mut signer = Signer::new()?;
    signer.client_id = runtime.block_on(register_client(&router, signer.jwks()))?;

    for (index, workload) in options.workloads.iter().copied().enumerate() {
        // Warm-up: same requests, unmeasured.
        let warm = signer.requests(workload, options.warmup)?;
        let answers = runtime.block_on(send_all(&router, warm))?;
        check(workload, &answers).context("warm-up")?;

        // Signed just before the region: a DPoP proof is accepted for a minute after its `iat`.
        let requests = signer.requests(workload, options.requests)?;
        let started = Instant::now();
        let answers = bench_region(&runtime, &router, requests)?;
        let elapsed = started.elapsed();
        check(workload, &answers)?;
        println!(
            "region {} {} {} ({:.1} ms wall-clock, {:.0} µs/request)",
            index + 1,
            workload.name(),
            options.requests,
            elapsed.as_secs_f64() * 1e3,
            elapsed.as_secs_f64() * 1e6 / options.requests as f64,
        );
    }
    drop(router);
    drop(node);
    drop(runtime);
    Ok(())
}

/// The measured region: every request of one workload, one after the other, each answer read
/// whole. callgrind zeroes its counters when this function is entered and dumps them when it
/// returns (all threads: sqlx runs SQLite on its own worker threads).
#[inline(never)]
fn bench_region(
    runtime: &Runtime,
    router: &Router,
    requests: Vec<Request<Body>>,
) -> Result<Vec<(StatusCode, Bytes)>> {
    runtime.block_on(send_all(router, requests))
}

async fn send_all(
    router: &Router,
    requests: Vec<Request<Body>>,
) -> Result<Vec<(StatusCode, Bytes)>> {
    let mut answers = Vec::with_capacity(requests.len());
    for request in requests {
        let response = match router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .context("reading a response body")?
            .to_bytes();
        answers.push((status, body));
    }
    Ok(answers)
}

/// Every answer is the expected success: 200 with a DPoP-bound ES256 JWT access token, or 201 with
/// a `request_uri`.
fn check(workload: Workload, answers: &[(StatusCode, Bytes)]) -> Result<()> {
    for (status, body) in answers {
        let text = String::from_utf8_lossy(body);
        let expected = match workload {
            Workload::Token => StatusCode::OK,
            Workload::Par => StatusCode::CREATED,
        };
        ensure!(
            *status == expected,
            "{}: expected {expected}, got {status}: {text}",
            workload.name()
        );
        let json: Value = serde_json::from_slice(body)
            .with_context(|| format!("{}: answer is not JSON: {text}", workload.name()))?;
        match workload {
            Workload::Token => {
                ensure!(
                    json["token_type"] == "DPoP",
                    "token_type is not DPoP: {text}"
                );
                let token = json["access_token"]
                    .as_str()
                    .ok_or_else(|| anyhow!("no access_token: {text}"))?;
                let head = token.split('.').next().unwrap_or_default();
                let head: Value = serde_json::from_slice(&clavex_jose::b64url_decode(head)?)
                    .with_context(|| format!("access token header: {token}"))?;
                ensure!(head["alg"] == "ES256", "access token is not ES256: {head}");
                ensure!(
                    token.split('.').count() == 3,
                    "access token is not a JWS: {token}"
                );
            }
            Workload::Par => {
                let uri = json["request_uri"].as_str().unwrap_or_default();
                ensure!(
                    uri.starts_with("urn:ietf:params:oauth:request_uri:"),
                    "no request_uri: {text}"
                );
                ensure!(
                    json["expires_in"].as_u64().is_some(),
                    "no expires_in: {text}"
                );
            }
        }
    }
    Ok(())
}

/// `POST /api/v1/organizations/{org}/clients` with the organization's admin token.
async fn register_client(router: &Router, jwks: Value) -> Result<String> {
    let body = json!({
        "client_name": "bench-instr",
        "grant_types": ["authorization_code", "client_credentials"],
        "response_types": ["code"],
        "redirect_uris": [REDIRECT_URI],
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": jwks,
    });
    let request = Request::post(format!("/api/v1/organizations/{ORG}/clients"))
        .header(header::HOST, host())
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"))
        .header(header::CONTENT_TYPE, "application/json")
        .extension(ConnectInfo(SocketAddr::from(PEER)))
        .body(Body::from(serde_json::to_vec(&body)?))?;
    let answers = send_all(router, vec![request]).await?;
    let (status, body) = answers
        .first()
        .ok_or_else(|| anyhow!("no answer to the client registration"))?;
    let text = String::from_utf8_lossy(body);
    ensure!(
        *status == StatusCode::CREATED,
        "client registration answered {status}: {text}"
    );
    let json: Value = serde_json::from_slice(body).context("client registration answer")?;
    json["client_id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("client registration answer has no client_id: {text}"))
}

fn host() -> &'static str {
    PUBLIC_URL.trim_start_matches("http://")
}

/// Signs client assertions and DPoP proofs (as `cargo xtask loadgen` does).
struct Signer {
    client_key: SigningKey,
    dpop_key: SigningKey,
    dpop_header: Map<String, Value>,
    dpop_jkt: String,
    client_id: String,
    issuer: String,
    token_url: String,
    jti_prefix: String,
    counter: u64,
}

impl Signer {
    fn new() -> Result<Signer> {
        let client_key = SigningKey::generate(Algorithm::Es256, "bench-client".to_owned())
            .map_err(|e| anyhow!("generating the client key: {e}"))?;
        let dpop_key = SigningKey::generate(Algorithm::Es256, "bench-dpop".to_owned())
            .map_err(|e| anyhow!("generating the DPoP key: {e}"))?;
        let mut jwk = dpop_key.public_jwk();
        if let Some(obj) = jwk.as_object_mut() {
            obj.remove("kid");
        }
        let issuer = format!("{PUBLIC_URL}/{ORG}");
        Ok(Signer {
            dpop_jkt: dpop_key.thumbprint(),
            dpop_header: [("jwk".to_owned(), jwk)].into_iter().collect(),
            client_key,
            dpop_key,
            client_id: String::new(),
            token_url: format!("{issuer}/token"),
            issuer,
            jti_prefix: clavex_jose::random_token(9),
            counter: 1_000_000,
        })
    }

    fn jwks(&self) -> Value {
        json!({ "keys": [self.client_key.public_jwk()] })
    }

    /// Unique per run and of constant length (the counter starts at 1,000,000).
    fn next_jti(&mut self) -> String {
        self.counter += 1;
        format!("{}-{}", self.jti_prefix, self.counter)
    }

    fn assertion(&mut self, now: i64) -> Result<String> {
        let claims = json!({
            "iss": self.client_id, "sub": self.client_id, "aud": self.issuer,
            "iat": now, "exp": now + 300, "jti": self.next_jti(),
        });
        self.client_key
            .sign_jwt(None, None, true, &claims)
            .map_err(|e| anyhow!("signing an assertion: {e}"))
    }

    fn token_proof(&mut self, now: i64) -> Result<String> {
        let claims = json!({
            "jti": self.next_jti(), "htm": "POST", "htu": self.token_url, "iat": now,
        });
        self.dpop_key
            .sign_jwt(Some("dpop+jwt"), Some(&self.dpop_header), false, &claims)
            .map_err(|e| anyhow!("signing a DPoP proof: {e}"))
    }

    fn request(&mut self, workload: Workload, now: i64) -> Result<Request<Body>> {
        let builder = Request::post(format!("/{ORG}/{}", workload.name()))
            .header(header::HOST, host())
            .header(header::CONTENT_TYPE, FORM)
            .extension(ConnectInfo(SocketAddr::from(PEER)));
        let request = match workload {
            Workload::Token => {
                let assertion = self.assertion(now)?;
                let proof = HeaderValue::from_str(&self.token_proof(now)?)?;
                let body = format!(
                    "grant_type=client_credentials&client_assertion_type={ASSERTION_TYPE_ENCODED}\
                     &client_assertion={assertion}"
                );
                builder.header("dpop", proof).body(Body::from(body))?
            }
            Workload::Par => {
                // PKCE verifier, state and nonce: random, of fixed length, no escaping needed.
                let verifier = clavex_jose::random_token(32);
                let challenge =
                    clavex_jose::b64url_encode(&clavex_jose::sha256(verifier.as_bytes()));
                let state = clavex_jose::random_token(12);
                let assertion = self.assertion(now)?;
                let body = format!(
                    "client_id={}&client_assertion_type={ASSERTION_TYPE_ENCODED}\
                     &client_assertion={assertion}&response_type=code\
                     &redirect_uri={REDIRECT_URI_ENCODED}&scope=openid&state={state}\
                     &nonce={state}&code_challenge={challenge}&code_challenge_method=S256\
                     &dpop_jkt={}",
                    self.client_id, self.dpop_jkt
                );
                builder.body(Body::from(body))?
            }
        };
        Ok(request)
    }

    fn requests(&mut self, workload: Workload, count: usize) -> Result<Vec<Request<Body>>> {
        let now = unix_now();
        (0..count).map(|_| self.request(workload, now)).collect()
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
