//! The authorization-code flow from the client's and the browser's side: PAR, a cookie-keeping
//! browser that fills in the login and consent forms, PKCE, and the token request.
//!
//! One file per step, so each stays readable: `setup` (clients, users, organizations), `par`,
//! `interaction` (authorization URL, login, consent), `token` (code, refresh, userinfo, ID token),
//! `browser` and `responses` (what the browser sends and gets back), `values` (PKCE and other
//! made-up request values). Everything is re-exported here: tests use `clavex_testkit::flow::*`.

mod browser;
mod interaction;
mod par;
mod responses;
mod setup;
mod token;
mod values;

pub use browser::{
    BROWSER_COOKIE, Browser, form_action, get_with_cookies, hidden_field, post_with_cookies,
    session_cookie, set_cookie_line, set_cookie_value,
};
pub use setup::FapiClient;
pub use values::{corrupted_thumbprint, pkce, pkce_128, set_param, suite_state_128};

pub const REDIRECT_URI: &str = "https://tpp.example.com/callback";
pub const USERNAME: &str = "alice";
pub const PASSWORD: &str = "correct horse battery";

/// Client 2's redirect URI in the conformance suite: registered with its own query, which every
/// authorization response must keep.
pub const REDIRECT_URI_WITH_QUERY: &str =
    "https://tpp.example.com/callback?dummy1=lorem&dummy2=ipsum";
