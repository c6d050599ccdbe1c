//! DPoP proof verification (RFC 9449 §4.3) for the token endpoint; the resource-server side (with
//! `ath`) reuses the same checks.

use clavex_jose::{Jws, JwsLimits, PublicKey};
use serde_json::Value;

use crate::error::OAuthError;
use crate::policy;

/// What the request looked like, for `htm`/`htu`.
pub struct DpopContext<'a> {
    pub method: &'a str,
    /// The endpoint URL as Clavex publishes it (from the public URL, never from `Host`).
    pub url: &'a str,
    /// For resource requests: the presented access token, whose hash must be in `ath`.
    pub access_token: Option<&'a str>,
}

/// A valid proof. Its `jti` must still be recorded (single use) before the request succeeds.
#[derive(Debug, Clone)]
pub struct VerifiedProof {
    /// RFC 7638 thumbprint of the proof key (for `cnf.jkt`).
    pub jkt: String,
    pub replay_id: String,
    pub replay_expires_at: i64,
}

fn reject(msg: impl Into<String>) -> OAuthError {
    OAuthError::invalid_dpop_proof(msg)
}

/// Normalises an `htu` for comparison: scheme and host lower-cased, default port dropped (the `url`
/// crate does both), query and fragment removed (RFC 9449 §4.3 check 9).
fn normalised_htu(value: &str) -> Option<String> {
    let mut url = url::Url::parse(value).ok()?;
    url.set_query(None);
    url.set_fragment(None);
    Some(url.to_string())
}

/// Verifies the `DPoP` header values of one request. Exactly one value is allowed.
pub fn verify_proof(
    header_values: &[&str],
    ctx: &DpopContext<'_>,
    now: i64,
) -> Result<VerifiedProof, OAuthError> {
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
    let alg =
        policy::fapi_algorithm(jws.alg_name()).map_err(|m| reject(format!("DPoP proof: {m}")))?;
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
    if iat > now + policy::MAX_FUTURE_SKEW_SECS {
        return Err(reject("DPoP proof iat is too far in the future"));
    }
    if iat < now - policy::DPOP_MAX_AGE_SECS {
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
    let replay_expires_at = iat.max(now) + policy::DPOP_MAX_AGE_SECS + policy::MAX_FUTURE_SKEW_SECS;
    Ok(VerifiedProof {
        jkt,
        replay_id,
        replay_expires_at,
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
    }
}
