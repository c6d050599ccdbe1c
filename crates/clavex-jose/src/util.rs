//! Hashing and randomness helpers shared by the server crates.

use aws_lc_rs::{digest, rand};

use crate::b64::b64url_encode;

/// SHA-256 of `bytes` (used for `ath`, `jkt`, `c_hash`-style values and thumbprints).
#[must_use]
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, bytes);
    let mut out = [0u8; 32];
    // SHA-256 always yields 32 bytes; zip keeps this free of slice-length panics.
    for (o, b) in out.iter_mut().zip(d.as_ref()) {
        *o = *b;
    }
    out
}

/// `bytes` bytes of OS-seeded randomness from aws-lc's DRBG, base64url encoded.
///
/// Used for authorization codes, tokens, `jti`s and nonces, so a weak value must
/// never be returned. AWS-LC's `RAND_bytes` aborts the process itself rather than
/// fail; should a future version report failure instead, we abort too: handing out a
/// predictable credential is worse than a crash, and the signature (no `Result`) lets
/// callers use this in infallible contexts.
#[must_use]
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    if rand::fill(&mut buf).is_err() {
        std::process::abort();
    }
    b64url_encode(&buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_known_answer() {
        // FIPS 180-2 "abc" vector.
        assert_eq!(
            b64url_encode(&sha256(b"abc")),
            "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
        );
    }

    #[test]
    fn random_tokens_differ_and_have_length() {
        let a = random_token(32);
        let b = random_token(32);
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert_eq!(random_token(0), "");
    }
}
