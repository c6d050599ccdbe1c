//! Connection facts: what the transport knows about the party at the other end, handed to every
//! protocol operation as one plain value. The HTTP layer builds it (the peer address after
//! trusted-proxy resolution, the listener, the TLS client certificate chain); the engine never sees
//! a socket or a header to work these out itself. mTLS client authentication and certificate-bound
//! tokens (RFC 8705) read the chain from here.

use std::net::{IpAddr, Ipv4Addr};

/// How the request reached Clavex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Plain HTTP (development, or TLS ended at a proxy).
    Plain,
    /// Clavex's own TLS listener.
    Tls,
}

/// What the transport says about one request's peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionFacts {
    /// The client's address: the TCP peer, or what a configured trusted proxy says it is.
    pub peer: IpAddr,
    /// The listener the request came in on.
    pub transport: Transport,
    /// The peer's TLS client certificate chain (DER, leaf first); empty when none was presented.
    /// Clavex does not request client certificates yet, so this is always empty today.
    pub client_certificate_chain: Vec<Vec<u8>>,
}

impl ConnectionFacts {
    /// A plain-HTTP peer without a certificate.
    pub fn plain(peer: IpAddr) -> ConnectionFacts {
        ConnectionFacts {
            peer,
            transport: Transport::Plain,
            client_certificate_chain: Vec::new(),
        }
    }

    /// A plain-HTTP peer on the IPv4 loopback (tools and tests that call the engine directly).
    pub fn loopback() -> ConnectionFacts {
        ConnectionFacts::plain(IpAddr::V4(Ipv4Addr::LOCALHOST))
    }
}
