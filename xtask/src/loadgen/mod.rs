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
//!
//! Layout: this module holds the CLI entry point, the set-up and the window loop;
//! [`credentials`] signs the pre-signed units of work, [`client`] drives the connections of one
//! phase, [`report`] prints and serializes the results.

mod client;
mod credentials;
mod report;

use std::rc::Rc;

use anyhow::{Context, Result, anyhow, bail};
use hyper::Uri;
use hyper::header::HeaderValue;
use serde_json::Value;

use crate::serve;
use crate::signin;
use crate::{LoadgenArgs, Scenario};

use client::{Session, Stats, connect, json_string_field, phase};
use credentials::{Signer, calibrate, unix_now};
use report::Measured;

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

    Ok(report::print(
        args,
        target,
        &stats,
        Measured {
            calibration,
            timed,
            windows,
            self_cpu,
            server_pid,
            server_cpu,
            self_cpu_used,
            core_busy,
            server_written,
            others,
        },
    ))
}
