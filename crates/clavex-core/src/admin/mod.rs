//! Administration: organizations, admin tokens, clients, users, keys and initial access tokens. The
//! Admin API and the CLI both call these; neither restates a rule. One module per resource.

use clavex_store::AdminTokenRecord;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::ids::OrgId;

pub mod clients;
pub mod initial_access_tokens;
pub mod keys;
pub mod orgs;
pub mod users;

pub use keys::KeyView;
pub use orgs::{BootstrapOutcome, OrganizationView};
pub use users::UserView;

/// Who is calling the Admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminPrincipal {
    /// The server-level admin: may create organizations and manage all of them.
    Server,
    /// An organization's admin: may manage only that organization.
    Org(OrgId),
}

impl AdminPrincipal {
    /// May this principal manage `org_id`? `None` stands for a name that could not be an
    /// organization id: only the server admin gets past, to be told that it does not exist.
    pub fn ensure_org(&self, org_id: Option<&OrgId>) -> Result<()> {
        match self {
            AdminPrincipal::Server => Ok(()),
            AdminPrincipal::Org(own) if Some(own) == org_id => Ok(()),
            AdminPrincipal::Org(_) => Err(Error::Forbidden(
                "this admin token belongs to another organization".into(),
            )),
        }
    }
    pub fn ensure_server(&self) -> Result<()> {
        match self {
            AdminPrincipal::Server => Ok(()),
            AdminPrincipal::Org(_) => Err(Error::Forbidden(
                "only the server admin token may do this".into(),
            )),
        }
    }
}

pub(crate) fn hash_token(token: &str) -> Vec<u8> {
    clavex_jose::sha256(token.as_bytes()).to_vec()
}

/// A new admin token: a prefix that tells what it is, and 256 random bits.
pub fn new_admin_token() -> String {
    format!("clx_{}", clavex_jose::random_token(32))
}

impl Engine {
    pub async fn authenticate_admin(&self, bearer: &str) -> Result<AdminPrincipal> {
        // A lookup by SHA-256 of the presented token: the comparison happens on a hash the caller
        // cannot steer, so it leaks nothing useful about stored tokens through timing.
        let record = self
            .store
            .find_admin_token(&hash_token(bearer))
            .await?
            .ok_or_else(|| Error::Unauthorized("unknown admin token".into()))?;
        Ok(match record.org_id {
            // Tokens are stored only for organizations that were created, hence parsed.
            Some(org) => AdminPrincipal::Org(
                OrgId::parse(&org)
                    .map_err(|e| Error::internal("the organization of an admin token", e))?,
            ),
            None => AdminPrincipal::Server,
        })
    }

    /// Stores an admin token (hashed). `org_id = None` makes a server-level token.
    pub async fn add_admin_token(
        &self,
        org_id: Option<&OrgId>,
        token: &str,
        label: &str,
    ) -> Result<()> {
        let record = AdminTokenRecord {
            token_hash: hash_token(token),
            org_id: org_id.map(OrgId::to_string),
            label: label.to_owned(),
            created_at: self.now(),
        };
        match self.store.insert_admin_token(&record).await {
            Ok(()) | Err(clavex_store::StoreError::Conflict(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
