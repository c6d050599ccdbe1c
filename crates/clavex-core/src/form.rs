//! `application/x-www-form-urlencoded` request parameters with RFC 6749 §3.1/§3.2's rule that a
//! parameter must not appear more than once (RFC 8707 `resource` is the exception).

use crate::error::OAuthError;

/// Longest accepted form body at OAuth endpoints; larger bodies are refused before parsing.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

#[derive(Debug, Default, Clone)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    pub fn parse(body: &[u8]) -> Result<Params, OAuthError> {
        if body.len() > MAX_FORM_BYTES {
            return Err(OAuthError::invalid_request("request body is too large"));
        }
        if std::str::from_utf8(body).is_err() {
            return Err(OAuthError::invalid_request(
                "request body is not valid UTF-8",
            ));
        }
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        // No protocol value contains NUL, and PostgreSQL text cannot store one: refuse it here
        // rather than let it reach a lookup.
        if pairs
            .iter()
            .any(|(k, v)| k.contains('\0') || v.contains('\0'))
        {
            return Err(OAuthError::invalid_request(
                "parameters must not contain NUL characters",
            ));
        }
        Ok(Params { pairs })
    }

    pub fn from_pairs(pairs: Vec<(String, String)>) -> Params {
        Params { pairs }
    }

    /// The single value of `name`, `None` when absent or empty (RFC 6749 §3.1: "parameters sent
    /// without a value MUST be treated as if they were omitted"), an error when repeated.
    pub fn single(&self, name: &str) -> Result<Option<&str>, OAuthError> {
        let mut found: Option<&str> = None;
        for (k, v) in &self.pairs {
            if k == name && !v.is_empty() {
                if found.is_some() {
                    return Err(OAuthError::invalid_request(format!(
                        "parameter {name} is repeated"
                    )));
                }
                found = Some(v.as_str());
            }
        }
        Ok(found)
    }

    /// Every non-empty value of `name` (for parameters that may repeat, such as `resource`).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn repeated_parameter_is_refused() {
        let p = Params::parse(b"grant_type=a&grant_type=b&x=").unwrap();
        assert!(p.single("grant_type").is_err());
        assert_eq!(p.single("x").unwrap(), None);
        let p = Params::parse(b"resource=a&resource=b&scope=a+b").unwrap();
        assert_eq!(p.all("resource"), vec!["a", "b"]);
        assert_eq!(p.single("scope").unwrap(), Some("a b"));
    }

    #[test]
    fn oversized_and_non_utf8_bodies_are_refused() {
        assert!(Params::parse(&vec![b'a'; MAX_FORM_BYTES + 1]).is_err());
        assert!(Params::parse(&[0xff, 0xfe]).is_err());
        assert!(Params::parse(b"client_id=a%00b").is_err());
    }
}
