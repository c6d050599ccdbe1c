//! The connections of one phase: each sends its units of work back to back on a keep-alive
//! HTTP/1.1 connection, checks every answer and records its latency.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, COOKIE, HOST, HeaderMap, HeaderValue, LOCATION};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;

use super::credentials::Work;
use super::{FLOW_STEPS, PAR_MARKER, SHOW_FAILURES, TOKEN_MARKER, Target};
use crate::signin;

/// Counters shared by the connection tasks of one phase.
pub(super) struct Stats {
    pub(super) ok: Cell<u64>,
    pub(super) failed: Cell<u64>,
    /// Connection-level errors (also counted in `failed`).
    pub(super) io_errors: Cell<u64>,
    shown: Cell<usize>,
    pub(super) histogram: RefCell<Histogram<u64>>,
    /// Flow scenario: latency of each step ([`FLOW_STEPS`]) of the successful steps.
    pub(super) steps: RefCell<Vec<Histogram<u64>>>,
}

impl Stats {
    pub(super) fn new() -> Result<Stats> {
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

    pub(super) fn total(&self) -> u64 {
        self.ok.get() + self.failed.get()
    }
}

/// A latency in whole microseconds, clamped to the histograms' range.
fn micros(latency: Duration) -> u64 {
    u64::try_from(latency.as_micros())
        .unwrap_or(u64::MAX)
        .clamp(1, 60_000_000)
}

pub(super) async fn connect(authority: &str) -> Result<SendRequest<Full<Bytes>>> {
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

pub(super) type Sender = SendRequest<Full<Bytes>>;

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
pub(super) fn json_string_field(body: &[u8], name: &str) -> Option<String> {
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
pub(super) struct Session {
    pub(super) client_id: String,
    /// `Cookie` header of the signed-in browser session (flow scenario).
    pub(super) cookie: Option<HeaderValue>,
}

/// Runs one phase on `pool` with `senders`; returns the senders (for keep-alive reuse), the phase's
/// wall-clock time from start to last response, and whether the pool ran out.
pub(super) async fn phase(
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
