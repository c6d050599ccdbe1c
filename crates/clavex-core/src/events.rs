//! Domain events: what happened, as typed values, emitted through one function. Today they go to
//! the tracing target `audit` only; the audit trail hooks in here later, in one place. An event
//! never carries a secret, token, password, private key, assertion or code — only identifiers and
//! the names of what changed.

use std::net::IpAddr;

use serde::Serialize;

use crate::actor::{AdminActor, AdminTokenId};

/// Something that happened that an operator may need to account for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum DomainEvent<'a> {
    /// An Admin API or CLI change, by `actor` from `peer`.
    AdminChange {
        actor: &'a AdminActor,
        peer: IpAddr,
        change: AdminChange<'a>,
    },
    SignInSucceeded {
        org_id: &'a str,
        user_id: &'a str,
        peer: IpAddr,
    },
    SignInFailed {
        org_id: &'a str,
        /// Set when the login named an existing user.
        user_id: Option<&'a str>,
        peer: IpAddr,
        throttled: bool,
    },
    ConsentGiven {
        org_id: &'a str,
        user_id: &'a str,
        client_id: &'a str,
    },
    ConsentDenied {
        org_id: &'a str,
        client_id: &'a str,
    },
    GrantRevoked {
        org_id: &'a str,
        grant_id: &'a str,
        reason: &'static str,
    },
    /// RFC 7591/7592: a client registered, updated or deleted itself.
    DynamicRegistration {
        org_id: &'a str,
        client_id: &'a str,
        action: &'static str,
        peer: IpAddr,
    },
    TokenIssued {
        org_id: &'a str,
        client_id: &'a str,
        grant_type: &'static str,
        /// The user, for user grants.
        subject: Option<&'a str>,
    },
}

/// One administrative change. `changed` lists the names of the members whose value changed, never
/// a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum AdminChange<'a> {
    /// With the signing keys and the organization's first admin token (named by its id).
    OrganizationCreated {
        org_id: &'a str,
        admin_token_id: &'a AdminTokenId,
    },
    OrganizationUpdated {
        org_id: &'a str,
        changed: &'a [String],
    },
    OrganizationDeleted {
        org_id: &'a str,
    },
    /// An admin token added by the command line (`clavex orgs new-token`).
    AdminTokenCreated {
        org_id: Option<&'a str>,
        token_id: &'a AdminTokenId,
    },
    ClientCreated {
        org_id: &'a str,
        client_id: &'a str,
    },
    /// A change that left the client's keys (`jwks`, `jwks_uri`) as they were.
    ClientUpdated {
        org_id: &'a str,
        client_id: &'a str,
        changed: &'a [String],
    },
    /// A change of the client's keys (`jwks` or `jwks_uri`), perhaps with other members.
    ClientKeysChanged {
        org_id: &'a str,
        client_id: &'a str,
        changed: &'a [String],
    },
    ClientDeleted {
        org_id: &'a str,
        client_id: &'a str,
    },
    UserCreated {
        org_id: &'a str,
        user_id: &'a str,
    },
    /// A change that left the password as it was.
    UserUpdated {
        org_id: &'a str,
        user_id: &'a str,
        changed: &'a [String],
    },
    /// A change that set a new password, perhaps with other members.
    UserPasswordSet {
        org_id: &'a str,
        user_id: &'a str,
        changed: &'a [String],
    },
    UserDeleted {
        org_id: &'a str,
        user_id: &'a str,
        grants_revoked: u64,
    },
    /// New signing keys (`activated`, by `kid`) replaced the `retired` ones, still published.
    SigningKeysRotated {
        org_id: &'a str,
        activated: &'a [String],
        retired: &'a [String],
    },
    InitialAccessTokenCreated {
        org_id: &'a str,
        expires_at: i64,
        multi_use: bool,
    },
}

impl AdminChange<'_> {
    /// The change's name in the audit log.
    pub fn name(&self) -> &'static str {
        match self {
            AdminChange::OrganizationCreated { .. } => "organization_created",
            AdminChange::OrganizationUpdated { .. } => "organization_updated",
            AdminChange::OrganizationDeleted { .. } => "organization_deleted",
            AdminChange::AdminTokenCreated { .. } => "admin_token_created",
            AdminChange::ClientCreated { .. } => "client_created",
            AdminChange::ClientUpdated { .. } => "client_updated",
            AdminChange::ClientKeysChanged { .. } => "client_keys_changed",
            AdminChange::ClientDeleted { .. } => "client_deleted",
            AdminChange::UserCreated { .. } => "user_created",
            AdminChange::UserUpdated { .. } => "user_updated",
            AdminChange::UserPasswordSet { .. } => "user_password_set",
            AdminChange::UserDeleted { .. } => "user_deleted",
            AdminChange::SigningKeysRotated { .. } => "signing_keys_rotated",
            AdminChange::InitialAccessTokenCreated { .. } => "initial_access_token_created",
        }
    }

    /// The organization changed; `None` only for a server admin token.
    pub fn org_id(&self) -> Option<&str> {
        match self {
            AdminChange::AdminTokenCreated { org_id, .. } => *org_id,
            AdminChange::OrganizationCreated { org_id, .. }
            | AdminChange::OrganizationUpdated { org_id, .. }
            | AdminChange::OrganizationDeleted { org_id }
            | AdminChange::ClientCreated { org_id, .. }
            | AdminChange::ClientUpdated { org_id, .. }
            | AdminChange::ClientKeysChanged { org_id, .. }
            | AdminChange::ClientDeleted { org_id, .. }
            | AdminChange::UserCreated { org_id, .. }
            | AdminChange::UserUpdated { org_id, .. }
            | AdminChange::UserPasswordSet { org_id, .. }
            | AdminChange::UserDeleted { org_id, .. }
            | AdminChange::SigningKeysRotated { org_id, .. }
            | AdminChange::InitialAccessTokenCreated { org_id, .. } => Some(org_id),
        }
    }
}

/// Emits `event`: every operation reports what it did through here.
pub fn emit(event: &DomainEvent<'_>) {
    #[cfg(test)]
    capture::record(event);
    match event {
        DomainEvent::AdminChange {
            actor,
            peer,
            change,
        } => {
            // The change's identifiers as one JSON value: each kind has its own members.
            let details = serde_json::to_string(change).unwrap_or_default();
            tracing::info!(target: "audit", event = "admin_change", change = change.name(), org = change.org_id().unwrap_or("-"), actor = %actor, peer = %peer, details = %details)
        }
        DomainEvent::SignInSucceeded {
            org_id,
            user_id,
            peer,
        } => {
            tracing::info!(target: "audit", event = "sign_in_succeeded", org = org_id, user = user_id, peer = %peer)
        }
        DomainEvent::SignInFailed {
            org_id,
            user_id,
            peer,
            throttled,
        } => {
            tracing::info!(target: "audit", event = "sign_in_failed", org = org_id, user = user_id.unwrap_or("-"), peer = %peer, throttled)
        }
        DomainEvent::ConsentGiven {
            org_id,
            user_id,
            client_id,
        } => {
            tracing::info!(target: "audit", event = "consent_given", org = org_id, user = user_id, client = client_id)
        }
        DomainEvent::ConsentDenied { org_id, client_id } => {
            tracing::info!(target: "audit", event = "consent_denied", org = org_id, client = client_id)
        }
        DomainEvent::GrantRevoked {
            org_id,
            grant_id,
            reason,
        } => {
            tracing::info!(target: "audit", event = "grant_revoked", org = org_id, grant = grant_id, reason)
        }
        DomainEvent::DynamicRegistration {
            org_id,
            client_id,
            action,
            peer,
        } => {
            tracing::info!(target: "audit", event = "dynamic_registration", org = org_id, client = client_id, action, peer = %peer)
        }
        DomainEvent::TokenIssued {
            org_id,
            client_id,
            grant_type,
            subject,
        } => {
            // One per token request: at debug, so that the default log level does not write a
            // line per issued token (the audit trail will count them without a log line).
            tracing::debug!(target: "audit", event = "token_issued", org = org_id, client = client_id, grant_type, sub = subject.unwrap_or("-"))
        }
    }
}

/// The events emitted on this thread while a test captures them, as JSON: how a test sees what an
/// operation reported (`#[tokio::test]` runs the operation on the test's thread).
#[cfg(test)]
pub(crate) mod capture {
    use std::cell::RefCell;

    thread_local! {
        static EVENTS: RefCell<Option<Vec<serde_json::Value>>> = const { RefCell::new(None) };
    }

    /// Starts capturing (again, from nothing).
    pub(crate) fn start() {
        EVENTS.with(|events| *events.borrow_mut() = Some(Vec::new()));
    }

    /// Stops capturing and returns what was emitted since [`start`].
    pub(crate) fn take() -> Vec<serde_json::Value> {
        EVENTS.with(|events| events.borrow_mut().take().unwrap_or_default())
    }

    pub(super) fn record(event: &super::DomainEvent<'_>) {
        EVENTS.with(|events| {
            if let Some(list) = events.borrow_mut().as_mut() {
                list.push(serde_json::to_value(event).unwrap_or_default());
            }
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::net::{IpAddr, Ipv4Addr};

    use super::*;

    const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));

    fn serialized(change: AdminChange<'_>) -> String {
        let actor = AdminActor::OrgToken {
            org_id: "acme".into(),
            token_id: AdminTokenId::of_token("clx_the-admin-token-value"),
        };
        serde_json::to_string(&DomainEvent::AdminChange {
            actor: &actor,
            peer: PEER,
            change,
        })
        .unwrap()
    }

    #[test]
    fn a_password_change_names_the_member_not_the_password() {
        let changed = ["password".to_owned(), "given_name".to_owned()];
        let text = serialized(AdminChange::UserPasswordSet {
            org_id: "acme",
            user_id: "u-1",
            changed: &changed,
        });
        assert!(text.contains("\"user_password_set\""), "{text}");
        assert!(text.contains("\"password\""), "{text}");
        assert!(text.contains("192.0.2.7"), "{text}");
        assert!(!text.contains("clx_the-admin-token-value"), "{text}");
        assert!(
            text.contains(AdminTokenId::of_token("clx_the-admin-token-value").as_str()),
            "{text}"
        );
    }

    #[test]
    fn a_key_change_names_the_members_not_the_keys() {
        let changed = ["jwks".to_owned()];
        let text = serialized(AdminChange::ClientKeysChanged {
            org_id: "acme",
            client_id: "tpp-1",
            changed: &changed,
        });
        assert!(text.contains("\"client_keys_changed\""), "{text}");
        assert!(text.contains("\"jwks\""), "{text}");
        assert!(!text.contains("\"kty\""), "{text}");
    }

    #[test]
    fn emit_reports_to_a_capturing_test() {
        capture::start();
        let actor = AdminActor::Cli;
        emit(&DomainEvent::AdminChange {
            actor: &actor,
            peer: PEER,
            change: AdminChange::OrganizationDeleted { org_id: "acme" },
        });
        let events = capture::take();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["change"]["change"], "organization_deleted");
        assert_eq!(events[0]["actor"]["kind"], "cli");
    }
}
