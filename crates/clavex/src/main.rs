//! `clavex`: the server (`clavex serve`) and the admin CLI, which works directly on the configured
//! database, so it needs no running server.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use clavex::app::{self, Application};
use clavex::config::{self, Config};
use clavex::tools;
use clavex_core::ConnectionFacts;
use clavex_core::admin::clients::unknown_client;
use clavex_core::admin::users::unknown_user;
use clavex_core::admin::{
    AdminActor, AdminRequest, CreateClient, CreateOrganization, CreateUser, RotateKeys,
};
use clavex_core::clock::SystemClock;
use clavex_core::ids::{ClientId, OrgId};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(
    name = "clavex",
    version,
    about = "Clavex: a FAPI 2.0 authorization server"
)]
struct Cli {
    /// TOML configuration file (default: ./clavex.toml if present; also CLAVEX_CONFIG).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default command).
    Serve {
        /// Serve https with a self-signed certificate made under the data directory (local use).
        #[arg(long)]
        dev_tls: bool,
    },
    /// Print the effective configuration, secrets redacted.
    CheckConfig,
    /// Manage organizations.
    #[command(subcommand)]
    Orgs(OrgsCommand),
    /// Manage clients of an organization.
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Manage users of an organization.
    #[command(subcommand)]
    Users(UsersCommand),
    /// List or rotate an organization's signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Client-side helpers for trying Clavex from a shell: keys, client assertions, DPoP proofs.
    #[command(subcommand)]
    Tools(ToolsCommand),
}

/// A JWT the client signs for the authorization server: its key, its id, the issuer.
#[derive(clap::Args)]
struct SignedAsClient {
    #[arg(long)]
    key: PathBuf,
    #[arg(long)]
    client_id: String,
    /// The issuer identifier, e.g. http://127.0.0.1:8080/acme.
    #[arg(long)]
    audience: String,
}

#[derive(Subcommand)]
enum ToolsCommand {
    /// Create a private key file (mode 0600) and print the public JWKS to register.
    Keygen {
        #[arg(long, default_value = "ES256")]
        alg: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Print a private_key_jwt client assertion (valid 60 s).
    ClientAssertion(SignedAsClient),
    /// Print a signed request object (JAR, RFC 9101) for `POST {issuer}/par`, valid 60 s.
    RequestObject {
        #[command(flatten)]
        client: SignedAsClient,
        /// An authorization parameter, `name=value`; repeat for each. A value that is a JSON
        /// array or object (`authorization_details`, `claims`) is embedded as JSON.
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
    },
    /// Print a PKCE code_verifier and its S256 code_challenge (JSON).
    Pkce,
    /// Print a DPoP proof for one request.
    DpopProof {
        #[arg(long)]
        key: PathBuf,
        #[arg(long, default_value = "POST")]
        method: String,
        #[arg(long)]
        url: String,
        /// For resource requests: the access token, hashed into `ath`.
        #[arg(long)]
        access_token: Option<String>,
    },
}

#[derive(Subcommand)]
enum OrgsCommand {
    List,
    /// Create an organization; prints its admin token once.
    Create {
        id: String,
        #[arg(long)]
        display_name: Option<String>,
    },
    Delete {
        id: String,
    },
    /// Issue an additional admin token for an organization.
    NewToken {
        id: String,
    },
}

#[derive(Subcommand)]
enum ClientsCommand {
    List {
        org: String,
    },
    /// Register a client from RFC 7591 metadata (JSON given inline or with --file).
    Create {
        org: String,
        #[arg(long, conflicts_with = "file")]
        json: Option<String>,
        #[arg(long)]
        file: Option<PathBuf>,
    },
    Get {
        org: String,
        client_id: String,
    },
    Delete {
        org: String,
        client_id: String,
    },
}

#[derive(Subcommand)]
enum UsersCommand {
    List {
        org: String,
    },
    Create {
        org: String,
        #[arg(long)]
        username: String,
        /// The password; read from CLAVEX_USER_PASSWORD when omitted, to keep it out of shell history.
        #[arg(long, env = "CLAVEX_USER_PASSWORD", hide_env_values = true)]
        password: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        given_name: Option<String>,
        #[arg(long)]
        family_name: Option<String>,
    },
    Delete {
        org: String,
        user_id: String,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    List {
        org: String,
    },
    Rotate {
        org: String,
        /// ES256, PS256 or EdDSA; all three when omitted.
        #[arg(long)]
        alg: Option<String>,
    },
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CLAVEX_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false);
    if config.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn print_json(value: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn engine_error(e: clavex_core::Error) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// The organization an argument names (an unknown one when it could not be an organization id).
fn named_org(name: &str) -> Result<OrgId> {
    OrgId::named(name).map_err(engine_error)
}

/// The client the arguments name. An id that could not be a client's names none, nor does an
/// organization that could not exist hold one: either way the answer is the one for an unknown client.
fn named_client(org: &str, client_id: &str) -> Result<(OrgId, ClientId)> {
    let unknown = || engine_error(unknown_client(client_id));
    let org = OrgId::parse(org).map_err(|_| unknown())?;
    let client_id = ClientId::parse(client_id).map_err(|_| unknown())?;
    Ok((org, client_id))
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let loaded = config::load(cli.config)?;
    let config = loaded.config;
    init_logging(&config);
    for name in &loaded.ignored_env {
        tracing::warn!(variable = %name, "ignoring unknown CLAVEX_* environment variable");
    }
    if let Some(file) = &loaded.file {
        tracing::info!(file = %file.display(), "configuration file loaded");
    }
    match cli.command.unwrap_or(Command::Serve { dev_tls: false }) {
        Command::Serve { dev_tls } => {
            let mut config = config;
            config.dev_tls |= dev_tls;
            serve(config).await
        }
        Command::CheckConfig => print_json(&config.redacted()),
        Command::Tools(tool) => run_tool(tool),
        command => admin(config, command).await,
    }
}

fn run_tool(tool: ToolsCommand) -> Result<()> {
    match tool {
        ToolsCommand::Keygen { alg, out } => print_json(&tools::keygen(&alg, &out)?),
        ToolsCommand::ClientAssertion(client) => {
            println!(
                "{}",
                tools::client_assertion(&client.key, &client.client_id, &client.audience)?
            );
            Ok(())
        }
        ToolsCommand::RequestObject { client, params } => {
            println!(
                "{}",
                tools::request_object(&client.key, &client.client_id, &client.audience, &params)?
            );
            Ok(())
        }
        ToolsCommand::Pkce => print_json(&tools::pkce()),
        ToolsCommand::DpopProof {
            key,
            method,
            url,
            access_token,
        } => {
            println!(
                "{}",
                tools::dpop_proof(&key, &method, &url, access_token.as_deref())?
            );
            Ok(())
        }
    }
}

async fn serve(config: Config) -> Result<()> {
    let app = Application::build(&config, Arc::new(SystemClock)).await?;
    // The engine's, which knows the real port when listening on port 0.
    let public_url = app.engine.public_url().to_owned();
    let database = config.database_url();
    if database.starts_with("sqlite:") {
        tracing::info!(database = %database, data_dir = %config.data_dir.display(), "data is stored in SQLite");
    } else {
        tracing::info!("data is stored in PostgreSQL");
    }
    let orgs = app
        .engine
        .list_organizations()
        .await
        .map_err(engine_error)?;
    for org in &orgs {
        tracing::info!(org = %org.id, issuer = %org.issuer, "organization");
    }
    // Tokens go to stdout exactly once, never through the logger.
    let boot = &app.bootstrap;
    if let Some(token) = &boot.generated_org_token {
        println!(
            "Organization \"{}\" created. Its admin token (shown only now):",
            config.bootstrap_org
        );
        println!("  CLAVEX_ORG_TOKEN={token}");
    }
    if let Some(token) = &boot.generated_server_token {
        println!("Server admin token (creates organizations; shown only now):");
        println!("  CLAVEX_SERVER_TOKEN={token}");
    }
    println!(
        "Clavex is listening on {}://{} — issuer {}/{} — discovery {}/{}/.well-known/openid-configuration",
        config.scheme(),
        app.local_addr(),
        public_url,
        config.bootstrap_org,
        public_url,
        config.bootstrap_org
    );
    tracing::info!(addr = %app.local_addr(), public_url = %public_url, "listening");
    app.run_until(app::shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

async fn admin(config: Config, command: Command) -> Result<()> {
    let engine = app::build_engine(&config, Arc::new(SystemClock)).await?;
    let e = &engine;
    // The command line's changes are reported as the operator's on this host.
    let cli = &AdminActor::Cli;
    let here = &ConnectionFacts::loopback();
    match command {
        Command::Serve { .. } | Command::CheckConfig | Command::Tools(_) => Ok(()),
        Command::Orgs(cmd) => match cmd {
            OrgsCommand::List => print_json(&e.list_organizations().await.map_err(engine_error)?),
            OrgsCommand::Create { id, display_name } => {
                let request =
                    CreateOrganization::new(&id, display_name.as_deref()).map_err(engine_error)?;
                let (view, token) = e
                    .create_organization(request, cli, here)
                    .await
                    .map_err(engine_error)?;
                print_json(&json!({ "organization": view, "admin_token": token }))
            }
            OrgsCommand::Delete { id } => {
                e.delete_organization(&named_org(&id)?, cli, here)
                    .await
                    .map_err(engine_error)?;
                println!("deleted organization {id}");
                Ok(())
            }
            OrgsCommand::NewToken { id } => {
                let token = e
                    .create_admin_token(Some(&named_org(&id)?), "cli", cli, here)
                    .await
                    .map_err(engine_error)?;
                println!("{token}");
                Ok(())
            }
        },
        Command::Clients(cmd) => match cmd {
            ClientsCommand::List { org } => print_json(
                &e.list_clients(&named_org(&org)?)
                    .await
                    .map_err(engine_error)?,
            ),
            ClientsCommand::Create { org, json, file } => {
                let text = match (json, file) {
                    (Some(text), _) => text,
                    (None, Some(path)) => std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?,
                    (None, None) => anyhow::bail!("give the client metadata with --json or --file"),
                };
                let body: Value =
                    serde_json::from_str(&text).context("client metadata is not valid JSON")?;
                let request = CreateClient::from_json(&body).map_err(engine_error)?;
                print_json(
                    &e.register_client(&named_org(&org)?, request, cli, here)
                        .await
                        .map_err(engine_error)?,
                )
            }
            ClientsCommand::Get { org, client_id } => {
                let (org, client_id) = named_client(&org, &client_id)?;
                print_json(&e.get_client(&org, &client_id).await.map_err(engine_error)?)
            }
            ClientsCommand::Delete { org, client_id } => {
                let (org, id) = named_client(&org, &client_id)?;
                e.delete_client(&org, &id, cli, here)
                    .await
                    .map_err(engine_error)?;
                println!("deleted client {client_id}");
                Ok(())
            }
        },
        Command::Users(cmd) => match cmd {
            UsersCommand::List { org } => print_json(
                &e.list_users(&named_org(&org)?)
                    .await
                    .map_err(engine_error)?,
            ),
            UsersCommand::Create {
                org,
                username,
                password,
                email,
                given_name,
                family_name,
            } => {
                let mut body = json!({ "username": username, "password": password });
                for (name, value) in [
                    ("email", email),
                    ("given_name", given_name),
                    ("family_name", family_name),
                ] {
                    if let Some(value) = value {
                        body[name] = Value::String(value);
                    }
                }
                let request = CreateUser::from_json(&body).map_err(engine_error)?;
                print_json(
                    &e.create_user(&named_org(&org)?, request, cli, here)
                        .await
                        .map_err(engine_error)?,
                )
            }
            UsersCommand::Delete { org, user_id } => {
                // An organization that could not exist holds no users.
                let org = OrgId::parse(&org).map_err(|_| engine_error(unknown_user(&user_id)))?;
                e.delete_user(&org, &user_id, cli, here)
                    .await
                    .map_err(engine_error)?;
                println!("deleted user {user_id}");
                Ok(())
            }
        },
        Command::Keys(cmd) => match cmd {
            KeysCommand::List { org } => {
                print_json(&e.list_keys(&named_org(&org)?).await.map_err(engine_error)?)
            }
            KeysCommand::Rotate { org, alg } => print_json(
                &e.rotate_keys(&named_org(&org)?, RotateKeys { alg }, cli, here)
                    .await
                    .map_err(engine_error)?,
            ),
        },
    }
}
