//! DPoP server nonces (RFC 9449 §8), stateless so that any node accepts any node's nonce: a nonce is
//! a time window number and a MAC over (organization, window) under a key derived from the master
//! key. A nonce is accepted in its own window and the next one, so it lives between one and two
//! windows.

use crate::ids::OrgId;
use crate::master_key::MasterKey;
use crate::policy::lifetimes::DPOP_NONCE_WINDOW_SECS as NONCE_WINDOW_SECS;
const TAG_BYTES: usize = 16;

pub struct NonceIssuer {
    key: aws_lc_rs::hmac::Key,
}

impl NonceIssuer {
    pub fn new(master: &MasterKey) -> NonceIssuer {
        let secret = master.derive("clavex dpop nonce v1");
        NonceIssuer {
            key: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_slice()),
        }
    }

    fn tag(&self, org_id: &OrgId, window: i64) -> Vec<u8> {
        let tag = aws_lc_rs::hmac::sign(&self.key, format!("{org_id}\u{0}{window}").as_bytes());
        tag.as_ref().iter().take(TAG_BYTES).copied().collect()
    }

    /// The nonce to hand out now. Only base64url characters, so always NQCHAR.
    pub fn issue(&self, org_id: &OrgId, now: i64) -> String {
        let window = now.div_euclid(NONCE_WINDOW_SECS);
        let mut bytes = window.to_be_bytes().to_vec();
        bytes.extend(self.tag(org_id, window));
        clavex_jose::b64url_encode(&bytes)
    }

    /// Is `nonce` one this organization issued in the current or the previous window?
    pub fn accepts(&self, org_id: &OrgId, nonce: &str, now: i64) -> bool {
        let Ok(bytes) = clavex_jose::b64url_decode(nonce) else {
            return false;
        };
        if bytes.len() != 8 + TAG_BYTES {
            return false;
        }
        let (window_bytes, tag) = bytes.split_at(8);
        let Ok(window_array) = <[u8; 8]>::try_from(window_bytes) else {
            return false;
        };
        let window = i64::from_be_bytes(window_array);
        let current = now.div_euclid(NONCE_WINDOW_SECS);
        if window != current && window != current - 1 {
            return false;
        }
        let expected = self.tag(org_id, window);
        subtle::ConstantTimeEq::ct_eq(expected.as_slice(), tag).into()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn nonce_lifetime_and_binding() {
        let master = MasterKey::parse(&"11".repeat(32)).unwrap();
        let issuer = NonceIssuer::new(&master);
        let t = 1_800_000_000;
        let acme = &OrgId::parse("acme").unwrap();
        let beta = &OrgId::parse("beta").unwrap();
        let nonce = issuer.issue(acme, t);
        assert!(
            nonce
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert!(issuer.accepts(acme, &nonce, t));
        assert!(issuer.accepts(acme, &nonce, t + NONCE_WINDOW_SECS));
        assert!(!issuer.accepts(acme, &nonce, t + 2 * NONCE_WINDOW_SECS + 1));
        assert!(!issuer.accepts(beta, &nonce, t));
        assert!(!issuer.accepts(acme, "garbage", t));
        // Another node with the same master key accepts it; one with another key does not.
        assert!(
            NonceIssuer::new(&MasterKey::parse(&"11".repeat(32)).unwrap()).accepts(acme, &nonce, t)
        );
        assert!(
            !NonceIssuer::new(&MasterKey::parse(&"22".repeat(32)).unwrap())
                .accepts(acme, &nonce, t)
        );
    }
}
