//! Administration: organizations, admin tokens, clients, users, keys and initial access tokens. The
//! Admin API and the CLI both call these; neither restates a rule. One module per resource.
//!
//! A request body arrives as JSON and is read once, at the boundary, into its typed request
//! ([`AdminRequest`]: `CreateOrganization`, `UpdateUser`, …) with the API's own error messages.
//! Every successful change is reported as one [`AdminChange`] domain event naming the actor and the
//! peer from the call's [`ConnectionFacts`].

use clavex_store::AdminTokenRecord;
use serde_json::Value;

pub use crate::actor::{AdminActor, AdminTokenId};
use crate::connection::ConnectionFacts;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::events::{self, AdminChange, DomainEvent};
use crate::ids::OrgId;

pub mod clients;
pub mod initial_access_tokens;
pub mod keys;
pub mod orgs;
pub mod users;

pub use clients::{CreateClient, UpdateClient};
pub use initial_access_tokens::CreateInitialAccessToken;
pub use keys::{KeyView, RotateKeys};
pub use orgs::{BootstrapOutcome, CreateOrganization, OrganizationView, UpdateOrganization};
pub use users::{CreateUser, UpdateUser, UserView};

/// An Admin API request body, read from its JSON once into its typed form. The messages are the
/// API's own (not serde's), and each body keeps its unknown-member policy.
pub trait AdminRequest: Sized {
    fn from_json(body: &Value) -> Result<Self>;
}

/// Reports a successful change: the one place admin operations emit their events.
fn record_change(actor: &AdminActor, connection: &ConnectionFacts, change: AdminChange<'_>) {
    events::emit(&DomainEvent::AdminChange {
        actor,
        peer: connection.peer,
        change,
    });
}

/// The names of the members whose values differ between two JSON objects (a member absent from one
/// side counts as changed), in the order of `before` then the new ones of `after`.
fn changed_members(before: &Value, after: &Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let before = before.as_object().unwrap_or(&empty);
    let after = after.as_object().unwrap_or(&empty);
    before
        .iter()
        .filter(|(name, value)| after.get(name.as_str()) != Some(value))
        .map(|(name, _)| name.clone())
        .chain(
            after
                .keys()
                .filter(|name| !before.contains_key(name.as_str()))
                .cloned(),
        )
        .collect()
}

/// A caller the Admin API authenticated: what it may do, and who it is for the events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedAdmin {
    pub principal: AdminPrincipal,
    pub actor: AdminActor,
}

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
    pub async fn authenticate_admin(&self, bearer: &str) -> Result<AuthenticatedAdmin> {
        // A lookup by SHA-256 of the presented token: the comparison happens on a hash the caller
        // cannot steer, so it leaks nothing useful about stored tokens through timing.
        let record = self
            .store
            .find_admin_token(&hash_token(bearer))
            .await?
            .ok_or_else(|| Error::Unauthorized("unknown admin token".into()))?;
        let token_id = AdminTokenId::of_hash(&record.token_hash);
        Ok(match record.org_id {
            // Tokens are stored only for organizations that were created, hence parsed.
            Some(org) => {
                let org = OrgId::parse(&org)
                    .map_err(|e| Error::internal("the organization of an admin token", e))?;
                AuthenticatedAdmin {
                    actor: AdminActor::OrgToken {
                        org_id: org.to_string(),
                        token_id,
                    },
                    principal: AdminPrincipal::Org(org),
                }
            }
            None => AuthenticatedAdmin {
                principal: AdminPrincipal::Server,
                actor: AdminActor::ServerToken { token_id },
            },
        })
    }

    /// A new admin token for an organization (`Some`) or the server (`None`), stored hashed and
    /// returned once (`clavex orgs new-token`).
    pub async fn create_admin_token(
        &self,
        org_id: Option<&OrgId>,
        label: &str,
        actor: &AdminActor,
        connection: &ConnectionFacts,
    ) -> Result<String> {
        if let Some(org_id) = org_id {
            self.get_organization(org_id).await?;
        }
        let token = new_admin_token();
        self.add_admin_token(org_id, &token, label).await?;
        record_change(
            actor,
            connection,
            AdminChange::AdminTokenCreated {
                org_id: org_id.map(OrgId::as_str),
                token_id: &AdminTokenId::of_token(&token),
            },
        );
        Ok(token)
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

#[cfg(test)]
mod tests;
