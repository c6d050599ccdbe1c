//! Clavex's integration tests: a real node on a real store. The store is SQLite unless
//! `CLAVEX_TEST_DATABASE=postgres` (CI runs this binary on both).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod token_client_credentials;
