//! The `clavex` binary's library half: configuration, wiring (store, master key, engine, router) and
//! the server's life cycle. `main.rs` is the CLI on top; the integration tests drive
//! [`app::Application`] directly.

pub mod app;
pub mod config;
pub mod tls;
pub mod tools;
