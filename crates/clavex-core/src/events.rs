//! Domain events: what happened, as typed values, emitted through one function. Today they go to
//! the tracing target `audit` only; the audit trail hooks in here later, in one place. An event
//! never carries a secret, token, password, assertion or code — only identifiers.

use std::net::IpAddr;

/// Something that happened that an operator may need to account for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainEvent<'a> {
    /// An Admin API or CLI change: `action` on `resource` (e.g. `client.create`, `tpp-1`).
    AdminChange {
        org_id: Option<&'a str>,
        action: &'static str,
        resource: &'a str,
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
    KeysRotated {
        org_id: &'a str,
        algorithms: &'a [&'a str],
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

/// Emits `event`: every operation reports what it did through here.
pub fn emit(event: &DomainEvent<'_>) {
    match event {
        DomainEvent::AdminChange {
            org_id,
            action,
            resource,
        } => {
            tracing::info!(target: "audit", event = "admin_change", org = org_id.unwrap_or("-"), action, resource)
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
        DomainEvent::KeysRotated { org_id, algorithms } => {
            tracing::info!(target: "audit", event = "keys_rotated", org = org_id, algorithms = %algorithms.join(" "))
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
            tracing::info!(target: "audit", event = "token_issued", org = org_id, client = client_id, grant_type, sub = subject.unwrap_or("-"))
        }
    }
}
