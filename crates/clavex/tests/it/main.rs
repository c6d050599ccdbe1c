//! Clavex's integration tests: a real node on a real store. The store is SQLite unless
//! `CLAVEX_TEST_DATABASE=postgres` (CI runs this binary on both).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// Token endpoint, client authentication and DPoP.
mod client_auth;
mod dpop;
mod dpop_nonce;
mod token_client_credentials;
mod token_errors;
// Revocation (RFC 7009) and introspection (RFC 7662).
mod issued_tokens;

// The authorization-code flow: PAR, authorization endpoint, login and consent, code and refresh
// grants, ID token, UserInfo.
mod authorize;
mod code_flow;
mod code_grant;
mod id_token;
mod interaction;
mod jar;
mod jarm;
mod par;
mod rar;
mod refresh;

// Admin API, discovery, keys, persistence, configuration.
mod admin_clients;
mod admin_orgs;
mod admin_users;
mod dcr;
mod discovery_jwks;
mod keys_rotation;
mod persistence;

// Resource servers: clavex-resource and the demo bank against a real node.
mod resource;

/// An organization id for direct engine calls.
pub fn org(id: &str) -> clavex_core::ids::OrgId {
    clavex_core::ids::OrgId::parse(id).unwrap()
}
