//! Public JWKs (RFC 7517), parsed once into aws-lc-rs verification keys.
//!
//! Only three key shapes are accepted, one per FAPI 2.0 algorithm:
//! `EC`/`P-256` (ES256), `RSA` with a modulus of at least 2048 bits (PS256) and
//! `OKP`/`Ed25519` (EdDSA). Every check happens in [`PublicKey::from_jwk`]; the
//! result holds an [`aws_lc_rs::signature::ParsedPublicKey`] so verification never
//! re-parses the key, and the RFC 7638 thumbprint is computed once.

use std::collections::HashSet;
use std::fmt;

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ED25519, ParsedPublicKey, RSA_PSS_2048_8192_SHA256,
    RsaPublicKeyComponents,
};
use serde_json::{Map, Value};

use crate::alg::Algorithm;
use crate::b64::{b64url_encode, decode_named};
use crate::error::{JoseError, sanitize};
use crate::util::sha256;

/// JWK members that carry private or secret key material: RSA (RFC 7518 §6.3.2),
/// EC and OKP `d` (RFC 7518 §6.2.2, RFC 8037 §2) and symmetric `k` (RFC 7518 §6.4.1).
/// A public-key context must never receive them: their presence means the sender
/// leaked a private key, and accepting it would normalise that.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// P-256 field elements are 32 bytes; RFC 7518 §6.2.1.2/§6.2.1.3 require the full size.
const P256_COORD_LEN: usize = 32;
/// Ed25519 public keys are 32 bytes (RFC 8037 §2, RFC 8032 §5.1.5).
const ED25519_LEN: usize = 32;
/// FAPI 2.0 Security Profile §5.4.1 / RFC 7518 §3.5: RSA keys of at least 2048 bits.
const RSA_MIN_BITS: usize = 2048;
/// The largest modulus aws-lc-rs's `RSA_PSS_2048_8192_SHA256` verifies.
const RSA_MAX_BITS: usize = 8192;

/// The public key material, kept in raw form for `to_jwk` and the thumbprint.
#[derive(Clone)]
enum Material {
    Ec { x: Vec<u8>, y: Vec<u8> },
    Rsa { n: Vec<u8>, e: Vec<u8> },
    Okp { x: Vec<u8> },
}

/// A verified-shape public key from a JWK (kty EC/P-256, RSA >= 2048 bits,
/// OKP/Ed25519), parsed once.
#[derive(Clone)]
pub struct PublicKey {
    material: Material,
    verifier: ParsedPublicKey,
    kid: Option<String>,
    /// The JWK `alg` as parsed, plus the exact name used, so `to_jwk` reproduces
    /// `Ed25519` rather than rewriting it to `EdDSA`.
    alg: Option<(Algorithm, &'static str)>,
    key_use: Option<String>,
    thumbprint: String,
}

impl PublicKey {
    /// Parse and validate a public JWK.
    ///
    /// Unknown members are ignored as RFC 7517 §4 requires; everything listed
    /// below is refused.
    ///
    /// # Errors
    /// - any private member `d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`, `k`;
    /// - `kty` `oct` or any `kty` other than `EC`, `RSA`, `OKP`;
    /// - `crv` other than `P-256` (EC) or `Ed25519` (OKP);
    /// - an RSA modulus under 2048 bits (or over 8192);
    /// - an `alg` member that is not ours or does not fit the key type;
    /// - malformed base64url, wrong coordinate lengths, points not on the curve.
    pub fn from_jwk(jwk: &Value) -> Result<PublicKey, JoseError> {
        let obj = jwk.as_object().ok_or(JoseError::JwkNotObject)?;

        // Checked before anything else so that a leaked private key is always
        // reported as such, whatever else is wrong with the JWK.
        if let Some(member) = PRIVATE_MEMBERS.iter().find(|m| obj.contains_key(**m)) {
            return Err(JoseError::PrivateKeyMember(member));
        }

        let kty = required_str(obj, "kty")?;
        match kty {
            "EC" | "RSA" | "OKP" => {}
            // RFC 7518 §6.4: symmetric keys. Never acceptable: FAPI 2.0 forbids
            // shared-secret client authentication and MAC-based JWS.
            "oct" => return Err(JoseError::SymmetricKey),
            other => return Err(JoseError::UnsupportedKeyType(sanitize(other))),
        }
        // RFC 7517 §4.4: `alg` identifies the algorithm intended for use with the key;
        // we honour it as a restriction (see `supports`).
        let alg = match optional_str(obj, "alg")? {
            Some(name) => {
                let alg = Algorithm::parse(name)?;
                let name = if name == "Ed25519" {
                    "Ed25519"
                } else {
                    alg.as_str()
                };
                Some((alg, name))
            }
            None => None,
        };
        let kid = optional_str(obj, "kid")?.map(str::to_owned); // RFC 7517 §4.5
        let key_use = optional_str(obj, "use")?.map(str::to_owned); // RFC 7517 §4.2

        let (material, verifier) = match kty {
            "EC" => {
                check_alg_fits(alg, Algorithm::Es256, "EC")?;
                parse_ec(obj, alg)?
            }
            "RSA" => {
                check_alg_fits(alg, Algorithm::Ps256, "RSA")?;
                parse_rsa(obj)?
            }
            "OKP" => {
                check_alg_fits(alg, Algorithm::EdDsa, "OKP")?;
                parse_okp(obj, alg)?
            }
            // Unreachable: every other kty was refused above, before `alg`, so that
            // an `oct` key is reported as symmetric rather than by its HS* alg.
            other => return Err(JoseError::UnsupportedKeyType(sanitize(other))),
        };
        let thumbprint = b64url_encode(&sha256(thumbprint_input(&material).as_bytes()));
        Ok(PublicKey {
            material,
            verifier,
            kid,
            alg,
            key_use,
            thumbprint,
        })
    }

    /// The JWK `kid`, if any.
    #[must_use]
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The JWK `alg` member, if present.
    #[must_use]
    pub fn jwk_alg(&self) -> Option<Algorithm> {
        self.alg.map(|(alg, _)| alg)
    }

    /// The JWK `use` member, if present.
    #[must_use]
    pub fn key_use(&self) -> Option<&str> {
        self.key_use.as_deref()
    }

    /// The JWK `kty`: `EC`, `RSA` or `OKP`.
    #[must_use]
    pub fn kty(&self) -> &'static str {
        match self.material {
            Material::Ec { .. } => "EC",
            Material::Rsa { .. } => "RSA",
            Material::Okp { .. } => "OKP",
        }
    }

    /// Whether this key may verify `alg`: the key type must be the one `alg` is
    /// defined for (RFC 7518 §3.4/§3.5, RFC 8037 §3.1) and, if the JWK names an
    /// `alg`, it must be this one (RFC 7517 §4.4) — this stops a key published for
    /// one algorithm being used with another.
    #[must_use]
    pub fn supports(&self, alg: Algorithm) -> bool {
        alg.kty() == self.kty() && self.jwk_alg().is_none_or(|own| own == alg)
    }

    /// RFC 7638 JWK SHA-256 thumbprint, base64url without padding.
    #[must_use]
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// Verify `signature` over `signing_input` with `alg`.
    ///
    /// ES256 signatures are the fixed 64-byte `r || s` form of RFC 7518 §3.4 (not
    /// DER); PS256 is RSASSA-PSS/SHA-256/MGF1-SHA-256 with a 32-byte salt (RFC 7518
    /// §3.5); EdDSA is Ed25519 (RFC 8037 §3.1).
    ///
    /// # Errors
    /// [`JoseError::KeyAlgorithmMismatch`] if `!self.supports(alg)`,
    /// [`JoseError::SignatureInvalid`] if the signature does not verify.
    pub fn verify(
        &self,
        alg: Algorithm,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Result<(), JoseError> {
        if !self.supports(alg) {
            return Err(JoseError::KeyAlgorithmMismatch(alg));
        }
        self.verifier
            .verify_sig(signing_input, signature)
            .map_err(|_| JoseError::SignatureInvalid)
    }

    /// The public JWK: key members, then `kid`, `use`, `alg` when present.
    #[must_use]
    pub fn to_jwk(&self) -> Value {
        let mut m = Map::new();
        match &self.material {
            Material::Ec { x, y } => {
                m.insert("kty".into(), "EC".into());
                m.insert("crv".into(), "P-256".into());
                m.insert("x".into(), b64url_encode(x).into());
                m.insert("y".into(), b64url_encode(y).into());
            }
            Material::Rsa { n, e } => {
                m.insert("kty".into(), "RSA".into());
                m.insert("n".into(), b64url_encode(n).into());
                m.insert("e".into(), b64url_encode(e).into());
            }
            Material::Okp { x } => {
                m.insert("kty".into(), "OKP".into());
                m.insert("crv".into(), "Ed25519".into());
                m.insert("x".into(), b64url_encode(x).into());
            }
        }
        if let Some(kid) = &self.kid {
            m.insert("kid".into(), kid.clone().into());
        }
        if let Some(key_use) = &self.key_use {
            m.insert("use".into(), key_use.clone().into());
        }
        if let Some((_, name)) = self.alg {
            m.insert("alg".into(), name.into());
        }
        Value::Object(m)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("kty", &self.kty())
            .field("kid", &self.kid)
            .field("alg", &self.jwk_alg())
            .field("use", &self.key_use)
            .field("thumbprint", &self.thumbprint)
            .finish()
    }
}

/// RFC 7638 thumbprint of a public JWK (validated by [`PublicKey::from_jwk`] first,
/// so a private, symmetric or weak key is refused rather than fingerprinted).
///
/// # Errors
/// Whatever [`PublicKey::from_jwk`] refuses.
pub fn jwk_thumbprint(jwk: &Value) -> Result<String, JoseError> {
    PublicKey::from_jwk(jwk).map(|k| k.thumbprint)
}

/// A JWK Set (RFC 7517 §5) of public verification keys.
#[derive(Clone, Debug)]
pub struct JwkSet {
    keys: Vec<PublicKey>,
}

impl JwkSet {
    /// Parse `{"keys":[...]}`.
    ///
    /// Every key must pass [`PublicKey::from_jwk`]; one bad key refuses the whole
    /// set (and the error names the key's index and the rule), so a client that
    /// publishes a private or weak key learns about it at registration.
    ///
    /// # Errors
    /// Not an object with a `keys` array; an empty set; any refused key;
    /// two keys with the same `kid` (RFC 7517 §4.5 expects distinct `kid`s within a
    /// set, and a duplicate would make `kid` selection ambiguous).
    pub fn from_json(value: &Value) -> Result<JwkSet, JoseError> {
        let keys = value
            .as_object()
            .and_then(|o| o.get("keys"))
            .and_then(Value::as_array)
            .ok_or(JoseError::InvalidJwkSet(
                "must be a JSON object with a 'keys' array",
            ))?;
        if keys.is_empty() {
            return Err(JoseError::InvalidJwkSet("'keys' is empty"));
        }
        let mut parsed = Vec::with_capacity(keys.len());
        let mut kids = HashSet::new();
        for (index, jwk) in keys.iter().enumerate() {
            let key = PublicKey::from_jwk(jwk).map_err(|e| JoseError::KeyInSet {
                index,
                source: Box::new(e),
            })?;
            if let Some(kid) = key.kid()
                && !kids.insert(kid.to_owned())
            {
                return Err(JoseError::DuplicateKid(sanitize(kid)));
            }
            parsed.push(key);
        }
        Ok(JwkSet { keys: parsed })
    }

    /// All keys, in document order.
    #[must_use]
    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }

    /// Select the verification key for a JWS.
    ///
    /// With a `kid` (RFC 7515 §4.1.4) the key with exactly that `kid` is the only
    /// candidate: no fallback to other keys, so a signer cannot steer us to a key
    /// it did not name. Without a `kid`, the single key that supports `alg` is
    /// chosen; if several do, the choice is ambiguous and `None` is returned.
    /// Either way the key must support `alg`, and keys whose `use` is present and
    /// not `sig` (RFC 7517 §4.2) are skipped.
    #[must_use]
    pub fn select(&self, kid: Option<&str>, alg: Algorithm) -> Option<&PublicKey> {
        let usable = |k: &&PublicKey| k.key_use().is_none_or(|u| u == "sig") && k.supports(alg);
        match kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|k| k.kid() == Some(kid))
                .filter(usable),
            None => {
                let mut candidates = self.keys.iter().filter(usable);
                match (candidates.next(), candidates.next()) {
                    (Some(only), None) => Some(only),
                    _ => None,
                }
            }
        }
    }
}

fn optional_str<'a>(
    obj: &'a Map<String, Value>,
    name: &'static str,
) -> Result<Option<&'a str>, JoseError> {
    match obj.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(JoseError::JwkMemberNotString(name)),
    }
}

fn required_str<'a>(obj: &'a Map<String, Value>, name: &'static str) -> Result<&'a str, JoseError> {
    optional_str(obj, name)?.ok_or(JoseError::JwkMissingMember(name))
}

/// Decode a required base64url member (RFC 7518 §6: all key members are base64url).
fn required_b64(obj: &Map<String, Value>, name: &'static str) -> Result<Vec<u8>, JoseError> {
    let what = match name {
        "x" => "JWK member 'x'",
        "y" => "JWK member 'y'",
        "n" => "JWK member 'n'",
        "e" => "JWK member 'e'",
        _ => "JWK member",
    };
    decode_named(required_str(obj, name)?, what)
}

fn check_alg_fits(
    alg: Option<(Algorithm, &'static str)>,
    wanted: Algorithm,
    kty: &'static str,
) -> Result<(), JoseError> {
    match alg {
        Some((alg, _)) if alg != wanted => Err(JoseError::JwkAlgorithmMismatch { kty, alg }),
        _ => Ok(()),
    }
}

/// The error for a curve we do not accept: if the JWK names an `alg`, say the curve
/// does not fit it; otherwise say which curve we want.
fn curve_error(
    kty: &'static str,
    crv: &str,
    expected: &'static str,
    alg: Option<(Algorithm, &'static str)>,
) -> JoseError {
    match alg {
        Some((alg, _)) => JoseError::CurveAlgorithmMismatch {
            kty,
            crv: sanitize(crv),
            alg,
        },
        None => JoseError::UnsupportedCurve {
            kty,
            crv: sanitize(crv),
            expected,
        },
    }
}

/// RFC 7518 §6.2.1: `crv`, `x`, `y`. Only P-256 (ES256, RFC 7518 §3.4).
fn parse_ec(
    obj: &Map<String, Value>,
    alg: Option<(Algorithm, &'static str)>,
) -> Result<(Material, ParsedPublicKey), JoseError> {
    let crv = required_str(obj, "crv")?;
    if crv != "P-256" {
        return Err(curve_error("EC", crv, "P-256", alg));
    }
    let x = required_b64(obj, "x")?;
    let y = required_b64(obj, "y")?;
    // RFC 7518 §6.2.1.2/§6.2.1.3: each coordinate MUST be the full 32 bytes.
    if x.len() != P256_COORD_LEN || y.len() != P256_COORD_LEN {
        return Err(JoseError::InvalidKey(
            "EC coordinates x and y must each be 32 bytes",
        ));
    }
    // SEC 1 §2.3.3 uncompressed point; aws-lc checks it is on the curve (an
    // off-curve point enables invalid-curve attacks).
    let mut point = Vec::with_capacity(1 + 2 * P256_COORD_LEN);
    point.push(0x04);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    let verifier = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point)
        .map_err(|_| JoseError::InvalidKey("EC point is not on curve P-256"))?;
    Ok((Material::Ec { x, y }, verifier))
}

/// RFC 7518 §6.3.1: `n`, `e` as Base64urlUInt (RFC 7518 §2: minimal big-endian).
fn parse_rsa(obj: &Map<String, Value>) -> Result<(Material, ParsedPublicKey), JoseError> {
    let n = required_b64(obj, "n")?;
    let e = required_b64(obj, "e")?;
    // Base64urlUInt "MUST utilize the minimum number of octets" (RFC 7518 §2), so no
    // leading zero octet; RFC 7518 §6.3.1.1 calls out that zero-prefixed moduli occur
    // in the wild and must not be produced. Requiring minimal form also makes the
    // RFC 7638 thumbprint unique per key.
    let Some(&n0) = n.first() else {
        return Err(JoseError::InvalidKey("RSA modulus is empty"));
    };
    if n0 == 0 {
        return Err(JoseError::InvalidKey(
            "RSA modulus must not have a leading zero octet",
        ));
    }
    let bits = n.len() * 8 - n0.leading_zeros() as usize;
    if bits < RSA_MIN_BITS {
        return Err(JoseError::RsaKeyTooSmall(bits));
    }
    if bits > RSA_MAX_BITS {
        return Err(JoseError::RsaKeyTooLarge(bits));
    }
    // RFC 8017 §3.1: e is odd and at least 3. We also cap it at 32 bits: aws-lc
    // refuses larger exponents at verification time, so refuse them here with a
    // clear message instead (every real key uses 65537).
    let e_ok = match e.as_slice() {
        [] | [0, ..] => false,
        _ if e.len() > 4 => false,
        [single] => *single >= 3 && single & 1 == 1,
        [.., last] => last & 1 == 1,
    };
    if !e_ok {
        return Err(JoseError::InvalidKey(
            "RSA public exponent must be odd, at least 3 and at most 32 bits",
        ));
    }
    let verifier = RsaPublicKeyComponents {
        n: n.as_slice(),
        e: e.as_slice(),
    }
    .to_parsed_public_key(&RSA_PSS_2048_8192_SHA256)
    .map_err(|_| JoseError::InvalidKey("RSA public key is not valid"))?;
    Ok((Material::Rsa { n, e }, verifier))
}

/// RFC 8037 §2: `crv`, `x`. Only Ed25519 (Ed448 is not a FAPI algorithm; X25519
/// is a key-agreement curve).
fn parse_okp(
    obj: &Map<String, Value>,
    alg: Option<(Algorithm, &'static str)>,
) -> Result<(Material, ParsedPublicKey), JoseError> {
    let crv = required_str(obj, "crv")?;
    if crv != "Ed25519" {
        return Err(curve_error("OKP", crv, "Ed25519", alg));
    }
    let x = required_b64(obj, "x")?;
    if x.len() != ED25519_LEN {
        return Err(JoseError::InvalidKey("Ed25519 key x must be 32 bytes"));
    }
    let verifier = ParsedPublicKey::new(&ED25519, &x)
        .map_err(|_| JoseError::InvalidKey("Ed25519 public key is not valid"))?;
    Ok((Material::Okp { x }, verifier))
}

/// RFC 7638 §3.2: the required members only, in lexicographic order, no
/// whitespace (§3.3 lists them per `kty`; RFC 8037 §2 for OKP). All values are
/// base64url or fixed ASCII names, so no JSON escaping is ever needed.
fn thumbprint_input(material: &Material) -> String {
    match material {
        Material::Ec { x, y } => format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            b64url_encode(x),
            b64url_encode(y)
        ),
        Material::Rsa { n, e } => format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            b64url_encode(e),
            b64url_encode(n)
        ),
        Material::Okp { x } => format!(
            r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
            b64url_encode(x)
        ),
    }
}
