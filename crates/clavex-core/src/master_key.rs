//! Envelope encryption of signing keys at rest: AES-256-GCM under the master key, with the key's
//! identity as associated data so a sealed key cannot be swapped between organizations or slots.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

const FORMAT_V1: u8 = 1;

pub struct MasterKey {
    key: LessSafeKey,
    /// Kept to derive purpose-specific secrets (CSRF MACs, DPoP nonces) that every node shares.
    raw: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// Parses a master key given as 32 bytes in base64 (standard or URL-safe, padding optional) or hex.
    pub fn parse(text: &str) -> Result<MasterKey> {
        let text = text.trim();
        let bytes: Zeroizing<Vec<u8>> = Zeroizing::new(
            hex_decode(text)
                .or_else(|| base64::engine::general_purpose::STANDARD.decode(text).ok())
                .or_else(|| {
                    base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .decode(text.trim_end_matches('='))
                        .ok()
                })
                .ok_or_else(|| {
                    Error::BadRequest("master key must be 32 bytes in base64 or hex".to_owned())
                })?,
        );
        if bytes.len() != 32 {
            return Err(Error::BadRequest(format!(
                "master key must be 32 bytes (it decodes to {} bytes); generate one with `openssl rand -base64 32`",
                bytes.len()
            )));
        }
        Self::from_bytes(&bytes)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<MasterKey> {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| Error::invariant("bad master key length"))?;
        Ok(MasterKey {
            key: LessSafeKey::new(unbound),
            raw: Zeroizing::new(bytes.to_vec()),
        })
    }

    /// A secret for one purpose, derived with HMAC-SHA256(master, label): the same on every node
    /// that shares the master key, and independent between labels.
    pub fn derive(&self, label: &str) -> Zeroizing<[u8; 32]> {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &self.raw);
        let tag = aws_lc_rs::hmac::sign(&key, label.as_bytes());
        let mut out = Zeroizing::new([0u8; 32]);
        for (dst, src) in out.iter_mut().zip(tag.as_ref()) {
            *dst = *src;
        }
        out
    }

    /// A fresh random master key, base64-encoded (for the key file written on first start).
    pub fn generate_encoded() -> Result<String> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        aws_lc_rs::rand::fill(bytes.as_mut_slice())
            .map_err(|_| Error::invariant("random generator failed"))?;
        Ok(base64::engine::general_purpose::STANDARD.encode(bytes.as_slice()))
    }

    pub fn seal(&self, plaintext: &[u8], aad: &str) -> Result<Vec<u8>> {
        let mut nonce_bytes = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce_bytes)
            .map_err(|_| Error::invariant("random generator failed"))?;
        let mut buffer = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(aad.as_bytes()),
                &mut buffer,
            )
            .map_err(|_| Error::invariant("sealing failed"))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + buffer.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&buffer);
        buffer.iter_mut().for_each(|b| *b = 0);
        Ok(out)
    }

    pub fn open(&self, sealed: &[u8], aad: &str) -> Result<Zeroizing<Vec<u8>>> {
        let (version, rest) = sealed
            .split_first()
            .ok_or_else(|| Error::invariant("sealed key is empty"))?;
        if *version != FORMAT_V1 || rest.len() < NONCE_LEN {
            return Err(Error::invariant("sealed key has an unknown format"));
        }
        let (nonce_bytes, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce_bytes)
            .map_err(|_| Error::invariant("bad nonce"))?;
        let mut buffer = Zeroizing::new(ciphertext.to_vec());
        let plain_len = self
            .key
            .open_in_place(nonce, Aad::from(aad.as_bytes()), buffer.as_mut_slice())
            .map_err(|_| {
                Error::invariant("a signing key could not be decrypted: the master key is not the one it was sealed with")
            })?
            .len();
        buffer.truncate(plain_len);
        Ok(buffer)
    }
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn seal_open_round_trip_and_aad_binding() {
        let key = MasterKey::parse(&MasterKey::generate_encoded().unwrap()).unwrap();
        let sealed = key.seal(b"pkcs8 bytes", "acme|kid1|ES256").unwrap();
        assert_ne!(&sealed[13..24], b"pkcs8 bytes");
        assert_eq!(
            key.open(&sealed, "acme|kid1|ES256").unwrap().as_slice(),
            b"pkcs8 bytes"
        );
        assert!(key.open(&sealed, "other|kid1|ES256").is_err());
        let other = MasterKey::parse(&MasterKey::generate_encoded().unwrap()).unwrap();
        assert!(other.open(&sealed, "acme|kid1|ES256").is_err());
    }

    #[test]
    fn parse_formats() {
        assert!(MasterKey::parse(&"ab".repeat(32)).is_ok());
        assert!(MasterKey::parse("dG9vIHNob3J0").is_err());
    }
}
