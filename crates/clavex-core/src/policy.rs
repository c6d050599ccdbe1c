//! The protocol policy layer: every FAPI 2.0 / OAuth rule that decides whether a request or a
//! registration is acceptable lives here, as data and small pure functions. Handlers and flows call
//! these; they never restate a rule themselves.

use clavex_jose::Algorithm;
use serde_json::Value;

use crate::error::OAuthError;
use crate::settings::{OrgSettings, Profile};

/// FAPI 2.0 SP §5.4: only PS256, ES256 and EdDSA (Ed25519) for every signature we accept or make.
pub const FAPI_ALGORITHMS: [Algorithm; 3] = [Algorithm::Ps256, Algorithm::Es256, Algorithm::EdDsa];

/// Names advertised in discovery. The fully-specified `Ed25519` is accepted on input but not
/// advertised, because the conformance suite flags any name outside PS256/ES256/EdDSA.
pub const ADVERTISED_ALGORITHMS: [&str; 3] = ["PS256", "ES256", "EdDSA"];

/// FAPI 2.0 SP §5.3.2.1-13: accept `iat`/`nbf` up to 10 s in the future (clock skew).
pub const MAX_FUTURE_SKEW_SECS: i64 = 10;
/// A client assertion may not live longer than this from now (bounds the replay record we keep).
pub const MAX_ASSERTION_LIFETIME_SECS: i64 = 600;
/// RFC 9449 §11.1: a DPoP proof is accepted up to this age (by its `iat`).
pub const DPOP_MAX_AGE_SECS: i64 = 60;
/// Bound on `jti` lengths we store, so replay records stay small.
pub const MAX_JTI_LEN: usize = 256;
/// Bound on the encoded size of any JWT we parse from a client.
pub const MAX_JWT_LEN: usize = 16 * 1024;

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

/// Parses an algorithm name and refuses anything outside FAPI's list (`none`, RS256, HS256, ...).
pub fn fapi_algorithm(name: &str) -> Result<Algorithm, String> {
    Algorithm::parse(name).map_err(|_| {
        format!("algorithm {name} is not allowed; use one of PS256, ES256, EdDSA (Ed25519)")
    })
}

/// Is `iat`/`nbf` acceptable with respect to `now`? (Not too far in the future.)
pub fn not_in_future(value: i64, now: i64) -> bool {
    value <= now + MAX_FUTURE_SKEW_SECS
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
