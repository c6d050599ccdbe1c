//! Scopes (RFC 6749 §3.3): their syntax, which an organization offers, which a client registered,
//! and how each grant may ask for them.

use std::fmt;

use serde::{Deserialize, Serialize};

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

/// Scope tokens in the order they were first named, each once: a request's `scope` parameter split
/// once (RFC 6749 §3.3, space-delimited), and what a pushed request, grant, refresh token or access
/// token carries. Splitting accepts anything; which tokens are acceptable is decided by the checks
/// below, token by token in request order, so that the first offending token is the one reported.
/// Stored payloads hold it as a JSON array of strings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ScopeSet(Vec<String>);

impl ScopeSet {
    /// Splits a space-delimited `scope` value; empty tokens (repeated spaces) are skipped and
    /// repeats dropped.
    pub fn parse(text: &str) -> ScopeSet {
        let mut set = ScopeSet::default();
        for token in text.split(' ').filter(|t| !t.is_empty()) {
            set.insert(token);
        }
        set
    }

    fn insert(&mut self, token: &str) {
        if !self.contains(token) {
            self.0.push(token.to_owned());
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    pub fn contains(&self, token: &str) -> bool {
        self.iter().any(|t| t == token)
    }

    /// Is every token of `other` in this set?
    pub fn covers(&self, other: &ScopeSet) -> bool {
        other.iter().all(|t| self.contains(t))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `scope` member of a token response or access token: the tokens in order, space
    /// separated; `None` when there are none (the member is then left out).
    pub fn to_param(&self) -> Option<String> {
        (!self.is_empty()).then(|| self.to_string())
    }
}

/// Space separated, in order (the form of a `scope` parameter, RFC 6749 §3.3).
impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
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

/// The `scope` of a pushed authorization request: each token well formed, offered by the
/// organization (OIDC scopes and `offline_access` always are) and, when the client registered a
/// `scope`, registered (OIDC scopes need not be). Order kept.
pub fn check_authorization_scope(
    requested: &ScopeSet,
    settings: &OrgSettings,
    client_scope: Option<&str>,
) -> Result<ScopeSet, OAuthError> {
    for token in requested.iter() {
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
    }
    Ok(requested.clone())
}

/// Checks a requested `scope` against the organization's scopes (and, when the client registered a
/// `scope`, against that too). OIDC scopes have no meaning without a user.
pub fn check_client_credentials_scope(
    requested: &ScopeSet,
    settings: &OrgSettings,
    client_scope: Option<&str>,
) -> Result<ScopeSet, OAuthError> {
    for token in requested.iter() {
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
    }
    Ok(requested.clone())
}

/// RFC 6749 §6: a refresh request may narrow the granted scope, never widen it. Without `scope`, the
/// whole grant.
pub fn narrow_refresh_scope(
    requested: Option<&ScopeSet>,
    granted: &ScopeSet,
) -> Result<ScopeSet, OAuthError> {
    let Some(requested) = requested else {
        return Ok(granted.clone());
    };
    if let Some(s) = requested.iter().find(|s| !granted.contains(s)) {
        return Err(OAuthError::invalid_scope(format!(
            "scope {s} was not granted"
        )));
    }
    Ok(requested.clone())
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

    fn scope(text: &str) -> ScopeSet {
        ScopeSet::parse(text)
    }

    fn tokens(set: &ScopeSet) -> Vec<&str> {
        set.iter().collect()
    }

    #[test]
    fn parsing_splits_once_keeps_order_drops_repeats() {
        let set = scope("openid  accounts openid offline_access ");
        assert_eq!(tokens(&set), ["openid", "accounts", "offline_access"]);
        assert_eq!(set.to_string(), "openid accounts offline_access");
        assert_eq!(
            set.to_param().as_deref(),
            Some("openid accounts offline_access")
        );
        assert!(scope("").is_empty());
        assert_eq!(scope(" ").to_param(), None);
        assert!(set.covers(&scope("accounts openid")));
        assert!(!set.covers(&scope("payments")));
        // Stored payloads keep their JSON array of strings.
        let json = serde_json::to_string(&set).unwrap();
        assert_eq!(json, r#"["openid","accounts","offline_access"]"#);
        assert_eq!(serde_json::from_str::<ScopeSet>(&json).unwrap(), set);
    }

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
            tokens(
                &check_client_credentials_scope(&scope("accounts payments accounts"), &s, None)
                    .unwrap()
            ),
            ["accounts", "payments"]
        );
        assert_eq!(
            check_client_credentials_scope(&scope("openid"), &s, None)
                .unwrap_err()
                .code
                .as_str(),
            "invalid_scope"
        );
        assert_eq!(
            check_client_credentials_scope(&scope("admin"), &s, None)
                .unwrap_err()
                .code
                .as_str(),
            "invalid_scope"
        );
        assert!(check_client_credentials_scope(&scope("payments"), &s, Some("accounts")).is_err());
        assert!(check_client_credentials_scope(&scope("acc\"ounts"), &s, None).is_err());
    }

    #[test]
    fn authorization_scope_accepts_oidc_and_offered() {
        let s = settings();
        assert_eq!(
            tokens(
                &check_authorization_scope(
                    &scope("openid accounts openid offline_access"),
                    &s,
                    Some("accounts offline_access")
                )
                .unwrap()
            ),
            ["openid", "accounts", "offline_access"]
        );
        assert!(
            check_authorization_scope(&scope(""), &s, None)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn authorization_scope_refusals() {
        let s = settings();
        assert!(check_authorization_scope(&scope("admin"), &s, None).is_err());
        assert!(check_authorization_scope(&scope("payments"), &s, Some("accounts")).is_err());
        assert!(check_authorization_scope(&scope("acc\\ounts"), &s, None).is_err());
        // A client that registered a scope cannot ask for offline_access unless it registered it.
        assert!(check_authorization_scope(&scope("offline_access"), &s, Some("accounts")).is_err());
    }

    #[test]
    fn refresh_may_only_narrow() {
        let granted = scope("openid accounts");
        assert_eq!(narrow_refresh_scope(None, &granted).unwrap(), granted);
        assert_eq!(
            tokens(&narrow_refresh_scope(Some(&scope("accounts accounts")), &granted).unwrap()),
            ["accounts"]
        );
        assert!(
            narrow_refresh_scope(Some(&scope("")), &granted)
                .unwrap()
                .is_empty()
        );
        assert!(narrow_refresh_scope(Some(&scope("payments")), &granted).is_err());
    }

    #[test]
    fn offered_scope_setting() {
        check_offered_scope("accounts").unwrap();
        assert!(check_offered_scope("openid").is_err());
        assert!(check_offered_scope("a b").is_err());
        assert!(check_offered_scope("").is_err());
    }
}
