//! DPoP proof verification (RFC 9449 §4.3), shared by the authorization server (token and PAR
//! endpoints, without `ath`) and resource servers (with `ath`, RFC 9449 §7).

use clavex_jose::{Algorithm, Jws, JwsLimits, PublicKey};
use serde_json::Value;

use crate::policy;

/// What the request looked like, for `htm`/`htu`.
pub struct DpopContext<'a> {
    pub method: &'a str,
    /// The endpoint URL as the server publishes it (from its configured public URL, never from
    /// `Host`).
    pub url: &'a str,
    /// For resource requests: the presented access token, whose hash must be in `ath`.
    pub access_token: Option<&'a str>,
}

/// The acceptance window and algorithms for proofs. [`DpopPolicy::default`] is FAPI 2.0's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopPolicy {
    /// Algorithms a proof may use.
    pub allowed_algs: Vec<Algorithm>,
    /// A proof is accepted up to this many seconds after its `iat`.
    pub max_age_secs: i64,
    /// A proof is accepted up to this many seconds before its `iat` (clock skew).
    pub max_future_skew_secs: i64,
}

impl Default for DpopPolicy {
    fn default() -> Self {
        DpopPolicy {
            allowed_algs: policy::FAPI_ALGORITHMS.to_vec(),
            max_age_secs: policy::DPOP_MAX_AGE_SECS,
            max_future_skew_secs: policy::MAX_FUTURE_SKEW_SECS,
        }
    }
}

/// A valid proof. Its `jti` must still be recorded (single use) before the request succeeds.
#[derive(Debug, Clone)]
pub struct VerifiedProof {
    /// RFC 7638 thumbprint of the proof key (for `cnf.jkt`).
    pub jkt: String,
    /// What to record as used: a hash of the key thumbprint and the `jti`.
    pub replay_id: String,
    /// Until when the record must be kept (the proof could be accepted until then).
    pub replay_expires_at: i64,
    /// The proof's `nonce` claim (RFC 9449 §8), checked by servers that issue nonces.
    pub nonce: Option<String>,
}

/// Why a proof was refused; the description is safe to return to the client
/// (`invalid_dpop_proof`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DpopError(pub String);

fn reject(msg: impl Into<String>) -> DpopError {
    DpopError(msg.into())
}

/// Normalises an `htu` for comparison: scheme and host lower-cased, default port dropped (the `url`
/// crate does both), query and fragment removed (RFC 9449 §4.3 check 9).
pub fn normalised_htu(value: &str) -> Option<String> {
    let mut url = url::Url::parse(value).ok()?;
    url.set_query(None);
    url.set_fragment(None);
    Some(url.to_string())
}

/// Verifies the `DPoP` header values of one request under FAPI 2.0's [`DpopPolicy`]. Exactly one
/// value is allowed.
pub fn verify_proof(
    header_values: &[&str],
    ctx: &DpopContext<'_>,
    now: i64,
) -> Result<VerifiedProof, DpopError> {
    verify_proof_with(header_values, ctx, now, &DpopPolicy::default())
}

/// As [`verify_proof`], under `policy`.
pub fn verify_proof_with(
    header_values: &[&str],
    ctx: &DpopContext<'_>,
    now: i64,
    policy: &DpopPolicy,
) -> Result<VerifiedProof, DpopError> {
    let proof = match header_values {
        [] => {
            return Err(reject(
                "a DPoP proof is required: this client's tokens are DPoP-bound",
            ));
        }
        [one] => *one,
        _ => return Err(reject("exactly one DPoP header is allowed")),
    };
    let jws = Jws::parse(
        proof,
        &JwsLimits {
            max_total_len: policy::MAX_JWT_LEN,
        },
    )
    .map_err(|e| reject(format!("DPoP proof is not a valid JWS: {e}")))?;
    if !clavex_jose::typ_matches(jws.typ(), "dpop+jwt") {
        return Err(reject("DPoP proof typ must be dpop+jwt"));
    }
    let alg = policy::allowed_algorithm(jws.alg_name(), &policy.allowed_algs)
        .map_err(|m| reject(format!("DPoP proof: {m}")))?;
    let jwk = jws
        .header()
        .get("jwk")
        .ok_or_else(|| reject("DPoP proof header has no jwk"))?;
    if !jwk.is_object() {
        return Err(reject("DPoP proof jwk must be a JSON object"));
    }
    let key = PublicKey::from_jwk(jwk).map_err(|e| reject(format!("DPoP proof jwk: {e}")))?;
    if !key.supports(alg) {
        return Err(reject("DPoP proof alg does not match its jwk"));
    }
    jws.verify_with(&key)
        .map_err(|_| reject("DPoP proof signature verification failed"))?;

    let claims = jws.claims();
    let jti = match claims.get("jti") {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= policy::MAX_JTI_LEN => s.as_str(),
        Some(_) => {
            return Err(reject(
                "DPoP proof jti must be a string of 1-256 characters",
            ));
        }
        None => return Err(reject("DPoP proof has no jti claim")),
    };
    match claims.get("htm") {
        Some(Value::String(htm)) if htm == ctx.method => {}
        Some(Value::String(_)) => {
            return Err(reject(format!("DPoP proof htm must be {}", ctx.method)));
        }
        _ => return Err(reject("DPoP proof has no htm claim")),
    }
    let htu = match claims.get("htu") {
        Some(Value::String(htu)) => htu,
        _ => return Err(reject("DPoP proof has no htu claim")),
    };
    match (normalised_htu(htu), normalised_htu(ctx.url)) {
        (Some(presented), Some(expected)) if presented == expected => {}
        _ => return Err(reject(format!("DPoP proof htu must be {}", ctx.url))),
    }
    let iat = match claims.get("iat") {
        Some(Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        _ => None,
    }
    .ok_or_else(|| reject("DPoP proof has no numeric iat claim"))?;
    if iat > now + policy.max_future_skew_secs {
        return Err(reject("DPoP proof iat is too far in the future"));
    }
    if iat < now - policy.max_age_secs {
        return Err(reject("DPoP proof is too old (iat)"));
    }
    if let Some(token) = ctx.access_token {
        let expected = clavex_jose::b64url_encode(&clavex_jose::sha256(token.as_bytes()));
        match claims.get("ath") {
            Some(Value::String(ath)) if *ath == expected => {}
            Some(_) => return Err(reject("DPoP proof ath does not match the access token")),
            None => return Err(reject("DPoP proof has no ath claim")),
        }
    }
    let jkt = key.thumbprint().to_owned();
    let replay_id =
        clavex_jose::b64url_encode(&clavex_jose::sha256(format!("{jkt}\u{0}{jti}").as_bytes()));
    // Keep the record at least as long as the proof could be accepted.
    let replay_expires_at = iat.max(now) + policy.max_age_secs + policy.max_future_skew_secs;
    let nonce = claims
        .get("nonce")
        .and_then(|n| n.as_str())
        .map(str::to_owned);
    Ok(VerifiedProof {
        jkt,
        replay_id,
        replay_expires_at,
        nonce,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn htu_normalisation() {
        let a = normalised_htu("HTTPS://ID.Example:443/acme/token?x=1#f");
        assert_eq!(a.as_deref(), Some("https://id.example/acme/token"));
        assert_ne!(normalised_htu("https://id.example/acme/tokenx"), a);
        assert_ne!(normalised_htu("https://id.example/ACME/token"), a);
        assert_eq!(normalised_htu("not a url"), None);
        assert_eq!(
            normalised_htu("HTTP://127.0.0.1:80/accounts").as_deref(),
            Some("http://127.0.0.1/accounts")
        );
    }
}
