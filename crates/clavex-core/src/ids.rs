//! Identifiers as checked values: an `OrgId` or `ClientId` that exists past the boundary has the
//! syntax its rule demands, so that no flow re-checks it and no store lookup is made for a value
//! that could never have been stored (a NUL byte, for one, is not even storable in PostgreSQL text).

use std::fmt;

use serde::{Deserialize, Serialize};

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

    /// The organization a request names (a path segment, a command-line argument). A name that
    /// could never be an organization id names none: `NotFound`, the answer for an unknown
    /// organization, without a store lookup (a NUL byte, for one, is not even storable in
    /// PostgreSQL text).
    pub fn named(name: &str) -> Result<OrgId, Error> {
        OrgId::parse(name).map_err(|_| unknown_organization(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The answer for an organization that does not exist.
pub fn unknown_organization(name: &str) -> Error {
    Error::NotFound(format!("organization {name}"))
}

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A client id: short, URL-safe, unambiguous. Stored client metadata carries it as a plain JSON
/// string; decoding it parses it again, so a client loaded from the store has a checked id too.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
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

    /// A fresh id for a client that did not choose one: `clavex_fapi_` and 128 random bits, in
    /// the alphabet [`ClientId::parse`] accepts.
    pub fn generate() -> ClientId {
        ClientId(format!("clavex_fapi_{}", clavex_jose::random_token(16)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl TryFrom<String> for ClientId {
    type Error = OAuthError;

    fn try_from(id: String) -> Result<ClientId, OAuthError> {
        ClientId::parse(&id)
    }
}

impl From<ClientId> for String {
    fn from(id: ClientId) -> String {
        id.0
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
        let generated = ClientId::generate();
        assert_eq!(ClientId::parse(generated.as_str()).unwrap(), generated);
    }

    #[test]
    fn named_organizations() {
        assert_eq!(OrgId::named("acme").unwrap().as_str(), "acme");
        let err = OrgId::named("ACME").unwrap_err();
        assert!(
            matches!(&err, Error::NotFound(m) if m == "organization ACME"),
            "{err:?}"
        );
    }

    /// Stored metadata keeps its JSON shape: the id is a plain string, parsed again on decoding.
    #[test]
    fn client_id_json() {
        let id: ClientId = serde_json::from_str("\"tpp-1\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"tpp-1\"");
        assert!(serde_json::from_str::<ClientId>("\"a b\"").is_err());
    }
}
