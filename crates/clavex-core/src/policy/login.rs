//! Login throttling: how many failed sign-ins an account and an address may have per window, and the
//! counters they are kept under.

pub use super::lifetimes::LOGIN_WINDOW_SECS;
use crate::ids::OrgId;

/// Failed logins allowed per account and per address in one window before logins are refused.
pub const LOGIN_FAILURES_PER_WINDOW: i64 = 10;

/// The start of the throttling window `now` falls in.
pub fn login_window(now: i64) -> i64 {
    now - now.rem_euclid(LOGIN_WINDOW_SECS)
}

/// Is a counter at `failures` over the budget?
pub fn login_throttled(failures: i64) -> bool {
    failures >= LOGIN_FAILURES_PER_WINDOW
}

/// The login-throttling counter of an account. An existing user is counted by user id, so failures
/// with the username and with the email address share one budget; a login that names nobody is
/// counted by the string typed, case-folded. Either way the key is hashed, so an arbitrarily long
/// login never becomes an arbitrarily long store key.
pub fn login_account_counter_key(org_id: &OrgId, user_id: Option<&str>, login: &str) -> String {
    let subject = match user_id {
        Some(id) => format!("user\u{0}{id}"),
        None => format!("login\u{0}{}", login.to_lowercase()),
    };
    let digest = clavex_jose::sha256(subject.as_bytes());
    format!(
        "login:{org_id}:account:{}",
        clavex_jose::b64url_encode(&digest)
    )
}

/// The login-throttling counter of a client address.
pub fn login_address_counter_key(org_id: &OrgId, address: &str) -> String {
    format!("login:{org_id}:address:{address}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn budget() {
        assert!(!login_throttled(LOGIN_FAILURES_PER_WINDOW - 1));
        assert!(login_throttled(LOGIN_FAILURES_PER_WINDOW));
        assert_eq!(
            login_window(LOGIN_WINDOW_SECS * 3 + 5),
            LOGIN_WINDOW_SECS * 3
        );
    }

    #[test]
    fn account_key_is_hashed_and_case_folded() {
        let acme = &OrgId::parse("acme").unwrap();
        let other = &OrgId::parse("other").unwrap();
        let a = login_account_counter_key(acme, None, "Alice");
        assert_eq!(a, login_account_counter_key(acme, None, "alice"));
        assert_ne!(a, login_account_counter_key(other, None, "alice"));
        assert!(!a.contains("alice"));
        let long = "x".repeat(10_000);
        assert!(login_account_counter_key(acme, None, &long).len() < 100);
        assert_ne!(
            login_account_counter_key(acme, Some("u1"), "alice"),
            login_account_counter_key(acme, None, "alice")
        );
    }
}
