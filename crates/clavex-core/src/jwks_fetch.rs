//! Fetching a client's `jwks_uri`: https only, no redirects, short timeouts, a size cap, and no
//! loopback/private targets unless an operator allow-lists the host (tests and local setups).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use clavex_jose::JwkSet;

const MAX_JWKS_BYTES: usize = 64 * 1024;

#[derive(Clone)]
pub struct JwksFetcher {
    client: reqwest::Client,
    allow: Arc<Vec<String>>,
}

/// A host (or `host:port`) is allow-listed when it appears in the list exactly.
fn allowed(allow: &[String], host: &str, port: Option<u16>) -> bool {
    allow
        .iter()
        .any(|entry| entry == host || port.is_some_and(|p| *entry == format!("{host}:{p}")))
}

fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xC0) == 64)
        }
        IpAddr::V6(v6) => {
            !(v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| !is_public(IpAddr::V4(v4))))
        }
    }
}

/// Resolves names and drops non-public addresses unless the name is allow-listed, so DNS cannot point
/// a client's `jwks_uri` at internal services.
struct FilteringResolver {
    allow: Arc<Vec<String>>,
}

impl reqwest::dns::Resolve for FilteringResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.allow.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let permitted = allowed(&allow, &host, None)
                || allow
                    .iter()
                    .any(|e| e.split(':').next() == Some(host.as_str()));
            let kept: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|a| permitted || is_public(a.ip()))
                .collect();
            if kept.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

impl JwksFetcher {
    /// Would a `jwks_uri` with this scheme and host be fetched at all? (Registration refuses one
    /// that never could be.)
    pub fn permits(&self, uri: &str) -> bool {
        let Ok(url) = url::Url::parse(uri) else {
            return false;
        };
        let Some(host) = url
            .host_str()
            .map(|h| h.trim_matches(['[', ']']).to_owned())
        else {
            return false;
        };
        match url.scheme() {
            "https" => true,
            "http" => allowed(&self.allow, &host, url.port_or_known_default()),
            _ => false,
        }
    }

    pub fn new(allow: Vec<String>) -> Result<Self, String> {
        let allow = Arc::new(allow);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(5))
            .dns_resolver(Arc::new(FilteringResolver {
                allow: allow.clone(),
            }))
            .user_agent("clavex")
            .build()
            .map_err(|e| format!("http client: {e}"))?;
        Ok(JwksFetcher { client, allow })
    }

    /// Fetches and parses a JWKS. The error text is safe to show the client.
    pub async fn fetch(&self, uri: &str) -> Result<JwkSet, String> {
        let url = url::Url::parse(uri).map_err(|_| "jwks_uri is not a valid URL".to_owned())?;
        let host = url
            .host_str()
            .ok_or_else(|| "jwks_uri has no host".to_owned())?
            .trim_matches(['[', ']'])
            .to_owned();
        let port = url.port_or_known_default();
        let listed = allowed(&self.allow, &host, port);
        if url.scheme() != "https" && !(url.scheme() == "http" && listed) {
            return Err("jwks_uri must use https".to_owned());
        }
        if let Ok(ip) = host.parse::<IpAddr>()
            && !is_public(ip)
            && !listed
        {
            return Err("jwks_uri points at a non-public address".to_owned());
        }
        let mut response = self
            .client
            .get(url)
            .header("accept", "application/jwk-set+json, application/json")
            .send()
            .await
            .map_err(|e| format!("jwks_uri could not be fetched: {}", without_url(&e)))?;
        if !response.status().is_success() {
            return Err(format!(
                "jwks_uri answered HTTP {}",
                response.status().as_u16()
            ));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("jwks_uri read failed: {}", without_url(&e)))?
        {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(format!(
                    "jwks_uri document is larger than {MAX_JWKS_BYTES} bytes"
                ));
            }
            body.extend_from_slice(&chunk);
        }
        let value: serde_json::Value =
            serde_json::from_slice(&body).map_err(|_| "jwks_uri did not return JSON".to_owned())?;
        JwkSet::from_json(&value).map_err(|e| format!("jwks_uri document: {e}"))
    }
}

fn without_url(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timeout"
    } else if err.is_connect() {
        "connection failed"
    } else if err.is_redirect() {
        "redirects are not followed"
    } else {
        "request failed"
    };
    kind.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_address_classification() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "169.254.169.254",
            "::1",
            "fd00::1",
            "100.64.0.1",
            "::ffff:127.0.0.1",
        ] {
            assert!(
                !is_public(
                    private
                        .parse()
                        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
                ),
                "{private}"
            );
        }
        assert!(is_public(
            "93.184.216.34"
                .parse()
                .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
        ));
    }

    #[tokio::test]
    async fn http_and_loopback_refused_unless_allow_listed() {
        let fetcher = JwksFetcher::new(vec![]).unwrap_or_else(|e| unreachable!("http client: {e}"));
        let err = fetcher
            .fetch("http://example.com/jwks")
            .await
            .err()
            .unwrap_or_default();
        assert!(err.contains("https"), "{err}");
        let err = fetcher
            .fetch("https://127.0.0.1:9/jwks")
            .await
            .err()
            .unwrap_or_default();
        assert!(err.contains("non-public"), "{err}");
    }
}
