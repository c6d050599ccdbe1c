//! Strict base64url, as JOSE requires.
//!
//! RFC 7515 §2 defines `BASE64URL(OCTETS)` as the URL-safe alphabet "with all
//! trailing '=' characters omitted ... and without the inclusion of any line
//! breaks, whitespace, or other additional characters". We therefore reject
//! padding, the standard alphabet's `+` and `/`, whitespace, and non-canonical
//! trailing bits (so each byte string has exactly one accepted encoding, which
//! keeps JWK thumbprints and signature inputs unambiguous).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::JoseError;

/// Encode as base64url without padding (RFC 7515 §2).
#[must_use]
pub fn b64url_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decode strict base64url without padding (RFC 7515 §2).
///
/// # Errors
/// [`JoseError::InvalidBase64`] on `=`, characters outside the URL-safe alphabet,
/// an impossible length, or non-zero trailing bits.
pub fn b64url_decode(s: &str) -> Result<Vec<u8>, JoseError> {
    decode_named(s, "input")
}

/// [`b64url_decode`] with the name of what is being decoded, for the error message.
pub(crate) fn decode_named(s: &str, what: &'static str) -> Result<Vec<u8>, JoseError> {
    // The default `URL_SAFE_NO_PAD` engine already refuses padding and
    // non-canonical trailing bits; this early check just makes the rule explicit.
    if s.contains('=') {
        return Err(JoseError::InvalidBase64(what));
    }
    URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| JoseError::InvalidBase64(what))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict() {
        assert_eq!(b64url_encode(b"\xfb\xff"), "-_8");
        assert_eq!(b64url_decode("-_8").ok(), Some(b"\xfb\xff".to_vec()));
        assert_eq!(b64url_decode("").ok(), Some(Vec::new()));
        for bad in [
            "-_8=", "+/8", "-_ 8", "-_8\n", "A", "-_9", /* trailing bits */
        ] {
            assert!(b64url_decode(bad).is_err(), "{bad:?} accepted");
        }
    }
}
