//! Clavex's HTTP layer: axum routes for the OAuth endpoints and the Admin API. Handlers are thin: they
//! extract plain values, call one `Engine` method, and map the result. No SQL, no protocol decisions.

mod error;
pub mod extract;
mod openapi;
mod routes;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::IntoResponse as _;
use clavex_core::Engine;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

pub use error::{ApiError, ApiResult};
pub use extract::TlsPeer;

#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    /// Reverse proxies whose `X-Forwarded-For` is believed (for the client address used by login
    /// throttling). Empty: the TCP peer is the client.
    pub trusted_proxies: Arc<Vec<ipnet::IpNet>>,
}

impl AppState {
    /// The client's address: the TCP peer, unless the peer is a trusted proxy, in which case the
    /// right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
    pub fn client_ip(
        &self,
        peer: std::net::IpAddr,
        headers: &axum::http::HeaderMap,
    ) -> std::net::IpAddr {
        client_ip(peer, headers, &self.trusted_proxies)
    }
}

fn client_ip(
    peer: std::net::IpAddr,
    headers: &axum::http::HeaderMap,
    trusted_proxies: &[ipnet::IpNet],
) -> std::net::IpAddr {
    let trusted = |ip: &std::net::IpAddr| trusted_proxies.iter().any(|net| net.contains(ip));
    if !trusted(&peer) {
        return peer;
    }
    let forwarded: Vec<std::net::IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|part| part.trim().parse().ok())
        .collect();
    forwarded
        .into_iter()
        .rev()
        .find(|ip| !trusted(ip))
        .unwrap_or(peer)
}

/// A path that carries an encoded NUL names nothing Clavex stores (and PostgreSQL text cannot hold
/// one), so it is answered before any handler looks it up.
async fn refuse_nul_in_path(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if request.uri().path().to_ascii_lowercase().contains("%00") {
        return error::ApiError(clavex_core::Error::NotFound("resource".into())).into_response();
    }
    next.run(request).await
}

/// The whole HTTP surface of one node.
pub fn router(engine: Arc<Engine>) -> Router {
    router_with_proxies(engine, Vec::new())
}

/// The HTTP surface, believing `X-Forwarded-For` from `trusted_proxies`.
pub fn router_with_proxies(engine: Arc<Engine>, trusted_proxies: Vec<ipnet::IpNet>) -> Router {
    let state = AppState {
        engine,
        trusted_proxies: Arc::new(trusted_proxies),
    };
    routes::routes()
        .with_state(state)
        .layer(axum::middleware::from_fn(refuse_nul_in_path))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(TraceLayer::new_for_http())
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            HeaderName::from_static("dpop"),
            header::COOKIE,
        ]))
        .layer(CatchPanicLayer::new())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn headers(xff: &[&str]) -> axum::http::HeaderMap {
        let mut map = axum::http::HeaderMap::new();
        for value in xff {
            map.append("x-forwarded-for", value.parse().unwrap());
        }
        map
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxies: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let proxy = "10.1.2.3".parse().unwrap();
        let stranger = "198.51.100.7".parse().unwrap();
        // From a trusted proxy: the right-most address that is not a proxy.
        assert_eq!(
            client_ip(proxy, &headers(&["203.0.113.9, 10.9.9.9"]), &proxies),
            "203.0.113.9".parse::<std::net::IpAddr>().unwrap()
        );
        // A client cannot pick its address by prepending entries.
        assert_eq!(
            client_ip(proxy, &headers(&["1.1.1.1, 203.0.113.9"]), &proxies),
            "203.0.113.9".parse::<std::net::IpAddr>().unwrap()
        );
        // From anyone else: the peer, whatever the header says.
        assert_eq!(
            client_ip(stranger, &headers(&["203.0.113.9"]), &proxies),
            stranger
        );
        // No proxies configured: always the peer.
        assert_eq!(client_ip(proxy, &headers(&["203.0.113.9"]), &[]), proxy);
        // Only proxies or garbage in the header: the peer.
        assert_eq!(
            client_ip(proxy, &headers(&["10.2.2.2", "junk"]), &proxies),
            proxy
        );
    }
}
