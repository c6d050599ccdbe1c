//! Configuration: an optional TOML file, then `CLAVEX_*` environment variables (which win).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Base URL of every issuer (`{public_url}/{org}`). Default: `http://{listen}`.
    pub public_url: Option<String>,
    /// `sqlite://path` or `postgres://...`. Default: `sqlite://{data_dir}/clavex.db`.
    pub database_url: Option<String>,
    pub data_dir: PathBuf,
    /// 32 bytes, base64 or hex. Default: `{data_dir}/master.key`, created on first start.
    pub master_key: Option<String>,
    pub bootstrap_org: String,
    pub bootstrap_admin_token: Option<String>,
    pub server_admin_token: Option<String>,
    /// Hosts (or host:port) whose `jwks_uri` may be http or non-public (tests, local setups).
    pub jwks_fetch_allow: Vec<String>,
    /// Seconds a node caches organizations, clients and keys (bounds cross-node staleness).
    pub cache_ttl_secs: u64,
    /// `text` or `json`.
    pub log_format: String,
    /// PEM certificate chain for the built-in TLS listener (with `tls_key`).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for the built-in TLS listener.
    pub tls_key: Option<PathBuf>,
    /// Serve TLS with a self-signed certificate created under the data directory (local use only).
    pub dev_tls: bool,
    /// Reverse proxies (IP addresses or CIDR blocks) whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            database_url: None,
            data_dir: PathBuf::from("data"),
            master_key: None,
            bootstrap_org: "acme".to_owned(),
            bootstrap_admin_token: None,
            server_admin_token: None,
            jwks_fetch_allow: Vec::new(),
            cache_ttl_secs: 5,
            log_format: "text".to_owned(),
            tls_cert: None,
            tls_key: None,
            dev_tls: false,
            trusted_proxies: Vec::new(),
        }
    }
}

/// Environment variables Clavex reads (besides `CLAVEX_CONFIG`, `CLAVEX_LOG` and the CLI's
/// `CLAVEX_USER_PASSWORD`).
pub const ENV_KEYS: [&str; 15] = [
    "LISTEN",
    "TRUSTED_PROXIES",
    "TLS_CERT",
    "TLS_KEY",
    "DEV_TLS",
    "PUBLIC_URL",
    "DATABASE_URL",
    "DATA_DIR",
    "MASTER_KEY",
    "BOOTSTRAP_ORG",
    "BOOTSTRAP_ADMIN_TOKEN",
    "SERVER_ADMIN_TOKEN",
    "JWKS_FETCH_ALLOW",
    "CACHE_TTL_SECS",
    "LOG_FORMAT",
];
/// Read outside the configuration: the file name, the log filter, and `clavex users create`'s
/// password (kept out of shell history and process listings).
const ENV_OTHER: [&str; 3] = ["CONFIG", "LOG", "USER_PASSWORD"];

pub struct Loaded {
    pub config: Config,
    /// Unknown `CLAVEX_*` variables, reported as warnings once logging is up.
    pub ignored_env: Vec<String>,
    pub file: Option<PathBuf>,
}

pub fn load(file: Option<PathBuf>) -> Result<Loaded> {
    let file = file
        .or_else(|| std::env::var_os("CLAVEX_CONFIG").map(PathBuf::from))
        .or_else(|| Some(PathBuf::from("clavex.toml")).filter(|p| p.exists()));
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    if let Some(path) = &file {
        if !path.exists() {
            bail!("configuration file {} does not exist", path.display());
        }
        figment = figment.merge(Toml::file(path));
    }
    let known: Vec<&str> = ENV_KEYS
        .iter()
        .filter(|k| **k != "JWKS_FETCH_ALLOW")
        .copied()
        .collect();
    figment = figment.merge(Env::prefixed("CLAVEX_").only(&known));
    let mut config: Config = figment.extract().context("invalid configuration")?;
    if let Ok(list) = std::env::var("CLAVEX_TRUSTED_PROXIES") {
        config.trusted_proxies = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
    }
    if let Ok(list) = std::env::var("CLAVEX_JWKS_FETCH_ALLOW") {
        config.jwks_fetch_allow = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
    }
    let ignored_env = std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .filter_map(|k| k.strip_prefix("CLAVEX_").map(str::to_owned))
        .filter(|k| !ENV_KEYS.contains(&k.as_str()) && !ENV_OTHER.contains(&k.as_str()))
        .map(|k| format!("CLAVEX_{k}"))
        .collect();
    validate(&config)?;
    Ok(Loaded {
        config,
        ignored_env,
        file,
    })
}

fn validate(config: &Config) -> Result<()> {
    if let Some(url) = &config.public_url {
        let parsed = url::Url::parse(url)
            .with_context(|| format!("CLAVEX_PUBLIC_URL {url} is not a URL"))?;
        if !matches!(parsed.scheme(), "http" | "https")
            || parsed.query().is_some()
            || parsed.fragment().is_some()
        {
            bail!("CLAVEX_PUBLIC_URL must be an http(s) URL without query or fragment");
        }
        if parsed.path() != "/" {
            bail!(
                "CLAVEX_PUBLIC_URL must not have a path: Clavex serves each organization at /{{org}} of its host"
            );
        }
    }
    config.trusted_proxy_networks()?;
    if config.tls_cert.is_some() != config.tls_key.is_some() {
        bail!("CLAVEX_TLS_CERT and CLAVEX_TLS_KEY must be given together");
    }
    if config.dev_tls && config.tls_cert.is_some() {
        bail!("CLAVEX_DEV_TLS and CLAVEX_TLS_CERT exclude each other");
    }
    if !matches!(config.log_format.as_str(), "text" | "json") {
        bail!("CLAVEX_LOG_FORMAT must be text or json");
    }
    Ok(())
}

impl Config {
    /// `trusted_proxies` parsed: CIDR blocks, or single addresses.
    pub fn trusted_proxy_networks(&self) -> Result<Vec<ipnet::IpNet>> {
        self.trusted_proxies
            .iter()
            .map(|entry| {
                entry
                    .parse::<ipnet::IpNet>()
                    .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        anyhow::anyhow!(
                            "CLAVEX_TRUSTED_PROXIES: {entry} is not an IP address or CIDR block"
                        )
                    })
            })
            .collect()
    }

    /// `https` when the built-in TLS listener is on.
    pub fn scheme(&self) -> &'static str {
        if self.tls().is_some() {
            "https"
        } else {
            "http"
        }
    }

    pub fn tls(&self) -> Option<crate::tls::TlsSource> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(crate::tls::TlsSource::Files {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ if self.dev_tls => Some(crate::tls::TlsSource::Development {
                data_dir: self.data_dir.clone(),
            }),
            _ => None,
        }
    }

    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
            .trim_end_matches('/')
            .to_owned()
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("clavex.db").display()))
    }

    /// The configuration with secrets replaced, for `clavex check-config`.
    pub fn redacted(&self) -> Config {
        let hide = |v: &Option<String>| v.as_ref().map(|_| "<redacted>".to_owned());
        let mut copy = self.clone();
        copy.master_key = hide(&self.master_key);
        copy.bootstrap_admin_token = hide(&self.bootstrap_admin_token);
        copy.server_admin_token = hide(&self.server_admin_token);
        copy.database_url = self.database_url.as_ref().map(|u| redact_url_password(u));
        copy
    }
}

fn redact_url_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("redacted"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}
