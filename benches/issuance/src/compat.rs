//! The only code of the harness that touches the server's Rust API: builds the real application
//! (configuration, SQLite store in a fresh data directory, master key, bootstrap of one
//! organization with a known admin token) and returns its router, exactly as `clavex serve` does
//! minus the listener. Everything else goes through HTTP. If a restructuring changes these
//! signatures, adapt this file (and keep it compiling at the revisions you compare against).

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use clavex::app::Application;
use clavex::config::Config;
use clavex_core::clock::SystemClock;

/// Any fixed 32-byte key: the store is fresh every run.
const MASTER_KEY: &str = "0000000000000000000000000000000000000000000000000000000000000001";

pub struct Node {
    pub router: axum::Router,
    /// Keeps the bound (never used) listener and the engine alive for the run.
    _app: Application,
}

/// The application over a SQLite file in `data_dir` (the production default `sqlite://{data_dir}/clavex.db`).
pub async fn node(data_dir: &Path, public_url: &str, org: &str, admin_token: &str) -> Result<Node> {
    let config = Config {
        // Application::build binds it; no request goes through it.
        listen: "127.0.0.1:0".parse().context("listen address")?,
        public_url: Some(public_url.to_owned()),
        data_dir: data_dir.to_path_buf(),
        master_key: Some(MASTER_KEY.to_owned()),
        bootstrap_org: org.to_owned(),
        bootstrap_admin_token: Some(admin_token.to_owned()),
        // Longer than any run: under valgrind a run takes seconds of wall-clock time per hundred
        // requests, and the default 5 s would reload organizations, clients and keys at
        // wall-clock-dependent points of the measured region (a native server at ~4k req/s
        // reloads once per ~20k requests, which is negligible).
        cache_ttl_secs: 3600,
        ..Config::default()
    };
    let app = Application::build(&config, Arc::new(SystemClock))
        .await
        .context("building the application")?;
    // The listeners record the TCP peer on every request; `oneshot` has no socket, so a fixed
    // loopback peer stands in for it (also harmless at revisions whose handlers do not read it).
    let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 40_000));
    let router = clavex_http::router(app.engine.clone())
        .layer(axum::extract::connect_info::MockConnectInfo(peer));
    Ok(Node { router, _app: app })
}
