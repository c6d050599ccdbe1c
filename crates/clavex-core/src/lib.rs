//! The Clavex engine: organizations, clients, keys and the OAuth flows, over the store trait.
//!
//! Architecture invariants: this crate knows nothing of HTTP frameworks, TLS or SQL. Protocol rules
//! live in [`policy`]; flows call them. Errors are typed ([`error::Error`]) and the HTTP crate maps
//! them to responses in one place.

pub mod admin;
pub mod authorization;
pub mod client;
pub mod client_auth;
pub mod clock;
pub mod dcr;
pub mod discovery;
pub mod dpop;
pub mod dpop_nonce;
pub mod engine;
pub mod error;
pub mod form;
pub mod grants;
pub mod issued_tokens;
pub mod jwks_fetch;
pub mod keyring;
pub mod master_key;
pub mod password;
pub mod policy;
pub mod replay;
pub mod request_object;
pub mod settings;
pub mod token;
pub mod userinfo;

pub use engine::{Engine, EngineConfig, OrgContext};
pub use error::{Error, ErrorCode, OAuthError};
