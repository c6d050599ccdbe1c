//! Resource-server verification of Clavex access tokens, for any Rust API and for Clavex's own
//! UserInfo endpoint.
//!
//! - [`dpop`]: RFC 9449 §4.3 proof verification (also used by the authorization server).
//! - [`ResourceVerifier`]: one call per request checks an RFC 9068 JWT access token sent as
//!   `Authorization: DPoP`, its DPoP proof (`ath`, `cnf.jkt`), single use of the proof
//!   ([`ReplayCache`]) and, optionally, that its grant is still active ([`GrantStatus`]).
//! - [`RemoteJwks`]: the issuer's JWKS over HTTP(S), cached, refetched on an unknown `kid`.
//! - [`ResourceError`]: the RFC 6750 / RFC 9449 error code, HTTP status and `WWW-Authenticate` value.
//! - [`policy`]: the FAPI 2.0 constants (algorithms, time windows, size limits), defined once.
//!
//! Not implemented: resource-server DPoP nonces (RFC 9449 §9); proofs are bounded by their `iat`
//! window and the replay cache instead.

pub mod dpop;
pub mod error;
pub mod keys;
pub mod policy;
pub mod replay;
pub mod verifier;

pub use async_trait::async_trait;
pub use clavex_jose::{Algorithm, PublicKey};
pub use error::{ResourceError, ResourceErrorCode};
pub use keys::{JwksOptions, KeySource, RemoteJwks, StaticKeys};
pub use replay::{MemoryReplayCache, ReplayCache};
pub use verifier::{
    GrantStatus, ResourceConfig, ResourceRequest, ResourceVerifier, VerifiedAccessToken,
    presented_token,
};
