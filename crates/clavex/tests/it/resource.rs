//! The demo bank (`examples/demo-bank`, built on `clavex-resource`) in-process, against a real node:
//! DPoP-bound tokens from the node are accepted at `GET /accounts`, and every resource-server rule of
//! FAPI 2.0 / RFC 9449 (and the conformance suite's RS mutations) holds over HTTP.

use std::sync::Arc;

use clavex_core::clock::Clock;
use clavex_testkit::flow::Browser;
use clavex_testkit::{Answer, ClientKey, ORG_TOKEN, StatusCode, TestServer, spawn};
use reqwest::Method;
use serde_json::{Value, json};

/// The bank's public URL has no port, so that proofs naming `:80` exercise default-port
/// normalisation; the bank's HTTP client resolves the host to the listening socket.
const BANK: &str = "http://bank.test";
const ACCOUNTS: &str = "http://bank.test/accounts";
const INTERACTION_ID: &str = "x-fapi-interaction-id";

struct Bank {
    http: reqwest::Client,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Bank {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the demo bank for `server`'s organization, on the node's (manual) clock.
async fn bank(server: &TestServer) -> Bank {
    let mut config = demo_bank::Config::new(&server.issuer, BANK);
    let clock = server.clock.clone();
    config.clock = Arc::new(move || clock.now());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(demo_bank::serve(listener, config));
    let http = reqwest::Client::builder()
        .resolve("bank.test", addr)
        .build()
        .unwrap();
    Bank { http, task }
}

/// A client-credentials client and a DPoP-bound token for `scope`.
async fn token(server: &TestServer, dpop_key: &ClientKey, scope: &str) -> String {
    let client_key = ClientKey::es256();
    let client_id = server.client_credentials_client(&client_key).await;
    let answer = server
        .client_credentials(&client_id, &client_key, dpop_key, &[("scope", scope)])
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body["access_token"].as_str().unwrap().to_owned()
}

fn ath(token: &str) -> String {
    clavex_jose::b64url_encode(&clavex_jose::sha256(token.as_bytes()))
}

/// Proof claims for `GET htu` with `ath` of `token`.
fn claims(key: &ClientKey, htu: &str, token: &str, now: i64) -> Value {
    let mut claims = key.dpop_claims("GET", htu, now);
    claims["ath"] = json!(ath(token));
    claims
}

fn proof(server: &TestServer, key: &ClientKey, token: &str) -> String {
    key.dpop_with(claims(key, ACCOUNTS, token, server.now()))
}

impl Bank {
    async fn get(&self, url: &str, headers: &[(&str, &str)]) -> Answer {
        let mut request = self.http.get(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Answer::from(request.send().await.unwrap()).await
    }

    /// `GET /accounts` with `Authorization: DPoP <token>` and `proof`.
    async fn accounts(&self, token: &str, proof: &str) -> Answer {
        let auth = format!("DPoP {token}");
        self.get(ACCOUNTS, &[("authorization", &auth), ("dpop", proof)])
            .await
    }
}

#[track_caller]
fn assert_refused(answer: &Answer, status: u16, code: &str) {
    assert_eq!(answer.status.as_u16(), status, "{}", answer.text);
    assert_eq!(answer.error(), code, "{}", answer.text);
    let challenge = answer.headers["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with(&format!("DPoP error=\"{code}\", error_description=\"")),
        "{challenge}"
    );
    assert!(
        challenge.ends_with("algs=\"ES256 PS256 EdDSA\""),
        "{challenge}"
    );
}

#[tokio::test]
async fn accounts_with_a_client_credentials_token() {
    let server = spawn().await;
    let bank = bank(&server).await;
    let dpop_key = ClientKey::es256();
    let token = token(&server, &dpop_key, "accounts").await;
    let (_, claims) = clavex_testkit::decode_unverified(&token);

    let interaction_id = "8F1B2C3D-4E5F-4a6b-9c7d-0123456789ab";
    let auth = format!("DPoP {token}");
    let answer = bank
        .get(
            ACCOUNTS,
            &[
                ("authorization", &auth),
                ("dpop", &proof(&server, &dpop_key, &token)),
                (INTERACTION_ID, interaction_id),
                ("x-fapi-customer-ip-address", "2001:db8::1"),
                ("accept", "application/json; charset=UTF-8"),
                ("accept-charset", "UTF-8"),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["sub"], claims["sub"]);
    let accounts = answer.body["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 2);
    assert!(
        answer.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(answer.headers[INTERACTION_ID], interaction_id);
    assert_eq!(answer.headers["cache-control"], "no-store");
    let date = answer.headers["date"].to_str().unwrap();
    let date = httpdate_parse(date);
    assert!((date - server.now()).abs() < 300 || (date - system_now()).abs() < 300);

    // One account by id; someone else's id is not found.
    let id = accounts[0]["account_id"].as_str().unwrap();
    let url = format!("{ACCOUNTS}/{id}");
    let mut c = dpop_key.dpop_claims("GET", &url, server.now());
    c["ath"] = json!(ath(&token));
    let one = bank
        .get(
            &url,
            &[("authorization", &auth), ("dpop", &dpop_key.dpop_with(c))],
        )
        .await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.text);
    assert_eq!(one.body, accounts[0]);
    let url = format!("{ACCOUNTS}/acc-00000000-1");
    let mut c = dpop_key.dpop_claims("GET", &url, server.now());
    c["ath"] = json!(ath(&token));
    let other = bank
        .get(
            &url,
            &[("authorization", &auth), ("dpop", &dpop_key.dpop_with(c))],
        )
        .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND, "{}", other.text);

    // Without an interaction id the bank makes one (a UUID); an id that is not a UUID is refused.
    let answer = bank
        .accounts(&token, &proof(&server, &dpop_key, &token))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let generated = answer.headers[INTERACTION_ID].to_str().unwrap();
    assert_eq!(generated.len(), 36, "{generated}");
    assert!(answer.headers.contains_key("date"));
    let answer = bank
        .get(
            ACCOUNTS,
            &[
                ("authorization", &auth),
                ("dpop", &proof(&server, &dpop_key, &token)),
                (INTERACTION_ID, "not-a-uuid"),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    assert_ne!(answer.headers[INTERACTION_ID], "not-a-uuid");
}

fn system_now() -> i64 {
    clavex_core::clock::SystemClock.now()
}

/// RFC 1123 date (`Sun, 06 Nov 1994 08:49:37 GMT`) to Unix seconds.
fn httpdate_parse(value: &str) -> i64 {
    let parts: Vec<&str> = value.split(' ').collect();
    assert_eq!(parts.len(), 6, "{value}");
    assert_eq!(parts[5], "GMT", "{value}");
    let day: i64 = parts[1].parse().unwrap();
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == parts[2])
    .unwrap() as i64
        + 1;
    let year: i64 = parts[3].parse().unwrap();
    let hms: Vec<i64> = parts[4].split(':').map(|p| p.parse().unwrap()).collect();
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + hms[0] * 3600 + hms[1] * 60 + hms[2]
}

#[tokio::test]
async fn refusals() {
    let server = spawn().await;
    let bank = bank(&server).await;
    let dpop_key = ClientKey::es256();
    let token = token(&server, &dpop_key, "accounts").await;

    // Wrong ath.
    let mut c = claims(&dpop_key, ACCOUNTS, &token, server.now());
    c["ath"] = json!(ath("another token"));
    assert_refused(
        &bank.accounts(&token, &dpop_key.dpop_with(c)).await,
        401,
        "invalid_dpop_proof",
    );
    // A proof from another key than the token is bound to.
    let other = ClientKey::es256();
    let answer = bank.accounts(&token, &proof(&server, &other, &token)).await;
    assert_refused(&answer, 401, "invalid_dpop_proof");
    assert!(answer.description().contains("another key"));
    // The token as Bearer.
    let bearer = format!("Bearer {token}");
    let answer = bank
        .get(
            ACCOUNTS,
            &[
                ("authorization", &bearer),
                ("dpop", &proof(&server, &dpop_key, &token)),
            ],
        )
        .await;
    assert_refused(&answer, 401, "invalid_token");
    // The token in the query (the suite keeps the DPoP header): 400.
    let url = format!("{ACCOUNTS}?access_token={token}");
    let answer = bank
        .get(&url, &[("dpop", &proof(&server, &dpop_key, &token))])
        .await;
    assert_refused(&answer, 400, "invalid_request");
    // No credentials at all.
    assert_refused(&bank.get(ACCOUNTS, &[]).await, 401, "invalid_token");
    // A replayed proof.
    let once = proof(&server, &dpop_key, &token);
    assert_eq!(bank.accounts(&token, &once).await.status, StatusCode::OK);
    let answer = bank.accounts(&token, &once).await;
    assert_refused(&answer, 401, "invalid_dpop_proof");
    assert!(answer.description().contains("already been used"));
    // Another scope only: 403 insufficient_scope.
    let payments_key = ClientKey::es256();
    let payments = self::token(&server, &payments_key, "payments").await;
    assert_refused(
        &bank
            .accounts(&payments, &proof(&server, &payments_key, &payments))
            .await,
        403,
        "insufficient_scope",
    );
    // A token whose signature was tampered with.
    let (input, signature) = token.rsplit_once('.').unwrap();
    let mut sig = clavex_jose::b64url_decode(signature).unwrap();
    sig[10] ^= 1;
    let tampered = format!("{input}.{}", clavex_jose::b64url_encode(&sig));
    assert_refused(
        &bank
            .accounts(&tampered, &proof(&server, &dpop_key, &tampered))
            .await,
        401,
        "invalid_token",
    );
    // Expired: the bank runs on the node's clock; move it past the token's 300 s lifetime.
    server.clock.advance(301);
    let answer = bank
        .accounts(&token, &proof(&server, &dpop_key, &token))
        .await;
    assert_refused(&answer, 401, "invalid_token");
    assert!(answer.description().contains("expired"), "{}", answer.text);
}

#[tokio::test]
async fn key_rotation_at_the_issuer() {
    let server = spawn().await;
    let bank = bank(&server).await;
    let dpop_key = ClientKey::es256();
    let first = token(&server, &dpop_key, "accounts").await;
    // The bank fetches and caches the JWKS.
    let answer = bank
        .accounts(&first, &proof(&server, &dpop_key, &first))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);

    let rotated = server
        .admin(
            Method::POST,
            "/api/v1/organizations/acme/keys/rotate",
            ORG_TOKEN,
            Some(json!({"alg": "ES256"})),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    let second = token(&server, &dpop_key, "accounts").await;
    let (h1, _) = clavex_testkit::decode_unverified(&first);
    let (h2, _) = clavex_testkit::decode_unverified(&second);
    assert_ne!(
        h1["kid"], h2["kid"],
        "the new token is signed with the new key"
    );
    // Unknown kid: the bank fetches the JWKS again at once and accepts the token.
    let answer = bank
        .accounts(&second, &proof(&server, &dpop_key, &second))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    // Tokens signed with the retired key still work while it is published.
    let answer = bank
        .accounts(&first, &proof(&server, &dpop_key, &first))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
}

/// The resource-server rows of the conformance suite's `dpop-negative-tests` (§2.3), over HTTP.
#[tokio::test]
async fn conformance_dpop_negative_tests() {
    let server = spawn().await;
    let bank = bank(&server).await;
    let key = ClientKey::es256();
    let token = token(&server, &key, "accounts").await;
    let auth = format!("DPoP {token}");
    let now = server.now();
    let with = |name: &str, value: Value| {
        let mut c = claims(&key, ACCOUNTS, &token, now);
        c[name] = value;
        key.dpop_with(c)
    };

    // Header name `DPOP` (header names are case-insensitive).
    let answer = bank
        .get(
            ACCOUNTS,
            &[
                ("authorization", &auth),
                ("DPOP", &proof(&server, &key, &token)),
            ],
        )
        .await;
    assert_eq!(
        answer.status,
        StatusCode::OK,
        "DPOP header: {}",
        answer.text
    );
    // Scheme in another case.
    let answer = bank
        .get(
            ACCOUNTS,
            &[
                ("authorization", &format!("dPoP {token}")),
                ("dpop", &proof(&server, &key, &token)),
            ],
        )
        .await;
    assert_eq!(
        answer.status,
        StatusCode::OK,
        "dPoP scheme: {}",
        answer.text
    );

    let accepted = [
        (
            "htu ?query#fragment",
            with("htu", json!(format!("{ACCOUNTS}?query#fragment"))),
        ),
        (
            "htu upper-case scheme and host",
            with("htu", json!("HTTP://BANK.TEST/accounts")),
        ),
        (
            "htu :80",
            with("htu", json!("http://bank.test:80/accounts")),
        ),
        ("extra claim", with("extra", json!("claim"))),
        ("nbf/exp", {
            let mut c = claims(&key, ACCOUNTS, &token, now);
            c["nbf"] = json!(now);
            c["exp"] = json!(now + 300);
            key.dpop_with(c)
        }),
        ("iat -10 s", with("iat", json!(now - 10))),
        ("iat +8 s", with("iat", json!(now + 8))),
    ];
    for (what, proof) in accepted {
        let answer = bank.accounts(&token, &proof).await;
        assert_eq!(answer.status, StatusCode::OK, "{what}: {}", answer.text);
    }

    let refused = [
        ("htm PUT", with("htm", json!("PUT"))),
        (
            "htu suffix",
            with("htu", json!(format!("{ACCOUNTS}ohnonotagain"))),
        ),
        ("iat +1 h", with("iat", json!(now + 3600))),
        ("iat -1 h", with("iat", json!(now - 3600))),
        ("no ath", {
            let mut c = claims(&key, ACCOUNTS, &token, now);
            c.as_object_mut().unwrap().remove("ath");
            key.dpop_with(c)
        }),
        ("no jti", {
            let mut c = claims(&key, ACCOUNTS, &token, now);
            c.as_object_mut().unwrap().remove("jti");
            key.dpop_with(c)
        }),
        ("typ", {
            let mut jwk = key.key.public_jwk();
            jwk.as_object_mut().unwrap().remove("kid");
            let extra: serde_json::Map<String, Value> =
                [("jwk".to_owned(), jwk)].into_iter().collect();
            key.key
                .sign_jwt(
                    Some("dpop+jwt+wrongyousee"),
                    Some(&extra),
                    false,
                    &claims(&key, ACCOUNTS, &token, now),
                )
                .unwrap()
        }),
    ];
    for (what, proof) in refused {
        let answer = bank.accounts(&token, &proof).await;
        assert_eq!(answer.status.as_u16(), 401, "{what}: {}", answer.text);
        assert_eq!(answer.error(), "invalid_dpop_proof", "{what}");
    }

    // Two DPoP headers; no DPoP header with `DPoP` and with `Bearer`.
    let answer = bank
        .get(
            ACCOUNTS,
            &[
                ("authorization", &auth),
                ("dpop", &proof(&server, &key, &token)),
                ("dpop", &proof(&server, &key, &token)),
            ],
        )
        .await;
    assert_refused(&answer, 401, "invalid_dpop_proof");
    assert_refused(
        &bank.get(ACCOUNTS, &[("authorization", &auth)]).await,
        401,
        "invalid_dpop_proof",
    );
    assert_refused(
        &bank
            .get(ACCOUNTS, &[("authorization", &format!("Bearer {token}"))])
            .await,
        401,
        "invalid_token",
    );
    // Client 2's token with client 1's key: 4xx.
    let key2 = ClientKey::es256();
    let token2 = self::token(&server, &key2, "accounts").await;
    let answer = bank.accounts(&token2, &proof(&server, &key, &token2)).await;
    assert_refused(&answer, 401, "invalid_dpop_proof");
    // Final valid proof.
    let answer = bank.accounts(&token, &proof(&server, &key, &token)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
}

#[tokio::test]
async fn accounts_with_a_code_flow_token() {
    let server = spawn().await;
    let bank = bank(&server).await;
    server.create_user().await;
    let client = server.fapi_client(json!({})).await;
    let browser = Browser::new();
    let dpop_key = ClientKey::es256();
    let (code, verifier) = server.obtain_code(&browser, &client, "accounts").await;
    let tokens = server
        .redeem_code(&client, &code, &verifier, &dpop_key)
        .await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.text);
    let token = tokens.body["access_token"].as_str().unwrap();
    let (_, claims) = clavex_testkit::decode_unverified(token);
    let answer = bank
        .accounts(token, &proof(&server, &dpop_key, token))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["sub"], claims["sub"]);
}

/// UserInfo runs the same library checks, over the organization's keys and the store.
#[tokio::test]
async fn userinfo_uses_the_same_checks() {
    let server = spawn().await;
    server.create_user().await;
    let client = server.fapi_client(json!({})).await;
    let browser = Browser::new();
    let dpop_key = ClientKey::es256();
    let (code, verifier) = server
        .obtain_code(&browser, &client, "openid email accounts")
        .await;
    let tokens = server
        .redeem_code(&client, &code, &verifier, &dpop_key)
        .await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.text);
    let token = tokens.body["access_token"].as_str().unwrap();
    let url = format!("{}/userinfo", server.issuer);
    let auth = format!("DPoP {token}");
    let userinfo = |headers: Vec<(&'static str, String)>, query: bool| {
        let mut request = server.http.get(if query {
            format!("{url}?access_token={token}")
        } else {
            url.clone()
        });
        for (name, value) in headers {
            request = request.header(name, value);
        }
        async move { Answer::from(request.send().await.unwrap()).await }
    };
    let proof = || dpop_key.dpop_with(claims(&dpop_key, &url, token, server.now()));

    let once = proof();
    let ok = userinfo(
        vec![("authorization", auth.clone()), ("dpop", once.clone())],
        false,
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert_eq!(ok.body["email"], "alice@example.com");
    // The proof was recorded in the store: a replay is refused.
    let replay = userinfo(vec![("authorization", auth.clone()), ("dpop", once)], false).await;
    assert_refused(&replay, 401, "invalid_dpop_proof");
    let bearer = userinfo(
        vec![
            ("authorization", format!("Bearer {token}")),
            ("dpop", proof()),
        ],
        false,
    )
    .await;
    assert_refused(&bearer, 401, "invalid_token");
    let query = userinfo(vec![("dpop", proof())], true).await;
    assert_refused(&query, 400, "invalid_request");
    let other = ClientKey::es256();
    let wrong_key = userinfo(
        vec![
            ("authorization", auth.clone()),
            (
                "dpop",
                other.dpop_with(claims(&other, &url, token, server.now())),
            ),
        ],
        false,
    )
    .await;
    assert_refused(&wrong_key, 401, "invalid_dpop_proof");
    // A proof for the bank's URL is not a proof for UserInfo.
    let elsewhere = userinfo(
        vec![
            ("authorization", auth.clone()),
            (
                "dpop",
                dpop_key.dpop_with(claims(&dpop_key, ACCOUNTS, token, server.now())),
            ),
        ],
        false,
    )
    .await;
    assert_refused(&elsewhere, 401, "invalid_dpop_proof");
    // Without openid: 403 insufficient_scope.
    let (code, verifier) = server
        .obtain_code(&Browser::new(), &client, "accounts")
        .await;
    let tokens = server
        .redeem_code(&client, &code, &verifier, &dpop_key)
        .await;
    let token = tokens.body["access_token"].as_str().unwrap();
    let info = server.userinfo(token, &dpop_key).await;
    assert_refused(&info, 403, "insufficient_scope");
}

/// `POST /payments` at the bank with `payment` as JSON and a proof for it.
async fn pay(
    server: &TestServer,
    bank: &Bank,
    token: &str,
    key: &ClientKey,
    payment: &Value,
) -> Answer {
    let url = format!("{BANK}/payments");
    let mut claims = key.dpop_claims("POST", &url, server.now());
    claims["ath"] = json!(ath(token));
    Answer::from(
        bank.http
            .post(&url)
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", key.dpop_with(claims))
            .json(payment)
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn a_payment_runs_only_as_the_user_approved_it_in_authorization_details() {
    use clavex_testkit::flow::pkce;
    let server = spawn().await;
    server.create_user().await;
    let bank = bank(&server).await;
    let client = server.fapi_client(json!({})).await;
    let approved = json!({
        "instructedAmount": {"currency": "EUR", "amount": "42.00"},
        "creditorName": "Merchant A",
        "creditorAccount": {"iban": "DE02100100109307118603"},
        "remittanceInformationUnstructured": "Invoice 7",
    });
    let mut detail = approved.clone();
    detail["type"] = json!("payment_initiation");
    let details = json!([detail]).to_string();
    let (verifier, challenge) = pkce();
    let mut params = TestServer::authorization_params(&client, "openid payments", &challenge);
    params.push(("authorization_details", &details));
    let par = server.par(&client, &params, &[]).await;
    assert_eq!(par.status.as_u16(), 201, "{}", par.text);
    let done = server
        .login_and_approve(
            &Browser::new(),
            &client.client_id,
            par.body["request_uri"].as_str().unwrap(),
        )
        .await;
    let code = done.redirect_param("code").expect("code");
    let dpop = ClientKey::es256();
    let tokens = server.redeem_code(&client, &code, &verifier, &dpop).await;
    let token = tokens.body["access_token"].as_str().unwrap().to_owned();

    let paid = pay(&server, &bank, &token, &dpop, &approved).await;
    assert_eq!(paid.status.as_u16(), 201, "{}", paid.text);
    assert_eq!(paid.body["status"], "AcceptedSettlementInProcess");
    assert_eq!(paid.body["instructedAmount"], approved["instructedAmount"]);

    // Another amount, or another creditor, is not what the user approved.
    for (member, value) in [
        (
            "instructedAmount",
            json!({"currency": "EUR", "amount": "4200.00"}),
        ),
        ("creditorAccount", json!({"iban": "GB33BUKB20201555555555"})),
    ] {
        let mut changed = approved.clone();
        changed[member] = value;
        let refused = pay(&server, &bank, &token, &dpop, &changed).await;
        assert_eq!(refused.status.as_u16(), 403, "{member}: {}", refused.text);
        assert_eq!(refused.error(), "insufficient_scope");
    }

    // A token with the payments scope but no authorization_details pays nothing.
    let plain = self::token(&server, &dpop, "payments").await;
    let refused = pay(&server, &bank, &plain, &dpop, &approved).await;
    assert_eq!(refused.status.as_u16(), 403, "{}", refused.text);
}
