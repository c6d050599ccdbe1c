//! The pre-signed units of work: client assertions, DPoP proofs and PAR bodies, signed in batches
//! outside the timed phase (signing costs about as much as the server's work).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use clavex_jose::{Algorithm, SigningKey};
use hyper::body::Bytes;
use hyper::header::HeaderValue;
use serde_json::{Map, Value, json};

use super::{ASSERTION_TYPE_ENCODED, REDIRECT_URI_ENCODED};
use crate::Scenario;

/// One unit of load with its pre-signed credentials.
pub(super) enum Work {
    /// `client_credentials` token request: form body and DPoP proof.
    Token { body: Bytes, dpop: HeaderValue },
    /// Pushed authorization request: form body.
    Par { body: Bytes },
    /// PAR body, then the token request's form body without its final `code` value, and the
    /// token request's DPoP proof.
    Flow {
        par_body: Bytes,
        token_body: String,
        dpop: HeaderValue,
    },
}

/// Signs client assertions and DPoP proofs.
pub(super) struct Signer {
    pub(super) client_key: SigningKey,
    dpop_key: SigningKey,
    dpop_header: Map<String, Value>,
    /// `dpop_jkt` of pushed requests: the code is bound to the DPoP key.
    dpop_jkt: String,
    pub(super) client_id: String,
    issuer: String,
    token_url: String,
    jti_prefix: String,
    counter: u64,
}

impl Signer {
    pub(super) fn new(issuer: &str, token_url: &str) -> Result<Signer> {
        let client_key = SigningKey::generate(Algorithm::Es256, clavex_jose::random_token(8))
            .map_err(|e| anyhow!("generating the client key: {e}"))?;
        let dpop_key = SigningKey::generate(Algorithm::Es256, clavex_jose::random_token(8))
            .map_err(|e| anyhow!("generating the DPoP key: {e}"))?;
        let mut jwk = dpop_key.public_jwk();
        if let Some(obj) = jwk.as_object_mut() {
            obj.remove("kid");
        }
        let dpop_header: Map<String, Value> = [("jwk".to_owned(), jwk)].into_iter().collect();
        Ok(Signer {
            dpop_jkt: dpop_key.thumbprint(),
            client_key,
            dpop_key,
            dpop_header,
            client_id: String::new(),
            issuer: issuer.to_owned(),
            token_url: token_url.to_owned(),
            jti_prefix: clavex_jose::random_token(9),
            counter: 0,
        })
    }

    pub(super) fn jwks(&self) -> Value {
        json!({ "keys": [self.client_key.public_jwk()] })
    }

    fn next_jti(&mut self) -> String {
        self.counter += 1;
        format!("{}-{}", self.jti_prefix, self.counter)
    }

    fn assertion(&mut self, now: i64) -> Result<String> {
        let claims = json!({
            "iss": self.client_id, "sub": self.client_id, "aud": self.issuer,
            "iat": now, "exp": now + 300, "jti": self.next_jti(),
        });
        self.client_key
            .sign_jwt(None, None, true, &claims)
            .map_err(|e| anyhow!("signing an assertion: {e}"))
    }

    fn token_proof(&mut self, now: i64) -> Result<HeaderValue> {
        let claims = json!({
            "jti": self.next_jti(), "htm": "POST", "htu": self.token_url, "iat": now,
        });
        let proof = self
            .dpop_key
            .sign_jwt(Some("dpop+jwt"), Some(&self.dpop_header), false, &claims)
            .map_err(|e| anyhow!("signing a DPoP proof: {e}"))?;
        HeaderValue::from_str(&proof).context("DPoP proof as a header value")
    }

    /// A pushed authorization request as a FAPI 2.0 client sends it; returns it with the PKCE
    /// verifier. A JWS, a base64url value and the pre-encoded constants need no form escaping.
    pub(super) fn par_body(&mut self, now: i64) -> Result<(Bytes, String)> {
        let verifier = clavex_jose::random_token(32);
        let challenge = clavex_jose::b64url_encode(&clavex_jose::sha256(verifier.as_bytes()));
        let assertion = self.assertion(now)?;
        let state = clavex_jose::random_token(12);
        let body = format!(
            "client_id={}&client_assertion_type={ASSERTION_TYPE_ENCODED}&client_assertion={assertion}\
             &response_type=code&redirect_uri={REDIRECT_URI_ENCODED}&scope=openid\
             &state={state}&nonce={state}&code_challenge={challenge}&code_challenge_method=S256\
             &dpop_jkt={}",
            self.client_id, self.dpop_jkt
        );
        Ok((Bytes::from(body), verifier))
    }

    fn work(&mut self, scenario: Scenario, now: i64) -> Result<Work> {
        Ok(match scenario {
            Scenario::Token => {
                let assertion = self.assertion(now)?;
                let body = format!(
                    "grant_type=client_credentials&client_assertion_type={ASSERTION_TYPE_ENCODED}&client_assertion={assertion}"
                );
                Work::Token {
                    body: Bytes::from(body),
                    dpop: self.token_proof(now)?,
                }
            }
            Scenario::Par => Work::Par {
                body: self.par_body(now)?.0,
            },
            Scenario::Flow => {
                let (par_body, verifier) = self.par_body(now)?;
                let assertion = self.assertion(now)?;
                let token_body = format!(
                    "grant_type=authorization_code&redirect_uri={REDIRECT_URI_ENCODED}&code_verifier={verifier}\
                     &client_assertion_type={ASSERTION_TYPE_ENCODED}&client_assertion={assertion}&code="
                );
                Work::Flow {
                    par_body,
                    token_body,
                    dpop: self.token_proof(now)?,
                }
            }
        })
    }

    /// Signs up to `count` units, stopping early after `max_secs`.
    pub(super) fn batch(
        &mut self,
        scenario: Scenario,
        count: usize,
        max_secs: f64,
    ) -> Result<(VecDeque<Work>, f64)> {
        let started = Instant::now();
        let mut out = VecDeque::with_capacity(count);
        let mut now = unix_now();
        for i in 0..count {
            if i % 256 == 0 {
                now = unix_now();
                if started.elapsed().as_secs_f64() > max_secs {
                    break;
                }
            }
            out.push_back(self.work(scenario, now)?);
        }
        Ok((out, started.elapsed().as_secs_f64()))
    }
}

/// ES256 verifications per second on this core for ~0.5 s (clavex-jose/aws-lc, as in the server).
pub(super) fn calibrate(key: &SigningKey) -> Result<f64> {
    let public = key.public_key();
    let input = b"eyJhbGciOiJFUzI1NiJ9.eyJjYWxpYnJhdGlvbiI6dHJ1ZX0";
    let signature = key
        .sign(input)
        .map_err(|e| anyhow!("calibration sign: {e}"))?;
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < Duration::from_millis(500) {
        for _ in 0..50 {
            public
                .verify(Algorithm::Es256, input, &signature)
                .map_err(|e| anyhow!("calibration verify: {e}"))?;
        }
        n += 50;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

pub(super) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
