//! Compact JWS parsing (RFC 7515 §7.1) with the strict rules a FAPI 2.0
//! authorization server needs, and verification against a [`PublicKey`].
//!
//! Parsing and verifying are separate steps so that the caller can pick the key
//! from the header (`kid`, embedded DPoP `jwk`) and report context-specific errors,
//! but nothing from a [`Jws`] should be trusted before [`Jws::verify_with`] succeeds.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::alg::Algorithm;
use crate::b64::decode_named;
use crate::error::{JoseError, sanitize};
use crate::jwk::PublicKey;

/// Size limits applied before any decoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JwsLimits {
    /// Maximum length of the whole compact serialization, in bytes.
    pub max_total_len: usize,
}

impl Default for JwsLimits {
    /// 16 KiB: request objects, client assertions and DPoP proofs are all far
    /// smaller, and a bound keeps base64/JSON work per request small.
    fn default() -> Self {
        JwsLimits {
            max_total_len: 16 * 1024,
        }
    }
}

/// A parsed (not yet verified) compact JWS.
#[derive(Clone, Debug)]
pub struct Jws {
    header: Map<String, Value>,
    claims: Map<String, Value>,
    alg: String,
    signing_input: Vec<u8>,
    signature: Vec<u8>,
}

/// Header members that, when present, must be strings (RFC 7515 §4.1.4 `kid`,
/// §4.1.9 `typ`, §4.1.10 `cty`), so the accessors never have to guess.
const STRING_HEADERS: [&str; 3] = ["kid", "typ", "cty"];

impl Jws {
    /// Parse a compact JWS.
    ///
    /// # Errors
    /// - longer than `limits.max_total_len`;
    /// - not exactly three `.`-separated segments (RFC 7515 §7.1; five would be JWE);
    /// - a segment that is not strict unpadded base64url (RFC 7515 §2);
    /// - an empty signature (an unsecured JWS, RFC 7515 §A.5 / RFC 7518 §3.6);
    /// - a header or payload that is not a JSON object, or repeats a member name
    ///   (RFC 7515 §5.2 step 4 allows rejecting duplicates, and we must: serde_json
    ///   would silently keep the last one, which another parser may not do);
    /// - a header without a string `alg` (RFC 7515 §4.1.1);
    /// - `crit` (RFC 7515 §4.1.11: we understand no extensions, so must reject),
    ///   `b64` (RFC 7797 unencoded payloads), `jku` and `x5u` (RFC 7515 §4.1.2,
    ///   §4.1.5: we never fetch keys from a URL the signer chose);
    /// - `kid`, `typ` or `cty` that is not a string.
    ///
    /// An unknown `alg` is *not* refused here; see [`Jws::algorithm`].
    pub fn parse(token: &str, limits: &JwsLimits) -> Result<Jws, JoseError> {
        if token.len() > limits.max_total_len {
            return Err(JoseError::JwsTooLong {
                max: limits.max_total_len,
            });
        }
        let mut parts = token.split('.');
        let (Some(h64), Some(p64), Some(s64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JoseError::JwsSegments);
        };
        if s64.is_empty() {
            return Err(JoseError::EmptySignature);
        }
        let header_bytes = decode_named(h64, "JWS header")?;
        let payload_bytes = decode_named(p64, "JWS payload")?;
        let signature = decode_named(s64, "JWS signature")?;

        let header = parse_object(&header_bytes, "header")?;
        let alg = match header.get("alg") {
            Some(Value::String(alg)) => alg.clone(),
            Some(_) => return Err(JoseError::HeaderMemberNotString("alg")),
            None => return Err(JoseError::MissingAlg),
        };
        if header.contains_key("crit") {
            return Err(JoseError::CritUnsupported);
        }
        for forbidden in ["b64", "jku", "x5u"] {
            if header.contains_key(forbidden) {
                return Err(JoseError::ForbiddenHeader(forbidden));
            }
        }
        for name in STRING_HEADERS {
            if header.get(name).is_some_and(|v| !v.is_string()) {
                return Err(JoseError::HeaderMemberNotString(name));
            }
        }

        // RFC 7519 §7.2 step 10: JWT claims are a JSON object, held to the same
        // duplicate rule (RFC 7519 §4).
        let claims = parse_object(&payload_bytes, "payload")?;

        // RFC 7515 §5.2 step 8: the signing input is the ASCII of the two encoded
        // segments as received, not a re-encoding.
        let signing_input_len = h64.len() + 1 + p64.len();
        let signing_input = token
            .as_bytes()
            .get(..signing_input_len)
            .ok_or(JoseError::JwsSegments)?
            .to_vec();

        Ok(Jws {
            header,
            claims,
            alg,
            signing_input,
            signature,
        })
    }

    /// The protected header.
    #[must_use]
    pub fn header(&self) -> &Map<String, Value> {
        &self.header
    }

    /// The payload as JWT claims.
    #[must_use]
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// The raw header `alg`, which may be an algorithm we do not support.
    #[must_use]
    pub fn alg_name(&self) -> &str {
        &self.alg
    }

    /// The header `alg` as one of ours.
    ///
    /// # Errors
    /// [`JoseError::UnsupportedAlgorithm`] for anything but PS256, ES256, EdDSA/Ed25519.
    pub fn algorithm(&self) -> Result<Algorithm, JoseError> {
        Algorithm::parse(&self.alg)
    }

    /// The header `typ` (RFC 7515 §4.1.9); compare it with [`typ_matches`].
    #[must_use]
    pub fn typ(&self) -> Option<&str> {
        self.header.get("typ").and_then(Value::as_str)
    }

    /// The header `kid` (RFC 7515 §4.1.4).
    #[must_use]
    pub fn kid(&self) -> Option<&str> {
        self.header.get("kid").and_then(Value::as_str)
    }

    /// ASCII of `header_b64.payload_b64`, exactly as received.
    #[must_use]
    pub fn signing_input(&self) -> &[u8] {
        &self.signing_input
    }

    /// The decoded signature.
    #[must_use]
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// Verify the signature with `key` and return the algorithm used.
    ///
    /// The algorithm comes from the header but is only accepted if it is ours and
    /// the key supports it (RFC 8725 §3.1: never let the token alone pick the
    /// algorithm for a key).
    ///
    /// # Errors
    /// [`JoseError::UnsupportedAlgorithm`], [`JoseError::KeyAlgorithmMismatch`],
    /// [`JoseError::SignatureInvalid`].
    pub fn verify_with(&self, key: &PublicKey) -> Result<Algorithm, JoseError> {
        let alg = self.algorithm()?;
        if !key.supports(alg) {
            return Err(JoseError::KeyAlgorithmMismatch(alg));
        }
        key.verify(alg, &self.signing_input, &self.signature)?;
        Ok(alg)
    }
}

/// `typ` comparison per RFC 7515 §4.1.9: media types compare case-insensitively
/// (RFC 2045 §5.1), and a value without `/` is read as if `application/` were
/// prepended. So `typ_matches(Some("application/DPoP+JWT"), "dpop+jwt")` holds.
#[must_use]
pub fn typ_matches(typ: Option<&str>, expected: &str) -> bool {
    fn subtype(media_type: &str) -> Option<&str> {
        match media_type.split_once('/') {
            None => Some(media_type),
            Some((top, sub)) if top.eq_ignore_ascii_case("application") => Some(sub),
            Some(_) => None,
        }
    }
    match (typ.and_then(subtype), subtype(expected)) {
        (Some(got), Some(want)) => got.eq_ignore_ascii_case(want),
        _ => false,
    }
}

/// Parse JSON that must be an object, refusing duplicate member names at any depth.
fn parse_object(bytes: &[u8], part: &'static str) -> Result<Map<String, Value>, JoseError> {
    let duplicate = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = StrictValue {
        duplicate: &duplicate,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    match parsed {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(JoseError::NotJsonObject(part)),
        Err(_) => match duplicate.into_inner() {
            Some(name) => Err(JoseError::DuplicateMember { part, name }),
            None => Err(JoseError::InvalidJson(part)),
        },
    }
}

/// A `serde_json::Value` deserializer that fails on a repeated object member name
/// and records which one, since serde_json's own `Value` keeps the last silently.
#[derive(Clone, Copy)]
struct StrictValue<'a> {
    duplicate: &'a RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for StrictValue<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        // JSON has no NaN or infinity, so this only fails on inputs serde_json
        // itself never produces.
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(self)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        // `String` keys: escapes are decoded first, so `"\u0061lg"` and `"alg"`
        // are recognised as the same name.
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                *self.duplicate.borrow_mut() = Some(sanitize(&key));
                return Err(de::Error::custom("duplicate member"));
            }
            let value = map.next_value_seed(self)?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typ_rules() {
        assert!(typ_matches(Some("application/DPoP+JWT"), "dpop+jwt"));
        assert!(typ_matches(Some("dpop+jwt"), "dpop+jwt"));
        assert!(typ_matches(Some("DPOP+JWT"), "application/dpop+jwt"));
        assert!(!typ_matches(Some("text/dpop+jwt"), "dpop+jwt"));
        assert!(!typ_matches(Some("jwt"), "dpop+jwt"));
        assert!(!typ_matches(None, "dpop+jwt"));
    }

    #[test]
    fn strict_json() {
        assert!(parse_object(br#"{"a":1,"b":{"c":[1,2.5,null,true,"x"]}}"#, "header").is_ok());
        assert_eq!(
            parse_object(br#"{"a":1,"a":2}"#, "header"),
            Err(JoseError::DuplicateMember {
                part: "header",
                name: "a".into()
            })
        );
        assert_eq!(
            parse_object(br#"{"alg":1,"\u0061lg":2}"#, "header"),
            Err(JoseError::DuplicateMember {
                part: "header",
                name: "alg".into()
            })
        );
        assert!(matches!(
            parse_object(br#"{"x":{"k":1,"k":1}}"#, "payload"),
            Err(JoseError::DuplicateMember { .. })
        ));
        assert_eq!(
            parse_object(b"[1]", "header"),
            Err(JoseError::NotJsonObject("header"))
        );
        assert_eq!(
            parse_object(b"{} x", "header"),
            Err(JoseError::InvalidJson("header"))
        );
    }
}
