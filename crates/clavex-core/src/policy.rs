//! The protocol policy layer: every FAPI 2.0 / OAuth rule that decides whether a request or a
//! registration is acceptable lives here, as data and small pure functions. Handlers and flows call
//! these; they never restate a rule themselves.

use serde_json::Value;

use crate::error::OAuthError;
use crate::settings::{OrgSettings, Profile};

// The FAPI 2.0 algorithms and the time windows and size limits of JWTs and DPoP proofs are shared
// with every resource server, so they are defined once in `clavex-resource` (which this crate depends
// on; it cannot depend on the engine) and re-exported here, where the engine's flows look for them.
pub use clavex_resource::policy::{
    ADVERTISED_ALGORITHMS, DPOP_MAX_AGE_SECS, FAPI_ALGORITHMS, MAX_FUTURE_SKEW_SECS, MAX_JTI_LEN,
    MAX_JWT_LEN, fapi_algorithm,
};
/// A client assertion may not live longer than this from now (bounds the replay record we keep).
pub const MAX_ASSERTION_LIFETIME_SECS: i64 = 600;

/// After a failed fetch of a client's `jwks_uri` (unreachable, error status, not a usable JWKS), the
/// URI is not fetched again for this long: assertions of its clients meanwhile get `invalid_client`
/// at once, so a flood of them costs no outbound request each. The same as the wait before a
/// refetch for an unknown `kid` (`client_auth`): a `jwks_uri` is fetched at most once per 10 s in
/// either case, and a recovered one is used again at most 10 s after it failed.
pub const JWKS_FETCH_FAILURE_RETRY_SECS: i64 = 10;

pub const OIDC_SCOPES: [&str; 5] = ["openid", "profile", "email", "address", "phone"];

pub const CLIENT_ASSERTION_TYPE_JWT_BEARER: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Token endpoint authentication methods a profile allows at registration.
pub fn allowed_auth_methods(profile: Profile) -> &'static [&'static str] {
    match profile {
        // FAPI 2.0 SP §5.3.2.1-6: private_key_jwt or MTLS; MTLS is not implemented yet.
        Profile::Fapi2 => &["private_key_jwt"],
    }
}

/// Grant types a client may register (and the token endpoint knows).
pub const REGISTRABLE_GRANT_TYPES: [&str; 3] =
    ["authorization_code", "refresh_token", "client_credentials"];

/// Grant types the token endpoint serves today (advertised in discovery).
pub const SERVED_GRANT_TYPES: [&str; 3] =
    ["authorization_code", "refresh_token", "client_credentials"];

/// Claims Clavex can return about a user (ID token and UserInfo).
pub const SUPPORTED_CLAIMS: [&str; 20] = [
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "azp",
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "email",
    "email_verified",
    "birthdate",
    "locale",
    "updated_at",
];

/// Is `iat`/`nbf` acceptable with respect to `now`? (Not too far in the future.)
pub fn not_in_future(value: i64, now: i64) -> bool {
    value <= now + MAX_FUTURE_SKEW_SECS
}

/// OIDC Core §3.1.2.1 `max_age`: may an existing sign-in (at `auth_time`) serve a request with this
/// `max_age`? It must be at most `max_age` seconds old; `max_age=0` asks for an active
/// re-authentication, so only a sign-in made for this very request counts (as with `prompt=login`),
/// even within the same second. Any non-negative `i64` is safe (no overflow).
pub fn authentication_fresh_enough(
    auth_time: i64,
    max_age: Option<i64>,
    now: i64,
    signed_in_for_this_request: bool,
) -> bool {
    match max_age {
        None => true,
        Some(0) => signed_in_for_this_request,
        Some(max) => auth_time.saturating_add(max) >= now,
    }
}

/// The login-throttling counter of an account. An existing user is counted by user id, so failures
/// with the username and with the email address share one budget; a login that names nobody is
/// counted by the string typed, case-folded. Either way the key is hashed, so an arbitrarily long
/// login never becomes an arbitrarily long store key.
pub fn login_account_counter_key(org_id: &str, user_id: Option<&str>, login: &str) -> String {
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
pub fn login_address_counter_key(org_id: &str, address: &str) -> String {
    format!("login:{org_id}:address:{address}")
}

/// FAPI 2.0 SP §5.3.2.1-8: the audience of a client assertion must be the issuer identifier as a
/// single string. The org setting `accept_legacy_assertion_audience` widens it to what the ID2 plan
/// sends (token endpoint, PAR endpoint, arrays containing any accepted value).
pub fn assertion_audience_accepted(
    aud: &Value,
    issuer: &str,
    token_endpoint: &str,
    par_endpoint: &str,
    settings: &OrgSettings,
) -> bool {
    if !settings.accept_legacy_assertion_audience {
        return matches!(aud, Value::String(s) if s == issuer);
    }
    let accepted = |s: &str| s == issuer || s == token_endpoint || s == par_endpoint;
    match aud {
        Value::String(s) => accepted(s),
        Value::Array(items) => items.iter().any(|v| v.as_str().is_some_and(accepted)),
        _ => false,
    }
}

/// RFC 9396: at most this many `authorization_details` objects in one request.
pub const MAX_AUTHORIZATION_DETAILS: usize = 10;

/// RFC 9396 §2: `authorization_details` is a JSON array of objects, each with a `type` the
/// organization supports, and the common members (§2.2) of the right JSON types. Returns the
/// parsed array, or what is wrong.
pub fn check_authorization_details(text: &str, supported: &[String]) -> Result<Value, String> {
    let value: Value = serde_json::from_str(text)
        .map_err(|_| "authorization_details must be a JSON array".to_owned())?;
    let Some(items) = value.as_array() else {
        return Err("authorization_details must be a JSON array".to_owned());
    };
    if items.is_empty() {
        return Err("authorization_details must not be empty".to_owned());
    }
    if items.len() > MAX_AUTHORIZATION_DETAILS {
        return Err(format!(
            "authorization_details holds more than {MAX_AUTHORIZATION_DETAILS} objects"
        ));
    }
    for (index, item) in items.iter().enumerate() {
        let Some(object) = item.as_object() else {
            return Err(format!(
                "authorization_details[{index}] must be a JSON object"
            ));
        };
        let kind = match object.get("type") {
            Some(Value::String(kind)) => kind,
            Some(_) => {
                return Err(format!(
                    "authorization_details[{index}].type must be a string"
                ));
            }
            None => return Err(format!("authorization_details[{index}] has no type")),
        };
        if !supported.iter().any(|s| s == kind) {
            return Err(format!(
                "authorization_details type {kind:?} is not supported here (supported: {})",
                supported.join(", ")
            ));
        }
        for member in ["locations", "actions", "datatypes", "privileges"] {
            if let Some(v) = object.get(member) {
                let strings = v.as_array().is_some_and(|a| a.iter().all(Value::is_string));
                if !strings {
                    return Err(format!(
                        "authorization_details[{index}].{member} must be an array of strings"
                    ));
                }
            }
        }
        if object.get("identifier").is_some_and(|v| !v.is_string()) {
            return Err(format!(
                "authorization_details[{index}].identifier must be a string"
            ));
        }
    }
    Ok(value)
}

/// JARM §2.1: a signed authorization response is short-lived; the code inside lives 60 s anyway.
pub const AUTHORIZATION_RESPONSE_LIFETIME_SECS: i64 = 120;

/// FAPI 2.0 Message Signing §5.3.1: a request object lives at most 60 minutes (`exp − nbf`), and its
/// `nbf` is at most 60 minutes old.
pub const REQUEST_OBJECT_MAX_LIFETIME_SECS: i64 = 3600;
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

/// RFC 6749 §3.3 scope-token syntax: `%x21 / %x23-5B / %x5D-7E`.
pub fn valid_scope_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// Splits and checks a requested `scope` against the organization's scopes (and, when the client
/// registered a `scope`, against that too). OIDC scopes have no meaning without a user.
pub fn check_client_credentials_scope(
    requested: &str,
    settings: &OrgSettings,
    client_scope: Option<&str>,
) -> Result<Vec<String>, OAuthError> {
    let mut granted: Vec<String> = Vec::new();
    for token in requested.split(' ').filter(|t| !t.is_empty()) {
        if !valid_scope_token(token) {
            return Err(OAuthError::invalid_scope(
                "scope contains characters outside RFC 6749 §3.3",
            ));
        }
        if OIDC_SCOPES.contains(&token) {
            return Err(OAuthError::invalid_scope(format!(
                "scope {token} needs a user; it cannot be granted with client_credentials"
            )));
        }
        if !settings.scopes.iter().any(|s| s == token) {
            return Err(OAuthError::invalid_scope(format!(
                "scope {token} is not offered by this organization"
            )));
        }
        if let Some(allowed) = client_scope
            && !allowed.split(' ').any(|s| s == token)
        {
            return Err(OAuthError::invalid_scope(format!(
                "scope {token} is not registered for this client"
            )));
        }
        if !granted.iter().any(|g| g == token) {
            granted.push(token.to_owned());
        }
    }
    Ok(granted)
}

/// RFC 8707: the audience of the access token. Without `resource`, the org default; with one,
/// it must be the default audience or a registered resource.
pub fn resolve_audience(
    resources: &[&str],
    default_audience: &str,
    settings: &OrgSettings,
) -> Result<String, OAuthError> {
    match resources {
        [] => Ok(default_audience.to_owned()),
        [one] => {
            let url = url::Url::parse(one)
                .map_err(|_| OAuthError::invalid_target("resource must be an absolute URI"))?;
            if url.fragment().is_some() {
                return Err(OAuthError::invalid_target(
                    "resource must not contain a fragment (RFC 8707 §2)",
                ));
            }
            if *one == default_audience || settings.resources.iter().any(|r| r == one) {
                Ok((*one).to_owned())
            } else {
                Err(OAuthError::invalid_target(format!(
                    "resource {one} is not registered with this organization"
                )))
            }
        }
        _ => Err(OAuthError::invalid_target(
            "only one resource may be requested per access token",
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    const ISS: &str = "https://id.example/acme";
    const TOKEN: &str = "https://id.example/acme/token";
    const PAR: &str = "https://id.example/acme/par";

    #[test]
    fn assertion_audience_final_rules() {
        let s = OrgSettings::default();
        assert!(assertion_audience_accepted(
            &json!(ISS),
            ISS,
            TOKEN,
            PAR,
            &s
        ));
        assert!(!assertion_audience_accepted(
            &json!(TOKEN),
            ISS,
            TOKEN,
            PAR,
            &s
        ));
        assert!(!assertion_audience_accepted(
            &json!(PAR),
            ISS,
            TOKEN,
            PAR,
            &s
        ));
        assert!(!assertion_audience_accepted(
            &json!([ISS]),
            ISS,
            TOKEN,
            PAR,
            &s
        ));
        assert!(!assertion_audience_accepted(
            &json!("https://other.example"),
            ISS,
            TOKEN,
            PAR,
            &s
        ));
    }

    #[test]
    fn assertion_audience_legacy_switch() {
        let s = OrgSettings {
            accept_legacy_assertion_audience: true,
            ..OrgSettings::default()
        };
        assert!(assertion_audience_accepted(
            &json!(TOKEN),
            ISS,
            TOKEN,
            PAR,
            &s
        ));
        assert!(assertion_audience_accepted(
            &json!([PAR, "x"]),
            ISS,
            TOKEN,
            PAR,
            &s
        ));
        assert!(!assertion_audience_accepted(
            &json!(["x"]),
            ISS,
            TOKEN,
            PAR,
            &s
        ));
    }

    #[test]
    fn max_age_rules() {
        assert!(authentication_fresh_enough(100, None, 10_000, false));
        assert!(authentication_fresh_enough(100, Some(60), 160, false));
        assert!(!authentication_fresh_enough(100, Some(60), 161, false));
        assert!(!authentication_fresh_enough(100, Some(0), 100, false));
        assert!(authentication_fresh_enough(100, Some(0), 100, true));
        assert!(authentication_fresh_enough(100, Some(i64::MAX), 200, false));
    }

    #[test]
    fn algorithms_outside_fapi_are_refused() {
        for bad in ["none", "RS256", "HS256", "ES384", ""] {
            assert!(fapi_algorithm(bad).is_err(), "{bad}");
        }
        for good in ["PS256", "ES256", "EdDSA", "Ed25519"] {
            assert!(fapi_algorithm(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn scope_rules() {
        let s = OrgSettings {
            scopes: vec!["accounts".into(), "payments".into()],
            ..OrgSettings::default()
        };
        assert_eq!(
            check_client_credentials_scope("accounts payments accounts", &s, None).unwrap(),
            vec!["accounts", "payments"]
        );
        assert_eq!(
            check_client_credentials_scope("openid", &s, None)
                .unwrap_err()
                .code
                .as_str(),
            "invalid_scope"
        );
        assert_eq!(
            check_client_credentials_scope("admin", &s, None)
                .unwrap_err()
                .code
                .as_str(),
            "invalid_scope"
        );
        assert!(check_client_credentials_scope("payments", &s, Some("accounts")).is_err());
        assert!(check_client_credentials_scope("acc\"ounts", &s, None).is_err());
    }

    #[test]
    fn audience_rules() {
        let s = OrgSettings {
            resources: vec!["https://api.bank.example/".into()],
            ..OrgSettings::default()
        };
        let def = "https://id.example/acme/api";
        assert_eq!(resolve_audience(&[], def, &s).unwrap(), def);
        assert_eq!(resolve_audience(&[def], def, &s).unwrap(), def);
        assert_eq!(
            resolve_audience(&["https://api.bank.example/"], def, &s).unwrap(),
            "https://api.bank.example/"
        );
        assert!(resolve_audience(&["https://evil.example/"], def, &s).is_err());
        assert!(resolve_audience(&["not a uri"], def, &s).is_err());
        assert!(resolve_audience(&["https://api.bank.example/#x"], def, &s).is_err());
        assert!(resolve_audience(&[def, def], def, &s).is_err());
    }
}
