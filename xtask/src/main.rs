//! Developer tasks for the Clavex workspace, run as `cargo xtask <task>` (alias in
//! `.cargo/config.toml`: `run --release --package xtask --`).
//!
//! - `loadgen`: a closed-loop HTTP/1.1 load generator for the token endpoint
//!   (`client_credentials` + `private_key_jwt` + DPoP), the PAR endpoint, or the whole code flow
//!   (PAR → authorize with a session → token), optionally starting the server itself.
//! - `perf-summary`: buckets a server profile taken by `loadgen --perf`.
//! - `check-cycles`: fails if two modules of one crate use each other (see `cycles.rs`).
//!
//! See `docs/benchmarks.md`.

mod bench_instr;
mod cycles;
mod loadgen;
mod perf_summary;
mod serve;
mod signin;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(name = "xtask", about = "Clavex developer tasks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Drive the token endpoint, the PAR endpoint or the whole code flow with N keep-alive
    /// connections and report throughput and latency.
    Loadgen(Box<LoadgenArgs>),
    /// Bucket a server profile written by `loadgen --perf` (recorded with
    /// `--perf-call-graph dwarf,16384`) into crypto, SQLite, sqlx, HTTP, ... shares.
    PerfSummary {
        /// The perf.data file.
        file: PathBuf,
    },
    /// Report import cycles between the modules of each workspace crate (a module and its
    /// ancestors excepted, tests ignored); exits non-zero if there is any.
    CheckCycles,
    /// Instructions per token and PAR request (callgrind), working tree vs --baseline, interleaved.
    BenchInstr(bench_instr::BenchInstrArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    Sqlite,
    Postgres,
}

/// What one unit of load is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// `POST /token`, `client_credentials`, `private_key_jwt` + DPoP proof.
    Token,
    /// `POST /par`, `private_key_jwt`, PKCE S256 and `dpop_jkt`.
    Par,
    /// PAR → `GET /authorize` with a signed-in session and remembered consent → `POST /token`
    /// (`authorization_code`, `private_key_jwt` + DPoP proof, access and ID token).
    Flow,
}

#[derive(Args, Debug, Clone)]
pub struct LoadgenArgs {
    /// What to drive: one request per unit (token, par) or three (flow).
    #[arg(long, value_enum, default_value_t = Scenario::Token)]
    pub scenario: Scenario,
    /// Public base URL of the server (the issuer is `{base}/{org}`). Default:
    /// http://127.0.0.1:18080, or with --serve a free port on 127.0.0.1 (the started server listens
    /// on the host:port of the base URL, which must be free).
    #[arg(long)]
    pub base: Option<String>,
    /// Organization whose token endpoint is driven.
    #[arg(long, default_value = "acme")]
    pub org: String,
    /// Organization admin token (used once, to register the load-generator client). Required
    /// unless --serve, which makes one up and hands it to the server it starts.
    #[arg(long, env = "CLAVEX_BOOTSTRAP_ADMIN_TOKEN")]
    pub admin_token: Option<String>,
    /// Concurrent keep-alive HTTP/1.1 connections, each sending requests back to back.
    #[arg(long, default_value_t = 16)]
    pub connections: usize,
    /// Length of the timed phase, in seconds.
    #[arg(long, default_value_t = 20.0)]
    pub duration: f64,
    /// Length of the untimed warm-up phase, in seconds (also measures the rate used to size the
    /// pre-signed credential batches of the timed phase).
    #[arg(long, default_value_t = 3.0)]
    pub warmup: f64,
    /// Start `target/release/clavex serve` on a fresh store (temporary data dir; for postgres a
    /// fresh database, created and dropped with psql), pinned with `taskset -c <server-cpu>`.
    #[arg(long, value_enum)]
    pub serve: Option<StoreKind>,
    /// CPU the started server is pinned to (with --serve).
    #[arg(long, default_value_t = 1)]
    pub server_cpu: usize,
    /// Pin this load generator to this CPU (`taskset -a -p`). Default: 0 with --serve, no pinning
    /// otherwise.
    #[arg(long)]
    pub cpu: Option<usize>,
    /// Pin nothing (neither this process nor the started server).
    #[arg(long)]
    pub no_pin: bool,
    /// Server binary for --serve (default: `<target dir>/release/clavex`, built first).
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
    /// With --serve: do not run `cargo build --release -p clavex` first.
    #[arg(long)]
    pub no_build: bool,
    /// With --serve postgres: server URL without database; a fresh database is created under it.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    pub pg_url: String,
    /// PID of an already running server, to report its CPU use over the timed phase.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Record a CPU profile of the server during the timed phase with `perf record -e cpu-clock
    /// -F 999 --call-graph <mode> -o <FILE>`, of the server's CPU (`-C`) when --serve pins it, else
    /// of `-p <server pid>` (needs --serve or --server-pid).
    #[arg(long, value_name = "FILE")]
    pub perf: Option<PathBuf>,
    /// Call-graph mode passed to `perf record --call-graph` (fp, dwarf, lbr).
    /// `xtask perf-summary` needs dwarf: release builds have no frame pointers.
    #[arg(long, default_value = "dwarf,16384")]
    pub perf_call_graph: String,
    /// Initial guess of the server's rate (req/s), only to size the warm-up's pre-signed batch.
    #[arg(long, default_value_t = 8000.0)]
    pub rate_hint: f64,
    /// Write the results as JSON to this file as well.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Loadgen(args) => loadgen::main(*args),
        Command::PerfSummary { file } => perf_summary::main(&file),
        Command::CheckCycles => cycles::main(),
        Command::BenchInstr(args) => bench_instr::main(args),
    }
}
