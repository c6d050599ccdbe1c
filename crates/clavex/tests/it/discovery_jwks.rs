//! Authorization server metadata (RFC 8414 / OIDC discovery) and the published JWKS.

use clavex_testkit::*;
use serde_json::{Value, json};

const FAPI_ALGS: [&str; 3] = ["PS256", "ES256", "EdDSA"];

fn sorted(v: &Value) -> Vec<String> {
    let mut items: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("{v} is not an array"))
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    items.sort_unstable();
    items
}

/// The three grant types a FAPI 2.0 client may register; anything else is never advertised.
const REGISTRABLE_GRANTS: [&str; 3] = ["authorization_code", "refresh_token", "client_credentials"];

async fn status_of(server: &TestServer, method: reqwest::Method, url: &str) -> u16 {
    server
        .http
        .request(method, url)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Checks the metadata exactly where the server's capabilities fix it, and truthfully elsewhere:
/// every advertised endpoint exists and every advertised grant type is served, and what is not
/// served is not advertised.
async fn check_metadata(server: &TestServer, md: &Value) {
    let issuer = format!("{}/acme", server.base);
    assert_eq!(md["issuer"], issuer.as_str());
    assert_eq!(md["token_endpoint"], format!("{issuer}/token"));
    assert_eq!(md["jwks_uri"], format!("{issuer}/jwks"));
    assert_eq!(
        md["token_endpoint_auth_methods_supported"],
        json!(["private_key_jwt"])
    );
    let scopes = sorted(&md["scopes_supported"]);
    for api_scope in ["accounts", "payments"] {
        assert!(scopes.contains(&api_scope.to_owned()), "{md}");
    }
    assert!(md.get("dpop_signing_alg_values_supported").is_some());
    let mut alg_lists = 0;
    let mut fapi: Vec<String> = FAPI_ALGS.iter().map(|s| (*s).to_owned()).collect();
    fapi.sort_unstable();
    for (name, value) in md.as_object().unwrap() {
        if name.ends_with("_alg_values_supported") {
            alg_lists += 1;
            assert_eq!(sorted(value), fapi, "{name}");
            assert_eq!(value.as_array().unwrap().len(), 3, "{name}");
        }
    }
    assert!(alg_lists >= 2, "{md}");
    let text = md.to_string();
    for forbidden in [
        "RS256",
        "HS256",
        "client_secret",
        "implicit",
        "password",
        "\"token\"",
        "plain",
    ] {
        assert!(!text.contains(forbidden), "{forbidden} in {text}");
    }
    if let Some(pkce) = md.get("code_challenge_methods_supported") {
        assert_eq!(pkce, &json!(["S256"]));
    }
    if let Some(par) = md.get("require_pushed_authorization_requests") {
        assert_eq!(par, true);
    }

    // Grant types: client_credentials is served; each advertised grant type is known to the token
    // endpoint, and each registrable one that is not advertised is refused as unsupported.
    let grants = sorted(&md["grant_types_supported"]);
    assert!(grants.contains(&"client_credentials".to_owned()), "{md}");
    for grant in REGISTRABLE_GRANTS {
        let answer = server.token_request(&[("grant_type", grant)], &[]).await;
        let unsupported = answer.error() == "unsupported_grant_type";
        assert_eq!(
            unsupported,
            !grants.contains(&grant.to_owned()),
            "grant {grant}: advertised {grants:?}, token endpoint says {}",
            answer.text
        );
    }
    for grant in &grants {
        assert!(REGISTRABLE_GRANTS.contains(&grant.as_str()), "{grant}");
    }

    // Endpoints: every advertised one lives under the issuer and exists.
    for (name, value) in md.as_object().unwrap() {
        if name.ends_with("_endpoint") || name == "jwks_uri" {
            let url = value.as_str().unwrap();
            assert!(url.starts_with(&format!("{issuer}/")), "{name}: {url}");
            assert_ne!(
                status_of(server, reqwest::Method::GET, url).await,
                404,
                "{name} {url} is advertised but does not exist"
            );
        }
    }
    // No authorization endpoint is advertised unless one answers, and then only the code flow.
    let authorize_exists =
        status_of(server, reqwest::Method::GET, &format!("{issuer}/authorize")).await != 404;
    assert_eq!(
        md.get("authorization_endpoint").is_some(),
        authorize_exists,
        "{md}"
    );
    if authorize_exists {
        assert_eq!(md["response_types_supported"], json!(["code"]));
        assert!(grants.contains(&"authorization_code".to_owned()));
    } else {
        assert_eq!(md["response_types_supported"], json!([]));
        assert_eq!(grants, ["client_credentials"]);
        assert!(md.get("pushed_authorization_request_endpoint").is_none());
    }
}

#[tokio::test]
async fn both_discovery_documents_describe_the_organization_truthfully() {
    let server = spawn().await;
    let rfc8414 = server
        .get("/.well-known/oauth-authorization-server/acme")
        .await;
    assert_eq!(rfc8414.status, StatusCode::OK, "{}", rfc8414.text);
    assert!(
        rfc8414.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(rfc8414.headers["cache-control"], "public, max-age=300");
    check_metadata(&server, &rfc8414.body).await;

    let oidc = server.get("/acme/.well-known/openid-configuration").await;
    assert_eq!(oidc.status, StatusCode::OK, "{}", oidc.text);
    check_metadata(&server, &oidc.body).await;
    assert_eq!(oidc.body, rfc8414.body);

    // The advertised endpoints answer.
    let jwks = server
        .http
        .get(rfc8414.body["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(jwks.status(), StatusCode::OK);
    let token = server
        .http
        .post(rfc8414.body["token_endpoint"].as_str().unwrap())
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn unknown_organizations_have_no_metadata() {
    let server = spawn().await;
    for path in [
        "/.well-known/oauth-authorization-server/nowhere",
        "/nowhere/.well-known/openid-configuration",
        "/nowhere/jwks",
    ] {
        let answer = server.get(path).await;
        answer.assert_error(404, "not_found", "organization nowhere not found");
        assert!(
            answer.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
    }
    // The issuer has no metadata at the root either.
    let answer = server.get("/.well-known/oauth-authorization-server").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn jwks_publishes_one_public_key_per_algorithm() {
    let server = spawn().await;
    let answer = server.get("/acme/jwks").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.headers["content-type"], "application/jwk-set+json");
    assert_eq!(answer.headers["cache-control"], "public, max-age=60");
    let keys = answer.body["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 3, "{}", answer.text);
    let mut algs = Vec::new();
    let mut kids = Vec::new();
    for key in keys {
        let obj = key.as_object().unwrap();
        for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            assert!(!obj.contains_key(private), "{private} published: {key}");
        }
        assert_eq!(key["use"], "sig");
        let kid = key["kid"].as_str().unwrap();
        assert!(!kid.is_empty());
        kids.push(kid.to_owned());
        let alg = key["alg"].as_str().unwrap();
        let expected_kty = match alg {
            "ES256" => "EC",
            "PS256" => "RSA",
            "EdDSA" => "OKP",
            other => panic!("unexpected alg {other}"),
        };
        assert_eq!(key["kty"], expected_kty, "{key}");
        algs.push(alg.to_owned());
    }
    algs.sort_unstable();
    assert_eq!(algs, ["ES256", "EdDSA", "PS256"]);
    kids.sort_unstable();
    kids.dedup();
    assert_eq!(kids.len(), 3);
    // Every published key is a valid public key for our verifier, and the RSA key is strong.
    let set = clavex_jose::JwkSet::from_json(&answer.body).unwrap();
    assert_eq!(set.keys().len(), 3);
    let rsa = keys.iter().find(|k| k["kty"] == "RSA").unwrap();
    let n = clavex_jose::b64url_decode(rsa["n"].as_str().unwrap()).unwrap();
    assert!(n.len() * 8 >= 2048, "RSA modulus is {} bits", n.len() * 8);
    // The keys listed by the Admin API are the ones published.
    let listed = server
        .admin(
            reqwest::Method::GET,
            "/api/v1/organizations/acme/keys",
            ORG_TOKEN,
            None,
        )
        .await;
    let mut listed_kids: Vec<String> = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    listed_kids.sort_unstable();
    assert_eq!(listed_kids, kids);
}

#[tokio::test]
async fn issued_access_tokens_verify_against_the_published_jwks() {
    let server = spawn().await;
    let client_key = ClientKey::es256();
    let dpop_key = ClientKey::es256();
    let client_id = server.client_credentials_client(&client_key).await;
    let answer = server
        .client_credentials(&client_id, &client_key, &dpop_key, &[("scope", "payments")])
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let access_token = answer.body["access_token"].as_str().unwrap();

    let jwks = server.get("/acme/jwks").await.body;
    let set = clavex_jose::JwkSet::from_json(&jwks).unwrap();
    let jws = clavex_jose::Jws::parse(access_token, &clavex_jose::JwsLimits::default()).unwrap();
    let kid = jws.kid().unwrap();
    let alg = jws.algorithm().unwrap();
    let key = set
        .select(Some(kid), alg)
        .expect("the signing key is published");
    assert_eq!(jws.verify_with(key).unwrap(), alg);
    assert_eq!(jws.typ(), Some("at+jwt"));
    assert_eq!(jws.claims()["iss"], server.issuer.as_str());
    assert_eq!(jws.claims()["scope"], "payments");

    // A tampered token does not verify with the same key.
    let mut parts: Vec<String> = access_token.split('.').map(str::to_owned).collect();
    let (_, mut claims) = decode_unverified(access_token);
    claims["scope"] = json!("payments accounts");
    parts[1] = b64(claims.to_string().as_bytes());
    let tampered = parts.join(".");
    let jws = clavex_jose::Jws::parse(&tampered, &clavex_jose::JwsLimits::default()).unwrap();
    assert!(jws.verify_with(key).is_err());
    assert!(verify_with_jwks(&tampered, &jwks).is_err());
    // Nor with another organization's keys.
    let beta = server
        .admin(
            reqwest::Method::POST,
            "/api/v1/organizations",
            SERVER_TOKEN,
            Some(json!({"id": "beta"})),
        )
        .await;
    assert_eq!(beta.status, StatusCode::CREATED);
    let beta_jwks = server.get("/beta/jwks").await.body;
    assert!(verify_with_jwks(access_token, &beta_jwks).is_err());
    assert!(verify_with_jwks(access_token, &jwks).is_ok());
}

#[tokio::test]
async fn health_probes_answer() {
    let server = spawn().await;
    let health = server.get("/healthz").await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.text, "ok");
    let ready = server.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.text, "ready");
}

/// The OIDF suite's `fapi2-security-profile-final-discovery-end-point-verification` (conformance
/// digest §3.2) for private_key_jwt + DPoP + plain FAPI, OpenID Connect and plain OAuth. The https
/// checks are covered by the TLS test in `tests/cli.rs`, where the issuer is https.
#[tokio::test]
async fn discovery_end_point_verification() {
    let server = spawn().await;
    for (url, suffix) in [
        (
            format!("{}/acme/.well-known/openid-configuration", server.base),
            "/.well-known/openid-configuration",
        ),
        (
            format!(
                "{}/.well-known/oauth-authorization-server/acme",
                server.base
            ),
            "/.well-known/oauth-authorization-server",
        ),
    ] {
        let response = server.http.get(&url).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        let md: serde_json::Value = response.json().await.unwrap();
        let expected_issuer = url.replacen(suffix, "", 1);
        assert_eq!(md["issuer"], expected_issuer, "{url}");
        let allowed = ["PS256", "ES256", "EdDSA", "Ed25519"];
        let list = |name: &str| -> Vec<String> {
            md[name]
                .as_array()
                .unwrap_or_else(|| panic!("{name} must be an array"))
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect()
        };
        assert!(list("response_types_supported").contains(&"code".to_owned()));
        assert_eq!(md["authorization_response_iss_parameter_supported"], true);
        assert!(
            md["pushed_authorization_request_endpoint"]
                .as_str()
                .unwrap()
                .starts_with(&expected_issuer)
        );
        assert!(md["require_pushed_authorization_requests"].is_boolean());
        for name in [
            "dpop_signing_alg_values_supported",
            "id_token_signing_alg_values_supported",
            "token_endpoint_auth_signing_alg_values_supported",
        ] {
            let algs = list(name);
            assert!(
                !algs.is_empty() && algs.iter().all(|a| allowed.contains(&a.as_str())),
                "{name}: {algs:?}"
            );
        }
        assert!(
            list("token_endpoint_auth_methods_supported").contains(&"private_key_jwt".to_owned())
        );
        assert!(list("code_challenge_methods_supported").contains(&"S256".to_owned()));
        let scopes = list("scopes_supported");
        assert!(scopes.contains(&"openid".to_owned()));
        assert!(
            scopes
                .iter()
                .all(|s| !s.is_empty() && !s.contains(' ') && !s.contains('"'))
        );
        assert!(list("subject_types_supported").contains(&"public".to_owned()));
        assert!(list("grant_types_supported").contains(&"authorization_code".to_owned()));
        for endpoint in [
            "authorization_endpoint",
            "token_endpoint",
            "jwks_uri",
            "userinfo_endpoint",
        ] {
            let value = md[endpoint]
                .as_str()
                .unwrap_or_else(|| panic!("{endpoint} missing"));
            assert!(value.starts_with(&expected_issuer), "{endpoint}: {value}");
        }
        // Every advertised endpoint answers (none is a 404).
        for endpoint in ["jwks_uri"] {
            let answer = server
                .http
                .get(md[endpoint].as_str().unwrap())
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status().as_u16(), 200, "{endpoint}");
        }
        assert_eq!(md["claims_parameter_supported"], true);
        assert!(list("claims_supported").contains(&"sub".to_owned()));
    }
}
