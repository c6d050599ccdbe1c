//! `perf-summary`: buckets the samples of a `perf record --call-graph dwarf` profile of the server
//! (as `loadgen --perf` writes it) into the categories of `docs/benchmarks.md`.
//!
//! Each sample goes to the first matching rule below, looking at its whole call chain (so a
//! `malloc` under an ECDSA verification counts as verification). Threads: `tokio-rt-worker` is the
//! server's runtime, `sqlx-sqlite-worker` the per-connection SQLite threads; anything else on the
//! sampled CPU (postgres backends, kernel workers, other processes) is reported by command name.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

fn any(frames: &[String], needles: &[&str]) -> bool {
    frames.iter().any(|f| needles.iter().any(|n| f.contains(n)))
}

fn classify(comm: &str, frames: &[String]) -> String {
    let bucket = |s: &str| s.to_owned();
    if comm.starts_with("sqlx-sqlite") {
        return bucket(if any(frames, &["unixSync", "fsync"]) {
            "SQLite thread: fsync (WAL checkpoint)"
        } else if any(frames, &["pwrite", "pread"]) {
            "SQLite thread: file read/write syscalls"
        } else if any(frames, &["fcntl"]) {
            "SQLite thread: fcntl file locks"
        } else if any(
            frames,
            &["sqlite3", "wal", "pcache", "btree", "Btree", "Vdbe"],
        ) {
            "SQLite thread: engine CPU (step, commit)"
        } else if any(
            frames,
            &["futex", "flume", "schedule", "finish_task_switch"],
        ) {
            "SQLite thread: channel wait/wake (sqlx worker)"
        } else {
            "SQLite thread: other"
        });
    }
    if !comm.starts_with("tokio-rt") {
        return format!("other threads on the CPU: {comm}");
    }
    if any(frames, &["verify_with", "ECDSA_verify", "verify_ecdsa"]) {
        return bucket(if any(frames, &["dpop::verify_proof"]) {
            "ECDSA verify: DPoP proof"
        } else if any(frames, &["authenticate_client"]) {
            "ECDSA verify: client assertion"
        } else {
            "ECDSA verify: other"
        });
    }
    if any(frames, &["SigningKey::sign", "ECDSA_do_sign"]) {
        return bucket("ECDSA sign: access token");
    }
    if any(frames, &["sqlx_postgres", "PgStore"]) {
        return bucket("sqlx PostgreSQL client (protocol, socket I/O, pool)");
    }
    if any(frames, &["flume", "sqlx", "PoolConnection", "futex_wake"]) {
        return bucket("sqlx plumbing on the runtime (worker channel, wake-ups, pool)");
    }
    if any(
        frames,
        &[
            "tcp_sendmsg",
            "tcp_recvmsg",
            "sys_write",
            "sys_read",
            "sys_recvfrom",
            "sys_sendto",
            "writev",
            "epoll",
            "sock_",
        ],
    ) {
        return bucket("kernel: loopback TCP + epoll");
    }
    if any(
        frames,
        &[
            "Jws::parse",
            "b64",
            "base64",
            "from_jwk",
            "thumbprint",
            "normalised_htu",
            "url::",
        ],
    ) {
        return bucket("JWS/JWK parsing, base64, URL");
    }
    if any(frames, &["serde_json"]) {
        return bucket("JSON (serde_json)");
    }
    let leaf = frames.first().map(String::as_str).unwrap_or("");
    let head = &frames[..frames.len().min(4)];
    if [
        "malloc", "free", "_int_", "realloc", "memmove", "memcpy", "memset", "memcmp",
    ]
    .iter()
    .any(|n| leaf.contains(n))
    {
        return bucket("allocator + memcpy (rest of the request path)");
    }
    if any(
        &head[..head.len().min(3)],
        &["hyper", "httparse", "http::header"],
    ) {
        return bucket("HTTP/1.1 parse/serialize (hyper)");
    }
    if any(head, &["tracing", "Instrumented", "TraceLayer"]) {
        return bucket("tracing spans");
    }
    if any(frames, &["schedule", "finish_task_switch"]) {
        return bucket("kernel: context switch");
    }
    if any(head, &["tokio"]) {
        return bucket("tokio runtime");
    }
    bucket("other (axum/tower, engine logic, form parsing)")
}

pub fn main(file: &Path) -> Result<()> {
    let mut child = Command::new("perf")
        .args(["script", "-F", "comm,tid,ip,sym", "-i"])
        .arg(file)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("running perf script (install linux-perf)")?;
    let stdout = child.stdout.take().context("perf script output")?;
    let mut counts: HashMap<String, u64> = HashMap::new();
    let mut total = 0u64;
    let mut comm: Option<String> = None;
    let mut frames: Vec<String> = Vec::new();
    let mut finish = |comm: &mut Option<String>, frames: &mut Vec<String>| {
        if let Some(c) = comm.take() {
            total += 1;
            *counts.entry(classify(&c, frames)).or_insert(0) += 1;
        }
        frames.clear();
    };
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        if line.trim().is_empty() {
            finish(&mut comm, &mut frames);
        } else if line.starts_with(['\t', ' ']) {
            // "<ip> <symbol>"
            let frame = line.trim();
            let symbol = frame.split_once(' ').map_or(frame, |(_, s)| s);
            frames.push(symbol.to_owned());
        } else {
            finish(&mut comm, &mut frames);
            // "<comm> <tid>": the command name may contain spaces.
            let header = line.trim_end();
            let name = header.rsplit_once(' ').map_or(header, |(c, _)| c).trim();
            comm = Some(name.to_owned());
        }
    }
    finish(&mut comm, &mut frames);
    let status = child.wait()?;
    if !status.success() || total == 0 {
        bail!("perf script on {} gave no samples", file.display());
    }
    let mut rows: Vec<(String, u64)> = counts.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    println!("share of samples on the sampled CPU ({total} samples):");
    let small = total / 333; // below 0.3 %
    let mut rest = 0u64;
    for (name, n) in rows {
        if n <= small {
            rest += n;
        } else {
            println!("  {:5.1}%  {name}", 100.0 * n as f64 / total as f64);
        }
    }
    if rest > 0 {
        println!(
            "  {:5.1}%  (buckets under 0.3% each)",
            100.0 * rest as f64 / total as f64
        );
    }
    Ok(())
}
