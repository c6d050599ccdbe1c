//! Closed-loop load generator for `POST {base}/{org}/token` (client_credentials grant,
//! `private_key_jwt` client authentication, DPoP-bound token).
//!
//! Every request carries a fresh client assertion and a fresh DPoP proof (unique `jti`s, so the
//! server writes two replay records per request, as in production). Signing costs about as much as
//! the server's work, so credentials are signed *outside* the timed phase, in batches:
//!
//! 1. register a client (inline JWKS of an ES256 key) with the admin token;
//! 2. warm-up: sign `rate_hint × warmup` credentials, run the warm-up on them (untimed), and measure
//!    the rate the server sustains;
//! 3. timed phase, in windows of at most [`MAX_WINDOW_SECS`]: sign `1.3 × rate × window` credentials
//!    (clock stopped, connections idle), then run the window until its deadline or until its batch
//!    runs out (the window is then simply shorter; the next batch is sized on the new rate). The
//!    timed duration is the sum of the windows' wall-clock times, from the first request sent to
//!    the last response received; requests still in flight at a deadline are completed and
//!    counted.
//!
//! A DPoP proof is accepted for 60 s after its `iat`; a batch is signed in at most
//! [`MAX_SIGNING_SECS`] and consumed oldest first within one window, so no credential is older than
//! about 50 s when it is sent.
//!
//! Each connection is a hyper HTTP/1.1 client connection (keep-alive) sending requests back to back.
//! Every response is verified: status 200 and a body containing `"token_type":"DPoP"`. Latency is
//! measured from handing the request to hyper to having read the whole response body, for every
//! completed request (failed ones included; failures are counted and the first few printed).
//!
//! The runtime is tokio's `current_thread`, so the generator uses one core (pinned with `--cpu`).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use clavex_jose::{Algorithm, SigningKey};
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, COOKIE, HOST, HeaderMap, HeaderValue, LOCATION};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value, json};

use crate::serve;
use crate::signin;
use crate::{LoadgenArgs, Scenario};

/// Longest timed window run on one batch of credentials.
const MAX_WINDOW_SECS: f64 = 30.0;
/// Longest time spent signing one batch (the batch is capped accordingly).
const MAX_SIGNING_SECS: f64 = 15.0;
/// How many failed responses are printed.
const SHOW_FAILURES: usize = 5;
/// What a successful token response contains.
const TOKEN_MARKER: &[u8] = b"\"token_type\":\"DPoP\"";
/// What a successful PAR response contains.
const PAR_MARKER: &[u8] = b"\"request_uri\":\"";
/// The benchmark client's redirect URI (never followed: the code is read from `Location`).
const REDIRECT_URI: &str = "https://tpp.example.com/cb";
const REDIRECT_URI_ENCODED: &str = "https%3A%2F%2Ftpp.example.com%2Fcb";
/// Names of the steps of one flow, for the per-step latencies.
const FLOW_STEPS: [&str; 3] = ["PAR", "authorize", "token"];
const ASSERTION_TYPE_ENCODED: &str =
    "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer";

pub fn main(args: LoadgenArgs) -> Result<()> {
    if args.connections == 0 {
        bail!("--connections must be at least 1");
    }
    if args.duration.is_nan() || args.duration <= 0.0 || args.warmup.is_nan() || args.warmup < 0.0 {
        bail!("--duration must be positive and --warmup not negative");
    }
    let base = match (&args.base, args.serve) {
        (Some(b), _) => b.clone(),
        (None, None) => "http://127.0.0.1:18080".to_owned(),
        (None, Some(_)) => format!("http://{}", serve::free_local_port()?),
    };
    let target = Target::parse(&base, &args.org)?;

    // Pin first: threads created later (tokio's blocking pool, perf, the server via taskset) inherit
    // or set their own mask.
    let self_cpu = if args.no_pin {
        None
    } else {
        args.cpu.or(args.serve.map(|_| 0))
    };
    let server_bin = match args.serve {
        Some(_) => Some(serve::server_binary(
            args.server_bin.as_deref(),
            !args.no_build,
        )?),
        None => None,
    };
    if let Some(cpu) = self_cpu {
        serve::pin_self(cpu)?;
    }

    let admin_token = match (&args.admin_token, args.serve) {
        (Some(t), _) => t.clone(),
        (None, Some(_)) => format!("clx_loadgen_{}", clavex_jose::random_token(24)),
        (None, None) => {
            bail!("--admin-token (or CLAVEX_BOOTSTRAP_ADMIN_TOKEN) is required without --serve")
        }
    };

    let server = match (args.serve, server_bin) {
        (Some(store), Some(server_bin)) => Some(serve::start(&serve::ServeOptions {
            store,
            base: &target.base,
            listen: &target.authority,
            admin_token: &admin_token,
            cpu: if args.no_pin {
                None
            } else {
                Some(args.server_cpu)
            },
            server_bin,
            pg_url: &args.pg_url,
        })?),
        _ => None,
    };
    let server_pid = server.as_ref().map(|s| s.pid).or(args.server_pid);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the tokio runtime")?;
    let local = tokio::task::LocalSet::new();
    let outcome = local.block_on(
        &runtime,
        run(&args, &target, &admin_token, self_cpu, server_pid),
    );
    drop(runtime);
    drop(server);
    let report = outcome?;
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if report["failed"].as_u64().unwrap_or(0) > 0 || report["ok"].as_u64().unwrap_or(0) == 0 {
        bail!("the run had failures (or no successful request)");
    }
    Ok(())
}

/// Where the load goes.
struct Target {
    /// `host:port`, for connecting and the `Host` header.
    authority: String,
    /// `{base}/{org}`: the issuer, the assertion's `aud`.
    issuer: String,
    /// `{issuer}/token`: the DPoP proof's `htu`.
    token_url: String,
    /// Origin-form request targets (`/{org}/token`, `/{org}/par`, `/{org}/authorize`).
    token_path: String,
    par_path: String,
    authorize_path: String,
    base: String,
}

impl Target {
    fn parse(base: &str, org: &str) -> Result<Target> {
        let base = base.trim_end_matches('/').to_owned();
        let uri: Uri = base
            .parse()
            .with_context(|| format!("--base {base} is not a URL"))?;
        if uri.scheme_str() != Some("http") {
            bail!("--base must be an http:// URL (the load generator speaks plain HTTP/1.1)");
        }
        let host = uri.host().ok_or_else(|| anyhow!("--base has no host"))?;
        let port = uri.port_u16().unwrap_or(80);
        let prefix = uri.path().trim_end_matches('/');
        let issuer = format!("{base}/{org}");
        Ok(Target {
            authority: format!("{host}:{port}"),
            token_url: format!("{issuer}/token"),
            token_path: format!("{prefix}/{org}/token"),
            par_path: format!("{prefix}/{org}/par"),
            authorize_path: format!("{prefix}/{org}/authorize"),
            issuer,
            base,
        })
    }
}

/// One unit of load with its pre-signed credentials.
enum Work {
    /// `client_credentials` token request: form body and DPoP proof.
    Token { body: Bytes, dpop: HeaderValue },
    /// Pushed authorization request: form body.
    Par { body: Bytes },
    /// PAR body, then the token request's form body without its final `code` value, and the
    /// token request's DPoP proof.
    Flow {
        par_body: Bytes,
        token_body: String,
        dpop: HeaderValue,
    },
}

/// Signs client assertions and DPoP proofs.
struct Signer {
    client_key: SigningKey,
    dpop_key: SigningKey,
    dpop_header: Map<String, Value>,
    /// `dpop_jkt` of pushed requests: the code is bound to the DPoP key.
    dpop_jkt: String,
    client_id: String,
    issuer: String,
    token_url: String,
    jti_prefix: String,
    counter: u64,
}

impl Signer {
    fn new(issuer: &str, token_url: &str) -> Result<Signer> {
        let client_key = SigningKey::generate(Algorithm::Es256, clavex_jose::random_token(8))
            .map_err(|e| anyhow!("generating the client key: {e}"))?;
        let dpop_key = SigningKey::generate(Algorithm::Es256, clavex_jose::random_token(8))
            .map_err(|e| anyhow!("generating the DPoP key: {e}"))?;
        let mut jwk = dpop_key.public_jwk();
        if let Some(obj) = jwk.as_object_mut() {
            obj.remove("kid");
        }
        let dpop_header: Map<String, Value> = [("jwk".to_owned(), jwk)].into_iter().collect();
        Ok(Signer {
            dpop_jkt: dpop_key.thumbprint(),
            client_key,
            dpop_key,
            dpop_header,
            client_id: String::new(),
            issuer: issuer.to_owned(),
            token_url: token_url.to_owned(),
            jti_prefix: clavex_jose::random_token(9),
            counter: 0,
        })
    }

    fn jwks(&self) -> Value {
        json!({ "keys": [self.client_key.public_jwk()] })
    }

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

    fn token_proof(&mut self, now: i64) -> Result<HeaderValue> {
        let claims = json!({
            "jti": self.next_jti(), "htm": "POST", "htu": self.token_url, "iat": now,
        });
        let proof = self
            .dpop_key
            .sign_jwt(Some("dpop+jwt"), Some(&self.dpop_header), false, &claims)
            .map_err(|e| anyhow!("signing a DPoP proof: {e}"))?;
        HeaderValue::from_str(&proof).context("DPoP proof as a header value")
    }

    /// A pushed authorization request as a FAPI 2.0 client sends it; returns it with the PKCE
    /// verifier. A JWS, a base64url value and the pre-encoded constants need no form escaping.
    fn par_body(&mut self, now: i64) -> Result<(Bytes, String)> {
        let verifier = clavex_jose::random_token(32);
        let challenge = clavex_jose::b64url_encode(&clavex_jose::sha256(verifier.as_bytes()));
        let assertion = self.assertion(now)?;
        let state = clavex_jose::random_token(12);
        let body = format!(
            "client_id={}&client_assertion_type={ASSERTION_TYPE_ENCODED}&client_assertion={assertion}\
             &response_type=code&redirect_uri={REDIRECT_URI_ENCODED}&scope=openid\
             &state={state}&nonce={state}&code_challenge={challenge}&code_challenge_method=S256\
             &dpop_jkt={}",
            self.client_id, self.dpop_jkt
        );
        Ok((Bytes::from(body), verifier))
    }

    fn work(&mut self, scenario: Scenario, now: i64) -> Result<Work> {
        Ok(match scenario {
            Scenario::Token => {
                let assertion = self.assertion(now)?;
                let body = format!(
                    "grant_type=client_credentials&client_assertion_type={ASSERTION_TYPE_ENCODED}&client_assertion={assertion}"
                );
                Work::Token {
                    body: Bytes::from(body),
                    dpop: self.token_proof(now)?,
                }
            }
            Scenario::Par => Work::Par {
                body: self.par_body(now)?.0,
            },
            Scenario::Flow => {
                let (par_body, verifier) = self.par_body(now)?;
                let assertion = self.assertion(now)?;
                let token_body = format!(
                    "grant_type=authorization_code&redirect_uri={REDIRECT_URI_ENCODED}&code_verifier={verifier}\
                     &client_assertion_type={ASSERTION_TYPE_ENCODED}&client_assertion={assertion}&code="
                );
                Work::Flow {
                    par_body,
                    token_body,
                    dpop: self.token_proof(now)?,
                }
            }
        })
    }

    /// Signs up to `count` units, stopping early after `max_secs`.
    fn batch(
        &mut self,
        scenario: Scenario,
        count: usize,
        max_secs: f64,
    ) -> Result<(VecDeque<Work>, f64)> {
        let started = Instant::now();
        let mut out = VecDeque::with_capacity(count);
        let mut now = unix_now();
        for i in 0..count {
            if i % 256 == 0 {
                now = unix_now();
                if started.elapsed().as_secs_f64() > max_secs {
                    break;
                }
            }
            out.push_back(self.work(scenario, now)?);
        }
        Ok((out, started.elapsed().as_secs_f64()))
    }
}

/// ES256 verifications per second on this core for ~0.5 s (clavex-jose/aws-lc, as in the server).
fn calibrate(key: &SigningKey) -> Result<f64> {
    let public = key.public_key();
    let input = b"eyJhbGciOiJFUzI1NiJ9.eyJjYWxpYnJhdGlvbiI6dHJ1ZX0";
    let signature = key
        .sign(input)
        .map_err(|e| anyhow!("calibration sign: {e}"))?;
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < Duration::from_millis(500) {
        for _ in 0..50 {
            public
                .verify(Algorithm::Es256, input, &signature)
                .map_err(|e| anyhow!("calibration verify: {e}"))?;
        }
        n += 50;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Counters shared by the connection tasks of one phase.
struct Stats {
    ok: Cell<u64>,
    failed: Cell<u64>,
    /// Connection-level errors (also counted in `failed`).
    io_errors: Cell<u64>,
    shown: Cell<usize>,
    histogram: RefCell<Histogram<u64>>,
    /// Flow scenario: latency of each step ([`FLOW_STEPS`]) of the successful steps.
    steps: RefCell<Vec<Histogram<u64>>>,
}

impl Stats {
    fn new() -> Result<Stats> {
        Ok(Stats {
            ok: Cell::new(0),
            failed: Cell::new(0),
            io_errors: Cell::new(0),
            shown: Cell::new(0),
            // 1 µs to 60 s, 3 significant digits.
            histogram: RefCell::new(Histogram::new_with_bounds(1, 60_000_000, 3)?),
            steps: RefCell::new(
                (0..FLOW_STEPS.len())
                    .map(|_| Histogram::new_with_bounds(1, 60_000_000, 3))
                    .collect::<Result<_, _>>()?,
            ),
        })
    }

    fn fail(&self, what: &str) {
        self.failed.set(self.failed.get() + 1);
        if self.shown.get() < SHOW_FAILURES {
            self.shown.set(self.shown.get() + 1);
            eprintln!("loadgen: failed request: {what}");
        }
    }

    fn record(&self, latency: Duration) {
        let _ = self.histogram.borrow_mut().record(micros(latency));
    }

    fn record_step(&self, step: usize, latency: Duration) {
        if let Some(h) = self.steps.borrow_mut().get_mut(step) {
            let _ = h.record(micros(latency));
        }
    }

    fn total(&self) -> u64 {
        self.ok.get() + self.failed.get()
    }
}

/// A latency in whole microseconds, clamped to the histograms' range.
fn micros(latency: Duration) -> u64 {
    u64::try_from(latency.as_micros())
        .unwrap_or(u64::MAX)
        .clamp(1, 60_000_000)
}

async fn connect(authority: &str) -> Result<SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .with_context(|| format!("connecting to {authority}"))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("HTTP/1.1 handshake")?;
    tokio::task::spawn_local(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

struct Shared {
    authority: String,
    host: HeaderValue,
    token_path: Uri,
    par_path: Uri,
    /// `{authorize_path}?client_id={client_id}&request_uri=`.
    authorize_prefix: String,
    /// `Cookie` header of the signed-in session (flow scenario).
    cookie: Option<HeaderValue>,
    pool: RefCell<VecDeque<Work>>,
    exhausted: Cell<bool>,
    deadline: Instant,
    stats: Rc<Stats>,
}

/// Why a unit of work failed.
enum Failure {
    /// The server answered, but not with success; the connection can be reused.
    Answer(String),
    /// The connection broke; it is dropped and the next unit reconnects.
    Transport(String),
}

type Sender = SendRequest<Full<Bytes>>;

/// One connection: runs units back to back until the deadline or until the pool runs out.
async fn drive(shared: Rc<Shared>, mut sender: Option<Sender>) -> Option<Sender> {
    loop {
        if Instant::now() >= shared.deadline {
            return sender;
        }
        let Some(work) = shared.pool.borrow_mut().pop_front() else {
            shared.exhausted.set(true);
            return sender;
        };
        let mut conn = match sender.take() {
            Some(s) => s,
            None => match connect(&shared.authority).await {
                Ok(s) => s,
                Err(e) => {
                    shared.stats.io_errors.set(shared.stats.io_errors.get() + 1);
                    shared.stats.fail(&format!("{e:#}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let started = Instant::now();
        let outcome = match work {
            Work::Token { body, dpop } => {
                let request = form_post(&shared, shared.token_path.clone(), body, Some(dpop));
                expect(&mut conn, request, StatusCode::OK, TOKEN_MARKER)
                    .await
                    .map(|_| ())
            }
            Work::Par { body } => {
                let request = form_post(&shared, shared.par_path.clone(), body, None);
                expect(&mut conn, request, StatusCode::CREATED, PAR_MARKER)
                    .await
                    .map(|_| ())
            }
            Work::Flow {
                par_body,
                token_body,
                dpop,
            } => flow(&shared, &mut conn, par_body, token_body, dpop).await,
        };
        let latency = started.elapsed();
        match outcome {
            Ok(()) => {
                shared.stats.record(latency);
                shared.stats.ok.set(shared.stats.ok.get() + 1);
                sender = Some(conn);
            }
            Err(Failure::Answer(what)) => {
                shared.stats.record(latency);
                shared.stats.fail(&what);
                sender = Some(conn);
            }
            Err(Failure::Transport(what)) => {
                shared.stats.io_errors.set(shared.stats.io_errors.get() + 1);
                shared.stats.fail(&what);
            }
        }
    }
}

/// PAR → authorize (the session cookie signs the user in; consent is remembered) → token.
async fn flow(
    shared: &Shared,
    conn: &mut Sender,
    par_body: Bytes,
    mut token_body: String,
    dpop: HeaderValue,
) -> Result<(), Failure> {
    let step = Instant::now();
    let request = form_post(shared, shared.par_path.clone(), par_body, None);
    let (_, body) = expect(conn, request, StatusCode::CREATED, PAR_MARKER).await?;
    shared.stats.record_step(0, step.elapsed());
    let request_uri = json_string_field(&body, "request_uri")
        .ok_or_else(|| Failure::Answer("PAR answer without request_uri".to_owned()))?;

    let step = Instant::now();
    let uri = format!(
        "{}{}",
        shared.authorize_prefix,
        signin::encode(&request_uri)
    );
    let mut request = Request::builder()
        .method(Method::GET)
        .uri(uri)
        .header(HOST, shared.host.clone());
    if let Some(cookie) = &shared.cookie {
        request = request.header(COOKIE, cookie.clone());
    }
    let request = request
        .body(Full::new(Bytes::new()))
        .map_err(|e| Failure::Answer(format!("building the authorize request: {e}")))?;
    let (headers, body) = exchange(conn, request, StatusCode::SEE_OTHER).await?;
    let code = headers
        .get(LOCATION)
        .and_then(|l| l.to_str().ok())
        .and_then(|l| query_param(l, "code"))
        .ok_or_else(|| {
            let location = headers.get(LOCATION).and_then(|l| l.to_str().ok());
            Failure::Answer(format!(
                "authorization response without a code: Location {location:?}, body {}",
                String::from_utf8_lossy(&body)
                    .chars()
                    .take(300)
                    .collect::<String>()
            ))
        })?;
    shared.stats.record_step(1, step.elapsed());

    let step = Instant::now();
    token_body.push_str(code);
    let request = form_post(
        shared,
        shared.token_path.clone(),
        Bytes::from(token_body),
        Some(dpop),
    );
    expect(conn, request, StatusCode::OK, TOKEN_MARKER).await?;
    shared.stats.record_step(2, step.elapsed());
    Ok(())
}

fn form_post(
    shared: &Shared,
    path: Uri,
    body: Bytes,
    dpop: Option<HeaderValue>,
) -> Result<Request<Full<Bytes>>, Failure> {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(HOST, shared.host.clone())
        .header(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
    if let Some(proof) = dpop {
        request = request.header("dpop", proof);
    }
    request
        .body(Full::new(body))
        .map_err(|e| Failure::Answer(format!("building the request: {e}")))
}

/// Sends `request` and checks the status and that the body contains `marker`.
async fn expect(
    conn: &mut Sender,
    request: Result<Request<Full<Bytes>>, Failure>,
    status: StatusCode,
    marker: &[u8],
) -> Result<(HeaderMap, Bytes), Failure> {
    let (headers, body) = exchange(conn, request?, status).await?;
    if contains(&body, marker) {
        Ok((headers, body))
    } else {
        Err(Failure::Answer(format!(
            "HTTP {status} without {}: {}",
            String::from_utf8_lossy(marker),
            String::from_utf8_lossy(&body)
                .chars()
                .take(400)
                .collect::<String>()
        )))
    }
}

/// Sends `request` on `conn` and reads the whole answer, which must have `status`.
async fn exchange(
    conn: &mut Sender,
    request: Request<Full<Bytes>>,
    status: StatusCode,
) -> Result<(HeaderMap, Bytes), Failure> {
    if conn.ready().await.is_err() {
        return Err(Failure::Transport(
            "connection closed by the server".to_owned(),
        ));
    }
    let response = conn
        .send_request(request)
        .await
        .map_err(|e| Failure::Transport(format!("transport error: {e}")))?;
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| Failure::Transport(format!("transport error: {e}")))?
        .to_bytes();
    if parts.status != status {
        return Err(Failure::Answer(format!(
            "HTTP {} (expected {status}): {}",
            parts.status,
            String::from_utf8_lossy(&body)
                .chars()
                .take(400)
                .collect::<String>()
        )));
    }
    Ok((parts.headers, body))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The string value of a top-level `"name":"…"` in a JSON answer, without escapes (the values read
/// here are URNs and base64url).
fn json_string_field(body: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find(&format!("\"{name}\":\""))? + name.len() + 4;
    let rest = &text[start..];
    let value = &rest[..rest.find('"')?];
    (!value.contains('\\')).then(|| value.to_owned())
}

/// The value of query parameter `name` in `url`, when it needs no decoding (codes are base64url).
fn query_param<'a>(url: &'a str, name: &str) -> Option<&'a str> {
    let query = url.split_once('?')?.1.split('#').next()?;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name
            && !v.is_empty()
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)))
        .then_some(v)
    })
}

/// What every connection of a phase shares besides the pool.
struct Session {
    client_id: String,
    /// `Cookie` header of the signed-in browser session (flow scenario).
    cookie: Option<HeaderValue>,
}

/// Runs one phase on `pool` with `senders`; returns the senders (for keep-alive reuse), the phase's
/// wall-clock time from start to last response, and whether the pool ran out.
async fn phase(
    target: &Target,
    session: &Session,
    senders: Vec<Option<Sender>>,
    pool: VecDeque<Work>,
    length: f64,
    stats: &Rc<Stats>,
) -> Result<(Vec<Option<Sender>>, f64, bool)> {
    let started = Instant::now();
    let shared = Rc::new(Shared {
        authority: target.authority.clone(),
        host: HeaderValue::from_str(&target.authority)?,
        token_path: target.token_path.parse()?,
        par_path: target.par_path.parse()?,
        authorize_prefix: format!(
            "{}?client_id={}&request_uri=",
            target.authorize_path,
            signin::encode(&session.client_id)
        ),
        cookie: session.cookie.clone(),
        pool: RefCell::new(pool),
        exhausted: Cell::new(false),
        deadline: started + Duration::from_secs_f64(length),
        stats: stats.clone(),
    });
    let handles: Vec<_> = senders
        .into_iter()
        .map(|s| tokio::task::spawn_local(drive(shared.clone(), s)))
        .collect();
    let mut back = Vec::with_capacity(handles.len());
    for h in handles {
        back.push(h.await.context("a connection task panicked")?);
    }
    Ok((
        back,
        started.elapsed().as_secs_f64(),
        shared.exhausted.get(),
    ))
}

/// Registers the client and, for the flow scenario, signs a user in once and approves the consent
/// page, so that every timed flow finds a session and remembered consent.
async fn prepare(
    args: &LoadgenArgs,
    target: &Target,
    admin_token: &str,
    signer: &mut Signer,
) -> Result<Session> {
    signer.client_id = signin::register_client(
        &target.base,
        &args.org,
        admin_token,
        signer.jwks(),
        REDIRECT_URI,
    )
    .await?;
    eprintln!("loadgen: registered client {}", signer.client_id);
    let mut session = Session {
        client_id: signer.client_id.clone(),
        cookie: None,
    };
    if args.scenario != Scenario::Flow {
        return Ok(session);
    }
    let (username, password) = signin::create_user(&target.base, &args.org, admin_token).await?;
    let (par_body, _verifier) = signer.par_body(unix_now())?;
    let par = reqwest::Client::new()
        .post(format!("{}/par", target.issuer))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(par_body.to_vec())
        .send()
        .await
        .context("set-up PAR")?;
    let status = par.status();
    let text = par.text().await.unwrap_or_default();
    let request_uri = json_string_field(text.as_bytes(), "request_uri")
        .ok_or_else(|| anyhow!("set-up PAR answered {status}: {text}"))?;
    let mut browser = signin::Browser::new()?;
    let authorize_url = format!(
        "{}/authorize?client_id={}&request_uri={}",
        target.issuer,
        signin::encode(&signer.client_id),
        signin::encode(&request_uri)
    );
    signin::sign_in_and_consent(
        &mut browser,
        &target.base,
        &authorize_url,
        REDIRECT_URI,
        &username,
        &password,
    )
    .await?;
    eprintln!("loadgen: signed in as {username} and approved the consent page once");
    session.cookie = Some(HeaderValue::from_str(&browser.cookie_header())?);
    Ok(session)
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

async fn run(
    args: &LoadgenArgs,
    target: &Target,
    admin_token: &str,
    self_cpu: Option<usize>,
    server_pid: Option<u32>,
) -> Result<Value> {
    let mut signer = Signer::new(&target.issuer, &target.token_url)?;
    let calibration = calibrate(&signer.client_key)?;
    eprintln!(
        "loadgen: this core does {:.0} ES256 verifications/s ({:.1} µs each; a yardstick of the \
         machine's speed right now, as the host's speed varies)",
        calibration,
        1e6 / calibration
    );
    let session = prepare(args, target, admin_token, &mut signer).await?;

    let mut senders = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        senders.push(Some(connect(&target.authority).await?));
    }

    // Warm-up: untimed, also measures the rate that sizes the timed batches.
    let mut rate = args.rate_hint.max(100.0);
    if args.warmup > 0.0 {
        let count = ((rate * args.warmup * 1.3) as usize).max(args.connections * 50);
        let (pool, secs) = signer.batch(args.scenario, count, MAX_SIGNING_SECS)?;
        let signed = pool.len();
        eprintln!(
            "loadgen: signed {signed} warm-up credentials in {secs:.1} s ({:.0}/s)",
            signed as f64 / secs.max(1e-9)
        );
        let stats = Rc::new(Stats::new()?);
        let (back, elapsed, _) =
            phase(target, &session, senders, pool, args.warmup, &stats).await?;
        senders = back;
        rate = (stats.total() as f64 / elapsed.max(1e-9)).max(100.0);
        eprintln!(
            "loadgen: warm-up: {} requests in {elapsed:.1} s ({rate:.0} req/s), {} failed",
            stats.total(),
            stats.failed.get()
        );
    }

    let stats = Rc::new(Stats::new()?);
    let mut timed = 0.0f64;
    let mut windows = 0u32;
    let mut signing_rate: Option<f64> = None;
    let mut server_cpu = 0.0f64;
    let mut self_cpu_used = 0.0f64;
    let mut perf = None;
    // Per CPU: (busy seconds, total seconds) over the timed windows, from /proc/stat.
    let mut core_busy: Vec<(f64, f64)> = Vec::new();
    // Bytes the server caused to be written to storage (`write_bytes` of /proc/<pid>/io).
    let mut server_written = 0u64;
    // CPU seconds of the other processes over the timed windows, by command name.
    let mut others: std::collections::HashMap<String, f64> = std::collections::HashMap::new();
    while timed < args.duration - 1e-3 {
        let window = (args.duration - timed).min(MAX_WINDOW_SECS);
        let mut count = ((rate * window * 1.3) as usize).max(args.connections * 50);
        if let Some(sr) = signing_rate {
            count = count.min((sr * MAX_SIGNING_SECS) as usize);
        }
        let (pool, secs) = signer.batch(args.scenario, count, MAX_SIGNING_SECS)?;
        let signed = pool.len();
        signing_rate = Some(signed as f64 / secs.max(1e-9));
        eprintln!(
            "loadgen: window {}: signed {signed} credentials in {secs:.1} s; running up to {window:.1} s",
            windows + 1
        );
        if perf.is_none()
            && let (Some(path), Some(pid)) = (&args.perf, server_pid)
        {
            let cpu = (args.serve.is_some() && !args.no_pin).then_some(args.server_cpu);
            perf = Some(serve::Perf::start(pid, cpu, path, &args.perf_call_graph)?);
        }
        let server_before = serve::cpu_seconds(server_pid);
        let io_before = server_pid.and_then(serve::storage_write_bytes);
        let self_before = serve::cpu_seconds(None);
        let procs_before = serve::all_processes();
        let cores_before = serve::core_times();
        let (back, elapsed, exhausted) =
            phase(target, &session, senders, pool, window, &stats).await?;
        let cores_after = serve::core_times();
        for (pid, (comm, after)) in serve::all_processes() {
            if Some(pid) == server_pid || pid == std::process::id() {
                continue;
            }
            // Processes that started during the window count whole; those that ended are missed
            // (the per-CPU busy figures still include them).
            let before = procs_before.get(&pid).map_or(0.0, |(_, b)| *b);
            *others.entry(comm).or_insert(0.0) += after - before;
        }
        for (i, (b, a)) in cores_before.iter().zip(&cores_after).enumerate() {
            if core_busy.len() <= i {
                core_busy.push((0.0, 0.0));
            }
            core_busy[i].0 += a.0 - b.0;
            core_busy[i].1 += a.1 - b.1;
        }
        if let (Some(a), Some(b)) = (server_before, serve::cpu_seconds(server_pid)) {
            server_cpu += b - a;
        }
        if let (Some(a), Some(b)) = (io_before, server_pid.and_then(serve::storage_write_bytes)) {
            server_written += b.saturating_sub(a);
        }
        if let (Some(a), Some(b)) = (self_before, serve::cpu_seconds(None)) {
            self_cpu_used += b - a;
        }
        senders = back;
        let before = timed;
        timed += elapsed;
        windows += 1;
        if exhausted {
            // The batch was too small: size the next one on the rate just seen.
            rate = rate.max(stats.total() as f64 / timed.max(1e-9));
            eprintln!(
                "loadgen: window {windows} ran out of credentials after {:.1} s",
                timed - before
            );
        }
    }
    if let Some(mut p) = perf {
        p.stop();
    }

    let hist = stats.histogram.borrow();
    let ok = stats.ok.get();
    let failed = stats.failed.get();
    let total = stats.total();
    let rps = total as f64 / timed.max(1e-9);
    let ok_rps = ok as f64 / timed.max(1e-9);
    let (unit, units, what) = match args.scenario {
        Scenario::Token => ("req", "requests", format!("POST {}", target.token_url)),
        Scenario::Par => ("req", "requests", format!("POST {}/par", target.issuer)),
        Scenario::Flow => (
            "flow",
            "flows",
            format!(
                "PAR → authorize (session, remembered consent) → token at {}",
                target.issuer
            ),
        ),
    };
    println!();
    println!(
        "loadgen: {} connections, {timed:.2} s timed in {windows} window(s), after {:.1} s warm-up, {what}",
        args.connections, args.warmup
    );
    println!(
        "  {units:<12} {total} ({ok} ok, {failed} failed, {} transport errors)",
        stats.io_errors.get()
    );
    println!("  throughput   {rps:.0} {unit}/s ({ok_rps:.0} ok/s)");
    println!(
        "  latency      p50 {:.2} ms   p90 {:.2} ms   p99 {:.2} ms   p99.9 {:.2} ms   max {:.2} ms   mean {:.2} ms",
        ms(hist.value_at_quantile(0.50)),
        ms(hist.value_at_quantile(0.90)),
        ms(hist.value_at_quantile(0.99)),
        ms(hist.value_at_quantile(0.999)),
        ms(hist.max()),
        hist.mean() / 1000.0
    );
    let steps: Vec<Value> = if args.scenario == Scenario::Flow {
        stats
            .steps
            .borrow()
            .iter()
            .zip(FLOW_STEPS)
            .map(|(h, name)| {
                println!(
                    "    {name:<10} p50 {:.2} ms   p99 {:.2} ms   mean {:.2} ms",
                    ms(h.value_at_quantile(0.50)),
                    ms(h.value_at_quantile(0.99)),
                    h.mean() / 1000.0
                );
                json!({"step": name, "p50_ms": ms(h.value_at_quantile(0.50)),
                       "p99_ms": ms(h.value_at_quantile(0.99)), "mean_ms": h.mean() / 1000.0})
            })
            .collect()
    } else {
        Vec::new()
    };
    if server_pid.is_some() {
        println!(
            "  server CPU   {:.0}% of one core over the timed phase",
            100.0 * server_cpu / timed.max(1e-9)
        );
    }
    println!(
        "  loadgen CPU  {:.0}% of one core{}",
        100.0 * self_cpu_used / timed.max(1e-9),
        self_cpu
            .map(|c| format!(" (pinned to CPU {c})"))
            .unwrap_or_default()
    );
    let busy: Vec<f64> = core_busy
        .iter()
        .map(|(b, t)| if *t > 0.0 { b / t } else { 0.0 })
        .collect();
    if !busy.is_empty() {
        let shown: Vec<String> = busy
            .iter()
            .enumerate()
            .map(|(i, b)| format!("cpu{i} {:.0}%", 100.0 * b))
            .collect();
        println!(
            "  CPU busy     {} (all processes; busy beyond the server's and the loadgen's share is other load)",
            shown.join("   ")
        );
    }
    let mut others: Vec<(String, f64)> = others
        .into_iter()
        .map(|(c, s)| (c, s / timed.max(1e-9)))
        .filter(|(_, share)| *share >= 0.005)
        .collect();
    others.sort_by(|a, b| b.1.total_cmp(&a.1));
    let postgres: f64 = others
        .iter()
        .filter(|(c, _)| c == "postgres")
        .map(|(_, s)| s)
        .sum();
    if postgres > 0.0 {
        println!(
            "  postgres     {:.0}% of one core (all postgres processes, unpinned)",
            100.0 * postgres
        );
    }
    let server_share = server_cpu / timed.max(1e-9);
    let loadgen_share = self_cpu_used / timed.max(1e-9);
    let other_load = busy.iter().sum::<f64>()
        - loadgen_share
        - postgres
        - if server_pid.is_some() {
            server_share
        } else {
            0.0
        };
    println!(
        "  other load   {:.0}% of a core: CPU time of neither the {}load generator{} (other processes, also \
         short-lived ones, kernel threads, interrupts; about 5% on an idle machine)",
        100.0 * other_load,
        if server_pid.is_some() {
            "server nor the "
        } else {
            ""
        },
        if postgres > 0.0 { " nor postgres" } else { "" },
    );
    if server_pid.is_some() && total > 0 {
        println!(
            "  server I/O   {:.1} KiB written to storage per {unit}",
            server_written as f64 / 1024.0 / total as f64
        );
    }
    let rest: Vec<String> = others
        .iter()
        .filter(|(c, _)| c != "postgres")
        .take(5)
        .map(|(c, s)| format!("{c} {:.0}%", 100.0 * s))
        .collect();
    println!(
        "  other procs  {}",
        if rest.is_empty() {
            "none above 0.5% of a core".to_owned()
        } else {
            rest.join(", ")
        }
    );
    println!(
        "  yardstick    {calibration:.0} ES256 verifications/s on the load generator's core before the run"
    );
    Ok(json!({
        "es256_verify_per_sec": calibration,
        "postgres_cpu_share": postgres,
        "other_load_cores": other_load,
        "scenario": format!("{:?}", args.scenario).to_lowercase(),
        "unit": unit,
        "flow_steps": steps,
        "server_storage_bytes_per_unit": server_pid.map(|_| server_written as f64 / total.max(1) as f64),
        "other_processes_cpu_share": others.iter().filter(|(c, _)| c != "postgres").map(|(c, s)| json!({"comm": c, "share": s})).collect::<Vec<_>>(),
        "cpu_busy_share": busy,
        "base": target.base,
        "connections": args.connections,
        "store": args.serve.map(|s| format!("{s:?}").to_lowercase()),
        "timed_secs": timed,
        "warmup_secs": args.warmup,
        "requests": total,
        "ok": ok,
        "failed": failed,
        "transport_errors": stats.io_errors.get(),
        "req_per_sec": rps,
        "p50_ms": ms(hist.value_at_quantile(0.50)),
        "p90_ms": ms(hist.value_at_quantile(0.90)),
        "p99_ms": ms(hist.value_at_quantile(0.99)),
        "p999_ms": ms(hist.value_at_quantile(0.999)),
        "max_ms": ms(hist.max()),
        "mean_ms": hist.mean() / 1000.0,
        "server_cpu_share": server_pid.map(|_| server_cpu / timed.max(1e-9)),
        "loadgen_cpu_share": self_cpu_used / timed.max(1e-9),
    }))
}
