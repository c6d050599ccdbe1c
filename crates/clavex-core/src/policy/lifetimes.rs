//! Every lifetime Clavex gives to what it issues or accepts, in one place (seconds). The flows read
//! these; none of them states a lifetime of its own. The tests pin the FAPI 2.0 upper bounds.

pub use clavex_resource::policy::{DPOP_MAX_AGE_SECS, MAX_FUTURE_SKEW_SECS};

/// RFC 9126 §2.2 `expires_in` of a `request_uri`. FAPI 2.0 SP §5.3.2.2-13: less than 600 s.
pub const PAR_LIFETIME_SECS: i64 = 90;
/// How long a spent or expired `request_uri` is remembered, to answer `invalid_request_uri`.
pub const PAR_RETAIN_SECS: i64 = 3600;
/// FAPI 2.0 SP §5.3.2.1-3: an authorization code lives at most 60 s.
pub const CODE_LIFETIME_SECS: i64 = 60;
/// How long a spent code is remembered, so that a replay revokes its grant (RFC 6749 §4.1.2).
pub const CODE_RETAIN_SECS: i64 = 3600;
/// A browser session (sign-in) of one organization.
pub const SESSION_LIFETIME_SECS: i64 = 8 * 3600;
/// A grant (and so its refresh tokens) without reuse.
pub const GRANT_LIFETIME_SECS: i64 = 30 * 24 * 3600;
/// An ID token (OIDC Core §2 `exp`): read once by the client, right after the token response.
pub const ID_TOKEN_LIFETIME_SECS: i64 = 300;
/// JARM §2.1: a signed authorization response is short-lived; the code inside lives 60 s anyway.
pub const AUTHORIZATION_RESPONSE_LIFETIME_SECS: i64 = 120;
/// A client assertion may not live longer than this from now (bounds the replay record we keep).
pub const MAX_ASSERTION_LIFETIME_SECS: i64 = 600;
/// FAPI 2.0 Message Signing §5.3.1: a request object lives at most 60 minutes (`exp − nbf`), and its
/// `nbf` is at most 60 minutes old.
pub const REQUEST_OBJECT_MAX_LIFETIME_SECS: i64 = 3600;
/// RFC 9449 §8: length of a DPoP server-nonce window; a nonce is accepted in its own window and the
/// next one, so it lives between one and two windows.
pub const DPOP_NONCE_WINDOW_SECS: i64 = 60;
/// Access tokens: the organization setting `access_token_lifetime` lies in this range.
pub const MIN_ACCESS_TOKEN_LIFETIME_SECS: u64 = 30;
pub const MAX_ACCESS_TOKEN_LIFETIME_SECS: i64 = 86_400;
/// A retired signing key stays published this long after rotation, so tokens it signed still verify.
pub const KEY_PUBLISH_GRACE_SECS: i64 = 3600;
/// RFC 7591 initial access tokens: default, minimum and maximum lifetime.
pub const DEFAULT_INITIAL_ACCESS_TOKEN_LIFETIME_SECS: i64 = 86_400;
pub const MIN_INITIAL_ACCESS_TOKEN_LIFETIME_SECS: i64 = 60;
pub const MAX_INITIAL_ACCESS_TOKEN_LIFETIME_SECS: i64 = 90 * 86_400;
/// After a failed fetch of a client's `jwks_uri` (unreachable, error status, not a usable JWKS), the
/// URI is not fetched again for this long: assertions of its clients meanwhile get `invalid_client`
/// at once, so a flood of them costs no outbound request each. The same as the wait before a
/// refetch for an unknown `kid` ([`JWKS_REFETCH_MIN_INTERVAL_SECS`]): a `jwks_uri` is fetched at most
/// once per 10 s in either case, and a recovered one is used again at most 10 s after it failed.
pub const JWKS_FETCH_FAILURE_RETRY_SECS: i64 = 10;
/// A cached `jwks_uri` document is refetched for an unknown `kid` (or a failed signature) at most
/// this often.
pub const JWKS_REFETCH_MIN_INTERVAL_SECS: i64 = 10;
/// Login throttling: failures are counted in windows of this length.
pub const LOGIN_WINDOW_SECS: i64 = 900;

/// Is `lifetime` an acceptable `access_token_lifetime` setting?
pub fn access_token_lifetime_allowed(lifetime: u64) -> bool {
    (MIN_ACCESS_TOKEN_LIFETIME_SECS..=MAX_ACCESS_TOKEN_LIFETIME_SECS.unsigned_abs())
        .contains(&lifetime)
}

/// Is `lifetime` an acceptable lifetime for a new initial access token?
pub fn initial_access_token_lifetime_allowed(lifetime: i64) -> bool {
    (MIN_INITIAL_ACCESS_TOKEN_LIFETIME_SECS..=MAX_INITIAL_ACCESS_TOKEN_LIFETIME_SECS)
        .contains(&lifetime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fapi_upper_bounds_hold() {
        // FAPI 2.0 SP §5.3.2.2-13 and §5.3.2.1-3.
        const { assert!(PAR_LIFETIME_SECS < 600) };
        const { assert!(CODE_LIFETIME_SECS <= 60) };
        // A spent code and request_uri must be remembered at least as long as they were valid.
        const { assert!(CODE_RETAIN_SECS >= CODE_LIFETIME_SECS) };
        const { assert!(PAR_RETAIN_SECS >= PAR_LIFETIME_SECS) };
        const { assert!(REQUEST_OBJECT_MAX_LIFETIME_SECS == 3600) };
    }

    #[test]
    fn access_token_lifetime_range() {
        assert!(access_token_lifetime_allowed(30));
        assert!(access_token_lifetime_allowed(300));
        assert!(access_token_lifetime_allowed(86_400));
        assert!(!access_token_lifetime_allowed(29));
        assert!(!access_token_lifetime_allowed(86_401));
        assert!(!access_token_lifetime_allowed(0));
    }

    #[test]
    fn initial_access_token_lifetime_range() {
        assert!(initial_access_token_lifetime_allowed(60));
        assert!(initial_access_token_lifetime_allowed(90 * 86_400));
        assert!(!initial_access_token_lifetime_allowed(59));
        assert!(!initial_access_token_lifetime_allowed(90 * 86_400 + 1));
        assert!(!initial_access_token_lifetime_allowed(-1));
    }
}
