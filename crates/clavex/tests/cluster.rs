//! Three `clavex serve` processes on one PostgreSQL database, as the nodes behind one load balancer:
//! each listens on its own loopback port, all share one public URL (`http://id.cluster.test`), one
//! master key and one bootstrap admin token. Every step of the authorization-code flow runs on a
//! different node; replays are refused by a node that did not see the first use; a key rotated on
//! one node is served and used by the others within seconds; a browser session made on one node is
//! honoured by another; every node stops with exit status 0 on SIGTERM.
//!
//! Requests go to each node's real address (`http://127.0.0.1:{port}`), while DPoP `htu`, client
//! assertion `aud` and every issuer are the public URL: the server never looks at `Host`.
//!
//! Needs PostgreSQL at `CLAVEX_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`)
//! and `psql`; the test creates a database `clavex_cluster_<random>` and drops it at the end. When
//! PostgreSQL is unreachable the test fails under `CLAVEX_TEST_REQUIRE_PG=1` and is skipped (loudly)
//! otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write as _};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use clavex_testkit::flow::{
    Browser, FapiClient, PASSWORD, REDIRECT_URI, USERNAME, form_action, hidden_field, pkce,
};
use clavex_testkit::{Answer, ClientKey, JWT_BEARER, decode_unverified, verify_with_jwks};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_clavex");

/// What the load balancer would be reached at; no node listens there.
const PUBLIC_URL: &str = "http://id.cluster.test";
const ISSUER: &str = "http://id.cluster.test/acme";
const STATE: &str = "state-123";

/// How long a change made on one node may take to reach the others in this test (the nodes run
/// with `CLAVEX_CACHE_TTL_SECS=1`).
const PROPAGATION_LIMIT: Duration = Duration::from_secs(10);

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

// ---- the database ----

/// A fresh PostgreSQL database for this test, dropped when this value is.
struct Database {
    /// The maintenance connection (`CLAVEX_TEST_PG_URL`) used to create and drop it.
    admin_url: String,
    name: String,
    /// The nodes' `CLAVEX_DATABASE_URL`.
    url: String,
    dropped: bool,
}

fn psql(url: &str, sql: &str) -> Result<String, String> {
    let output = Command::new("psql")
        .arg(url)
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .env("PGCONNECT_TIMEOUT", "5")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running psql: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(format!(
            "psql exited with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

impl Database {
    /// Creates the database, or says why PostgreSQL cannot be used.
    fn create() -> Result<Database, String> {
        let admin_url = clavex_testkit::pg_url();
        psql(&admin_url, "SELECT 1")?;
        let name = format!(
            "clavex_cluster_{}",
            clavex_jose::random_token(9)
                .to_lowercase()
                .replace(['-', '_'], "x")
        );
        psql(&admin_url, &format!("CREATE DATABASE {name}"))?;
        let mut url = url::Url::parse(&admin_url).map_err(|e| format!("{admin_url}: {e}"))?;
        url.set_path(&format!("/{name}"));
        Ok(Database {
            admin_url,
            name,
            url: url.to_string(),
            dropped: false,
        })
    }

    fn drop_now(&mut self) -> Result<(), String> {
        self.dropped = true;
        psql(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        )
        .map(|_| ())
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if !self.dropped
            && let Err(e) = self.drop_now()
        {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}

// ---- the nodes ----

/// A running `clavex serve` process.
struct Node {
    name: &'static str,
    child: Child,
    /// `http://127.0.0.1:{port}`, the address this node really listens on.
    base: String,
    /// Everything printed on stdout up to and including the "listening" line.
    banner: Vec<String>,
    stderr: Option<JoinHandle<String>>,
    _data: tempfile::TempDir,
}

/// A node that was spawned but has not printed its "listening" line yet.
struct Starting {
    name: &'static str,
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: JoinHandle<String>,
    data: tempfile::TempDir,
}

impl Node {
    /// Spawns `clavex serve` with a clean environment (no inherited `CLAVEX_*`), its own data
    /// directory (also its working directory, so no stray `clavex.toml` is read), a loopback port
    /// chosen by the system, and `env`.
    fn spawn(name: &'static str, env: &[(&str, &str)]) -> Starting {
        let data = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(BIN);
        for (var, _) in std::env::vars_os() {
            if var.to_string_lossy().starts_with("CLAVEX_") {
                cmd.env_remove(var);
            }
        }
        cmd.env_remove("RUST_LOG")
            .current_dir(data.path())
            .env("CLAVEX_DATA_DIR", data.path())
            .env("CLAVEX_LISTEN", "127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.arg("serve").spawn().expect("spawn clavex serve");
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            // Keeps draining stdout after the banner, so that the node never writes to a closed pipe.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        Starting {
            name,
            child,
            lines,
            stderr,
            data,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The value printed as `NAME=value` at start, if any.
    fn printed(&self, name: &str) -> Option<String> {
        self.banner.iter().find_map(|line| {
            line.trim()
                .strip_prefix(&format!("{name}="))
                .map(str::to_owned)
        })
    }

    fn signal_term(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(sent.success(), "could not signal {}", self.name);
    }

    /// Waits (up to 30 s) for the exit after SIGTERM; returns the status and the node's stderr.
    fn wait_exit(mut self) -> (ExitStatus, String) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("{} did not stop within 30 s of SIGTERM", self.name);
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let stderr = self.stderr.take().unwrap().join().unwrap_or_default();
        (status, stderr)
    }
}

impl Starting {
    /// Waits (up to 60 s) for the "Clavex is listening on ..." line.
    fn ready(mut self) -> Node {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut banner = Vec::new();
        let base = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
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
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    let stderr = self.stderr.join().unwrap_or_default();
                    panic!(
                        "{} did not start; stdout: {banner:?}; stderr:\n{stderr}",
                        self.name
                    );
                }
            }
        };
        Node {
            name: self.name,
            child: self.child,
            base,
            banner,
            stderr: Some(self.stderr),
            _data: self.data,
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(stderr) = self.stderr.take() {
            let _ = self.child.kill();
            let _ = self.child.wait();
            // A failed test shows what each node logged.
            if std::thread::panicking() {
                let text = stderr.join().unwrap_or_default();
                eprintln!("---- stderr of {} ----\n{text}", self.name);
            }
        }
    }
}

// ---- the client's side, against one node ----

/// The client application (and resource-server caller): a plain HTTP client without cookies.
struct Client {
    http: reqwest::Client,
    org_token: String,
}

impl Client {
    async fn admin(
        &self,
        node: &Node,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        let mut request = self
            .http
            .request(method, node.url(path))
            .bearer_auth(&self.org_token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        Answer::from(request.send().await.expect("admin request")).await
    }

    async fn get(&self, node: &Node, path: &str) -> Answer {
        Answer::from(self.http.get(node.url(path)).send().await.expect("GET")).await
    }

    /// `POST /acme/par` on `node`: a fresh assertion (audience: the public issuer), `params`, and
    /// a DPoP proof of `dpop` for the public PAR URL.
    async fn par(
        &self,
        node: &Node,
        client: &FapiClient,
        params: &[(&str, &str)],
        dpop: &ClientKey,
    ) -> Answer {
        let assertion = client.key.assertion(&client.client_id, ISSUER, now());
        let proof = dpop.dpop_proof("POST", &format!("{ISSUER}/par"), now());
        let mut form: Vec<(&str, &str)> = vec![
            ("client_id", client.client_id.as_str()),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion.as_str()),
        ];
        form.extend_from_slice(params);
        let request = self
            .http
            .post(node.url("/acme/par"))
            .form(&form)
            .header("DPoP", proof);
        Answer::from(request.send().await.expect("PAR")).await
    }

    /// Pushes an authorization request for `openid accounts` on `node`; returns (request_uri,
    /// code_verifier).
    async fn push(&self, node: &Node, client: &FapiClient, dpop: &ClientKey) -> (String, String) {
        let (verifier, challenge) = pkce();
        let answer = self
            .par(
                node,
                client,
                &[
                    ("response_type", "code"),
                    ("redirect_uri", REDIRECT_URI),
                    ("scope", "openid accounts"),
                    ("state", STATE),
                    ("nonce", "nonce-456"),
                    ("code_challenge", &challenge),
                    ("code_challenge_method", "S256"),
                ],
                dpop,
            )
            .await;
        assert_eq!(
            answer.status.as_u16(),
            201,
            "PAR on {}: {}",
            node.name,
            answer.text
        );
        let request_uri = answer.body["request_uri"].as_str().expect("request_uri");
        (request_uri.to_owned(), verifier)
    }

    /// `POST /acme/token` on `node` with exactly `form` and these `DPoP` header values.
    async fn token(&self, node: &Node, form: &[(&str, &str)], proofs: &[&str]) -> Answer {
        let mut request = self.http.post(node.url("/acme/token")).form(form);
        for proof in proofs {
            request = request.header("DPoP", *proof);
        }
        Answer::from(request.send().await.expect("token request")).await
    }

    /// Redeems `code` on `node` with a fresh assertion and a fresh proof of `dpop`.
    async fn redeem(
        &self,
        node: &Node,
        client: &FapiClient,
        code: &str,
        verifier: &str,
        dpop: &ClientKey,
    ) -> Answer {
        let assertion = client.key.assertion(&client.client_id, ISSUER, now());
        let proof = token_proof(dpop);
        self.token(
            node,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", verifier),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", &assertion),
            ],
            &[&proof],
        )
        .await
    }

    /// `grant_type=client_credentials` on `node` with this assertion and these proofs.
    async fn client_credentials(&self, node: &Node, assertion: &str, proofs: &[&str]) -> Answer {
        self.token(
            node,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "accounts"),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", assertion),
            ],
            proofs,
        )
        .await
    }

    /// `GET /acme/userinfo` on `node` with a DPoP-bound access token and a fresh proof (`ath`).
    async fn userinfo(&self, node: &Node, access_token: &str, dpop: &ClientKey) -> Answer {
        let mut claims = dpop.dpop_claims("GET", &format!("{ISSUER}/userinfo"), now());
        claims["ath"] = Value::String(clavex_jose::b64url_encode(&clavex_jose::sha256(
            access_token.as_bytes(),
        )));
        let request = self
            .http
            .get(node.url("/acme/userinfo"))
            .header("Authorization", format!("DPoP {access_token}"))
            .header("DPoP", dpop.dpop_with(claims));
        Answer::from(request.send().await.expect("userinfo")).await
    }

    async fn jwks(&self, node: &Node) -> Value {
        let answer = self.get(node, "/acme/jwks").await;
        assert_eq!(
            answer.status.as_u16(),
            200,
            "JWKS of {}: {}",
            node.name,
            answer.text
        );
        answer.body
    }
}

/// A fresh DPoP proof for the public token endpoint.
fn token_proof(dpop: &ClientKey) -> String {
    dpop.dpop_proof("POST", &format!("{ISSUER}/token"), now())
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap_or_else(|| panic!("no keys in {jwks}"))
        .iter()
        .filter_map(|k| k["kid"].as_str().map(str::to_owned))
        .collect()
}

/// The kid of the only active key of `alg` in an Admin API key list.
fn active_kid(list: &Value, alg: &str) -> String {
    let found: Vec<&str> = list
        .as_array()
        .unwrap_or_else(|| panic!("a key list: {list}"))
        .iter()
        .filter(|k| k["alg"] == alg && k["status"] == "active")
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert_eq!(found.len(), 1, "one active {alg} key: {list}");
    found[0].to_owned()
}

fn signing_kid(jwt: &str) -> String {
    decode_unverified(jwt).0["kid"]
        .as_str()
        .unwrap_or_else(|| panic!("no kid in {jwt}"))
        .to_owned()
}

/// The authorization URL on `node` (the front channel carries only client_id and request_uri).
fn authorize_url(node: &Node, client_id: &str, request_uri: &str) -> String {
    let mut url = url::Url::parse(&node.url("/acme/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("request_uri", request_uri);
    url.to_string()
}

/// Submits the form of `page` (login or consent) to `node`. The pages' forms post to relative
/// paths (`/acme/login`, `/acme/consent`), so the URL is built against the node's own address.
async fn submit(node: &Node, browser: &Browser, page: &Answer, fields: &[(&str, &str)]) -> Answer {
    let action = form_action(&page.text).unwrap_or_else(|| panic!("a form: {}", page.text));
    assert!(action.starts_with('/'), "relative form action {action}");
    let client_id = hidden_field(&page.text, "client_id").expect("client_id field");
    let request_uri = hidden_field(&page.text, "request_uri").expect("request_uri field");
    let csrf = hidden_field(&page.text, "csrf").expect("csrf field");
    let mut form: Vec<(&str, &str)> = vec![
        ("client_id", &client_id),
        ("request_uri", &request_uri),
        ("csrf", &csrf),
    ];
    form.extend_from_slice(fields);
    browser.post(&node.url(&action), &form).await
}

/// Polls `check` every 100 ms until it returns `Some`, for at most [`PROPAGATION_LIMIT`]; returns
/// the value and how long it took.
async fn within_limit<T, F, Fut>(what: &str, mut check: F) -> (T, Duration)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return (value, start.elapsed());
        }
        assert!(
            start.elapsed() < PROPAGATION_LIMIT,
            "{what}: not within {PROPAGATION_LIMIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_on_one_postgres_database_act_as_one_server() {
    let mut db = match Database::create() {
        Ok(db) => db,
        Err(why) => {
            let url = clavex_testkit::pg_url();
            if std::env::var("CLAVEX_TEST_REQUIRE_PG").as_deref() == Ok("1") {
                panic!("PostgreSQL at {url} is required (CLAVEX_TEST_REQUIRE_PG=1): {why}");
            }
            // Straight to stderr, past the test harness's capture: a skip must not go unnoticed.
            let _ = writeln!(
                std::io::stderr(),
                "\n*****************************************************************\n\
                 * SKIPPED the three-node cluster test: PostgreSQL at {url}\n\
                 * is not usable ({why}).\n\
                 * Set CLAVEX_TEST_PG_URL, or CLAVEX_TEST_REQUIRE_PG=1 to fail instead.\n\
                 *****************************************************************\n"
            );
            return;
        }
    };

    // ---- three nodes, one database, one public URL, one master key ----
    let master_key = clavex_jose::random_token(32);
    let org_token = format!("clx_cluster_org_{}", clavex_jose::random_token(24));
    let server_token = format!("clx_cluster_server_{}", clavex_jose::random_token(24));
    let env: Vec<(&str, &str)> = vec![
        ("CLAVEX_DATABASE_URL", &db.url),
        ("CLAVEX_PUBLIC_URL", PUBLIC_URL),
        ("CLAVEX_MASTER_KEY", &master_key),
        ("CLAVEX_BOOTSTRAP_ADMIN_TOKEN", &org_token),
        ("CLAVEX_SERVER_ADMIN_TOKEN", &server_token),
        ("CLAVEX_CACHE_TTL_SECS", "1"),
    ];
    // Node 1 migrates the empty database and bootstraps the organization; nodes 2 and 3 then start
    // together against it.
    let node1 = Node::spawn("node 1", &env).ready();
    let (starting2, starting3) = (Node::spawn("node 2", &env), Node::spawn("node 3", &env));
    let (node2, node3) = (starting2.ready(), starting3.ready());
    let nodes = [&node1, &node2, &node3];

    let api = Client {
        http: reqwest::Client::new(),
        org_token: org_token.clone(),
    };
    for node in nodes {
        // Tokens that were configured are never printed; the banner names the public issuer.
        assert_eq!(node.printed("CLAVEX_ORG_TOKEN"), None, "{}", node.name);
        assert_eq!(node.printed("CLAVEX_SERVER_TOKEN"), None, "{}", node.name);
        let listening = node.banner.last().unwrap();
        assert!(
            listening.contains(&format!("issuer {ISSUER} ")),
            "{}: {listening}",
            node.name
        );
        assert!(node.base.starts_with("http://127.0.0.1:"), "{}", node.base);
        let health = api.get(node, "/healthz").await;
        assert_eq!(
            health.status.as_u16(),
            200,
            "{}: {}",
            node.name,
            health.text
        );
        let ready = api.get(node, "/readyz").await;
        assert_eq!(ready.status.as_u16(), 200, "{}: {}", node.name, ready.text);
        let discovery = api
            .get(node, "/acme/.well-known/openid-configuration")
            .await;
        assert_eq!(discovery.status.as_u16(), 200, "{}", discovery.text);
        assert_eq!(discovery.body["issuer"], ISSUER, "{}", node.name);
        assert_eq!(
            discovery.body["token_endpoint"],
            format!("{ISSUER}/token"),
            "{}",
            node.name
        );
    }
    let ports: std::collections::HashSet<&str> = nodes.iter().map(|n| n.base.as_str()).collect();
    assert_eq!(ports.len(), 3, "three distinct listeners");
    // Every node publishes the same keys (one store, one master key).
    let jwks1 = api.jwks(&node1).await;
    assert_eq!(api.jwks(&node2).await, jwks1);
    assert_eq!(api.jwks(&node3).await, jwks1);
    // The configured organization admin token works on every node.
    for node in nodes {
        let org = api
            .admin(
                node,
                reqwest::Method::GET,
                "/api/v1/organizations/acme",
                None,
            )
            .await;
        assert_eq!(org.status.as_u16(), 200, "{}: {}", node.name, org.text);
    }

    // ---- client and user, through node 1's Admin API ----
    let key = ClientKey::es256();
    let registered = api
        .admin(
            &node1,
            reqwest::Method::POST,
            "/api/v1/organizations/acme/clients",
            Some(json!({
                "client_name": "Cluster TPP",
                "redirect_uris": [REDIRECT_URI],
                "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": key.jwks(),
                "require_pushed_authorization_requests": true,
                "require_dpop": true,
            })),
        )
        .await;
    assert_eq!(registered.status.as_u16(), 201, "{}", registered.text);
    let client = FapiClient {
        client_id: registered.body["client_id"].as_str().unwrap().to_owned(),
        key,
        redirect_uri: REDIRECT_URI.to_owned(),
    };
    let user = api
        .admin(
            &node1,
            reqwest::Method::POST,
            "/api/v1/organizations/acme/users",
            Some(json!({"username": USERNAME, "password": PASSWORD, "email": "alice@example.com"})),
        )
        .await;
    assert_eq!(user.status.as_u16(), 201, "{}", user.text);
    let user_id = user.body["user_id"].as_str().unwrap().to_owned();

    // ---- PAR on node 1 (with a DPoP proof: the code gets bound to the DPoP key) ----
    let dpop = ClientKey::es256();
    let (request_uri, verifier) = api.push(&node1, &client, &dpop).await;

    // ---- authorize, login and consent on node 2 ----
    let browser = Browser::new();
    let page = browser
        .get(&authorize_url(&node2, &client.client_id, &request_uri))
        .await;
    assert!(page.is_login_page(), "login page on node 2: {}", page.text);
    let page = submit(
        &node2,
        &browser,
        &page,
        &[
            ("username", USERNAME),
            ("password", PASSWORD),
            ("action", "login"),
        ],
    )
    .await;
    assert!(
        page.is_consent_page(),
        "consent page on node 2: {}",
        page.text
    );
    let done = submit(&node2, &browser, &page, &[("action", "approve")]).await;
    let code = done.assert_authorization_code(REDIRECT_URI, Some(STATE), ISSUER);

    // ---- token and UserInfo on node 3 ----
    let tokens = api.redeem(&node3, &client, &code, &verifier, &dpop).await;
    assert_eq!(
        tokens.status.as_u16(),
        200,
        "token on node 3: {}",
        tokens.text
    );
    assert_eq!(tokens.body["token_type"], "DPoP");
    assert_eq!(tokens.body["scope"], "openid accounts");
    assert!(tokens.body["refresh_token"].is_string(), "{}", tokens.text);
    let access_token = tokens.body["access_token"].as_str().unwrap().to_owned();
    let at_claims = verify_with_jwks(&access_token, &api.jwks(&node3).await).unwrap();
    assert_eq!(at_claims["iss"], ISSUER);
    assert_eq!(at_claims["sub"], user_id.as_str());
    assert_eq!(at_claims["cnf"]["jkt"], dpop.thumbprint().as_str());
    let id_token = tokens.body["id_token"].as_str().expect("id_token");
    let id_claims = verify_with_jwks(id_token, &jwks1).unwrap();
    assert_eq!(id_claims["iss"], ISSUER);
    assert_eq!(id_claims["aud"], client.client_id.as_str());
    assert_eq!(id_claims["sub"], user_id.as_str());
    assert_eq!(id_claims["nonce"], "nonce-456");
    let info = api.userinfo(&node3, &access_token, &dpop).await;
    assert_eq!(
        info.status.as_u16(),
        200,
        "userinfo on node 3: {}",
        info.text
    );
    assert_eq!(info.body["sub"], user_id.as_str());
    // The token is good on every node.
    let info = api.userinfo(&node1, &access_token, &dpop).await;
    assert_eq!(
        info.status.as_u16(),
        200,
        "userinfo on node 1: {}",
        info.text
    );

    // ---- replays, refused by a node that did not see the first use ----

    // The code, redeemed on node 3, again on node 1 (fresh assertion, fresh proof).
    api.redeem(&node1, &client, &code, &verifier, &dpop)
        .await
        .assert_oauth_error(400, "invalid_grant", "already been used");
    // ... which revokes what the code gave, on every node.
    let info = api.userinfo(&node2, &access_token, &dpop).await;
    assert_eq!(
        info.status.as_u16(),
        401,
        "userinfo on node 2 with a revoked token: {}",
        info.text
    );

    // The request_uri, used on node 2, opened again on node 3.
    browser
        .get(&authorize_url(&node3, &client.client_id, &request_uri))
        .await
        .assert_authorization_error(REDIRECT_URI, "invalid_request_uri", Some(STATE), ISSUER);

    // A client assertion, used on node 1, again on node 2 (with a fresh proof).
    let assertion = client.key.assertion(&client.client_id, ISSUER, now());
    let first = api
        .client_credentials(&node1, &assertion, &[&token_proof(&dpop)])
        .await;
    assert_eq!(first.status.as_u16(), 200, "node 1: {}", first.text);
    api.client_credentials(&node2, &assertion, &[&token_proof(&dpop)])
        .await
        .assert_oauth_error(
            401,
            "invalid_client",
            "client_assertion jti has already been used",
        );

    // A DPoP proof, used on node 3, again on node 1 (with a fresh assertion).
    let proof = token_proof(&dpop);
    let fresh = client.key.assertion(&client.client_id, ISSUER, now());
    let first = api.client_credentials(&node3, &fresh, &[&proof]).await;
    assert_eq!(first.status.as_u16(), 200, "node 3: {}", first.text);
    let fresh = client.key.assertion(&client.client_id, ISSUER, now());
    api.client_credentials(&node1, &fresh, &[&proof])
        .await
        .assert_oauth_error(
            400,
            "invalid_dpop_proof",
            "DPoP proof jti has already been used",
        );

    // ---- an ES256 key rotated on node 1 reaches nodes 2 and 3 within seconds ----
    let keys = api
        .admin(
            &node1,
            reqwest::Method::GET,
            "/api/v1/organizations/acme/keys",
            None,
        )
        .await;
    assert_eq!(keys.status.as_u16(), 200, "{}", keys.text);
    let old_kid = active_kid(&keys.body, "ES256");
    // Nodes 2 and 3 hold the current keys in their caches now.
    for node in [&node2, &node3] {
        let jwks = api.jwks(node).await;
        assert!(kids(&jwks).contains(&old_kid), "{}: {jwks}", node.name);
        let assertion = client.key.assertion(&client.client_id, ISSUER, now());
        let answer = api
            .client_credentials(node, &assertion, &[&token_proof(&dpop)])
            .await;
        assert_eq!(
            answer.status.as_u16(),
            200,
            "{}: {}",
            node.name,
            answer.text
        );
        assert_eq!(
            signing_kid(answer.body["access_token"].as_str().unwrap()),
            old_kid
        );
    }
    let rotated = api
        .admin(
            &node1,
            reqwest::Method::POST,
            "/api/v1/organizations/acme/keys/rotate",
            Some(json!({"alg": "ES256"})),
        )
        .await;
    assert_eq!(rotated.status.as_u16(), 200, "{}", rotated.text);
    let new_kid = active_kid(&rotated.body, "ES256");
    assert_ne!(new_kid, old_kid);
    // Node 1 serves it at once.
    assert!(kids(&api.jwks(&node1).await).contains(&new_kid));
    for node in [&node2, &node3] {
        let (jwks, took) =
            within_limit(&format!("new kid in the JWKS of {}", node.name), || async {
                let jwks = api.jwks(node).await;
                kids(&jwks).contains(&new_kid).then_some(jwks)
            })
            .await;
        eprintln!("{} published the rotated key after {took:?}", node.name);
        // The old key stays published for the tokens it signed.
        assert!(kids(&jwks).contains(&old_kid), "{}: {jwks}", node.name);
        // And new tokens are signed with the new key.
        let assertion = client.key.assertion(&client.client_id, ISSUER, now());
        let answer = api
            .client_credentials(node, &assertion, &[&token_proof(&dpop)])
            .await;
        assert_eq!(
            answer.status.as_u16(),
            200,
            "{}: {}",
            node.name,
            answer.text
        );
        let access_token = answer.body["access_token"].as_str().unwrap();
        assert_eq!(signing_kid(access_token), new_kid, "{}", node.name);
        verify_with_jwks(access_token, &jwks).unwrap();
    }

    // ---- a session made on node 2 is honoured on node 3 (single sign-on across nodes) ----
    let (request_uri, verifier) = api.push(&node1, &client, &dpop).await;
    // Without the cookies, node 3 asks for a login ...
    let stranger = Browser::new()
        .get(&authorize_url(&node3, &client.client_id, &request_uri))
        .await;
    assert!(stranger.is_login_page(), "{}", stranger.text);
    // ... with the cookies node 2 set (a browser sends them to every port of 127.0.0.1, as it
    // would to every node behind one host name), it does not: consent is remembered as well.
    let mut answer = browser
        .get(&authorize_url(&node3, &client.client_id, &request_uri))
        .await;
    assert!(
        !answer.is_login_page(),
        "node 3 asked for a login despite the session made on node 2"
    );
    if answer.is_consent_page() {
        answer = submit(&node3, &browser, &answer, &[("action", "approve")]).await;
    }
    let code = answer.assert_authorization_code(REDIRECT_URI, Some(STATE), ISSUER);
    let tokens = api.redeem(&node2, &client, &code, &verifier, &dpop).await;
    assert_eq!(
        tokens.status.as_u16(),
        200,
        "token on node 2: {}",
        tokens.text
    );
    let id_claims = verify_with_jwks(
        tokens.body["id_token"].as_str().unwrap(),
        &api.jwks(&node2).await,
    )
    .unwrap();
    assert_eq!(id_claims["sub"], user_id.as_str());
    assert_eq!(
        id_claims["auth_time"],
        auth_time(id_token),
        "the same sign-in, not a new one"
    );

    // ---- a DPoP nonce issued by one node is accepted by another ----
    let patched = api
        .admin(
            &node1,
            reqwest::Method::PATCH,
            "/api/v1/organizations/acme",
            Some(json!({"dpop_nonce_required": true})),
        )
        .await;
    assert_eq!(patched.status.as_u16(), 200, "{}", patched.text);
    let (_, took) = within_limit("node 3 requiring DPoP nonces", || async {
        let assertion = client.key.assertion(&client.client_id, ISSUER, now());
        let answer = api
            .client_credentials(&node3, &assertion, &[&token_proof(&dpop)])
            .await;
        (answer.error() == "use_dpop_nonce").then_some(())
    })
    .await;
    eprintln!("node 3 required DPoP nonces after {took:?}");
    let assertion = client.key.assertion(&client.client_id, ISSUER, now());
    let challenge = api
        .client_credentials(&node1, &assertion, &[&token_proof(&dpop)])
        .await;
    challenge.assert_oauth_error(400, "use_dpop_nonce", "nonce");
    let nonce = challenge.headers["dpop-nonce"].to_str().unwrap().to_owned();
    let mut claims = dpop.dpop_claims("POST", &format!("{ISSUER}/token"), now());
    claims["nonce"] = Value::String(nonce);
    let assertion = client.key.assertion(&client.client_id, ISSUER, now());
    let answer = api
        .client_credentials(&node3, &assertion, &[&dpop.dpop_with(claims)])
        .await;
    assert_eq!(
        answer.status.as_u16(),
        200,
        "node 1's nonce on node 3: {}",
        answer.text
    );

    // ---- SIGTERM: every node stops gracefully with status 0 ----
    drop(api);
    drop(browser);
    for node in [&node1, &node2, &node3] {
        node.signal_term();
    }
    for node in [node1, node2, node3] {
        let name = node.name;
        let (status, stderr) = node.wait_exit();
        assert!(
            status.success(),
            "{name} exited with {status}; stderr:\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{name}:\n{stderr}");
    }
    db.drop_now().unwrap();
}

/// `auth_time` of an ID token (unverified: it was verified when received).
fn auth_time(id_token: &str) -> Value {
    decode_unverified(id_token).1["auth_time"].clone()
}
