//! The `clavex` binary as an operator uses it: configuration, `serve` (with a graceful stop and a
//! restart on the same SQLite data directory) and the admin commands.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_clavex");

/// A `clavex` command with a clean environment: no inherited `CLAVEX_*` variable, the data
/// directory `dir` (also the working directory, so no stray `clavex.toml` is read), and `env`.
fn clavex(dir: &Path, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("CLAVEX_") {
            cmd.env_remove(name);
        }
    }
    cmd.env_remove("RUST_LOG")
        .current_dir(dir)
        .env("CLAVEX_DATA_DIR", dir)
        .env("CLAVEX_LISTEN", "127.0.0.1:0")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Runs an admin command to completion.
fn run(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    clavex(dir, env).args(args).output().expect("run clavex")
}

fn stdout_json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "exit {:?}; stderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A running `clavex serve`.
struct Server {
    child: Child,
    /// `http://127.0.0.1:{port}`, from the line the server prints.
    base: String,
    /// Everything printed on stdout up to and including the "listening" line.
    banner: Vec<String>,
    stderr: Option<JoinHandle<String>>,
    http: reqwest::Client,
}

impl Server {
    fn start(dir: &Path, env: &[(&str, &str)]) -> Server {
        let mut child = clavex(dir, env)
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn clavex serve");
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut banner = Vec::new();
        let base = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    let found = line
                        .strip_prefix("Clavex is listening on ")
                        .and_then(|rest| rest.split_whitespace().next())
                        .map(str::to_owned);
                    banner.push(line);
                    if let Some(base) = found {
                        break base;
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let stderr = stderr.join().unwrap_or_default();
                    panic!("clavex serve did not start; stdout: {banner:?}; stderr: {stderr}");
                }
            }
        };
        Server {
            child,
            base,
            banner,
            stderr: Some(stderr),
            http: reqwest::Client::new(),
        }
    }

    /// The value printed as `NAME=value` at start, if any.
    fn printed(&self, name: &str) -> Option<String> {
        self.banner.iter().find_map(|line| {
            line.trim()
                .strip_prefix(&format!("{name}="))
                .map(str::to_owned)
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut request = self.http.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("GET");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn post(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("POST");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// SIGTERM, then waits for the exit; returns the status and everything written on stderr.
    fn terminate(mut self) -> (ExitStatus, String) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("clavex serve did not stop within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let stderr = self.stderr.take().unwrap().join().unwrap();
        (status, stderr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.stderr.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn cc_client() -> Value {
    let key =
        clavex_jose::SigningKey::generate(clavex_jose::Algorithm::Es256, "cli-key".into()).unwrap();
    json!({
        "client_name": "CLI client",
        "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": {"keys": [key.public_jwk()]},
    })
}

#[tokio::test]
async fn serve_stops_gracefully_and_restarts_on_the_same_data() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let org_token = server
        .printed("CLAVEX_ORG_TOKEN")
        .expect("the first start prints the organization admin token");
    let server_token = server
        .printed("CLAVEX_SERVER_TOKEN")
        .expect("the first start prints the server admin token");
    assert!(
        org_token.starts_with("clx_") && org_token.len() > 40,
        "{org_token}"
    );
    assert!(server_token.starts_with("clx_") && server_token != org_token);
    assert!(server.base.starts_with("http://127.0.0.1:"));
    assert!(!server.base.ends_with(":0"), "{}", server.base);

    // The master key file was created private.
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(dir.path().join("master.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "master.key mode {mode:o}");
    assert!(dir.path().join("clavex.db").exists());

    // Probes, and an issuer derived from the address actually listened on.
    let (status, body) = server.get("/healthz", None).await;
    assert_eq!((status, body), (200, json!("ok")));
    let (status, body) = server.get("/readyz", None).await;
    assert_eq!((status, body), (200, json!("ready")));
    let (status, discovery) = server
        .get("/acme/.well-known/openid-configuration", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(discovery["issuer"], format!("{}/acme", server.base));
    assert!(
        server
            .banner
            .last()
            .unwrap()
            .contains(&format!("issuer {}/acme", server.base)),
        "{:?}",
        server.banner
    );

    // Register a client with the printed token; the server token creates an organization.
    let (status, client) = server
        .post(
            "/api/v1/organizations/acme/clients",
            &org_token,
            &cc_client(),
        )
        .await;
    assert_eq!(status, 201, "{client}");
    let client_id = client["client_id"].as_str().unwrap().to_owned();
    let (status, beta) = server
        .post(
            "/api/v1/organizations",
            &server_token,
            &json!({"id": "beta"}),
        )
        .await;
    assert_eq!(status, 201, "{beta}");
    let beta_token = beta["admin_token"].as_str().unwrap().to_owned();
    let (_, jwks_before) = server.get("/acme/jwks", None).await;

    let (status, stderr) = server.terminate();
    assert!(status.success(), "exit {status:?}; stderr: {stderr}");
    assert_eq!(status.code(), Some(0));
    assert!(stderr.contains("shutdown signal received"), "{stderr}");
    for secret in [&org_token, &server_token, &beta_token] {
        assert!(
            !stderr.contains(secret.as_str()),
            "a token leaked to the log"
        );
    }

    // Second start: nothing new is generated or printed, and everything is still there.
    let server = Server::start(dir.path(), &[]);
    assert_eq!(
        server.printed("CLAVEX_ORG_TOKEN"),
        None,
        "{:?}",
        server.banner
    );
    assert_eq!(server.printed("CLAVEX_SERVER_TOKEN"), None);
    assert!(
        server.banner.iter().all(|l| !l.contains("clx_")),
        "{:?}",
        server.banner
    );
    let (status, got) = server
        .get(
            &format!("/api/v1/organizations/acme/clients/{client_id}"),
            Some(&org_token),
        )
        .await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got, client);
    let (status, _) = server
        .get("/api/v1/organizations/beta", Some(&beta_token))
        .await;
    assert_eq!(status, 200);
    let (status, orgs) = server
        .get("/api/v1/organizations", Some(&server_token))
        .await;
    assert_eq!(status, 200);
    assert_eq!(orgs.as_array().unwrap().len(), 2, "{orgs}");
    let (_, jwks_after) = server.get("/acme/jwks", None).await;
    let kids = |v: &Value| {
        let mut k: Vec<String> = v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect();
        k.sort();
        k
    };
    assert_eq!(kids(&jwks_after), kids(&jwks_before));
    let (status, stderr) = server.terminate();
    assert!(status.success(), "{stderr}");
    for secret in [&org_token, &server_token, &beta_token] {
        assert!(
            !stderr.contains(secret.as_str()),
            "a token leaked to the log"
        );
    }

    // At rest: the signing keys are sealed with the master key in master.key.
    let url = format!("sqlite://{}", dir.path().join("clavex.db").display());
    let store = clavex_store::sqlite::SqliteStore::connect(&url)
        .await
        .unwrap();
    use clavex_store::Store as _;
    let records = store.list_signing_keys("acme").await.unwrap();
    assert_eq!(records.len(), 3);
    let master_text = std::fs::read_to_string(dir.path().join("master.key")).unwrap();
    let master = clavex_core::master_key::MasterKey::parse(&master_text).unwrap();
    let keys = clavex_core::keyring::load(&master, &records, 0).unwrap();
    for record in &records {
        let alg = clavex_jose::Algorithm::parse(&record.alg).unwrap();
        let der = keys.signer(alg).unwrap().to_pkcs8().unwrap();
        assert!(
            der.windows(16)
                .all(|w| !record.sealed_private_key.windows(16).any(|s| s == w)),
            "{} private key stored in the clear",
            record.alg
        );
    }
    let other = clavex_core::master_key::MasterKey::parse(&"ab".repeat(32)).unwrap();
    assert!(clavex_core::keyring::load(&other, &records, 0).is_err());
    // The database file holds no token in the clear either.
    store.close().await;
    let db = std::fs::read(dir.path().join("clavex.db")).unwrap();
    let wal = std::fs::read(dir.path().join("clavex.db-wal")).unwrap_or_default();
    for secret in [&org_token, &server_token, &beta_token] {
        for bytes in [&db, &wal] {
            assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()));
        }
    }
}

#[tokio::test]
async fn admin_commands_work_on_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let bootstrap = "clx_cli_bootstrap_token_for_tests_0123456789";
    let env = [
        ("CLAVEX_BOOTSTRAP_ADMIN_TOKEN", bootstrap),
        ("CLAVEX_FOO", "bar"),
    ];
    let server = Server::start(dir.path(), &env);
    // The configured token is not printed (the operator knows it) and works at once.
    assert_eq!(
        server.printed("CLAVEX_ORG_TOKEN"),
        None,
        "{:?}",
        server.banner
    );
    let server_token = server.printed("CLAVEX_SERVER_TOKEN").expect("server token");
    let (status, org) = server
        .get("/api/v1/organizations/acme", Some(bootstrap))
        .await;
    assert_eq!(status, 200, "{org}");
    assert_eq!(org["id"], "acme");
    let (status, _) = server
        .get("/api/v1/organizations/acme", Some("clx_wrong"))
        .await;
    assert_eq!(status, 401);

    // orgs create: prints the new organization and its admin token, usable on the running server.
    let out = run(
        dir.path(),
        &[],
        &["orgs", "create", "beta", "--display-name", "Beta"],
    );
    let created = stdout_json(&out);
    assert_eq!(created["organization"]["id"], "beta");
    assert_eq!(created["organization"]["display_name"], "Beta");
    let beta_token = created["admin_token"].as_str().unwrap().to_owned();
    assert!(beta_token.starts_with("clx_"));
    let (status, beta) = server
        .get("/api/v1/organizations/beta", Some(&beta_token))
        .await;
    assert_eq!(status, 200, "{beta}");
    assert_eq!(beta["issuer"], format!("{}/beta", server.base));
    let out = run(dir.path(), &[], &["orgs", "create", "beta"]);
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("organization beta already exists"),
        "{}",
        stderr_of(&out)
    );
    let out = run(dir.path(), &[], &["orgs", "create", "API"]);
    assert!(!out.status.success());
    assert!(stderr_of(&out).contains("organization id must be"));
    let orgs = stdout_json(&run(dir.path(), &[], &["orgs", "list"]));
    assert_eq!(orgs.as_array().unwrap().len(), 2);

    // clients create / get / list.
    let body = cc_client().to_string();
    let client = stdout_json(&run(
        dir.path(),
        &[],
        &["clients", "create", "acme", "--json", &body],
    ));
    let client_id = client["client_id"].as_str().unwrap();
    assert!(client_id.starts_with("clavex_fapi_"));
    assert_eq!(client["dpop_bound_access_tokens"], true);
    let (status, via_api) = server
        .get(
            &format!("/api/v1/organizations/acme/clients/{client_id}"),
            Some(bootstrap),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(via_api, client);
    let got = stdout_json(&run(
        dir.path(),
        &[],
        &["clients", "get", "acme", client_id],
    ));
    assert_eq!(got, client);
    let file = dir.path().join("client.json");
    std::fs::write(&file, cc_client().to_string()).unwrap();
    let from_file = stdout_json(&run(
        dir.path(),
        &[],
        &[
            "clients",
            "create",
            "acme",
            "--file",
            file.to_str().unwrap(),
        ],
    ));
    assert_ne!(from_file["client_id"], client["client_id"]);
    let listed = stdout_json(&run(dir.path(), &[], &["clients", "list", "acme"]));
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let refused = run(
        dir.path(),
        &[],
        &[
            "clients",
            "create",
            "acme",
            "--json",
            r#"{"grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_basic","jwks_uri":"https://x.example/jwks"}"#,
        ],
    );
    assert!(!refused.status.success());
    assert!(
        stderr_of(&refused).contains("client_secret_basic is not allowed under FAPI 2.0"),
        "{}",
        stderr_of(&refused)
    );
    let refused = run(
        dir.path(),
        &[],
        &["clients", "create", "acme", "--json", "{not json"],
    );
    assert!(!refused.status.success());
    assert!(stderr_of(&refused).contains("client metadata is not valid JSON"));

    // users create, with the password from the environment.
    let password = "cli-password-from-env";
    let out = run(
        dir.path(),
        &[("CLAVEX_USER_PASSWORD", password)],
        &[
            "users",
            "create",
            "acme",
            "--username",
            "u",
            "--email",
            "u@acme.example",
            "--given-name",
            "You",
        ],
    );
    let user = stdout_json(&out);
    assert_eq!(user["username"], "u");
    assert_eq!(user["email"], "u@acme.example");
    assert_eq!(user["claims"]["given_name"], "You");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = stderr_of(&out);
    assert!(!stdout.contains(password) && !stderr.contains(password));
    assert!(!stdout.contains("argon2"));
    // CLAVEX_USER_PASSWORD is a variable Clavex reads: no "unknown variable" warning for it.
    assert!(!stderr.contains("CLAVEX_USER_PASSWORD"), "{stderr}");
    let (status, users) = server
        .get("/api/v1/organizations/acme/users", Some(bootstrap))
        .await;
    assert_eq!(status, 200);
    assert_eq!(users, json!([user]));
    let short = run(
        dir.path(),
        &[("CLAVEX_USER_PASSWORD", "short")],
        &["users", "create", "acme", "--username", "v"],
    );
    assert!(!short.status.success());
    assert!(stderr_of(&short).contains("password must be 8-1024 characters"));
    let no_password = run(
        dir.path(),
        &[],
        &["users", "create", "acme", "--username", "w"],
    );
    assert!(!no_password.status.success());
    assert!(stderr_of(&no_password).contains("--password"));

    // keys rotate / list.
    let before = stdout_json(&run(dir.path(), &[], &["keys", "list", "acme"]));
    assert_eq!(before.as_array().unwrap().len(), 3);
    let active_es256 = |list: &Value| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|k| k["alg"] == "ES256" && k["status"] == "active")
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .unwrap()
    };
    let old_kid = active_es256(&before);
    let rotated = stdout_json(&run(
        dir.path(),
        &[],
        &["keys", "rotate", "acme", "--alg", "ES256"],
    ));
    let new_kid = active_es256(&rotated);
    assert_ne!(new_kid, old_kid);
    let after = stdout_json(&run(dir.path(), &[], &["keys", "list", "acme"]));
    assert_eq!(after.as_array().unwrap().len(), 4);
    assert_eq!(active_es256(&after), new_kid);
    for key in after.as_array().unwrap() {
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(key["public_jwk"].get(private).is_none(), "{key}");
        }
    }
    let bad = run(
        dir.path(),
        &[],
        &["keys", "rotate", "acme", "--alg", "RS256"],
    );
    assert!(!bad.status.success());
    assert!(
        stderr_of(&bad).contains("algorithm RS256 is not allowed"),
        "{}",
        stderr_of(&bad)
    );
    // The running server publishes the new key once its key cache (5 s) has expired.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, jwks) = server.get("/acme/jwks", None).await;
        let published: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        if published.contains(&new_kid.as_str()) {
            assert!(published.contains(&old_kid.as_str()));
            break;
        }
        assert!(Instant::now() < deadline, "new key never published");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Deletions.
    let out = run(dir.path(), &[], &["clients", "delete", "acme", client_id]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let (status, _) = server
        .get(
            &format!("/api/v1/organizations/acme/clients/{client_id}"),
            Some(bootstrap),
        )
        .await;
    assert_eq!(status, 404);
    let out = run(dir.path(), &[], &["orgs", "delete", "beta"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let (status, _) = server
        .get("/api/v1/organizations/beta", Some(&beta_token))
        .await;
    assert_eq!(status, 401);

    let (status, stderr) = server.terminate();
    assert!(status.success(), "{stderr}");
    // The unknown variable was reported, and the server ran anyway.
    assert!(
        stderr.contains("ignoring unknown CLAVEX_* environment variable")
            && stderr.contains("CLAVEX_FOO"),
        "{stderr}"
    );
    for secret in [bootstrap, server_token.as_str(), beta_token.as_str()] {
        assert!(!stderr.contains(secret), "a token leaked to the log");
    }
}

#[test]
fn check_config_prints_the_configuration_with_secrets_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let master = "c2VjcmV0LW1hc3Rlci1rZXktMzItYnl0ZXMtbG9uZyE=";
    let bootstrap = "clx_bootstrap_secret_value_0123456789";
    let server_token = "clx_server_secret_value_0123456789";
    let out = run(
        dir.path(),
        &[
            ("CLAVEX_MASTER_KEY", master),
            ("CLAVEX_BOOTSTRAP_ADMIN_TOKEN", bootstrap),
            ("CLAVEX_SERVER_ADMIN_TOKEN", server_token),
            (
                "CLAVEX_DATABASE_URL",
                "postgres://clavex:pg-secret-pw@db.example:5432/clavex",
            ),
            ("CLAVEX_PUBLIC_URL", "https://id.bank.example"),
            ("CLAVEX_JWKS_FETCH_ALLOW", "jwks.internal, 10.0.0.5:8443"),
            ("CLAVEX_CACHE_TTL_SECS", "2"),
            ("CLAVEX_FOO", "1"),
        ],
        &["check-config"],
    );
    let config = stdout_json(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = stderr_of(&out);
    for secret in [master, bootstrap, server_token, "pg-secret-pw"] {
        assert!(!stdout.contains(secret), "{secret} printed: {stdout}");
        assert!(!stderr.contains(secret), "{secret} logged: {stderr}");
    }
    assert_eq!(config["master_key"], "<redacted>");
    assert_eq!(config["bootstrap_admin_token"], "<redacted>");
    assert_eq!(config["server_admin_token"], "<redacted>");
    let db = config["database_url"].as_str().unwrap();
    assert!(
        db.starts_with("postgres://clavex:") && db.contains("db.example:5432/clavex"),
        "{db}"
    );
    assert_eq!(config["public_url"], "https://id.bank.example");
    assert_eq!(config["listen"], "127.0.0.1:0");
    assert_eq!(config["data_dir"], dir.path().to_str().unwrap());
    assert_eq!(
        config["jwks_fetch_allow"],
        json!(["jwks.internal", "10.0.0.5:8443"])
    );
    assert_eq!(config["cache_ttl_secs"], 2);
    assert_eq!(config["bootstrap_org"], "acme");
    assert_eq!(config["log_format"], "text");
    // The unknown variable is a warning, not an error.
    assert!(
        stderr.contains("ignoring unknown CLAVEX_* environment variable")
            && stderr.contains("CLAVEX_FOO"),
        "{stderr}"
    );

    // Defaults: nothing secret set, nothing to redact.
    let config = stdout_json(&run(dir.path(), &[], &["check-config"]));
    assert_eq!(config["master_key"], Value::Null);
    assert_eq!(config["database_url"], Value::Null);
    assert_eq!(config["log_format"], "text");
    // check-config creates nothing.
    assert!(!dir.path().join("master.key").exists());
    assert!(!dir.path().join("clavex.db").exists());
}

#[test]
fn configuration_files_and_their_precedence() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("clavex.toml"),
        "bootstrap_org = \"bank\"\nlog_format = \"json\"\ncache_ttl_secs = 9\n",
    )
    .unwrap();
    // ./clavex.toml is read by default, and the environment wins over it.
    let config = stdout_json(&run(
        dir.path(),
        &[("CLAVEX_LOG_FORMAT", "text")],
        &["check-config"],
    ));
    assert_eq!(config["bootstrap_org"], "bank");
    assert_eq!(config["cache_ttl_secs"], 9);
    assert_eq!(config["log_format"], "text");
    // --config names another file.
    let other = dir.path().join("other.toml");
    std::fs::write(&other, "bootstrap_org = \"other\"\n").unwrap();
    let config = stdout_json(&run(
        dir.path(),
        &[],
        &["--config", other.to_str().unwrap(), "check-config"],
    ));
    assert_eq!(config["bootstrap_org"], "other");
    assert_eq!(config["log_format"], "text");

    let missing = run(
        dir.path(),
        &[],
        &["--config", "/nonexistent/clavex.toml", "check-config"],
    );
    assert!(!missing.status.success());
    assert!(
        stderr_of(&missing).contains("configuration file /nonexistent/clavex.toml does not exist"),
        "{}",
        stderr_of(&missing)
    );
    std::fs::write(&other, "bootstrap_orgg = \"typo\"\n").unwrap();
    let typo = run(
        dir.path(),
        &[],
        &["--config", other.to_str().unwrap(), "check-config"],
    );
    assert!(!typo.status.success());
    assert!(
        stderr_of(&typo).contains("bootstrap_orgg"),
        "{}",
        stderr_of(&typo)
    );
}

/// Environment variables of one command.
type Env<'a> = &'a [(&'a str, &'a str)];

#[test]
fn invalid_configuration_is_fatal_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(Env, &str, &str); 5] = [
        (
            &[("CLAVEX_LOG_FORMAT", "xml")],
            "check-config",
            "CLAVEX_LOG_FORMAT must be text or json",
        ),
        (
            &[("CLAVEX_LISTEN", "not-an-address")],
            "check-config",
            "invalid configuration",
        ),
        (
            &[("CLAVEX_PUBLIC_URL", "ftp://id.example")],
            "check-config",
            "CLAVEX_PUBLIC_URL must be an http(s) URL without query or fragment",
        ),
        (
            &[("CLAVEX_MASTER_KEY", "dG9vIHNob3J0")],
            "serve",
            "CLAVEX_MASTER_KEY: master key must be 32 bytes (it decodes to 9 bytes)",
        ),
        (
            &[("CLAVEX_DATABASE_URL", "mysql://db.example/clavex")],
            "serve",
            "CLAVEX_DATABASE_URL must start with sqlite:// or postgres://",
        ),
    ];
    for (env, command, message) in cases {
        let out = clavex(dir.path(), env)
            .arg(command)
            .output()
            .expect("run clavex");
        assert!(!out.status.success(), "{env:?} should fail");
        assert_eq!(out.status.code(), Some(1), "{env:?}");
        let stderr = stderr_of(&out);
        assert!(stderr.contains(message), "{env:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(out.stdout.is_empty(), "{env:?}");
    }
}

/// `--dev-tls` / `CLAVEX_DEV_TLS`: https with a self-signed certificate made once in the data
/// directory; issuers become https; TLS below 1.2 and plain http are refused; cookies get the
/// `__Host-` prefix and `Secure`.
#[tokio::test]
async fn development_tls_serves_https_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[("CLAVEX_DEV_TLS", "true")]);
    assert!(
        server.base.starts_with("https://127.0.0.1:"),
        "{}",
        server.base
    );
    let key_mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(dir.path().join("dev-tls-key.pem"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(key_mode & 0o777, 0o600);
    let pem = std::fs::read(dir.path().join("dev-tls-cert.pem")).unwrap();
    let https = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    let discovery: Value = https
        .get(server.url("/acme/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], format!("{}/acme", server.base));
    assert!(
        discovery["token_endpoint"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );
    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = server.base.replacen("https://", "http://", 1);
    assert!(reqwest::get(format!("{plain}/healthz")).await.is_err());
    // Secure cookies on https.
    let page = https
        .get(server.url("/acme/authorize?client_id=nobody"))
        .send()
        .await
        .unwrap();
    let cookies: Vec<String> = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("__Host-clavex_browser=")
                && c.contains("Secure")
                && c.contains("HttpOnly")),
        "{cookies:?}"
    );
    let (status, _) = server.terminate();
    assert!(status.success());
}

/// The `clavex tools` commands of the README walkthrough, against a real `clavex serve`: keygen,
/// client-assertion, dpop-proof, pkce and request-object produce what the endpoints accept.
#[tokio::test]
async fn walkthrough_tools_produce_what_the_server_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let org_token = server.printed("CLAVEX_ORG_TOKEN").expect("org token");
    let issuer = format!("{}/acme", server.base);
    let tool = |args: &[&str]| {
        let output = run(dir.path(), &[], &[&["tools"], args].concat());
        assert!(
            output.status.success(),
            "tools {args:?}: {}",
            stderr_of(&output)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    };
    let jwks: Value = serde_json::from_str(&tool(&["keygen", "--out", "client-key.json"])).unwrap();
    tool(&["keygen", "--out", "dpop-key.json"]);
    // Private key files are private; keygen never overwrites one.
    let refused = run(
        dir.path(),
        &[],
        &["tools", "keygen", "--out", "client-key.json"],
    );
    assert!(!refused.status.success());

    let (status, client) = server
        .post(
            "/api/v1/organizations/acme/clients",
            &org_token,
            &json!({
                "client_name": "walkthrough", "jwks": jwks,
                "grant_types": ["client_credentials", "authorization_code"],
                "response_types": ["code"], "redirect_uris": ["https://tpp.example.com/callback"],
                "token_endpoint_auth_method": "private_key_jwt",
            }),
        )
        .await;
    assert_eq!(status, 201, "{client}");
    let client_id = client["client_id"].as_str().unwrap();
    let assertion = |tool: &dyn Fn(&[&str]) -> String| {
        tool(&[
            "client-assertion",
            "--key",
            "client-key.json",
            "--client-id",
            client_id,
            "--audience",
            &issuer,
        ])
    };
    let form_post = |path: String, body: String, dpop: Option<String>| {
        let mut request = server
            .http
            .post(path)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(proof) = dpop {
            request = request.header("DPoP", proof);
        }
        async move {
            let response = request.send().await.unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    const JWT_BEARER: &str = "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer";

    // Step 1: client_credentials with an assertion and a DPoP proof from the tools.
    let proof = tool(&[
        "dpop-proof",
        "--key",
        "dpop-key.json",
        "--url",
        &format!("{issuer}/token"),
    ]);
    let (status, tokens) = form_post(
        format!("{issuer}/token"),
        format!(
            "grant_type=client_credentials&client_assertion_type={JWT_BEARER}&client_assertion={}",
            assertion(&tool)
        ),
        Some(proof),
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "DPoP");

    // A pushed request as a signed request object, with PKCE from the tools.
    let pkce: Value = serde_json::from_str(&tool(&["pkce"])).unwrap();
    let challenge = pkce["code_challenge"].as_str().unwrap();
    let request = tool(&[
        "request-object",
        "--key",
        "client-key.json",
        "--client-id",
        client_id,
        "--audience",
        &issuer,
        "--param",
        "response_type=code",
        "--param",
        "redirect_uri=https://tpp.example.com/callback",
        "--param",
        "scope=openid payments",
        "--param",
        &format!("code_challenge={challenge}"),
        "--param",
        "code_challenge_method=S256",
        "--param",
        "response_mode=jwt",
        "--param",
        r#"authorization_details=[{"type":"payment_initiation","instructedAmount":{"currency":"EUR","amount":"1.00"}}]"#,
    ]);
    let (status, pushed) = form_post(
        format!("{issuer}/par"),
        format!(
            "client_id={client_id}&client_assertion_type={JWT_BEARER}&client_assertion={}&request={request}",
            assertion(&tool)
        ),
        None,
    )
    .await;
    assert_eq!(status, 201, "{pushed}");
    assert!(
        pushed["request_uri"]
            .as_str()
            .unwrap()
            .starts_with("urn:ietf:params:oauth:request_uri:")
    );

    // Introspection of the step-1 token with a fresh assertion.
    let (status, introspected) = form_post(
        format!("{issuer}/introspect"),
        format!(
            "token={}&client_assertion_type={JWT_BEARER}&client_assertion={}",
            tokens["access_token"].as_str().unwrap(),
            assertion(&tool)
        ),
        None,
    )
    .await;
    assert_eq!(status, 200, "{introspected}");
    assert_eq!(introspected["active"], true);
    assert_eq!(introspected["client_id"], client_id);
}
