//! Wiring and life cycle of one Clavex node.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clavex_core::admin::BootstrapOutcome;
use clavex_core::clock::Clock;
use clavex_core::master_key::MasterKey;
use clavex_core::{Engine, EngineConfig};
use clavex_store::Store;
use tokio::net::TcpListener;

use crate::config::Config;

/// Opens the configured store (migrations applied).
pub async fn open_store(config: &Config) -> Result<Arc<dyn Store>> {
    let url = config.database_url();
    if url.starts_with("sqlite:") {
        if config.database_url.is_none() {
            std::fs::create_dir_all(&config.data_dir).with_context(|| {
                format!("creating data directory {}", config.data_dir.display())
            })?;
        }
        let store = clavex_store::sqlite::SqliteStore::connect(&url)
            .await
            .context("opening SQLite store")?;
        Ok(Arc::new(store))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        let store = clavex_store::postgres::PgStore::connect(&url)
            .await
            .context("opening PostgreSQL store")?;
        Ok(Arc::new(store))
    } else {
        bail!("CLAVEX_DATABASE_URL must start with sqlite:// or postgres://")
    }
}

/// The master key from configuration, or from `{data_dir}/master.key` (created with mode 0600).
pub fn master_key(config: &Config) -> Result<MasterKey> {
    if let Some(text) = &config.master_key {
        return MasterKey::parse(text)
            .map_err(|e| anyhow::anyhow!("CLAVEX_MASTER_KEY: {}", plain_message(e)));
    }
    let path = config.data_dir.join("master.key");
    if !path.exists() {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
        write_private_file(
            &path,
            MasterKey::generate_encoded()
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .as_bytes(),
        )?;
        tracing::info!(path = %path.display(), "created a new master key file; back it up: signing keys cannot be decrypted without it");
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    MasterKey::parse(&text).map_err(|e| anyhow::anyhow!("{}: {}", path.display(), plain_message(e)))
}

/// An engine error's message for an operator, without the API category prefix ("invalid request: ").
fn plain_message(err: clavex_core::Error) -> String {
    match err {
        clavex_core::Error::BadRequest(msg) => msg,
        clavex_core::Error::Internal { context, source } => match source {
            Some(source) => format!("{context}: {source}"),
            None => context,
        },
        other => other.to_string(),
    }
}

fn write_private_file(path: &Path, contents: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents)?;
    file.sync_all()?;
    Ok(())
}

pub async fn build_engine(config: &Config, clock: Arc<dyn Clock>) -> Result<Arc<Engine>> {
    let store = open_store(config).await?;
    build_engine_with_store(config, clock, store)
}

pub fn build_engine_with_store(
    config: &Config,
    clock: Arc<dyn Clock>,
    store: Arc<dyn Store>,
) -> Result<Arc<Engine>> {
    let master = master_key(config)?;
    let engine = Engine::new(
        store,
        clock,
        master,
        EngineConfig {
            public_url: config.public_url(),
            jwks_fetch_allow: config.jwks_fetch_allow.clone(),
            cache_ttl: Duration::from_secs(config.cache_ttl_secs),
        },
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Arc::new(engine))
}

/// A bound, bootstrapped node, ready to serve.
pub struct Application {
    pub engine: Arc<Engine>,
    pub bootstrap: BootstrapOutcome,
    listener: TcpListener,
    addr: SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
    trusted_proxies: Vec<ipnet::IpNet>,
}

impl Application {
    pub async fn build(config: &Config, clock: Arc<dyn Clock>) -> Result<Application> {
        let store = open_store(config).await?;
        Self::build_with_store(config, clock, store).await
    }

    /// As [`Application::build`], on a store the caller opened (tests use a fresh PostgreSQL schema).
    pub async fn build_with_store(
        config: &Config,
        clock: Arc<dyn Clock>,
        store: Arc<dyn Store>,
    ) -> Result<Application> {
        // Bound first: with port 0 the real port is known only now, and without a configured public
        // URL every issuer is derived from the address actually listened on.
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let addr = listener.local_addr()?;
        let effective;
        let config = if config.public_url.is_none() {
            effective = Config {
                public_url: Some(format!("{}://{addr}", config.scheme())),
                ..config.clone()
            };
            &effective
        } else {
            config
        };
        let tls = match config.tls() {
            Some(source) => Some(crate::tls::server_config(&source)?),
            None => None,
        };
        let engine = build_engine_with_store(config, clock, store)?;
        // The same refusal (and wording) as creating the organization through the Admin API.
        let bootstrap_org = clavex_core::ids::OrgId::parse(&config.bootstrap_org)
            .map_err(|e| anyhow::anyhow!("bootstrap: {e}"))?;
        let bootstrap = engine
            .bootstrap(
                &bootstrap_org,
                config.bootstrap_admin_token.as_deref(),
                config.server_admin_token.as_deref(),
            )
            .await
            .map_err(|e| anyhow::anyhow!("bootstrap: {e}"))?;
        // A node whose master key differs from the one the keys were sealed with must not start
        // (it would pass health checks and then fail every token request).
        engine.org_keys(&bootstrap_org).await.map_err(|e| {
            anyhow::anyhow!(
                "the signing keys of organization {} cannot be opened ({e}); every node needs the same CLAVEX_MASTER_KEY",
                config.bootstrap_org
            )
        })?;
        Ok(Application {
            engine,
            bootstrap,
            listener,
            addr,
            tls,
            trusted_proxies: config.trusted_proxy_networks()?,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let sweeper = tokio::spawn(sweep(self.engine.clone()));
        let router = clavex_http::router_with_proxies(self.engine.clone(), self.trusted_proxies);
        let result = match self.tls {
            Some(tls) => crate::tls::serve(self.listener, tls, router, shutdown).await,
            None => axum::serve(
                self.listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(shutdown)
            .await
            .context("serving HTTP"),
        };
        sweeper.abort();
        result
    }
}

/// Deletes expired single-use records and keys that no longer need publishing.
async fn sweep(engine: Arc<Engine>) {
    let mut interval = tokio::time::interval(Duration::from_secs(60));
    loop {
        interval.tick().await;
        let now = engine.now();
        if let Err(err) = engine.store().purge_expired_replays(now).await {
            tracing::warn!(error = %err, "purging replay records failed");
        }
        if let Err(err) = engine.store().purge_artifacts(now).await {
            tracing::warn!(error = %err, "purging expired codes, requests and sessions failed");
        }
        if let Err(err) = engine.store().purge_unpublished_keys(now).await {
            tracing::warn!(error = %err, "purging retired keys failed");
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
