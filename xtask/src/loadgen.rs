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
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value, json};

use crate::LoadgenArgs;
use crate::serve;

/// Longest timed window run on one batch of credentials.
const MAX_WINDOW_SECS: f64 = 30.0;
/// Longest time spent signing one batch (the batch is capped accordingly).
const MAX_SIGNING_SECS: f64 = 15.0;
/// How many failed responses are printed.
const SHOW_FAILURES: usize = 5;
const SUCCESS_MARKER: &[u8] = b"\"token_type\":\"DPoP\"";
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
    /// Origin-form request target (`/{org}/token`).
    token_path: String,
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
            issuer,
            base,
        })
    }
}

/// One request's worth of pre-signed credentials.
struct Credential {
    body: Bytes,
    dpop: HeaderValue,
}

/// Signs client assertions and DPoP proofs.
struct Signer {
    client_key: SigningKey,
    dpop_key: SigningKey,
    dpop_header: Map<String, Value>,
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

    fn credential(&mut self, now: i64) -> Result<Credential> {
        let assertion_claims = json!({
            "iss": self.client_id, "sub": self.client_id, "aud": self.issuer,
            "iat": now, "exp": now + 300, "jti": self.next_jti(),
        });
        let assertion = self
            .client_key
            .sign_jwt(None, None, true, &assertion_claims)
            .map_err(|e| anyhow!("signing an assertion: {e}"))?;
        let proof_claims = json!({
            "jti": self.next_jti(), "htm": "POST", "htu": self.token_url, "iat": now,
        });
        let proof = self
            .dpop_key
            .sign_jwt(
                Some("dpop+jwt"),
                Some(&self.dpop_header),
                false,
                &proof_claims,
            )
            .map_err(|e| anyhow!("signing a DPoP proof: {e}"))?;
        // A JWS is base64url and dots: nothing to escape in a form value.
        let body = format!(
            "grant_type=client_credentials&client_assertion_type={ASSERTION_TYPE_ENCODED}&client_assertion={assertion}"
        );
        Ok(Credential {
            body: Bytes::from(body),
            dpop: HeaderValue::from_str(&proof).context("DPoP proof as a header value")?,
        })
    }

    /// Signs up to `count` credentials, stopping early after `max_secs`.
    fn batch(&mut self, count: usize, max_secs: f64) -> Result<(VecDeque<Credential>, f64)> {
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
            out.push_back(self.credential(now)?);
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
        let us = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let _ = self.histogram.borrow_mut().record(us.min(60_000_000));
    }

    fn total(&self) -> u64 {
        self.ok.get() + self.failed.get()
    }
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
    path: Uri,
    pool: RefCell<VecDeque<Credential>>,
    exhausted: Cell<bool>,
    deadline: Instant,
    stats: Rc<Stats>,
}

/// One connection: sends requests back to back until the deadline or until credentials run out.
async fn drive(
    shared: Rc<Shared>,
    mut sender: Option<SendRequest<Full<Bytes>>>,
) -> Option<SendRequest<Full<Bytes>>> {
    loop {
        if Instant::now() >= shared.deadline {
            return sender;
        }
        let Some(credential) = shared.pool.borrow_mut().pop_front() else {
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
        let request = Request::builder()
            .method(Method::POST)
            .uri(shared.path.clone())
            .header(HOST, shared.host.clone())
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            )
            .header("dpop", credential.dpop)
            .body(Full::new(credential.body));
        let request = match request {
            Ok(r) => r,
            Err(e) => {
                shared.stats.fail(&format!("building the request: {e}"));
                sender = Some(conn);
                continue;
            }
        };
        if conn.ready().await.is_err() {
            // Closed by the server between requests: reconnect and retry with the next credential.
            shared.stats.io_errors.set(shared.stats.io_errors.get() + 1);
            shared.stats.fail("connection closed by the server");
            continue;
        }
        let started = Instant::now();
        let result = async {
            let response = conn.send_request(request).await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            Ok::<_, hyper::Error>((status, body))
        }
        .await;
        let latency = started.elapsed();
        match result {
            Ok((status, body)) => {
                shared.stats.record(latency);
                if status == StatusCode::OK && contains(&body, SUCCESS_MARKER) {
                    shared.stats.ok.set(shared.stats.ok.get() + 1);
                } else {
                    let text = String::from_utf8_lossy(&body);
                    let shown: String = text.chars().take(400).collect();
                    shared.stats.fail(&format!("HTTP {status}: {shown}"));
                }
                sender = Some(conn);
            }
            Err(e) => {
                shared.stats.io_errors.set(shared.stats.io_errors.get() + 1);
                shared.stats.fail(&format!("transport error: {e}"));
                // The connection is unusable: the next iteration reconnects.
            }
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Runs one phase on `pool` with `senders`; returns the senders (for keep-alive reuse), the phase's
/// wall-clock time from start to last response, and whether the pool ran out.
async fn phase(
    target: &Target,
    senders: Vec<Option<SendRequest<Full<Bytes>>>>,
    pool: VecDeque<Credential>,
    length: f64,
    stats: &Rc<Stats>,
) -> Result<(Vec<Option<SendRequest<Full<Bytes>>>>, f64, bool)> {
    let started = Instant::now();
    let shared = Rc::new(Shared {
        authority: target.authority.clone(),
        host: HeaderValue::from_str(&target.authority)?,
        path: target.token_path.parse()?,
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

async fn register_client(
    target: &Target,
    org: &str,
    admin_token: &str,
    jwks: Value,
) -> Result<String> {
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/organizations/{org}/clients", target.base);
    let response = http
        .post(&url)
        .bearer_auth(admin_token)
        .json(&json!({
            "client_name": "loadgen",
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": jwks,
        }))
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if status.as_u16() != 201 {
        bail!("client registration answered {status}: {text}");
    }
    let body: Value = serde_json::from_str(&text).context("client registration answer")?;
    body["client_id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("client registration answer has no client_id: {text}"))
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
    signer.client_id = register_client(target, &args.org, admin_token, signer.jwks()).await?;
    eprintln!("loadgen: registered client {}", signer.client_id);

    let mut senders = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        senders.push(Some(connect(&target.authority).await?));
    }

    // Warm-up: untimed, also measures the rate that sizes the timed batches.
    let mut rate = args.rate_hint.max(100.0);
    if args.warmup > 0.0 {
        let count = ((rate * args.warmup * 1.3) as usize).max(args.connections * 50);
        let (pool, secs) = signer.batch(count, MAX_SIGNING_SECS)?;
        let signed = pool.len();
        eprintln!(
            "loadgen: signed {signed} warm-up credentials in {secs:.1} s ({:.0}/s)",
            signed as f64 / secs.max(1e-9)
        );
        let stats = Rc::new(Stats::new()?);
        let (back, elapsed, _) = phase(target, senders, pool, args.warmup, &stats).await?;
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
        let (pool, secs) = signer.batch(count, MAX_SIGNING_SECS)?;
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
        let (back, elapsed, exhausted) = phase(target, senders, pool, window, &stats).await?;
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
    println!();
    println!(
        "loadgen: {} connections, {timed:.2} s timed in {windows} window(s), after {:.1} s warm-up, against {}",
        args.connections, args.warmup, target.token_url
    );
    println!(
        "  requests     {total} ({ok} ok, {failed} failed, {} transport errors)",
        stats.io_errors.get()
    );
    println!("  throughput   {rps:.0} req/s ({ok_rps:.0} ok/s)");
    println!(
        "  latency      p50 {:.2} ms   p90 {:.2} ms   p99 {:.2} ms   p99.9 {:.2} ms   max {:.2} ms   mean {:.2} ms",
        ms(hist.value_at_quantile(0.50)),
        ms(hist.value_at_quantile(0.90)),
        ms(hist.value_at_quantile(0.99)),
        ms(hist.value_at_quantile(0.999)),
        ms(hist.max()),
        hist.mean() / 1000.0
    );
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
            "  server I/O   {:.1} KiB written to storage per request",
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
        "server_storage_bytes_per_request": server_pid.map(|_| server_written as f64 / total.max(1) as f64),
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
