//! Who made an administrative change: the admin principal behind an Admin API call, the command
//! line, or the first start. Domain events name the actor; an actor never holds a token value.

use std::fmt;

use serde::Serialize;

/// Names an admin token without revealing it: the first 8 bytes, in hex, of the SHA-256 the store
/// keeps of it. Whoever holds a token can work its id out; the id gives nothing toward the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct AdminTokenId(String);

impl AdminTokenId {
    /// The id of the token whose stored SHA-256 is `token_hash`.
    pub fn of_hash(token_hash: &[u8]) -> AdminTokenId {
        AdminTokenId(
            token_hash
                .iter()
                .take(8)
                .map(|byte| format!("{byte:02x}"))
                .collect(),
        )
    }

    /// The id of `token`.
    pub fn of_token(token: &str) -> AdminTokenId {
        AdminTokenId::of_hash(&clavex_jose::sha256(token.as_bytes()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AdminTokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who asked for an administrative change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AdminActor {
    /// An Admin API call with a server admin token.
    ServerToken { token_id: AdminTokenId },
    /// An Admin API call with an organization's admin token.
    OrgToken {
        org_id: String,
        token_id: AdminTokenId,
    },
    /// The `clavex` command line on the server's host (it opens the store itself).
    Cli,
    /// The first start's setup (`Engine::bootstrap`).
    Bootstrap,
}

impl fmt::Display for AdminActor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdminActor::ServerToken { token_id } => write!(f, "server-token:{token_id}"),
            AdminActor::OrgToken { org_id, token_id } => {
                write!(f, "org-token:{org_id}:{token_id}")
            }
            AdminActor::Cli => f.write_str("cli"),
            AdminActor::Bootstrap => f.write_str("bootstrap"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_id_is_a_short_hash_prefix_not_the_token() {
        let token = "clx_0123456789abcdefghijklmnopqrstuvwxyz";
        let id = AdminTokenId::of_token(token);
        assert_eq!(id.as_str().len(), 16);
        assert!(!token.contains(id.as_str()));
        assert_eq!(
            id,
            AdminTokenId::of_hash(&clavex_jose::sha256(token.as_bytes()))
        );
    }
}
