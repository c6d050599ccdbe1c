//! Admin API: users, their argon2id password hashes and password verification.

use crate::org;
use clavex_testkit::*;
use reqwest::Method;
use serde_json::{Value, json};

const USERS: &str = "/api/v1/organizations/acme/users";

fn alice() -> Value {
    json!({"username": "alice", "password": "correct horse battery", "email": "alice@acme.example",
           "given_name": "Alice", "family_name": "Liddell"})
}

async fn create(server: &TestServer, body: Value) -> Answer {
    server
        .admin(Method::POST, USERS, ORG_TOKEN, Some(body))
        .await
}

/// No member of a user view may carry the password or its hash.
fn assert_no_secret(view: &Value, password: &str) {
    let text = view.to_string();
    assert!(!text.contains(password), "password leaked: {text}");
    assert!(!text.contains("argon2"), "hash leaked: {text}");
    assert!(view.get("password").is_none() && view.get("password_hash").is_none());
}

#[tokio::test]
async fn create_get_list_patch_delete() {
    let server = spawn().await;
    let created = create(&server, alice()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.headers["cache-control"], "no-store");
    let user = &created.body;
    assert_no_secret(user, "correct horse battery");
    let user_id = user["user_id"].as_str().unwrap().to_owned();
    assert!(!user_id.is_empty());
    assert_eq!(user["username"], "alice");
    assert_eq!(user["email"], "alice@acme.example");
    assert_eq!(
        user["claims"],
        json!({"given_name": "Alice", "family_name": "Liddell"})
    );
    let one = format!("{USERS}/{user_id}");

    let got = server.admin(Method::GET, &one, ORG_TOKEN, None).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text);
    assert_eq!(got.body, created.body);

    let bob = create(
        &server,
        json!({"username": "bob", "password": "another long one"}),
    )
    .await;
    assert_eq!(bob.status, StatusCode::CREATED, "{}", bob.text);
    assert!(bob.body.get("email").is_none());
    let list = server.admin(Method::GET, USERS, ORG_TOKEN, None).await;
    assert_eq!(list.status, StatusCode::OK);
    let names: Vec<&str> = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice", "bob"]);
    for u in list.body.as_array().unwrap() {
        assert_no_secret(u, "correct horse battery");
        assert_no_secret(u, "another long one");
    }

    // PATCH changes what it names and keeps the rest.
    let patched = server
        .admin(
            Method::PATCH,
            &one,
            ORG_TOKEN,
            Some(json!({"given_name": "Alicia", "locale": "en-GB", "family_name": null})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    assert_eq!(
        patched.body["claims"],
        json!({"given_name": "Alicia", "locale": "en-GB"})
    );
    assert_eq!(patched.body["email"], "alice@acme.example");
    assert_eq!(patched.body["username"], "alice");
    let got = server.admin(Method::GET, &one, ORG_TOKEN, None).await;
    assert_eq!(got.body, patched.body);

    // A new password replaces the old one.
    let patched = server
        .admin(
            Method::PATCH,
            &one,
            ORG_TOKEN,
            Some(json!({"password": "a brand new secret"})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    assert_no_secret(&patched.body, "a brand new secret");
    assert!(
        server
            .engine
            .verify_user_password(&org("acme"), "alice", "correct horse battery")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        server
            .engine
            .verify_user_password(&org("acme"), "alice", "a brand new secret")
            .await
            .unwrap()
            .is_some()
    );

    // Renaming onto a taken username or email is a conflict.
    let clash = server
        .admin(
            Method::PATCH,
            &one,
            ORG_TOKEN,
            Some(json!({"username": "bob"})),
        )
        .await;
    clash.assert_error(409, "conflict", "username or email is already taken");
    let bob_one = format!("{USERS}/{}", bob.body["user_id"].as_str().unwrap());
    let clash = server
        .admin(
            Method::PATCH,
            &bob_one,
            ORG_TOKEN,
            Some(json!({"email": "alice@acme.example"})),
        )
        .await;
    clash.assert_error(409, "conflict", "username or email is already taken");

    let deleted = server.admin(Method::DELETE, &one, ORG_TOKEN, None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    let got = server.admin(Method::GET, &one, ORG_TOKEN, None).await;
    got.assert_error(404, "not_found", &user_id);
    let again = server.admin(Method::DELETE, &one, ORG_TOKEN, None).await;
    again.assert_error(404, "not_found", &user_id);
    let patch_gone = server
        .admin(
            Method::PATCH,
            &one,
            ORG_TOKEN,
            Some(json!({"locale": "fr"})),
        )
        .await;
    patch_gone.assert_error(404, "not_found", &user_id);
    assert!(
        server
            .engine
            .verify_user_password(&org("acme"), "alice", "a brand new secret")
            .await
            .unwrap()
            .is_none()
    );
    // The username is free again.
    let again = create(&server, alice()).await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.text);
    assert_ne!(again.body["user_id"], user_id.as_str());
}

#[tokio::test]
async fn duplicates_and_bad_attributes_are_refused() {
    let server = spawn().await;
    assert_eq!(create(&server, alice()).await.status, StatusCode::CREATED);

    let mut same_name = alice();
    same_name["email"] = json!("other@acme.example");
    create(&server, same_name).await.assert_error(
        409,
        "conflict",
        "username or email is already taken",
    );
    let mut same_email = alice();
    same_email["username"] = json!("alice2");
    create(&server, same_email).await.assert_error(
        409,
        "conflict",
        "username or email is already taken",
    );
    // Several users without email are fine.
    for name in ["nomail1", "nomail2"] {
        let answer = create(&server, json!({"username": name, "password": "12345678"})).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    }

    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"username": "carol", "password": "1234567"}),
            "password must be 8-1024 characters",
        ),
        (
            json!({"username": "carol", "password": "x".repeat(1025)}),
            "password must be 8-1024 characters",
        ),
        (json!({"username": "carol"}), "password is required"),
        (json!({"password": "long enough"}), "username is required"),
        (
            json!({"username": "", "password": "long enough"}),
            "username must be 1-200 printable characters",
        ),
        (
            json!({"username": "car\nol", "password": "long enough"}),
            "username must be 1-200 printable characters",
        ),
        (
            json!({"username": "carol", "password": "long enough", "email": "not-an-email"}),
            "email must be an address like user@example.com",
        ),
        (
            json!({"username": "carol", "password": "long enough", "role": "admin"}),
            "unknown user attribute role; allowed: username, password, email",
        ),
        (
            json!({"username": "carol", "password": "long enough", "sub": "someone-else"}),
            "unknown user attribute sub",
        ),
        (
            json!({"username": "carol", "password": "long enough", "password_hash": "$argon2id$x"}),
            "unknown user attribute password_hash",
        ),
        (json!(["carol"]), "body must be a JSON object"),
    ];
    for (body, fragment) in cases {
        let answer = create(&server, body.clone()).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            answer.text
        );
        assert_eq!(answer.error(), "invalid_request", "{body}");
        assert!(
            answer.description().contains(fragment),
            "{body}: {:?} should contain {fragment:?}",
            answer.description()
        );
    }
    let list = server.admin(Method::GET, USERS, ORG_TOKEN, None).await;
    assert_eq!(list.body.as_array().unwrap().len(), 3, "{}", list.text);

    let id = list.body[0]["user_id"].as_str().unwrap().to_owned();
    let one = format!("{USERS}/{id}");
    for (patch, fragment) in [
        (
            json!({"password": "short"}),
            "password must be 8-1024 characters",
        ),
        (json!({"colour": "blue"}), "unknown user attribute colour"),
        (json!({"username": 5}), "username must be a string"),
    ] {
        let answer = server
            .admin(Method::PATCH, &one, ORG_TOKEN, Some(patch))
            .await;
        answer.assert_error(400, "invalid_request", fragment);
    }
    let unknown_org = server
        .admin(
            Method::POST,
            "/api/v1/organizations/nowhere/users",
            SERVER_TOKEN,
            Some(alice()),
        )
        .await;
    unknown_org.assert_error(404, "not_found", "organization nowhere");
}

#[tokio::test]
async fn passwords_are_stored_as_argon2id_and_verified_by_username_or_email() {
    let server = spawn().await;
    let created = create(&server, alice()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let user_id = created.body["user_id"].as_str().unwrap();

    let record = server
        .store
        .get_user("acme", user_id)
        .await
        .unwrap()
        .expect("stored user");
    // argon2id with the parameters of the dummy hash that `verify_user_password` checks for unknown
    // users, so both answers cost the same (no user enumeration by timing).
    assert!(
        record
            .password_hash
            .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{}",
        record.password_hash
    );
    assert!(!record.password_hash.contains("correct horse battery"));
    assert!(!record.claims_json.contains("correct horse battery"));

    for login in ["alice", "alice@acme.example"] {
        let verified = server
            .engine
            .verify_user_password(&org("acme"), login, "correct horse battery")
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{login} should verify"));
        assert_eq!(verified.user_id, user_id);
        assert_eq!(verified.username, "alice");
    }
    for (login, password) in [
        ("alice", "wrong horse battery"),
        ("alice@acme.example", "Correct horse battery"),
        ("alice", ""),
        ("nobody", "correct horse battery"),
        ("nobody@acme.example", "correct horse battery"),
    ] {
        assert!(
            server
                .engine
                .verify_user_password(&org("acme"), login, password)
                .await
                .unwrap()
                .is_none(),
            "{login}/{password} must not verify"
        );
    }
    // Users belong to one organization.
    let beta = server
        .admin(
            Method::POST,
            "/api/v1/organizations",
            SERVER_TOKEN,
            Some(json!({"id": "beta"})),
        )
        .await;
    assert_eq!(beta.status, StatusCode::CREATED);
    assert!(
        server
            .engine
            .verify_user_password(&org("beta"), "alice", "correct horse battery")
            .await
            .unwrap()
            .is_none()
    );
    let beta_token = beta.body["admin_token"].as_str().unwrap();
    let foreign = server
        .admin(
            Method::GET,
            &format!("/api/v1/organizations/beta/users/{user_id}"),
            beta_token,
            None,
        )
        .await;
    foreign.assert_error(404, "not_found", user_id);
    // The same username may exist in another organization.
    let twin = server
        .admin(
            Method::POST,
            "/api/v1/organizations/beta/users",
            beta_token,
            Some(alice()),
        )
        .await;
    assert_eq!(twin.status, StatusCode::CREATED, "{}", twin.text);
    // Two hashes of one password differ (random salt).
    let twin_record = server
        .store
        .get_user("beta", twin.body["user_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_ne!(twin_record.password_hash, record.password_hash);
}
