//! JWS / JWK for Clavex, on aws-lc-rs, limited to the FAPI 2.0 algorithms.
//!
//! FAPI 2.0 Security Profile §5.4.1 permits PS256, ES256 and EdDSA (Ed25519) only;
//! this crate cannot express any other algorithm, so `none`, RS256, HS256 and the
//! rest are refused at the type level. All cryptography is aws-lc-rs; keys are
//! parsed once and kept parsed.
//!
//! - [`Algorithm`]: the three algorithms.
//! - [`PublicKey`], [`JwkSet`], [`jwk_thumbprint`]: public JWKs (RFC 7517, RFC 7638).
//! - [`SigningKey`]: private keys (generate, PKCS#8 in/out, sign, `sign_jwt`).
//! - [`Jws`], [`typ_matches`]: strict compact-JWS parsing and verification (RFC 7515).
//! - [`b64url_encode`], [`b64url_decode`], [`sha256`], [`random_token`]: helpers.

mod alg;
mod b64;
mod error;
mod jwk;
mod jws;
mod sign;
mod util;

pub use alg::Algorithm;
pub use b64::{b64url_decode, b64url_encode};
pub use error::JoseError;
pub use jwk::{JwkSet, PublicKey, jwk_thumbprint};
pub use jws::{Jws, JwsLimits, typ_matches};
pub use sign::SigningKey;
pub use util::{random_token, sha256};
