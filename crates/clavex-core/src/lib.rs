//! The Clavex engine: organizations, clients, keys and the OAuth flows, over the store trait.
//!
//! Architecture invariants: this crate knows nothing of HTTP frameworks, TLS or SQL. Protocol rules
//! live in [`policy`]; flows call them. Errors are typed ([`error::Error`]) and the HTTP crate maps
//! them to responses in one place.

pub mod actor;
pub mod admin;
pub mod artifacts;
pub mod client;
pub mod client_auth;
pub mod clock;
pub mod connection;
pub mod discovery;
pub mod dpop;
pub mod dpop_nonce;
pub mod engine;
pub mod error;
pub mod events;
pub mod flows;
pub mod form;
pub mod ids;
pub mod jwks_fetch;
pub mod keyring;
pub mod master_key;
pub mod password;
pub mod policy;
pub mod records;
pub mod replay;
pub mod request_object;
pub mod settings;

pub use connection::{ConnectionFacts, Transport};
pub use engine::{Engine, EngineConfig, OrgContext};
pub use error::{Error, ErrorCode, OAuthError};
