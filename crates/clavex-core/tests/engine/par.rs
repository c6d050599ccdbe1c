//! Pushed authorization requests (RFC 9126; FAPI 2.0 SP §5.3.2.2): PKCE S256, `response_type=code`,
//! exact redirect URIs, scopes, request objects (RFC 9101; FAPI 2.0 MS §5.3.1), `request_uri`
//! refused, `expires_in`.

use clavex_core::policy::lifetimes::PAR_LIFETIME_SECS;
use serde_json::{Value, json};

use crate::support::*;

async fn setup() -> (Harness, TestClient) {
    let harness = Harness::new().await;
    let client = harness.client(json!({})).await;
    (harness, client)
}

#[tokio::test]
async fn accepted_request_gets_a_request_uri_for_the_policy_lifetime() {
    let (h, client) = setup().await;
    let (form, _) = h.par_form(&client);
    let pushed = h.push(&form, &[]).await.expect("PAR");
    assert!(
        pushed
            .request_uri
            .starts_with("urn:ietf:params:oauth:request_uri:"),
        "{}",
        pushed.request_uri
    );
    assert_eq!(pushed.expires_in, PAR_LIFETIME_SECS);
    // FAPI 2.0 SP §5.3.2.2-13: under 600 seconds.
    assert!(pushed.expires_in < 600);
    // Each push is its own request_uri.
    let (again, _) = h.par_form(&client);
    assert_ne!(
        h.push(&again, &[]).await.unwrap().request_uri,
        pushed.request_uri
    );
}

#[tokio::test]
async fn pkce_s256_is_required() {
    let (h, client) = setup().await;
    let (form, _) = h.par_form(&client);
    assert_refused(
        h.push(&form.clone().without("code_challenge"), &[]).await,
        "invalid_request",
        "code_challenge is required",
    );
    assert_refused(
        h.push(&form.clone().set("code_challenge_method", "plain"), &[])
            .await,
        "invalid_request",
        "code_challenge_method plain is not allowed",
    );
    assert_refused(
        h.push(&form.clone().without("code_challenge_method"), &[])
            .await,
        "invalid_request",
        "code_challenge_method S256 is required",
    );
    for malformed in [
        "short",
        // 43 characters, but `+` is not base64url.
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM",
        // 44 characters.
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cMx",
    ] {
        assert_refused(
            h.push(&form.clone().set("code_challenge", malformed), &[])
                .await,
            "invalid_request",
            "code_challenge must be the base64url SHA-256",
        );
    }
    // The accept path: the RFC 7636 Appendix B challenge.
    h.push(
        &form.set(
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        ),
        &[],
    )
    .await
    .expect("S256 challenge accepted");
}

#[tokio::test]
async fn only_response_type_code() {
    let (h, client) = setup().await;
    let (form, _) = h.par_form(&client);
    assert_refused(
        h.push(&form.clone().without("response_type"), &[]).await,
        "invalid_request",
        "response_type is required",
    );
    for other in ["token", "code id_token", "id_token", "Code"] {
        assert_refused(
            h.push(&form.clone().set("response_type", other), &[]).await,
            "unsupported_response_type",
            "FAPI 2.0 allows only code",
        );
    }
    assert_refused(
        h.push(&form.clone().set("response_mode", "fragment"), &[])
            .await,
        "invalid_request",
        "response_mode fragment is not supported",
    );
    h.push(&form, &[]).await.expect("response_type=code");
}

#[tokio::test]
async fn redirect_uri_must_be_registered_exactly() {
    let (h, client) = setup().await;
    let (form, _) = h.par_form(&client);
    assert_refused(
        h.push(&form.clone().without("redirect_uri"), &[]).await,
        "invalid_request",
        "redirect_uri is required",
    );
    for near_miss in [
        "https://tpp.example.com/callback/",
        "https://TPP.example.com/callback",
        "https://tpp.example.com/Callback",
        "https://tpp.example.com/callback?x=1",
        "https://tpp.example.com/callback?dummy1=lorem",
        "https://tpp.example.com/callback?dummy2=ipsum&dummy1=lorem",
        "https://tpp.example.com:443/callback",
        "http://tpp.example.com/callback",
        "https://tpp.example.com/callback#",
        "https://evil.example/callback",
    ] {
        assert_refused(
            h.push(&form.clone().set("redirect_uri", near_miss), &[])
                .await,
            "invalid_request",
            "redirect_uri is not registered for this client",
        );
    }
    h.push(
        &form.clone().set("redirect_uri", REDIRECT_URI_WITH_QUERY),
        &[],
    )
    .await
    .expect("registered URI with its own query");
    h.push(&h.reauthenticated(&client, form), &[])
        .await
        .expect("registered URI");
}

#[tokio::test]
async fn scope_rules() {
    let h = Harness::new().await;
    let unrestricted = h.client(json!({})).await;
    let (form, _) = h.par_form(&unrestricted);
    assert_refused(
        h.push(&form.clone().set("scope", "openid savings"), &[])
            .await,
        "invalid_scope",
        "scope savings is not offered by this organization",
    );
    assert_refused(
        h.push(&form.clone().set("scope", "openid acc\"ounts"), &[])
            .await,
        "invalid_scope",
        "outside RFC 6749",
    );
    assert_refused(
        h.push(&form.clone().with("scope", "payments"), &[]).await,
        "invalid_request",
        "parameter scope is repeated",
    );
    // Every offered scope, OIDC scopes and offline_access included, and no scope at all.
    for scope in [
        "openid accounts payments",
        "openid profile email address phone offline_access",
        "accounts",
    ] {
        let form = h.reauthenticated(&unrestricted, form.clone());
        h.push(&form.set("scope", scope), &[])
            .await
            .unwrap_or_else(|e| panic!("scope {scope}: {e:?}"));
    }
    let form = h.reauthenticated(&unrestricted, form);
    h.push(&form.without("scope"), &[]).await.expect("no scope");

    // A client that registered a scope may ask only for that (OIDC scopes always).
    let restricted = h.client(json!({"scope": "accounts"})).await;
    let (form, _) = h.par_form(&restricted);
    assert_refused(
        h.push(&form.clone().set("scope", "openid payments"), &[])
            .await,
        "invalid_scope",
        "scope payments is not registered for this client",
    );
    h.push(&form.set("scope", "openid profile accounts"), &[])
        .await
        .expect("registered scope");
}

#[tokio::test]
async fn prompt_and_max_age_syntax() {
    let (h, client) = setup().await;
    let (form, _) = h.par_form(&client);
    for (name, value, fragment) in [
        ("prompt", "create", "prompt value create is not supported"),
        ("prompt", "none login", "prompt=none cannot be combined"),
        ("max_age", "-1", "max_age must be a non-negative integer"),
        ("max_age", "ten", "max_age must be a non-negative integer"),
    ] {
        assert_refused(
            h.push(&form.clone().set(name, value), &[]).await,
            "invalid_request",
            fragment,
        );
    }
    h.push(
        &form.set("prompt", "login consent").set("max_age", "0"),
        &[],
    )
    .await
    .expect("prompt and max_age");
}

#[tokio::test]
async fn request_uri_must_not_be_pushed() {
    let (h, client) = setup().await;
    let (form, _) = h.par_form(&client);
    let pushed = h.push(&form, &[]).await.unwrap();
    let (form, _) = h.par_form(&client);
    assert_refused(
        h.push(&form.set("request_uri", &pushed.request_uri), &[])
            .await,
        "invalid_request",
        "request_uri must not be sent to the pushed authorization request endpoint",
    );
}

#[tokio::test]
async fn client_authentication_is_required() {
    let (h, client) = setup().await;
    let (form, _) = h.par_form(&client);
    assert_refused(
        h.push(
            &form
                .without("client_assertion")
                .without("client_assertion_type"),
            &[],
        )
        .await,
        "invalid_client",
        "client authentication is required",
    );
}

#[tokio::test]
async fn client_needs_the_authorization_code_grant() {
    let h = Harness::new().await;
    let client = h
        .client(json!({"grant_types": ["client_credentials"], "redirect_uris": [], "response_types": []}))
        .await;
    let (form, _) = h.par_form(&client);
    assert_refused(
        h.push(&form, &[]).await,
        "unauthorized_client",
        "not registered for the authorization_code grant",
    );
}

// ---- request objects (JAR) ----

/// The claims of a valid request object of `client`.
fn request_claims(h: &Harness, client: &TestClient) -> Value {
    let (_, challenge) = pkce();
    let now = h.now();
    json!({
        "iss": client.client_id,
        "aud": ISSUER,
        "client_id": client.client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "scope": "openid accounts",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": "jar-state",
        "nonce": "jar-nonce",
        "nbf": now,
        "exp": now + 300,
    })
}

/// Pushes `request_object` as the `request` parameter (client authentication only outside it).
async fn push_object(
    h: &Harness,
    client: &TestClient,
    request_object: &str,
) -> Result<clavex_core::flows::par::ParResponse, clavex_core::Error> {
    h.push(&h.authenticated(client).set("request", request_object), &[])
        .await
}

fn signed(client: &TestClient, claims: &Value) -> String {
    client.key.sign(Some("oauth-authz-req+jwt"), None, claims)
}

#[tokio::test]
async fn request_object_is_the_whole_request() {
    let (h, client) = setup().await;
    let claims = request_claims(&h, &client);
    let pushed = push_object(&h, &client, &signed(&client, &claims))
        .await
        .expect("signed request object");
    assert_eq!(pushed.expires_in, PAR_LIFETIME_SECS);
    // `typ` JWT, no `typ`, and `aud` as an array naming the issuer are accepted too.
    push_object(&h, &client, &client.key.sign(Some("JWT"), None, &claims))
        .await
        .expect("typ JWT");
    push_object(&h, &client, &client.key.sign(None, None, &claims))
        .await
        .expect("no typ");
    let array_aud = with_claim(
        claims.clone(),
        "aud",
        json!([ISSUER, "https://other.example"]),
    );
    push_object(&h, &client, &signed(&client, &array_aud))
        .await
        .expect("aud array containing the issuer");
    // The outer form only authenticates: PKCE missing inside the object is missing.
    let no_pkce = with_claim(claims, "code_challenge", Value::Null);
    let form = h
        .authenticated(&client)
        .set("request", &signed(&client, &no_pkce))
        .set(
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        )
        .set("code_challenge_method", "S256");
    assert_refused(
        h.push(&form, &[]).await,
        "invalid_request",
        "code_challenge is required",
    );
}

#[tokio::test]
async fn request_object_signature_and_algorithm_rules() {
    let (h, client) = setup().await;
    let claims = request_claims(&h, &client);
    let header = json!({"alg": "none", "typ": "oauth-authz-req+jwt"});
    assert_refused(
        push_object(&h, &client, &raw_jwt(&header, &claims, b"")).await,
        "invalid_request_object",
        "request is not a valid signed JWT: JWS signature is empty",
    );
    assert_refused(
        push_object(&h, &client, &raw_jwt(&header, &claims, b"sig")).await,
        "invalid_request_object",
        "algorithm none is not allowed",
    );
    let hs = json!({"alg": "HS256", "kid": client.key.key.kid()});
    assert_refused(
        push_object(
            &h,
            &client,
            &hs256_jwt(&hs, &claims, b"a shared secret of 32 bytes...."),
        )
        .await,
        "invalid_request_object",
        "algorithm HS256 is not allowed",
    );
    // RS256 with an RSA key the client registered.
    let rsa = ClientKey::new(clavex_jose::Algorithm::Ps256);
    let rsa_client = h.client_with_key(rsa, json!({})).await;
    let rsa_claims = request_claims(&h, &rsa_client);
    let rs = json!({"alg": "RS256", "kid": rsa_client.key.key.kid()});
    assert_refused(
        push_object(
            &h,
            &rsa_client,
            &rs256_jwt(&rsa_client.key, &rs, &rsa_claims),
        )
        .await,
        "invalid_request_object",
        "algorithm RS256 is not allowed",
    );
    push_object(&h, &rsa_client, &signed(&rsa_client, &rsa_claims))
        .await
        .expect("PS256 request object");
    // Signed by a key the client did not register, under the registered kid.
    let impostor = ClientKey::impostor_of(&client.key);
    assert_refused(
        push_object(
            &h,
            &client,
            &impostor.sign(Some("oauth-authz-req+jwt"), None, &claims),
        )
        .await,
        "invalid_request_object",
        "signature does not verify with the client's keys",
    );
    // Under a kid the client never registered.
    let stranger = ClientKey::es256();
    assert_refused(
        push_object(
            &h,
            &client,
            &stranger.sign(Some("oauth-authz-req+jwt"), None, &claims),
        )
        .await,
        "invalid_request_object",
        "request object key",
    );
    // A tampered payload.
    let good = signed(&client, &claims);
    let mut parts: Vec<&str> = good.split('.').collect();
    let other_payload = clavex_jose::b64url_encode(
        with_claim(claims.clone(), "scope", json!("openid payments"))
            .to_string()
            .as_bytes(),
    );
    parts[1] = &other_payload;
    assert_refused(
        push_object(&h, &client, &parts.join(".")).await,
        "invalid_request_object",
        "signature does not verify",
    );
    // Another declared type is not a request object.
    assert_refused(
        push_object(
            &h,
            &client,
            &client.key.sign(Some("dpop+jwt"), None, &claims),
        )
        .await,
        "invalid_request_object",
        "typ must be oauth-authz-req+jwt",
    );
}

#[tokio::test]
async fn registered_request_object_signing_alg_is_enforced() {
    let h = Harness::new().await;
    let client = h
        .client(json!({"request_object_signing_alg": "PS256"}))
        .await;
    let claims = request_claims(&h, &client);
    assert_refused(
        push_object(&h, &client, &signed(&client, &claims)).await,
        "invalid_request_object",
        "registered request_object_signing_alg PS256",
    );
}

#[tokio::test]
async fn request_object_time_rules() {
    let (h, client) = setup().await;
    let now = h.now();
    let base = request_claims(&h, &client);
    for (name, value, fragment) in [
        ("exp", json!(now), "has expired"),
        ("exp", Value::Null, "has no exp claim"),
        ("nbf", Value::Null, "has no nbf claim"),
        ("nbf", json!(now + 11), "not valid yet (nbf)"),
        (
            "nbf",
            json!(now - 3601),
            "nbf is more than 60 minutes in the past",
        ),
        (
            "exp",
            json!(now + 3601),
            "lifetime (exp - nbf) exceeds 60 minutes",
        ),
        ("exp", json!("soon"), "exp must be a NumericDate"),
    ] {
        let claims = with_claim(base.clone(), name, value);
        assert_refused(
            push_object(&h, &client, &signed(&client, &claims)).await,
            "invalid_request_object",
            fragment,
        );
    }
    // The edges that are accepted: nbf 10 s ahead, a lifetime of exactly 60 minutes.
    let edge = with_claim(base.clone(), "nbf", json!(now + 10));
    push_object(&h, &client, &signed(&client, &edge))
        .await
        .expect("nbf 10 s in the future");
    let hour = with_claim(
        with_claim(base, "nbf", json!(now - 10)),
        "exp",
        json!(now + 3590),
    );
    push_object(&h, &client, &signed(&client, &hour))
        .await
        .expect("60-minute lifetime");
    // A request object signed now expires with the clock.
    let claims = request_claims(&h, &client);
    let object = signed(&client, &claims);
    h.clock.advance(300);
    assert_refused(
        push_object(&h, &client, &object).await,
        "invalid_request_object",
        "has expired",
    );
}

#[tokio::test]
async fn request_object_audience_and_identity_rules() {
    let (h, client) = setup().await;
    let base = request_claims(&h, &client);
    let other = h.client(json!({})).await;
    for (name, value, fragment) in [
        (
            "aud",
            json!(TOKEN_ENDPOINT),
            "aud must be the issuer identifier",
        ),
        (
            "aud",
            json!(PAR_ENDPOINT),
            "aud must be the issuer identifier",
        ),
        (
            "aud",
            json!([TOKEN_ENDPOINT]),
            "aud must be the issuer identifier",
        ),
        ("aud", Value::Null, "aud must be the issuer identifier"),
        (
            "client_id",
            json!(other.client_id),
            "client_id must be the authenticated client's",
        ),
        (
            "client_id",
            Value::Null,
            "client_id must be the authenticated client's",
        ),
        ("iss", json!(other.client_id), "iss must be the client_id"),
        (
            "request_uri",
            json!("urn:ietf:params:oauth:request_uri:x"),
            "must not contain request_uri",
        ),
        ("request", json!("a.b.c"), "must not contain request"),
    ] {
        let claims = with_claim(base.clone(), name, value);
        assert_refused(
            push_object(&h, &client, &signed(&client, &claims)).await,
            "invalid_request_object",
            fragment,
        );
    }
    // A request object of another client, pushed under this client's authentication.
    let theirs = request_claims(&h, &other);
    assert_refused(
        push_object(&h, &client, &signed(&other, &theirs)).await,
        "invalid_request_object",
        "",
    );
    // `iss` is optional.
    let claims = with_claim(base, "iss", Value::Null);
    push_object(&h, &client, &signed(&client, &claims))
        .await
        .expect("request object without iss");
}

#[tokio::test]
async fn client_requiring_signed_requests_must_send_one() {
    let h = Harness::new().await;
    let client = h
        .client(json!({"require_signed_request_object": true}))
        .await;
    let (form, _) = h.par_form(&client);
    assert_refused(
        h.push(&form, &[]).await,
        "invalid_request",
        "this client must push a signed request object",
    );
    let claims = request_claims(&h, &client);
    push_object(&h, &client, &signed(&client, &claims))
        .await
        .expect("signed request object");
}

#[tokio::test]
async fn dpop_jkt_syntax_and_agreement_with_the_proof() {
    let (h, client) = setup().await;
    let dpop = ClientKey::es256();
    let (form, _) = h.par_form(&client);
    assert_refused(
        h.push(&form.clone().set("dpop_jkt", "not-a-thumbprint"), &[])
            .await,
        "invalid_request",
        "dpop_jkt must be a base64url SHA-256 JWK thumbprint",
    );
    let other = ClientKey::es256();
    let (form, _) = h.par_form(&client);
    assert_refused(
        h.push(
            &form.set("dpop_jkt", &other.thumbprint()),
            &[&h.par_proof(&dpop)],
        )
        .await,
        "invalid_dpop_proof",
        "dpop_jkt does not match the key of the DPoP proof",
    );
    let (form, _) = h.par_form(&client);
    h.push(
        &form.set("dpop_jkt", &dpop.thumbprint()),
        &[&h.par_proof(&dpop)],
    )
    .await
    .expect("dpop_jkt and proof agree");
    let (form, _) = h.par_form(&client);
    h.push(&form.set("dpop_jkt", &other.thumbprint()), &[])
        .await
        .expect("dpop_jkt alone");
}
