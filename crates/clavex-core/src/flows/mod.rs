//! The protocol operations, one module per operation. Each is an `impl Engine` block that parses its
//! input into typed values, applies `crate::policy` rules, and talks to the store through the engine.

pub mod access_token;
pub mod authorization_request;
pub mod authorize;
pub mod client_credentials;
pub mod code_grant;
pub mod consent;
pub mod id_token;
pub mod interaction;
pub mod issued_tokens;
pub mod login;
pub mod par;
pub mod refresh_grant;
pub mod registration;
pub mod response;
pub mod token;
pub mod user_tokens;
pub mod userinfo;
