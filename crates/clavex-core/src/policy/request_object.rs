//! Signed request objects (RFC 9101, FAPI 2.0 Message Signing §5.3.1): their media type and their
//! time and audience rules. The signature is checked in `crate::request_object` with the client's keys.

use serde_json::Value;

use super::lifetimes::{MAX_FUTURE_SKEW_SECS, REQUEST_OBJECT_MAX_LIFETIME_SECS};

/// The media type a request object may declare (RFC 9101 §4, compared case-insensitively).
pub const REQUEST_OBJECT_TYP: &str = "oauth-authz-req+jwt";

/// RFC 9101 §6.3 / FAPI 2.0 MS §5.3.1: the time and audience rules of a request object: `exp` and
/// `nbf` required, lifetime at most [`REQUEST_OBJECT_MAX_LIFETIME_SECS`], `nbf` at most that old and
/// at most [`MAX_FUTURE_SKEW_SECS`] ahead, not expired; `aud` the issuer, as a string or in an
/// array. Returns what is wrong.
pub fn check_request_object_claims(
    claims: &serde_json::Map<String, Value>,
    issuer: &str,
    now: i64,
) -> Result<(), String> {
    let time = |name: &str| -> Result<i64, String> {
        match claims.get(name) {
            None => Err(format!("the request object has no {name} claim")),
            Some(v) => v
                .as_i64()
                .ok_or_else(|| format!("the request object's {name} must be a NumericDate")),
        }
    };
    let exp = time("exp")?;
    let nbf = time("nbf")?;
    if exp <= now {
        return Err("the request object has expired".to_owned());
    }
    if nbf > now + MAX_FUTURE_SKEW_SECS {
        return Err("the request object is not valid yet (nbf)".to_owned());
    }
    if nbf < now - REQUEST_OBJECT_MAX_LIFETIME_SECS {
        return Err("the request object's nbf is more than 60 minutes in the past".to_owned());
    }
    if exp - nbf > REQUEST_OBJECT_MAX_LIFETIME_SECS {
        return Err("the request object's lifetime (exp - nbf) exceeds 60 minutes".to_owned());
    }
    let names_issuer = match claims.get("aud") {
        Some(Value::String(s)) => s == issuer,
        Some(Value::Array(items)) => items.iter().any(|v| v.as_str() == Some(issuer)),
        _ => false,
    };
    if !names_issuer {
        return Err("the request object's aud must be the issuer identifier".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    const ISS: &str = "https://id.example/acme";
    const NOW: i64 = 1_700_000_000;

    fn claims(value: Value) -> serde_json::Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn fresh_request_object_accepted() {
        check_request_object_claims(
            &claims(json!({"aud": ISS, "nbf": NOW, "exp": NOW + 60})),
            ISS,
            NOW,
        )
        .unwrap();
        check_request_object_claims(
            &claims(json!({"aud": [ISS, "x"], "nbf": NOW - 3000, "exp": NOW + 600})),
            ISS,
            NOW,
        )
        .unwrap();
    }

    #[test]
    fn time_and_audience_rules() {
        for bad in [
            json!({"aud": ISS, "exp": NOW + 60}),
            json!({"aud": ISS, "nbf": NOW}),
            json!({"aud": ISS, "nbf": NOW - 120, "exp": NOW}),
            json!({"aud": ISS, "nbf": NOW + MAX_FUTURE_SKEW_SECS + 1, "exp": NOW + 600}),
            json!({"aud": ISS, "nbf": NOW - 3601, "exp": NOW + 60}),
            json!({"aud": ISS, "nbf": NOW, "exp": NOW + 3601}),
            json!({"aud": ISS, "nbf": "now", "exp": NOW + 60}),
            json!({"aud": "https://other.example", "nbf": NOW, "exp": NOW + 60}),
            json!({"nbf": NOW, "exp": NOW + 60}),
        ] {
            assert!(
                check_request_object_claims(&claims(bad.clone()), ISS, NOW).is_err(),
                "{bad}"
            );
        }
    }
}
