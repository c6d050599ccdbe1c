//! Identifiers as checked values: an `OrgId` or `ClientId` that exists past the boundary has the
//! syntax its rule demands, so that no flow re-checks it and no store lookup is made for a value
//! that could never have been stored (a NUL byte, for one, is not even storable in PostgreSQL text).

use std::fmt;

use crate::error::{Error, OAuthError};

/// Words the router uses itself at the top level; no organization may be called so.
const RESERVED_ORG_IDS: [&str; 6] = [
    "api",
    "healthz",
    "readyz",
    "metrics",
    "well-known",
    "static",
];

/// An organization id: a short lowercase slug, because it becomes the issuer's path segment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrgId(String);

impl OrgId {
    /// Organization ids become issuer path segments, so they are 1-63 characters of a-z, 0-9 and
    /// '-', not starting with '-', and never a word the router uses itself.
    pub fn parse(id: &str) -> Result<OrgId, Error> {
        let ok = !id.is_empty()
            && id.len() <= 63
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !id.starts_with('-')
            && !RESERVED_ORG_IDS.contains(&id);
        if ok {
            Ok(OrgId(id.to_owned()))
        } else {
            Err(Error::BadRequest(
                "organization id must be 1-63 characters of a-z, 0-9 and '-', not starting with '-', and not a reserved word".into(),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A client id: short, URL-safe, unambiguous.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientId(String);

impl ClientId {
    /// 1-128 characters of A-Z a-z 0-9 - _ . ~ (what an administrator may choose; generated ids
    /// are of the same alphabet).
    pub fn parse(id: &str) -> Result<ClientId, OAuthError> {
        let ok = !id.is_empty()
            && id.len() <= 128
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'));
        if ok {
            Ok(ClientId(id.to_owned()))
        } else {
            Err(OAuthError::invalid_client_metadata(
                "client_id must be 1-128 characters of A-Z a-z 0-9 - _ . ~",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn org_ids() {
        for ok in ["acme", "a", "bank-1", &"a".repeat(63)] {
            assert_eq!(OrgId::parse(ok).unwrap().as_str(), ok);
        }
        for bad in [
            "",
            "-acme",
            "Acme",
            "a_b",
            "api",
            "well-known",
            "a\0b",
            &"a".repeat(64),
        ] {
            assert!(OrgId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn client_ids() {
        for ok in ["tpp-1", "A.b_c~d", &"x".repeat(128)] {
            assert_eq!(ClientId::parse(ok).unwrap().as_str(), ok);
        }
        for bad in ["", "a b", "a/b", "a\0", &"x".repeat(129)] {
            assert!(ClientId::parse(bad).is_err(), "{bad:?}");
        }
    }
}
