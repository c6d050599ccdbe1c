//! `ResourceVerifier::new`: the issuer's JWKS over HTTP, cached, refetched (rate-limited) when a
//! token names an unknown `kid`, so that the issuer's key rotation works.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use clavex_jose::{Algorithm, SigningKey};
use clavex_resource::ResourceErrorCode::{InvalidToken, ServerError};
use clavex_resource::ResourceVerifier;
use common::*;
use serde_json::{Value, json};

#[derive(Clone)]
struct Jwks {
    doc: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
}

async fn serve_jwks(State(jwks): State<Jwks>) -> axum::Json<Value> {
    jwks.fetches.fetch_add(1, Ordering::SeqCst);
    axum::Json(jwks.doc.lock().unwrap().clone())
}

async fn spawn_jwks(keys: &[&SigningKey]) -> (String, Jwks) {
    let jwks = Jwks {
        doc: Arc::new(Mutex::new(doc(keys))),
        fetches: Arc::new(AtomicUsize::new(0)),
    };
    let app = Router::new()
        .route("/acme/jwks", get(serve_jwks))
        .with_state(jwks.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/acme/jwks"), jwks)
}

fn doc(keys: &[&SigningKey]) -> Value {
    json!({ "keys": keys.iter().map(|k| k.public_jwk()).collect::<Vec<_>>() })
}

#[tokio::test]
async fn fetched_cached_and_refetched_on_rotation() {
    let old = Issuer::new();
    let holder = Holder::new();
    let (uri, jwks) = spawn_jwks(&[&old.key]).await;
    let mut config = config();
    config.jwks_uri = uri;
    config.jwks.refetch_interval = Duration::from_millis(300);
    let v = ResourceVerifier::new(config).unwrap();

    // First use fetches; later uses hit the cache.
    for _ in 0..3 {
        let token = old.token(&old.claims(&holder.jkt()));
        call(&v, &token, &holder.proof("GET", URL, &token))
            .await
            .unwrap();
    }
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), 1);

    // The issuer rotates: a token with the new kid makes the set be fetched again at once.
    let new = Issuer {
        key: SigningKey::generate(Algorithm::Es256, "rotated".into()).unwrap(),
    };
    *jwks.doc.lock().unwrap() = doc(&[&old.key, &new.key]);
    let token = new.token(&new.claims(&holder.jkt()));
    call(&v, &token, &holder.proof("GET", URL, &token))
        .await
        .unwrap();
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), 2);
    // Old tokens still verify (the old key is still published), without a fetch.
    let token = old.token(&old.claims(&holder.jkt()));
    call(&v, &token, &holder.proof("GET", URL, &token))
        .await
        .unwrap();
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), 2);

    // Made-up kids: refused, and at most one refetch per interval.
    let stranger = Issuer::new();
    for _ in 0..5 {
        let token = stranger.token(&stranger.claims(&holder.jkt()));
        let r = call(&v, &token, &holder.proof("GET", URL, &token)).await;
        assert_refused(&r, InvalidToken, "not signed by this issuer");
    }
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), 2, "rate-limited");
    tokio::time::sleep(Duration::from_millis(350)).await;
    let token = stranger.token(&stranger.claims(&holder.jkt()));
    let r = call(&v, &token, &holder.proof("GET", URL, &token)).await;
    assert_refused(&r, InvalidToken, "not signed by this issuer");
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn cache_expires_after_ttl() {
    let issuer = Issuer::new();
    let holder = Holder::new();
    let (uri, jwks) = spawn_jwks(&[&issuer.key]).await;
    let mut config = config();
    config.jwks_uri = uri;
    config.jwks.cache_ttl = Duration::from_millis(200);
    let v = ResourceVerifier::new(config).unwrap();
    let token = issuer.token(&issuer.claims(&holder.jkt()));
    call(&v, &token, &holder.proof("GET", URL, &token))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    call(&v, &token, &holder.proof("GET", URL, &token))
        .await
        .unwrap();
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn unreachable_or_invalid_jwks_is_a_server_error() {
    let issuer = Issuer::new();
    let holder = Holder::new();
    let token = issuer.token(&issuer.claims(&holder.jkt()));

    // Nothing listens there.
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let mut unreachable = config();
    unreachable.jwks_uri = format!("http://{addr}/jwks");
    let v = ResourceVerifier::new(unreachable).unwrap();
    let err = call(&v, &token, &holder.proof("GET", URL, &token))
        .await
        .unwrap_err();
    assert_eq!(err.code, ServerError);
    assert_eq!(err.status(), 500);
    assert!(v.challenge(&err).is_none());
    assert_eq!(
        err.body()["error_description"],
        "the resource server could not verify the request"
    );

    // A document that is not a JWKS (a private key in it).
    let (uri, jwks) = spawn_jwks(&[&issuer.key]).await;
    let mut bad = issuer.key.public_jwk();
    bad["d"] = json!("AAAA");
    *jwks.doc.lock().unwrap() = json!({ "keys": [bad] });
    let mut with_bad = config();
    with_bad.jwks_uri = uri;
    let v = ResourceVerifier::new(with_bad).unwrap();
    let err = call(&v, &token, &holder.proof("GET", URL, &token))
        .await
        .unwrap_err();
    assert_eq!(err.code, ServerError, "{err}");

    // Not an http(s) URL at all.
    let mut not_http = config();
    not_http.jwks_uri = "file:///etc/jwks.json".into();
    assert!(ResourceVerifier::new(not_http).is_err());
}
