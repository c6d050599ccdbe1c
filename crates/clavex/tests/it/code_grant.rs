//! The authorization-code grant (RFC 6749 §4.1.3, RFC 7636 §4.6, RFC 9449 §10, FAPI 2.0 SP
//! §5.3.2.1): the token-endpoint and DPoP code-binding modules of the OIDF
//! `fapi2-security-profile-final-test-plan` (private_key_jwt + DPoP + plain_fapi + unsigned), named
//! after the modules. Errors: JSON, 400 (`invalid_client` 401), `Cache-Control: no-store`.

use clavex_testkit::flow::*;
use clavex_testkit::*;
use serde_json::json;

async fn setup() -> (TestServer, FapiClient) {
    let server = spawn().await;
    server.create_user().await;
    let client = server.fapi_client(json!({})).await;
    (server, client)
}

/// A token request for `code` with every parameter given explicitly (client authentication is
/// added by `token_as`).
async fn redeem_with(
    server: &TestServer,
    client: &FapiClient,
    code: &str,
    verifier: Option<&str>,
    dpop: &[&str],
) -> Answer {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", client.redirect_uri.as_str()),
    ];
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    server.token_as(client, &form, dpop).await
}

/// Code from client 1; the token request names client 2 (`client_id` and the assertion's iss/sub)
/// but the assertion is signed with client 1's key.
#[tokio::test]
async fn ensure_client_id_in_token_endpoint() {
    let (server, client1) = setup().await;
    let client2 = server.fapi_client(json!({})).await;
    let browser = Browser::new();
    let dpop_key = ClientKey::es256();
    let (code, verifier) = server
        .obtain_code(&browser, &client1, "openid accounts")
        .await;
    let assertion = client1
        .key
        .assertion(&client2.client_id, &server.issuer, server.now());
    let proof = server.token_proof(&dpop_key);
    let answer = server
        .token_request(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", &verifier),
                ("client_id", &client2.client_id),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", &assertion),
            ],
            &[&proof],
        )
        .await;
    answer.assert_oauth_error(401, "invalid_client", "no registered key");
    // The legitimate client can still redeem the code.
    let tokens = server
        .redeem_code(&client1, &code, &verifier, &dpop_key)
        .await;
    assert_eq!(tokens.status.as_u16(), 200, "{}", tokens.text);
}

/// Valid client authentication but no DPoP proof: 400 invalid_dpop_proof (never use_dpop_nonce).
#[tokio::test]
async fn ensure_holder_of_key_required() {
    let (server, client) = setup().await;
    let browser = Browser::new();
    let (code, verifier) = server
        .obtain_code(&browser, &client, "openid accounts")
        .await;
    let answer = redeem_with(&server, &client, &code, Some(&verifier), &[]).await;
    answer.assert_oauth_error(400, "invalid_request", "DPoP proof is required");
    // The code was not used up by the refused request.
    let tokens = server
        .redeem_code(&client, &code, &verifier, &ClientKey::es256())
        .await;
    assert_eq!(tokens.status.as_u16(), 200, "{}", tokens.text);
}

/// Code of client 1 redeemed by client 2 (its own valid authentication and DPoP key, client 1's
/// verifier): 400 invalid_grant; client 1 can still redeem it.
#[tokio::test]
async fn ensure_authorization_code_is_bound_to_client() {
    let (server, client1) = setup().await;
    let client2 = server.fapi_client(json!({})).await;
    let browser = Browser::new();
    let (code, verifier) = server
        .obtain_code(&browser, &client1, "openid accounts")
        .await;
    let answer = server
        .redeem_code(&client2, &code, &verifier, &ClientKey::es256())
        .await;
    answer.assert_oauth_error(400, "invalid_grant", "another client");
    let tokens = server
        .redeem_code(&client1, &code, &verifier, &ClientKey::es256())
        .await;
    assert_eq!(tokens.status.as_u16(), 200, "{}", tokens.text);
}

/// Redeem, wait one second, redeem again (new assertion, new proof): invalid_grant, and the tokens
/// of the first redemption are revoked (RFC 6749 §4.1.2).
#[tokio::test]
async fn attempt_reuse_authorization_code_after_one_second() {
    let (server, client) = setup().await;
    let browser = Browser::new();
    let dpop_key = ClientKey::es256();
    let (code, verifier) = server
        .obtain_code(&browser, &client, "openid accounts")
        .await;
    let first = server
        .redeem_code(&client, &code, &verifier, &dpop_key)
        .await;
    assert_eq!(first.status.as_u16(), 200, "{}", first.text);
    server.clock.advance(1);
    let second = server
        .redeem_code(&client, &code, &verifier, &dpop_key)
        .await;
    second.assert_oauth_error(400, "invalid_grant", "already been used");
    let info = server
        .userinfo(first.body["access_token"].as_str().unwrap(), &dpop_key)
        .await;
    assert_eq!(info.status.as_u16(), 401, "{}", info.text);
    let refresh = server
        .refresh(
            &client,
            first.body["refresh_token"].as_str().unwrap(),
            &dpop_key,
            &[],
        )
        .await;
    refresh.assert_oauth_error(400, "invalid_grant", "");
}

/// The suite waits 62 s after the callback: invalid_grant.
#[tokio::test]
async fn ensure_token_endpoint_fails_with_expired_auth_code() {
    let (server, client) = setup().await;
    let browser = Browser::new();
    let (code, verifier) = server
        .obtain_code(&browser, &client, "openid accounts")
        .await;
    server.clock.advance(62);
    let answer = server
        .redeem_code(&client, &code, &verifier, &ClientKey::es256())
        .await;
    answer.assert_oauth_error(400, "invalid_grant", "expired");
}

/// FAPI 2.0 SP §5.3.2.1-11: codes live 60 s: usable at 59 s, expired at 60 s.
#[tokio::test]
async fn authorization_code_lives_60_seconds() {
    let (server, client) = setup().await;
    let browser = Browser::new();
    let (code, verifier) = server
        .obtain_code(&browser, &client, "openid accounts")
        .await;
    server.clock.advance(59);
    let tokens = server
        .redeem_code(&client, &code, &verifier, &ClientKey::es256())
        .await;
    assert_eq!(tokens.status.as_u16(), 200, "{}", tokens.text);

    let (code, verifier) = server
        .obtain_code(&Browser::new(), &client, "openid accounts")
        .await;
    server.clock.advance(60);
    server
        .redeem_code(&client, &code, &verifier, &ClientKey::es256())
        .await
        .assert_oauth_error(400, "invalid_grant", "expired");
}

#[tokio::test]
async fn ensure_pkce_code_verifier_required() {
    let (server, client) = setup().await;
    let browser = Browser::new();
    let dpop_key = ClientKey::es256();
    let (code, _) = server
        .obtain_code(&browser, &client, "openid accounts")
        .await;
    let proof = server.token_proof(&dpop_key);
    redeem_with(&server, &client, &code, None, &[&proof])
        .await
        .assert_oauth_error(400, "invalid_grant", "code_verifier is required");
    // An empty verifier counts as absent (RFC 6749 §3.1).
    let proof = server.token_proof(&dpop_key);
    redeem_with(&server, &client, &code, Some(""), &[&proof])
        .await
        .assert_oauth_error(400, "invalid_grant", "code_verifier is required");
}

/// A random other 128-character verifier: invalid_grant (as are malformed verifiers).
#[tokio::test]
async fn incorrect_pkce_code_verifier_rejected() {
    let (server, client) = setup().await;
    let browser = Browser::new();
    let dpop_key = ClientKey::es256();
    let (code, verifier) = server
        .obtain_code(&browser, &client, "openid accounts")
        .await;
    let (other, _) = pkce_128();
    let proof = server.token_proof(&dpop_key);
    redeem_with(&server, &client, &code, Some(&other), &[&proof])
        .await
        .assert_oauth_error(400, "invalid_grant", "does not match");
    // The challenge itself, a truncated verifier, and one with a character outside RFC 7636.
    let challenge = clavex_jose::b64url_encode(&clavex_jose::sha256(verifier.as_bytes()));
    let truncated = &verifier[..42];
    let bad_chars = format!("{}+", &verifier[..50]);
    for wrong in [challenge.as_str(), truncated, bad_chars.as_str()] {
        let proof = server.token_proof(&dpop_key);
        let answer = redeem_with(&server, &client, &code, Some(wrong), &[&proof]).await;
        assert_eq!(
            (answer.status.as_u16(), answer.error()),
            (400, "invalid_grant"),
            "{wrong}: {}",
            answer.text
        );
    }
    // None of that used the code up.
    let tokens = server
        .redeem_code(&client, &code, &verifier, &dpop_key)
        .await;
    assert_eq!(tokens.status.as_u16(), 200, "{}", tokens.text);
}

/// The redirect URI at the token endpoint must be the pushed one (RFC 6749 §4.1.3).
#[tokio::test]
async fn token_request_redirect_uri_must_match() {
    let (server, mut client) = setup().await;
    let browser = Browser::new();
    let dpop_key = ClientKey::es256();
    let (code, verifier) = server
        .obtain_code(&browser, &client, "openid accounts")
        .await;
    client.redirect_uri = REDIRECT_URI_WITH_QUERY.to_owned();
    server
        .redeem_code(&client, &code, &verifier, &dpop_key)
        .await
        .assert_oauth_error(400, "invalid_grant", "redirect_uri does not match");
    let proof = server.token_proof(&dpop_key);
    server
        .token_as(
            &client,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", &verifier),
            ],
            &[&proof],
        )
        .await
        .assert_oauth_error(400, "invalid_request", "redirect_uri is required");
    client.redirect_uri = REDIRECT_URI.to_owned();
    let tokens = server
        .redeem_code(&client, &code, &verifier, &dpop_key)
        .await;
    assert_eq!(tokens.status.as_u16(), 200, "{}", tokens.text);
}

/// §3.5 / SP §5.4.1-4: codes carry at least 128 bits; each authorization gets a new one; unknown
/// and garbage codes are invalid_grant.
#[tokio::test]
async fn authorization_code_has_at_least_128_bits() {
    let (server, client) = setup().await;
    let mut codes = Vec::new();
    for _ in 0..3 {
        let (code, _) = server
            .obtain_code(&Browser::new(), &client, "openid accounts")
            .await;
        let bytes = clavex_jose::b64url_decode(&code).expect("code is base64url");
        assert!(bytes.len() >= 16, "{} bits", bytes.len() * 8);
        assert!(!codes.contains(&code));
        codes.push(code);
    }
    let dpop_key = ClientKey::es256();
    let (_, verifier) = pkce_128();
    for garbage in [
        "unknown-code".to_owned(),
        "x".repeat(20_000),
        "%00".to_owned(),
    ] {
        let proof = server.token_proof(&dpop_key);
        redeem_with(&server, &client, &garbage, Some(&verifier), &[&proof])
            .await
            .assert_oauth_error(400, "invalid_grant", "invalid");
    }
}

// ---- DPoP binding of the authorization code (RFC 9449 §10) ----

/// Pushes the usual parameters with these extra parameters and DPoP headers; returns the PAR answer
/// and the verifier.
async fn par_dpop(
    server: &TestServer,
    client: &FapiClient,
    extra: &[(&str, &str)],
    dpop: &[&str],
) -> (Answer, String) {
    let (verifier, challenge) = pkce_128();
    let mut params = TestServer::authorization_params(client, "openid accounts", &challenge);
    params.extend_from_slice(extra);
    (server.par(client, &params, dpop).await, verifier)
}

async fn code_for(server: &TestServer, client: &FapiClient, par: &Answer) -> String {
    assert_eq!(par.status.as_u16(), 201, "PAR: {}", par.text);
    let done = server
        .login_and_approve(
            &Browser::new(),
            &client.client_id,
            par.body["request_uri"].as_str().unwrap(),
        )
        .await;
    done.assert_authorization_code(REDIRECT_URI, Some("state-123"), &server.issuer)
}

/// A DPoP proof at PAR and a `dpop_jkt` that is not its key's thumbprint: PAR 400.
#[tokio::test]
async fn ensure_mismatched_dpop_jkt_fails() {
    let (server, client) = setup().await;
    let key = ClientKey::es256();
    let wrong = corrupted_thumbprint(&key.thumbprint());
    let proof = key.dpop_proof("POST", &server.par_endpoint(), server.now());
    let (par, _) = par_dpop(&server, &client, &[("dpop_jkt", &wrong)], &[&proof]).await;
    par.assert_oauth_error(400, "invalid_dpop_proof", "dpop_jkt does not match");
}

/// PAR with a proof of key A, token request with a proof of a fresh key B: 400.
#[tokio::test]
async fn ensure_token_endpoint_fails_with_mismatched_dpop_proof_jkt() {
    let (server, client) = setup().await;
    let key_a = ClientKey::es256();
    let proof = key_a.dpop_proof("POST", &server.par_endpoint(), server.now());
    let (par, verifier) = par_dpop(&server, &client, &[], &[&proof]).await;
    let code = code_for(&server, &client, &par).await;
    let key_b = ClientKey::es256();
    server
        .redeem_code(&client, &code, &verifier, &key_b)
        .await
        .assert_oauth_error(400, "invalid_dpop_proof", "bound to");
    // Key A still works: the refused request did not use the code up.
    let tokens = server.redeem_code(&client, &code, &verifier, &key_a).await;
    assert_eq!(tokens.status.as_u16(), 200, "{}", tokens.text);
}

/// `dpop_jkt` alone (a corrupted, syntactically valid thumbprint, no DPoP header): PAR accepts;
/// the token request with the real key fails.
#[tokio::test]
async fn ensure_token_endpoint_fails_with_mismatched_dpop_jkt() {
    let (server, client) = setup().await;
    let key = ClientKey::es256();
    let wrong = corrupted_thumbprint(&key.thumbprint());
    let (par, verifier) = par_dpop(&server, &client, &[("dpop_jkt", &wrong)], &[]).await;
    let code = code_for(&server, &client, &par).await;
    server
        .redeem_code(&client, &code, &verifier, &key)
        .await
        .assert_oauth_error(400, "invalid_dpop_proof", "bound to");
}

/// PAR with a proof, token with the same key: success, the access token is bound to it.
#[tokio::test]
async fn ensure_dpopproof_at_par_endpoint_binding_success() {
    let (server, client) = setup().await;
    let key = ClientKey::es256();
    let proof = key.dpop_proof("POST", &server.par_endpoint(), server.now());
    let (par, verifier) = par_dpop(&server, &client, &[], &[&proof]).await;
    let code = code_for(&server, &client, &par).await;
    let tokens = server.redeem_code(&client, &code, &verifier, &key).await;
    assert_eq!(tokens.status.as_u16(), 200, "{}", tokens.text);
    assert_eq!(tokens.body["token_type"], "DPoP");
    let (_, at) = decode_unverified(tokens.body["access_token"].as_str().unwrap());
    assert_eq!(at["cnf"]["jkt"], key.thumbprint());
}

/// PAR with a proof and the matching `dpop_jkt`: success; so is `dpop_jkt` alone (client 2 of the
/// happy flow) with the matching key at the token endpoint.
#[tokio::test]
async fn ensure_dpop_auth_code_binding_success() {
    let (server, client) = setup().await;
    let key = ClientKey::es256();
    let jkt = key.thumbprint();
    assert_eq!(jkt, rfc7638_thumbprint(&key.dpop_jwk()));
    let proof = key.dpop_proof("POST", &server.par_endpoint(), server.now());
    let (par, verifier) = par_dpop(&server, &client, &[("dpop_jkt", &jkt)], &[&proof]).await;
    let code = code_for(&server, &client, &par).await;
    let tokens = server.redeem_code(&client, &code, &verifier, &key).await;
    assert_eq!(tokens.status.as_u16(), 200, "{}", tokens.text);

    let (par, verifier) = par_dpop(&server, &client, &[("dpop_jkt", &jkt)], &[]).await;
    let code = code_for(&server, &client, &par).await;
    let tokens = server.redeem_code(&client, &code, &verifier, &key).await;
    assert_eq!(tokens.status.as_u16(), 200, "{}", tokens.text);
    let (_, at) = decode_unverified(tokens.body["access_token"].as_str().unwrap());
    assert_eq!(at["cnf"]["jkt"], jkt);
}

/// Runs PAR (with a proof), token and UserInfo with proofs whose `iat` is `now + offset`.
async fn flow_with_proof_iat_offset(offset: i64) {
    let (server, client) = setup().await;
    let key = ClientKey::es256();
    let proof =
        key.dpop_with(key.dpop_claims("POST", &server.par_endpoint(), server.now() + offset));
    let (par, verifier) = par_dpop(&server, &client, &[], &[&proof]).await;
    let code = code_for(&server, &client, &par).await;
    let proof =
        key.dpop_with(key.dpop_claims("POST", &server.token_endpoint, server.now() + offset));
    let tokens = redeem_with(&server, &client, &code, Some(&verifier), &[&proof]).await;
    assert_eq!(tokens.status.as_u16(), 200, "{}", tokens.text);
    let access_token = tokens.body["access_token"].as_str().unwrap();
    let url = format!("{}/userinfo", server.issuer);
    let mut claims = key.dpop_claims("GET", &url, server.now() + offset);
    claims["ath"] = json!(clavex_jose::b64url_encode(&clavex_jose::sha256(
        access_token.as_bytes()
    )));
    let info = Answer::from(
        server
            .http
            .get(&url)
            .header("Authorization", format!("DPoP {access_token}"))
            .header("DPoP", key.dpop_with(claims))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(info.status.as_u16(), 200, "{}", info.text);
}

#[tokio::test]
async fn ensure_dpopproof_with_iat_10seconds_before_succeeds() {
    flow_with_proof_iat_offset(-10).await;
}

/// Despite its name the suite sends `iat = now + 8 s`; Clavex allows up to 10 s.
#[tokio::test]
async fn ensure_dpopproof_with_iat_10seconds_after_succeeds() {
    flow_with_proof_iat_offset(8).await;
    flow_with_proof_iat_offset(10).await;
}

/// Proofs with `nbf = now` and `exp = now + 300` are accepted at the token endpoint and at UserInfo.
#[tokio::test]
async fn check_dpop_proof_nbf_exp() {
    let (server, client) = setup().await;
    let key = ClientKey::es256();
    let browser = Browser::new();
    let (code, verifier) = server
        .obtain_code(&browser, &client, "openid accounts")
        .await;
    let now = server.now();
    let mut claims = key.dpop_claims("POST", &server.token_endpoint, now);
    claims["nbf"] = json!(now);
    claims["exp"] = json!(now + 300);
    let proof = key.dpop_with(claims);
    let tokens = redeem_with(&server, &client, &code, Some(&verifier), &[&proof]).await;
    assert_eq!(tokens.status.as_u16(), 200, "{}", tokens.text);
    let access_token = tokens.body["access_token"].as_str().unwrap();
    let url = format!("{}/userinfo", server.issuer);
    let mut claims = key.dpop_claims("GET", &url, now);
    claims["nbf"] = json!(now);
    claims["exp"] = json!(now + 300);
    claims["ath"] = json!(clavex_jose::b64url_encode(&clavex_jose::sha256(
        access_token.as_bytes()
    )));
    let info = Answer::from(
        server
            .http
            .get(&url)
            .header("Authorization", format!("DPoP {access_token}"))
            .header("DPoP", key.dpop_with(claims))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(info.status.as_u16(), 200, "{}", info.text);
}

/// A PAR proof is bound to the PAR endpoint and single use: wrong `htu`, replay and an old `iat`
/// are refused at PAR.
#[tokio::test]
async fn dpop_proof_at_par_is_checked() {
    let (server, client) = setup().await;
    let key = ClientKey::es256();
    let wrong_htu = key.dpop_proof("POST", &server.token_endpoint, server.now());
    par_dpop(&server, &client, &[], &[&wrong_htu])
        .await
        .0
        .assert_oauth_error(400, "invalid_dpop_proof", "htu");
    let old = key.dpop_proof("POST", &server.par_endpoint(), server.now() - 61);
    par_dpop(&server, &client, &[], &[&old])
        .await
        .0
        .assert_oauth_error(400, "invalid_dpop_proof", "too old");
    let proof = key.dpop_proof("POST", &server.par_endpoint(), server.now());
    let (first, _) = par_dpop(&server, &client, &[], &[&proof]).await;
    assert_eq!(first.status.as_u16(), 201, "{}", first.text);
    par_dpop(&server, &client, &[], &[&proof])
        .await
        .0
        .assert_oauth_error(400, "invalid_dpop_proof", "already been used");
}
