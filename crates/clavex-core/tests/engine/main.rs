//! Engine-level tests of the FAPI 2.0 rules: every request is a direct call of an `Engine` method
//! over an in-memory SQLite store and a `ManualClock` (no HTTP, no sockets), and every refusal is
//! checked by its exact OAuth error code. One module per area; `support` is the harness.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod authorize;
mod client_auth;
mod dpop;
mod par;
mod refresh;
mod token;
