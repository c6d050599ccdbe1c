//! What the browser is sent back: redirects and their parameters, the login and consent pages,
//! and assertions on authorization responses and error pages.

use crate::Answer;

impl Answer {
    pub fn location(&self) -> String {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    }

    /// Query parameters of the `Location` header.
    pub fn redirect_params(&self) -> Vec<(String, String)> {
        url::Url::parse(&self.location())
            .map(|u| u.query_pairs().into_owned().collect())
            .unwrap_or_default()
    }

    pub fn redirect_param(&self, name: &str) -> Option<String> {
        self.redirect_params()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    pub fn is_login_page(&self) -> bool {
        self.status.as_u16() == 200 && self.text.contains("id=\"password\"")
    }

    pub fn is_consent_page(&self) -> bool {
        self.status.as_u16() == 200 && self.text.contains("id=\"approve\"")
    }

    /// Asserts an authorization error response (RFC 6749 §4.1.2.1, RFC 9207): 303 See Other to
    /// `redirect_uri` (its own query kept), `error` = `code`, the pushed `state` (or none), `iss`,
    /// no `code`, nothing in a fragment, and only the parameters the suite allows.
    #[track_caller]
    pub fn assert_authorization_error(
        &self,
        redirect_uri: &str,
        code: &str,
        state: Option<&str>,
        issuer: &str,
    ) {
        assert_eq!(self.status.as_u16(), 303, "status; body: {}", self.text);
        let location = self.location();
        let url = url::Url::parse(&location).expect("Location is an absolute URL");
        let registered = url::Url::parse(redirect_uri).expect("redirect_uri");
        assert_eq!(
            (url.scheme(), url.host_str(), url.path()),
            (
                registered.scheme(),
                registered.host_str(),
                registered.path()
            ),
            "redirected to {location}"
        );
        assert!(url.fragment().is_none(), "fragment in {location}");
        for (k, v) in registered.query_pairs() {
            assert_eq!(
                self.redirect_param(&k).as_deref(),
                Some(v.as_ref()),
                "registered query parameter {k} kept in {location}"
            );
        }
        assert_eq!(
            self.redirect_param("error").as_deref(),
            Some(code),
            "{location}"
        );
        assert_eq!(self.redirect_param("state").as_deref(), state, "{location}");
        assert_eq!(
            self.redirect_param("iss").as_deref(),
            Some(issuer),
            "{location}"
        );
        assert!(self.redirect_param("code").is_none(), "{location}");
        let registered_names: Vec<String> = registered
            .query_pairs()
            .map(|(k, _)| k.into_owned())
            .collect();
        for (k, _) in self.redirect_params() {
            assert!(
                ["error", "error_description", "state", "iss"].contains(&k.as_str())
                    || registered_names.contains(&k),
                "unexpected parameter {k} in {location}"
            );
        }
        if let Some(description) = self.redirect_param("error_description") {
            assert!(
                description
                    .bytes()
                    .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E)),
                "error_description characters: {description:?}"
            );
        }
    }

    /// Asserts a successful authorization response to `redirect_uri`: 303, `code`, `iss`, and
    /// exactly `state` (absent when none was pushed). Returns the code.
    #[track_caller]
    pub fn assert_authorization_code(
        &self,
        redirect_uri: &str,
        state: Option<&str>,
        issuer: &str,
    ) -> String {
        assert_eq!(self.status.as_u16(), 303, "status; body: {}", self.text);
        let location = self.location();
        assert!(
            location.starts_with(redirect_uri),
            "redirected to {location}, expected {redirect_uri}"
        );
        assert!(!location.contains('#'), "fragment in {location}");
        assert!(self.redirect_param("error").is_none(), "{location}");
        assert_eq!(self.redirect_param("state").as_deref(), state, "{location}");
        assert_eq!(
            self.redirect_param("iss").as_deref(),
            Some(issuer),
            "{location}"
        );
        self.redirect_param("code").expect("code in the redirect")
    }

    /// Asserts an HTML error page with `status`: no redirect, the security headers, an error message.
    #[track_caller]
    pub fn assert_error_page(&self, status: u16) {
        assert_eq!(self.status.as_u16(), status, "status; body: {}", self.text);
        assert!(
            self.headers.get("location").is_none(),
            "an error page must not redirect: {:?}",
            self.headers.get("location")
        );
        assert!(
            self.headers
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/html")),
            "error page content type: {:?}",
            self.headers.get(reqwest::header::CONTENT_TYPE)
        );
        assert!(self.text.contains("id=\"error\""), "{}", self.text);
        assert!(!self.text.contains("code="), "{}", self.text);
    }
}
