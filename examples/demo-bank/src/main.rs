//! `demo-bank`: the demo bank API on its own port, verifying tokens of a Clavex organization.
//!
//! ```sh
//! cargo run -p demo-bank                      # issuer http://127.0.0.1:8080/acme, listens on :8081
//! cargo run -p demo-bank -- --issuer https://id.bank.example/acme \
//!     --listen 0.0.0.0:8081 --public-url https://api.bank.example
//! ```

use std::net::SocketAddr;

use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "demo-bank",
    about = "A demo bank API (GET /accounts) protected by DPoP-bound Clavex access tokens"
)]
struct Args {
    /// Issuer whose access tokens are accepted.
    #[arg(
        long,
        env = "DEMO_BANK_ISSUER",
        default_value = "http://127.0.0.1:8080/acme"
    )]
    issuer: String,
    /// Address to listen on.
    #[arg(long, env = "DEMO_BANK_LISTEN", default_value = "127.0.0.1:8081")]
    listen: SocketAddr,
    /// The bank's public base URL, used for the `htu` of DPoP proofs [default: http://{listen}].
    #[arg(long, env = "DEMO_BANK_PUBLIC_URL")]
    public_url: Option<String>,
    /// The issuer's JWKS [default: {issuer}/jwks].
    #[arg(long, env = "DEMO_BANK_JWKS_URI")]
    jwks_uri: Option<String>,
    /// Accepted `aud` values (repeat or comma-separate); `*` accepts any [default: {issuer}/api].
    #[arg(long = "audience", env = "DEMO_BANK_AUDIENCE", value_delimiter = ',')]
    audiences: Vec<String>,
    /// Scope every endpoint requires.
    #[arg(long, env = "DEMO_BANK_SCOPE", default_value = "accounts")]
    scope: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let public_url = args
        .public_url
        .unwrap_or_else(|| format!("http://{}", args.listen));
    let mut config = demo_bank::Config::new(&args.issuer, &public_url);
    if let Some(jwks_uri) = args.jwks_uri {
        config.resource.jwks_uri = jwks_uri;
    }
    if args.audiences.iter().any(|a| a == "*") {
        config.resource.audiences.clear();
    } else if !args.audiences.is_empty() {
        config.resource.audiences = args.audiences;
    }
    config.required_scope = args.scope;
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    tracing::info!(
        listen = %listener.local_addr()?,
        issuer = %args.issuer,
        jwks_uri = %config.resource.jwks_uri,
        "demo bank: GET {}/accounts",
        config.public_url
    );
    demo_bank::serve(listener, config).await?;
    Ok(())
}
