//! Scopes (RFC 6749 §3.3): their syntax, which an organization offers, which a client registered,
//! and how each grant may ask for them.

use crate::error::OAuthError;
use crate::settings::OrgSettings;

/// OpenID Connect scopes: always offered, meaningful only with a user.
pub const OIDC_SCOPES: [&str; 5] = ["openid", "profile", "email", "address", "phone"];
/// Asks for a refresh token; offered by every organization.
pub const OFFLINE_ACCESS: &str = "offline_access";
/// API scopes of a new organization.
pub const DEFAULT_API_SCOPES: [&str; 2] = ["accounts", "payments"];

/// RFC 6749 §3.3 scope-token syntax: `%x21 / %x23-5B / %x5D-7E`.
pub fn valid_scope_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

fn syntax_error() -> OAuthError {
    OAuthError::invalid_scope("scope contains characters outside RFC 6749 §3.3")
}

fn not_offered(token: &str) -> OAuthError {
    OAuthError::invalid_scope(format!("scope {token} is not offered by this organization"))
}

fn not_registered(token: &str) -> OAuthError {
    OAuthError::invalid_scope(format!("scope {token} is not registered for this client"))
}

fn client_registered(client_scope: Option<&str>, token: &str) -> bool {
    client_scope.is_none_or(|allowed| allowed.split(' ').any(|s| s == token))
}

fn push_once(granted: &mut Vec<String>, token: &str) {
    if !granted.iter().any(|g| g == token) {
        granted.push(token.to_owned());
    }
}

/// The `scope` of a pushed authorization request: each token well formed, offered by the
/// organization (OIDC scopes and `offline_access` always are) and, when the client registered a
/// `scope`, registered (OIDC scopes need not be). Duplicates dropped, order kept.
pub fn check_authorization_scope(
    requested: &str,
    settings: &OrgSettings,
    client_scope: Option<&str>,
) -> Result<Vec<String>, OAuthError> {
    let mut granted: Vec<String> = Vec::new();
    for token in requested.split(' ').filter(|t| !t.is_empty()) {
        if !valid_scope_token(token) {
            return Err(syntax_error());
        }
        let oidc = OIDC_SCOPES.contains(&token);
        let known = oidc || token == OFFLINE_ACCESS || settings.scopes.iter().any(|s| s == token);
        if !known {
            return Err(not_offered(token));
        }
        if !oidc && !client_registered(client_scope, token) {
            return Err(not_registered(token));
        }
        push_once(&mut granted, token);
    }
    Ok(granted)
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
            return Err(syntax_error());
        }
        if OIDC_SCOPES.contains(&token) {
            return Err(OAuthError::invalid_scope(format!(
                "scope {token} needs a user; it cannot be granted with client_credentials"
            )));
        }
        if !settings.scopes.iter().any(|s| s == token) {
            return Err(not_offered(token));
        }
        if !client_registered(client_scope, token) {
            return Err(not_registered(token));
        }
        push_once(&mut granted, token);
    }
    Ok(granted)
}

/// RFC 6749 §6: a refresh request may narrow the granted scope, never widen it. Without `scope`, the
/// whole grant.
pub fn narrow_refresh_scope(
    requested: Option<&str>,
    granted: &[String],
) -> Result<Vec<String>, OAuthError> {
    let Some(requested) = requested else {
        return Ok(granted.to_vec());
    };
    let mut narrowed = Vec::new();
    for s in requested.split(' ').filter(|s| !s.is_empty()) {
        if !granted.iter().any(|g| g == s) {
            return Err(OAuthError::invalid_scope(format!(
                "scope {s} was not granted"
            )));
        }
        push_once(&mut narrowed, s);
    }
    Ok(narrowed)
}

/// An API scope an administrator lists in the organization's settings: a valid token, and not an
/// OIDC scope (those are always available). Returns what is wrong.
pub fn check_offered_scope(scope: &str) -> Result<(), String> {
    if !valid_scope_token(scope) {
        return Err(format!(
            "scope {scope:?} is not a valid scope token (RFC 6749 §3.3)"
        ));
    }
    if OIDC_SCOPES.contains(&scope) {
        return Err(format!(
            "{scope} is an OpenID Connect scope and is always available; list only API scopes"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn settings() -> OrgSettings {
        OrgSettings {
            scopes: vec!["accounts".into(), "payments".into()],
            ..OrgSettings::default()
        }
    }

    #[test]
    fn client_credentials_scope_rules() {
        let s = settings();
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
    fn authorization_scope_accepts_oidc_and_offered() {
        let s = settings();
        assert_eq!(
            check_authorization_scope(
                "openid accounts openid offline_access",
                &s,
                Some("accounts offline_access")
            )
            .unwrap(),
            vec!["openid", "accounts", "offline_access"]
        );
        assert_eq!(
            check_authorization_scope("", &s, None).unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn authorization_scope_refusals() {
        let s = settings();
        assert!(check_authorization_scope("admin", &s, None).is_err());
        assert!(check_authorization_scope("payments", &s, Some("accounts")).is_err());
        assert!(check_authorization_scope("acc\\ounts", &s, None).is_err());
        // A client that registered a scope cannot ask for offline_access unless it registered it.
        assert!(check_authorization_scope("offline_access", &s, Some("accounts")).is_err());
    }

    #[test]
    fn refresh_may_only_narrow() {
        let granted = vec!["openid".to_owned(), "accounts".to_owned()];
        assert_eq!(narrow_refresh_scope(None, &granted).unwrap(), granted);
        assert_eq!(
            narrow_refresh_scope(Some("accounts accounts"), &granted).unwrap(),
            vec!["accounts"]
        );
        assert!(narrow_refresh_scope(Some("payments"), &granted).is_err());
    }

    #[test]
    fn offered_scope_setting() {
        check_offered_scope("accounts").unwrap();
        assert!(check_offered_scope("openid").is_err());
        assert!(check_offered_scope("a b").is_err());
        assert!(check_offered_scope("").is_err());
    }
}
