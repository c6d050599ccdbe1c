//! Redirect URIs: what may be registered (FAPI 2.0 SP §5.3.2.2-8, RFC 9700 §4.1) and the one
//! exact-match rule (RFC 9700 §4.1.3, FAPI 2.0 SP §5.3.2.2) used at PAR, at the authorization
//! endpoint and at the token endpoint.

use crate::error::OAuthError;

/// A registered redirect URI is at most this long.
pub const MAX_URI_LEN: usize = 2000;

/// A redirect URI that was matched exactly against the client's registration (at PAR, or on the
/// front channel for an error report). Nothing is ever redirected to a URI of any other kind.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct RedirectUri(String);

impl RedirectUri {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A redirect URI read back from an artifact: it was matched when it was stored.
    pub fn from_stored(value: String) -> RedirectUri {
        RedirectUri(value)
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// RFC 9700 §4.1.3: `presented` is one of `registered`, compared as strings (no normalisation, no
/// pattern, no partial match).
pub fn registered_exactly(registered: &[String], presented: &str) -> Option<RedirectUri> {
    registered
        .iter()
        .any(|r| r == presented)
        .then(|| RedirectUri(presented.to_owned()))
}

/// The redirect URI of a pushed request: required (FAPI 2.0 SP §5.3.2.2) and registered exactly.
pub fn check_pushed_redirect_uri(
    registered: &[String],
    presented: Option<&str>,
) -> Result<RedirectUri, OAuthError> {
    let presented = presented.ok_or_else(|| {
        OAuthError::invalid_request("redirect_uri is required (FAPI 2.0 SP §5.3.2.2)")
    })?;
    registered_exactly(registered, presented).ok_or_else(|| {
        OAuthError::invalid_request("redirect_uri is not registered for this client")
    })
}

/// RFC 6749 §4.1.3: the token request repeats the redirect URI of the authorization request, and it
/// must be the same string.
pub fn check_token_redirect_uri(
    authorized: &RedirectUri,
    presented: Option<&str>,
) -> Result<(), OAuthError> {
    match presented {
        Some(uri) if uri == authorized.as_str() => Ok(()),
        Some(_) => Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        )),
        None => Err(OAuthError::invalid_request("redirect_uri is required")),
    }
}

/// FAPI 2.0 SP §5.3.2.2-8 and RFC 9700 §4.1: https redirect URIs (http only on loopback for native
/// apps), absolute, no fragment; matched exactly later, so stored exactly as given.
pub fn check_registrable_redirect_uri(uri: &str) -> Result<(), OAuthError> {
    if uri.len() > MAX_URI_LEN {
        return Err(OAuthError::invalid_redirect_uri("redirect URI is too long"));
    }
    let parsed = url::Url::parse(uri).map_err(|_| {
        OAuthError::invalid_redirect_uri(format!("redirect URI {uri} is not an absolute URI"))
    })?;
    if parsed.fragment().is_some() || uri.contains('#') {
        return Err(OAuthError::invalid_redirect_uri(format!(
            "redirect URI {uri} must not contain a fragment"
        )));
    }
    match parsed.scheme() {
        "https" => Ok(()),
        "http" => {
            let loopback = matches!(parsed.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
                || matches!(parsed.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
                || parsed.host_str() == Some("localhost");
            if loopback {
                Ok(())
            } else {
                Err(OAuthError::invalid_redirect_uri(format!(
                    "redirect URI {uri} must use https (plain http is allowed only on loopback)"
                )))
            }
        }
        other => Err(OAuthError::invalid_redirect_uri(format!(
            "redirect URI scheme {other} is not allowed; use https"
        ))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::error::ErrorCode;

    fn registered() -> Vec<String> {
        vec!["https://tpp.example/cb".to_owned()]
    }

    #[test]
    fn exact_match_accepted() {
        let uri = check_pushed_redirect_uri(&registered(), Some("https://tpp.example/cb")).unwrap();
        assert_eq!(uri.as_str(), "https://tpp.example/cb");
        check_token_redirect_uri(&uri, Some("https://tpp.example/cb")).unwrap();
    }

    #[test]
    fn anything_but_the_same_string_is_refused() {
        for near in [
            "https://tpp.example/cb/",
            "https://TPP.example/cb",
            "https://tpp.example/cb?x=1",
            "https://tpp.example:443/cb",
            "https://tpp.example/c",
        ] {
            assert!(registered_exactly(&registered(), near).is_none(), "{near}");
            assert_eq!(
                check_pushed_redirect_uri(&registered(), Some(near))
                    .unwrap_err()
                    .code,
                ErrorCode::InvalidRequest
            );
        }
        assert_eq!(
            check_pushed_redirect_uri(&registered(), None)
                .unwrap_err()
                .code,
            ErrorCode::InvalidRequest
        );
        let uri = RedirectUri::from_stored("https://tpp.example/cb".to_owned());
        assert_eq!(
            check_token_redirect_uri(&uri, Some("https://tpp.example/cb/"))
                .unwrap_err()
                .code,
            ErrorCode::InvalidGrant
        );
        assert_eq!(
            check_token_redirect_uri(&uri, None).unwrap_err().code,
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn registrable_uris() {
        for ok in [
            "https://tpp.example/cb",
            "https://tpp.example/cb?dummy=1",
            "http://127.0.0.1:8080/cb",
            "http://[::1]/cb",
            "http://localhost/cb",
        ] {
            check_registrable_redirect_uri(ok).unwrap();
        }
        for bad in [
            "http://tpp.example/cb",
            "https://tpp.example/cb#frag",
            "/relative",
            "custom:callback",
            &format!("https://tpp.example/{}", "a".repeat(MAX_URI_LEN)),
        ] {
            assert_eq!(
                check_registrable_redirect_uri(bad).unwrap_err().code,
                ErrorCode::InvalidRedirectUri,
                "{bad}"
            );
        }
    }
}
