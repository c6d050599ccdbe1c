//! `private_key_jwt` client assertions (RFC 7523 §3, FAPI 2.0 SP §5.3.2.1): their type, and the time
//! and identifier rules of their claims. The signature is checked in `crate::client_auth`.

use super::dpop::not_in_future;
use super::lifetimes::MAX_ASSERTION_LIFETIME_SECS;

pub use clavex_resource::policy::MAX_JTI_LEN;

pub const CLIENT_ASSERTION_TYPE_JWT_BEARER: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// `exp` required, in the future but at most [`MAX_ASSERTION_LIFETIME_SECS`] ahead; `iat` and `nbf`
/// (optional) not in the future beyond the allowed skew. Returns the checked `exp` (the assertion's
/// replay record lives until then), or what is wrong.
pub fn check_assertion_times(
    exp: Option<i64>,
    iat: Option<i64>,
    nbf: Option<i64>,
    now: i64,
) -> Result<i64, String> {
    let exp = exp.ok_or("client_assertion has no exp claim")?;
    if exp <= now {
        return Err("client_assertion has expired".to_owned());
    }
    if exp > now + MAX_ASSERTION_LIFETIME_SECS {
        return Err(format!(
            "client_assertion exp is more than {MAX_ASSERTION_LIFETIME_SECS} seconds in the future"
        ));
    }
    if iat.is_some_and(|iat| !not_in_future(iat, now)) {
        return Err("client_assertion iat is in the future".to_owned());
    }
    if nbf.is_some_and(|nbf| !not_in_future(nbf, now)) {
        return Err("client_assertion is not yet valid (nbf)".to_owned());
    }
    Ok(exp)
}

/// `jti`: 1 to [`MAX_JTI_LEN`] characters (it becomes a replay record).
pub fn check_assertion_jti(jti: &str) -> Result<(), String> {
    if jti.is_empty() || jti.len() > MAX_JTI_LEN {
        return Err("client_assertion jti must be 1-256 characters".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    #[test]
    fn fresh_assertion_accepted() {
        assert!(check_assertion_times(Some(NOW + 60), Some(NOW), Some(NOW), NOW).is_ok());
        assert!(
            check_assertion_times(Some(NOW + MAX_ASSERTION_LIFETIME_SECS), None, None, NOW).is_ok()
        );
        assert!(check_assertion_jti("a").is_ok());
    }

    #[test]
    fn assertion_time_and_jti_rejections() {
        assert!(check_assertion_times(None, None, None, NOW).is_err());
        assert!(check_assertion_times(Some(NOW), None, None, NOW).is_err());
        assert!(
            check_assertion_times(Some(NOW + MAX_ASSERTION_LIFETIME_SECS + 1), None, None, NOW)
                .is_err()
        );
        assert!(check_assertion_times(Some(NOW + 60), Some(NOW + 11), None, NOW).is_err());
        assert!(check_assertion_times(Some(NOW + 60), None, Some(NOW + 11), NOW).is_err());
        assert!(check_assertion_jti("").is_err());
        assert!(check_assertion_jti(&"j".repeat(MAX_JTI_LEN + 1)).is_err());
    }
}
