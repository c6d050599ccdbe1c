//! An issuer and a DPoP key holder, built on clavex-jose, for the verifier tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use clavex_jose::{Algorithm, SigningKey, b64url_encode, sha256};
use clavex_resource::{
    GrantStatus, MemoryReplayCache, ResourceConfig, ResourceError, ResourceErrorCode,
    ResourceRequest, ResourceVerifier, VerifiedAccessToken,
};
use serde_json::{Map, Value, json};

pub const ISSUER: &str = "https://id.bank.example/acme";
pub const API: &str = "https://id.bank.example/acme/api";
pub const URL: &str = "https://api.bank.example/accounts";
pub const NOW: i64 = 1_800_000_000;

pub fn key(alg: Algorithm) -> SigningKey {
    SigningKey::generate(alg, clavex_jose::random_token(8)).unwrap()
}

/// A JWS with exactly this header (nothing added), signed by `key`.
pub fn sign_raw(key: &SigningKey, header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64url_encode(header.to_string().as_bytes()),
        b64url_encode(claims.to_string().as_bytes())
    );
    let sig = key.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", b64url_encode(&sig))
}

pub fn ath(token: &str) -> String {
    b64url_encode(&sha256(token.as_bytes()))
}

pub struct Issuer {
    pub key: SigningKey,
}

impl Issuer {
    pub fn new() -> Issuer {
        Issuer {
            key: key(Algorithm::Es256),
        }
    }

    pub fn claims(&self, jkt: &str) -> Value {
        json!({
            "iss": ISSUER, "sub": "alice", "aud": API, "client_id": "tpp", "scope": "accounts openid",
            "iat": NOW, "exp": NOW + 300, "jti": clavex_jose::random_token(8), "cnf": { "jkt": jkt },
        })
    }

    pub fn token(&self, claims: &Value) -> String {
        self.key
            .sign_jwt(Some("at+jwt"), None, true, claims)
            .unwrap()
    }
}

pub struct Holder {
    pub key: SigningKey,
}

impl Holder {
    pub fn new() -> Holder {
        Holder {
            key: key(Algorithm::Es256),
        }
    }

    pub fn jkt(&self) -> String {
        self.key.thumbprint()
    }

    pub fn jwk(&self) -> Value {
        let mut jwk = self.key.public_jwk();
        jwk.as_object_mut().unwrap().remove("kid");
        jwk
    }

    pub fn claims(&self, method: &str, url: &str, token: &str, iat: i64) -> Value {
        json!({ "jti": clavex_jose::random_token(12), "htm": method, "htu": url, "iat": iat, "ath": ath(token) })
    }

    pub fn header(&self) -> Value {
        json!({ "typ": "dpop+jwt", "alg": self.key.alg().as_str(), "jwk": self.jwk() })
    }

    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        sign_raw(&self.key, header, claims)
    }

    pub fn proof(&self, method: &str, url: &str, token: &str) -> String {
        self.sign(&self.header(), &self.claims(method, url, token, NOW))
    }
}

pub fn config() -> ResourceConfig {
    let mut config = ResourceConfig::new(ISSUER);
    config.audiences = vec![API.to_owned()];
    config.replay = Arc::new(MemoryReplayCache::new());
    config
}

pub fn verifier(issuer: &Issuer) -> ResourceVerifier {
    ResourceVerifier::with_keys(config(), vec![issuer.key.public_key()])
}

/// `Authorization: DPoP <token>` and one proof.
pub async fn call(
    v: &ResourceVerifier,
    token: &str,
    proof: &str,
) -> Result<VerifiedAccessToken, ResourceError> {
    let auth = format!("DPoP {token}");
    call_with(v, &[&auth], &[proof], false).await
}

pub async fn call_with(
    v: &ResourceVerifier,
    authorization: &[&str],
    dpop: &[&str],
    token_in_query: bool,
) -> Result<VerifiedAccessToken, ResourceError> {
    v.verify(
        &ResourceRequest {
            method: "GET",
            url: URL,
            authorization,
            dpop,
            token_in_query,
            token_in_body: false,
        },
        NOW,
    )
    .await
}

#[track_caller]
pub fn assert_refused(
    result: &Result<VerifiedAccessToken, ResourceError>,
    code: ResourceErrorCode,
    fragment: &str,
) {
    match result {
        Ok(_) => panic!("accepted; expected {code} ({fragment})"),
        Err(e) => {
            assert_eq!(e.code, code, "{e}");
            assert!(
                e.description.contains(fragment),
                "{:?} should contain {fragment:?}",
                e.description
            );
        }
    }
}

/// A grant registry for the grant-status hook.
pub struct Grants(pub Vec<String>);

#[clavex_resource::async_trait]
impl GrantStatus for Grants {
    async fn is_active(&self, grant_id: &str) -> Result<bool, ResourceError> {
        Ok(self.0.iter().any(|g| g == grant_id))
    }
}

pub fn with(mut claims: Value, name: &str, value: Value) -> Value {
    claims[name] = value;
    claims
}

pub fn without(mut claims: Value, name: &str) -> Value {
    claims.as_object_mut().unwrap().remove(name);
    claims
}

pub fn header_without(header: &Value, name: &str) -> Value {
    let mut h: Map<String, Value> = header.as_object().unwrap().clone();
    h.remove(name);
    Value::Object(h)
}
