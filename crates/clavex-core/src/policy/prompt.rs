//! `prompt` and `max_age` (OIDC Core §3.1.2.1): what the pushed request may ask for, and whether an
//! existing sign-in may serve it.

use crate::error::OAuthError;

/// The `prompt` values Clavex understands.
pub const SUPPORTED_PROMPTS: [&str; 4] = ["none", "login", "consent", "select_account"];

/// The parsed `prompt` of a request.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Prompt(Vec<String>);

impl Prompt {
    /// `prompt=none`: never show a page; answer `login_required` / `consent_required` instead.
    pub fn none(&self) -> bool {
        self.has("none")
    }
    /// `prompt=login`: a sign-in made for this request is required.
    pub fn login(&self) -> bool {
        self.has("login")
    }
    /// `prompt=consent`: ask even when a remembered consent covers the scopes.
    pub fn consent(&self) -> bool {
        self.has("consent")
    }
    fn has(&self, value: &str) -> bool {
        self.0.iter().any(|p| p == value)
    }
    pub fn values(&self) -> &[String] {
        &self.0
    }
    /// A prompt read back from a stored pushed request (it was checked at PAR).
    pub fn from_stored(values: Vec<String>) -> Prompt {
        Prompt(values)
    }
}

/// `prompt`: space-separated known values; `none` alone.
pub fn parse_prompt(value: Option<&str>) -> Result<Prompt, OAuthError> {
    let prompt: Vec<String> = value
        .unwrap_or("")
        .split(' ')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    for p in &prompt {
        if !SUPPORTED_PROMPTS.contains(&p.as_str()) {
            return Err(OAuthError::invalid_request(format!(
                "prompt value {p} is not supported"
            )));
        }
    }
    if prompt.iter().any(|p| p == "none") && prompt.len() > 1 {
        return Err(OAuthError::invalid_request(
            "prompt=none cannot be combined with other values",
        ));
    }
    Ok(Prompt(prompt))
}

/// `max_age`: a non-negative integer number of seconds.
pub fn parse_max_age(value: Option<&str>) -> Result<Option<i64>, OAuthError> {
    match value {
        None => Ok(None),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(Some)
            .ok_or_else(|| OAuthError::invalid_request("max_age must be a non-negative integer")),
    }
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

/// May the browser's existing sign-in serve this request, or must the user sign in (again)?
/// `prompt=login` and `max_age=0` are satisfied only by a sign-in made after the request was pushed
/// or for this very request.
pub fn session_satisfies(
    prompt: &Prompt,
    max_age: Option<i64>,
    auth_time: i64,
    now: i64,
    signed_in_for_this_request: bool,
) -> bool {
    let login_satisfied = !prompt.login() || signed_in_for_this_request;
    login_satisfied
        && authentication_fresh_enough(auth_time, max_age, now, signed_in_for_this_request)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn prompts_accepted() {
        assert_eq!(parse_prompt(None).unwrap(), Prompt::default());
        assert!(parse_prompt(Some("none")).unwrap().none());
        let p = parse_prompt(Some("login  consent")).unwrap();
        assert!(p.login() && p.consent() && !p.none());
        parse_prompt(Some("select_account")).unwrap();
    }

    #[test]
    fn prompts_refused() {
        assert!(parse_prompt(Some("none login")).is_err());
        assert!(parse_prompt(Some("create")).is_err());
        assert!(parse_prompt(Some("LOGIN")).is_err());
    }

    #[test]
    fn max_age_parsing() {
        assert_eq!(parse_max_age(None).unwrap(), None);
        assert_eq!(parse_max_age(Some("0")).unwrap(), Some(0));
        assert_eq!(parse_max_age(Some("3600")).unwrap(), Some(3600));
        for bad in ["-1", "1.5", "", "ten", "99999999999999999999"] {
            assert!(parse_max_age(Some(bad)).is_err(), "{bad}");
        }
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
    fn prompt_login_needs_a_sign_in_for_this_request() {
        let login = parse_prompt(Some("login")).unwrap();
        assert!(!session_satisfies(&login, None, 100, 101, false));
        assert!(session_satisfies(&login, None, 100, 101, true));
        let plain = Prompt::default();
        assert!(session_satisfies(&plain, None, 100, 101, false));
        assert!(!session_satisfies(&plain, Some(0), 100, 101, false));
    }
}
