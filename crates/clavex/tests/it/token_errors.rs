//! The token endpoint's request-level rules (RFC 6749 §3.2, §4.4, §5.2; RFC 8707): method, content
//! type, size, parameters, grant types, scopes, resources, unknown organizations.

use clavex_testkit::*;
use serde_json::json;

async fn setup() -> (TestServer, ClientKey, String, ClientKey) {
    let server = spawn().await;
    let key = ClientKey::es256();
    let client_id = server.client_credentials_client(&key).await;
    (server, key, client_id, ClientKey::es256())
}

/// A valid `client_credentials` form for `client_id` plus `extra`, as owned pairs.
fn valid_form(
    server: &TestServer,
    key: &ClientKey,
    client_id: &str,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut form = vec![
        ("grant_type".to_owned(), "client_credentials".to_owned()),
        ("client_assertion_type".to_owned(), JWT_BEARER.to_owned()),
        (
            "client_assertion".to_owned(),
            key.assertion(client_id, &server.issuer, server.now()),
        ),
    ];
    form.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    form
}

fn encode(form: &[(String, String)]) -> String {
    let mut out = String::new();
    for (k, v) in form {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&form_encode(k));
        out.push('=');
        out.push_str(&form_encode(v));
    }
    out
}

fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                (b as char).to_string()
            }
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// POSTs `body` to the token endpoint with `content_type` (if any) and a fresh DPoP proof.
async fn post_raw(
    server: &TestServer,
    dpop: &ClientKey,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Answer {
    let mut request = server
        .http
        .post(&server.token_endpoint)
        .header("DPoP", server.token_proof(dpop))
        .body(body);
    if let Some(ct) = content_type {
        request = request.header("Content-Type", ct);
    }
    Answer::from(request.send().await.expect("token request")).await
}

#[tokio::test]
async fn other_methods_are_refused() {
    let server = spawn().await;
    for method in [
        reqwest::Method::GET,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
    ] {
        let answer = Answer::from(
            server
                .http
                .request(method.clone(), &server.token_endpoint)
                .send()
                .await
                .expect("request"),
        )
        .await;
        assert_eq!(
            answer.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method}: {}",
            answer.text
        );
        assert!(
            answer
                .headers
                .get("allow")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("POST")),
            "{method}: Allow header {:?}",
            answer.headers.get("allow")
        );
    }
}

#[tokio::test]
async fn body_must_be_a_form() {
    let (server, key, client_id, dpop) = setup().await;
    let form = encode(&valid_form(&server, &key, &client_id, &[]));
    let as_json = json!({
        "grant_type": "client_credentials",
        "client_assertion_type": JWT_BEARER,
        "client_assertion": key.assertion(&client_id, &server.issuer, server.now()),
    })
    .to_string();
    for (content_type, body) in [
        (Some("application/json"), as_json.clone()),
        (Some("text/plain"), form.clone()),
        (Some("multipart/form-data; boundary=x"), form.clone()),
        (None, form.clone()),
    ] {
        let answer = post_raw(&server, &dpop, content_type, body.into_bytes()).await;
        assert_eq!(
            answer.status.as_u16(),
            400,
            "{content_type:?}: {}",
            answer.text
        );
        answer.assert_oauth_error(
            400,
            "invalid_request",
            "the token request must be application/x-www-form-urlencoded",
        );
    }
    // Control: the same bytes as a form, with a charset parameter and odd case, are accepted.
    let answer = post_raw(
        &server,
        &dpop,
        Some("Application/X-WWW-Form-Urlencoded; charset=UTF-8"),
        form.into_bytes(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
}

#[tokio::test]
async fn body_larger_than_64_kib_is_refused() {
    let (server, key, client_id, dpop) = setup().await;
    let mut form = valid_form(&server, &key, &client_id, &[]);
    form.push(("padding".to_owned(), "a".repeat(70 * 1024)));
    let answer = post_raw(
        &server,
        &dpop,
        Some("application/x-www-form-urlencoded"),
        encode(&form).into_bytes(),
    )
    .await;
    answer.assert_oauth_error(
        400,
        "invalid_request",
        "request body is larger than 65536 bytes",
    );

    // Just under the limit is fine.
    let mut form = valid_form(&server, &key, &client_id, &[]);
    let used = encode(&form).len() + "&padding=".len();
    form.push(("padding".to_owned(), "a".repeat(64 * 1024 - used)));
    let body = encode(&form);
    assert_eq!(body.len(), 64 * 1024);
    let answer = post_raw(
        &server,
        &dpop,
        Some("application/x-www-form-urlencoded"),
        body.into_bytes(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
}

#[tokio::test]
async fn body_must_be_utf8() {
    let (server, key, client_id, dpop) = setup().await;
    let mut body = encode(&valid_form(&server, &key, &client_id, &[])).into_bytes();
    body.extend_from_slice(b"&x=\xff\xfe");
    post_raw(
        &server,
        &dpop,
        Some("application/x-www-form-urlencoded"),
        body,
    )
    .await
    .assert_oauth_error(400, "invalid_request", "request body is not valid UTF-8");
}

#[tokio::test]
async fn grant_type_is_required_once() {
    let (server, key, client_id, dpop) = setup().await;

    let form = valid_form(
        &server,
        &key,
        &client_id,
        &[("grant_type", "client_credentials")],
    );
    post_raw(
        &server,
        &dpop,
        Some("application/x-www-form-urlencoded"),
        encode(&form).into_bytes(),
    )
    .await
    .assert_oauth_error(400, "invalid_request", "parameter grant_type is repeated");

    for grant_type in [None, Some("")] {
        let mut form = valid_form(&server, &key, &client_id, &[]);
        form.remove(0);
        if let Some(g) = grant_type {
            form.push(("grant_type".to_owned(), g.to_owned()));
        }
        let answer = post_raw(
            &server,
            &dpop,
            Some("application/x-www-form-urlencoded"),
            encode(&form).into_bytes(),
        )
        .await;
        assert_eq!(
            answer.status.as_u16(),
            400,
            "{grant_type:?}: {}",
            answer.text
        );
        answer.assert_oauth_error(400, "invalid_request", "grant_type is required");
    }
}

#[tokio::test]
async fn other_parameters_may_not_repeat() {
    let (server, key, client_id, dpop) = setup().await;
    for (name, value) in [
        ("scope", "accounts".to_owned()),
        (
            "client_assertion",
            key.assertion(&client_id, &server.issuer, server.now()),
        ),
        ("client_assertion_type", JWT_BEARER.to_owned()),
        ("client_id", client_id.clone()),
    ] {
        let mut form = valid_form(&server, &key, &client_id, &[]);
        if name == "scope" || name == "client_id" {
            form.push((name.to_owned(), value.clone()));
        }
        form.push((name.to_owned(), value.clone()));
        let answer = post_raw(
            &server,
            &dpop,
            Some("application/x-www-form-urlencoded"),
            encode(&form).into_bytes(),
        )
        .await;
        assert_eq!(answer.status.as_u16(), 400, "{name}: {}", answer.text);
        answer.assert_oauth_error(
            400,
            "invalid_request",
            &format!("parameter {name} is repeated"),
        );
    }
}

#[tokio::test]
async fn unsupported_grant_types() {
    let (server, key, client_id, dpop) = setup().await;
    for grant_type in [
        "password",
        "implicit",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "urn:ietf:params:oauth:grant-type:device_code",
        "CLIENT_CREDENTIALS",
    ] {
        let mut form = valid_form(&server, &key, &client_id, &[]);
        form[0].1 = grant_type.to_owned();
        let answer = post_raw(
            &server,
            &dpop,
            Some("application/x-www-form-urlencoded"),
            encode(&form).into_bytes(),
        )
        .await;
        assert_eq!(answer.status.as_u16(), 400, "{grant_type}: {}", answer.text);
        answer.assert_oauth_error(
            400,
            "unsupported_grant_type",
            &format!("grant_type {grant_type} is not"),
        );
    }

    // The grant types of the code flow are refused as unsupported exactly while discovery does not
    // advertise them; once served, a client registered only for client_credentials is not
    // authorized for them.
    let discovery = server.get("/acme/.well-known/openid-configuration").await;
    assert_eq!(discovery.status, StatusCode::OK, "{}", discovery.text);
    let served: Vec<&str> = discovery.body["grant_types_supported"]
        .as_array()
        .expect("grant_types_supported")
        .iter()
        .filter_map(|g| g.as_str())
        .collect();
    assert!(served.contains(&"client_credentials"), "{served:?}");
    for grant_type in ["authorization_code", "refresh_token"] {
        let mut form = valid_form(&server, &key, &client_id, &[]);
        form[0].1 = grant_type.to_owned();
        let answer = post_raw(
            &server,
            &dpop,
            Some("application/x-www-form-urlencoded"),
            encode(&form).into_bytes(),
        )
        .await;
        if served.contains(&grant_type) {
            answer.assert_oauth_error(
                400,
                "unauthorized_client",
                &format!("not registered for the {grant_type} grant"),
            );
        } else {
            answer.assert_oauth_error(
                400,
                "unsupported_grant_type",
                &format!("grant_type {grant_type} is not"),
            );
        }
    }
}

#[tokio::test]
async fn client_not_registered_for_client_credentials() {
    let server = spawn().await;
    let key = ClientKey::es256();
    let dpop = ClientKey::es256();
    let client_id = server
        .register_client(json!({
            "grant_types": ["authorization_code"],
            "redirect_uris": ["https://tpp.example.com/callback"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": key.jwks(),
        }))
        .await["client_id"]
        .as_str()
        .expect("client_id")
        .to_owned();
    server
        .client_credentials(&client_id, &key, &dpop, &[])
        .await
        .assert_oauth_error(
            400,
            "unauthorized_client",
            "this client is not registered for the client_credentials grant",
        );
}

#[tokio::test]
async fn scope_rules() {
    let (server, key, client_id, dpop) = setup().await;
    for (scope, fragment) in [
        ("admin", "scope admin is not offered by this organization"),
        ("accounts admin", "scope admin is not offered"),
        (
            "openid",
            "scope openid needs a user; it cannot be granted with client_credentials",
        ),
        ("accounts profile", "scope profile needs a user"),
        ("acc\"ounts", "scope contains characters outside RFC 6749"),
        ("ACCOUNTS", "scope ACCOUNTS is not offered"),
    ] {
        let answer = server
            .client_credentials(&client_id, &key, &dpop, &[("scope", scope)])
            .await;
        assert_eq!(
            answer.status.as_u16(),
            400,
            "scope {scope}: {}",
            answer.text
        );
        answer.assert_oauth_error(400, "invalid_scope", fragment);
    }

    // A client that registered `scope` gets nothing outside it.
    let limited_key = ClientKey::es256();
    let limited = server
        .register_client(json!({
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": limited_key.jwks(),
            "scope": "accounts",
        }))
        .await["client_id"]
        .as_str()
        .expect("client_id")
        .to_owned();
    for scope in ["payments", "accounts payments"] {
        server
            .client_credentials(&limited, &limited_key, &dpop, &[("scope", scope)])
            .await
            .assert_oauth_error(
                400,
                "invalid_scope",
                "scope payments is not registered for this client",
            );
    }
    let answer = server
        .client_credentials(&limited, &limited_key, &dpop, &[("scope", "accounts")])
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["scope"], "accounts");
}

#[tokio::test]
async fn resource_rules() {
    let (server, key, client_id, dpop) = setup().await;
    let api = "https://api.bank.example/";

    // Not registered yet.
    server
        .client_credentials(&client_id, &key, &dpop, &[("resource", api)])
        .await
        .assert_oauth_error(
            400,
            "invalid_target",
            "resource https://api.bank.example/ is not registered with this organization",
        );

    let org = server.patch_org(json!({ "resources": [api] })).await;
    assert_eq!(org["settings"]["resources"], json!([api]));

    let answer = server
        .client_credentials(&client_id, &key, &dpop, &[("resource", api)])
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let (_, claims) = decode_unverified(answer.body["access_token"].as_str().expect("token"));
    assert_eq!(claims["aud"], api);

    let default_audience = format!("{}/api", server.issuer);
    for (resources, fragment) in [
        (
            vec!["https://evil.example/"],
            "resource https://evil.example/ is not registered",
        ),
        (
            vec!["https://api.bank.example"],
            "is not registered with this organization",
        ),
        (
            vec!["https://api.bank.example/#frag"],
            "resource must not contain a fragment",
        ),
        (vec!["/relative"], "resource must be an absolute URI"),
        (
            vec![api, default_audience.as_str()],
            "only one resource may be requested per access token",
        ),
        (vec![api, api], "only one resource may be requested"),
    ] {
        let extra: Vec<(&str, &str)> = resources.iter().map(|r| ("resource", *r)).collect();
        let answer = server
            .client_credentials(&client_id, &key, &dpop, &extra)
            .await;
        assert_eq!(
            answer.status.as_u16(),
            400,
            "{resources:?}: {}",
            answer.text
        );
        answer.assert_oauth_error(400, "invalid_target", fragment);
    }
}

#[tokio::test]
async fn unknown_organization_is_404_with_a_json_body() {
    let (server, key, client_id, dpop) = setup().await;
    let url = server.url("/no-such-org/token");
    let proof = dpop.dpop_proof("POST", &url, server.now());
    let answer = Answer::from(
        server
            .http
            .post(&url)
            .form(&valid_form(&server, &key, &client_id, &[]))
            .header("DPoP", proof)
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.text);
    assert_eq!(answer.error(), "not_found", "{}", answer.text);
    assert!(
        answer.description().contains("organization no-such-org"),
        "{}",
        answer.text
    );
    assert_eq!(answer.headers["cache-control"], "no-store");
}

#[tokio::test]
async fn error_responses_are_json_and_never_cached() {
    // One refusal per layer (HTTP layer, parameters, client auth, DPoP, grant), each checked by
    // `assert_oauth_error` for the JSON body, `Cache-Control: no-store`, `Pragma` and the status
    // (401 only for invalid_client).
    let (server, key, client_id, dpop) = setup().await;
    let answers = [
        (
            post_raw(&server, &dpop, Some("application/json"), b"{}".to_vec()).await,
            400,
            "invalid_request",
        ),
        (
            server
                .token_request(&[("grant_type", "client_credentials")], &[])
                .await,
            401,
            "invalid_client",
        ),
        (
            server
                .client_credentials_with(
                    &key.assertion(&client_id, &server.issuer, server.now()),
                    &[],
                    &[],
                )
                .await,
            400,
            "invalid_request",
        ),
        (
            server
                .client_credentials(&client_id, &key, &dpop, &[("scope", "openid")])
                .await,
            400,
            "invalid_scope",
        ),
        (
            server
                .token_request(&[("grant_type", "password")], &[])
                .await,
            400,
            "unsupported_grant_type",
        ),
    ];
    for (answer, status, code) in answers {
        answer.assert_oauth_error(status, code, "");
        assert_eq!(answer.headers["pragma"], "no-cache", "{code}");
        assert!(
            answer.body.as_object().is_some_and(|o| o.len() == 2),
            "only error and error_description: {}",
            answer.text
        );
    }
}

#[tokio::test]
async fn hostile_inputs_never_cause_a_server_error() {
    let (server, key, client_id, dpop) = setup().await;
    let huge_number = "1".repeat(400);
    let nested = format!("{}1{}", "[".repeat(2000), "]".repeat(2000));
    let claims_variants = [
        json!({ "iss": client_id, "sub": client_id, "aud": server.issuer, "exp": 1e300, "jti": "a" }),
        json!({ "iss": client_id, "sub": client_id, "aud": server.issuer, "exp": -1e300, "jti": "b" }),
        json!({ "iss": client_id, "sub": client_id, "aud": server.issuer, "exp": server.now() + 60, "iat": 1e300, "jti": "c" }),
        json!({ "iss": client_id, "sub": client_id, "aud": server.issuer, "exp": server.now() + 60, "nbf": 9.5e18, "jti": "d" }),
        json!({ "iss": client_id, "sub": client_id, "aud": server.issuer, "exp": u64::MAX, "jti": "e" }),
        json!({ "iss": client_id, "sub": client_id, "aud": [[[server.issuer]]], "exp": server.now() + 60, "jti": "f" }),
    ];
    for claims in &claims_variants {
        let assertion = key.sign(None, None, claims.clone());
        let answer = server
            .client_credentials_with(&assertion, &[&server.token_proof(&dpop)], &[])
            .await;
        answer.assert_oauth_error(401, "invalid_client", "client_assertion");
    }
    let raw_payloads = [
        format!(r#"{{"iss":"{client_id}","sub":"{client_id}","exp":{huge_number}}}"#),
        format!(r#"{{"iss":"{client_id}","sub":"{client_id}","x":{nested}}}"#),
    ];
    for payload in raw_payloads {
        let header = json!({ "alg": "ES256", "kid": key.key.kid() });
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(payload.as_bytes())
        );
        let assertion = format!(
            "{input}.{}",
            b64(&key.key.sign(input.as_bytes()).expect("sign"))
        );
        let answer = server
            .client_credentials_with(&assertion, &[&server.token_proof(&dpop)], &[])
            .await;
        answer.assert_oauth_error(401, "invalid_client", "JWS payload is not valid JSON");
    }
    // DPoP iat extremes.
    for iat in [
        json!(1e300),
        json!(-1e300),
        json!(u64::MAX),
        json!(i64::MIN),
    ] {
        let proof = dpop.dpop_with(json!({
            "jti": "x", "htm": "POST", "htu": server.token_endpoint, "iat": iat
        }));
        let answer = server
            .client_credentials_with(
                &key.assertion(&client_id, &server.issuer, server.now()),
                &[&proof],
                &[],
            )
            .await;
        answer.assert_oauth_error(400, "invalid_dpop_proof", "iat");
    }
    // Non-ASCII DPoP header, control characters, empty values.
    let answer = Answer::from(
        server
            .http
            .post(&server.token_endpoint)
            .form(&valid_form(&server, &key, &client_id, &[]))
            .header(
                "DPoP",
                reqwest::header::HeaderValue::from_bytes(b"\xe9t\xe9").expect("header"),
            )
            .send()
            .await
            .expect("request"),
    )
    .await;
    answer.assert_oauth_error(400, "invalid_dpop_proof", "DPoP header is not ASCII");
    let answer = server
        .client_credentials_with(
            &key.assertion(&client_id, &server.issuer, server.now()),
            &[""],
            &[],
        )
        .await;
    answer.assert_oauth_error(400, "invalid_dpop_proof", "DPoP proof is not a valid JWS");
}

#[tokio::test]
async fn organization_paths_the_store_cannot_hold_are_404() {
    let (server, key, client_id, dpop) = setup().await;
    for path in ["/nul%00org/token", "/%F0%9F%98%80/token", "/ACME/token"] {
        let url = server.url(path);
        let proof = dpop.dpop_proof("POST", &url, server.now());
        let answer = Answer::from(
            server
                .http
                .post(&url)
                .form(&valid_form(&server, &key, &client_id, &[]))
                .header("DPoP", proof)
                .send()
                .await
                .expect("request"),
        )
        .await;
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            answer.text
        );
        assert_eq!(answer.error(), "not_found", "{path}: {}", answer.text);
    }
}
