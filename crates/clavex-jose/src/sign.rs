//! Private signing keys, held parsed in memory.
//!
//! The aws-lc-rs key pair is built once (from PKCS#8 or by generation) and reused
//! for every signature; re-parsing PKCS#8 per signature would cost ~60% more on
//! the ES256 hot path.

use std::fmt;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RSA_PSS_SHA256,
};
use serde_json::{Map, Value};

use crate::alg::Algorithm;
use crate::b64::b64url_encode;
use crate::error::{JoseError, sanitize};
use crate::jwk::PublicKey;

enum Pair {
    Es256(EcdsaKeyPair),
    Ps256(RsaKeyPair),
    EdDsa(Ed25519KeyPair),
}

/// A private signing key held parsed in memory.
///
/// `Debug` shows only the algorithm, `kid` and public thumbprint.
pub struct SigningKey {
    alg: Algorithm,
    kid: String,
    pair: Pair,
    /// Derived once; also validates that what we sign with is a key we would
    /// accept for verification.
    public: PublicKey,
    rng: SystemRandom,
}

impl SigningKey {
    /// Generate a fresh key: P-256 for ES256, RSA-2048 for PS256, Ed25519 for EdDSA.
    ///
    /// # Errors
    /// [`JoseError::KeyGeneration`] if aws-lc fails.
    pub fn generate(alg: Algorithm, kid: String) -> Result<SigningKey, JoseError> {
        let pair = match alg {
            Algorithm::Es256 => EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                .map(Pair::Es256)
                .map_err(|_| JoseError::KeyGeneration)?,
            // FAPI 2.0 Security Profile §5.4.1: RSA keys of at least 2048 bits.
            Algorithm::Ps256 => RsaKeyPair::generate(KeySize::Rsa2048)
                .map(Pair::Ps256)
                .map_err(|_| JoseError::KeyGeneration)?,
            Algorithm::EdDsa => Ed25519KeyPair::generate()
                .map(Pair::EdDsa)
                .map_err(|_| JoseError::KeyGeneration)?,
        };
        SigningKey::from_pair(alg, kid, pair)
    }

    /// Load an unencrypted PKCS#8 (RFC 5208 / RFC 5958) private key for `alg`.
    ///
    /// # Errors
    /// [`JoseError::InvalidPkcs8`] if the document is not a key of that type (an
    /// RSA key under 2048 bits or an EC key on another curve included).
    pub fn from_pkcs8(
        alg: Algorithm,
        kid: String,
        pkcs8_der: &[u8],
    ) -> Result<SigningKey, JoseError> {
        let bad = |_| JoseError::InvalidPkcs8(alg);
        let pair = match alg {
            Algorithm::Es256 => Pair::Es256(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8_der)
                    .map_err(bad)?,
            ),
            Algorithm::Ps256 => Pair::Ps256(RsaKeyPair::from_pkcs8(pkcs8_der).map_err(bad)?),
            Algorithm::EdDsa => Pair::EdDsa(Ed25519KeyPair::from_pkcs8(pkcs8_der).map_err(bad)?),
        };
        SigningKey::from_pair(alg, kid, pair).map_err(|_| JoseError::InvalidPkcs8(alg))
    }

    fn from_pair(alg: Algorithm, kid: String, pair: Pair) -> Result<SigningKey, JoseError> {
        let mut jwk = public_members(&pair)?;
        jwk.insert("kid".into(), kid.clone().into());
        jwk.insert("use".into(), "sig".into());
        jwk.insert("alg".into(), alg.as_str().into());
        let public = PublicKey::from_jwk(&Value::Object(jwk))?;
        Ok(SigningKey {
            alg,
            kid,
            pair,
            public,
            rng: SystemRandom::new(),
        })
    }

    /// Serialize as unencrypted PKCS#8 v1 DER, for sealing at rest.
    ///
    /// The result is secret key material: the caller must encrypt it and should
    /// not keep it around longer than needed.
    ///
    /// # Errors
    /// [`JoseError::KeySerialization`] if aws-lc fails.
    pub fn to_pkcs8(&self) -> Result<Vec<u8>, JoseError> {
        let der = match &self.pair {
            Pair::Es256(p) => p.to_pkcs8v1().map(|d| d.as_ref().to_vec()),
            Pair::Ps256(p) => AsDer::<Pkcs8V1Der<'static>>::as_der(p).map(|d| d.as_ref().to_vec()),
            Pair::EdDsa(p) => p.to_pkcs8v1().map(|d| d.as_ref().to_vec()),
        };
        der.map_err(|_| JoseError::KeySerialization)
    }

    /// The signing algorithm.
    #[must_use]
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The key id.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public JWK with `kid`, `"use":"sig"` and `alg`, for publishing in a JWKS.
    #[must_use]
    pub fn public_jwk(&self) -> Value {
        self.public.to_jwk()
    }

    /// The public half as a verification key.
    #[must_use]
    pub fn public_key(&self) -> PublicKey {
        self.public.clone()
    }

    /// RFC 7638 thumbprint of the public key.
    #[must_use]
    pub fn thumbprint(&self) -> String {
        self.public.thumbprint().to_owned()
    }

    /// Sign `signing_input`.
    ///
    /// ES256 yields the fixed 64-byte `r || s` form (RFC 7518 §3.4); PS256 uses
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt (RFC 7518 §3.5);
    /// EdDSA is Ed25519 (RFC 8037 §3.1).
    ///
    /// # Errors
    /// [`JoseError::SigningFailed`] if aws-lc fails.
    pub fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, JoseError> {
        match &self.pair {
            Pair::Es256(p) => p
                .sign(&self.rng, signing_input)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| JoseError::SigningFailed),
            Pair::Ps256(p) => {
                let mut sig = vec![0u8; p.public_modulus_len()];
                p.sign(&RSA_PSS_SHA256, &self.rng, signing_input, &mut sig)
                    .map_err(|_| JoseError::SigningFailed)?;
                Ok(sig)
            }
            Pair::EdDsa(p) => p
                .try_sign(signing_input)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| JoseError::SigningFailed),
        }
    }

    /// Build and sign a compact JWS whose payload is `claims` (RFC 7515 §7.1).
    ///
    /// The header is `alg`, then `typ` (if given), then `kid` (if `include_kid`),
    /// then the members of `extra_header` (e.g. `jwk` for a DPoP proof, RFC 9449
    /// §4.2). `extra_header` may not repeat a member set here, nor add members
    /// [`crate::Jws::parse`] refuses (`crit`, `b64`, `jku`, `x5u`): we never emit
    /// what we would not accept.
    ///
    /// # Errors
    /// [`JoseError::ClaimsNotObject`], [`JoseError::HeaderConflict`],
    /// [`JoseError::CritUnsupported`], [`JoseError::ForbiddenHeader`],
    /// [`JoseError::SigningFailed`].
    pub fn sign_jwt(
        &self,
        typ: Option<&str>,
        extra_header: Option<&Map<String, Value>>,
        include_kid: bool,
        claims: &Value,
    ) -> Result<String, JoseError> {
        // RFC 7519 §7.1 step 1-2: the claims set is a JSON object.
        if !claims.is_object() {
            return Err(JoseError::ClaimsNotObject);
        }
        let mut header = Map::new();
        header.insert("alg".into(), self.alg.as_str().into());
        if let Some(typ) = typ {
            header.insert("typ".into(), typ.into());
        }
        if include_kid {
            header.insert("kid".into(), self.kid.clone().into());
        }
        for (name, value) in extra_header.into_iter().flatten() {
            match name.as_str() {
                "crit" => return Err(JoseError::CritUnsupported),
                "b64" => return Err(JoseError::ForbiddenHeader("b64")),
                "jku" => return Err(JoseError::ForbiddenHeader("jku")),
                "x5u" => return Err(JoseError::ForbiddenHeader("x5u")),
                _ => {}
            }
            if header.contains_key(name) {
                return Err(JoseError::HeaderConflict(sanitize(name)));
            }
            header.insert(name.clone(), value.clone());
        }
        // serde_json's compact writer: no insignificant whitespace.
        let header_json = serde_json::to_vec(&header).map_err(|_| JoseError::Serialization)?;
        let claims_json = serde_json::to_vec(claims).map_err(|_| JoseError::Serialization)?;
        let mut token = b64url_encode(&header_json);
        token.push('.');
        token.push_str(&b64url_encode(&claims_json));
        let signature = self.sign(token.as_bytes())?;
        token.push('.');
        token.push_str(&b64url_encode(&signature));
        Ok(token)
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("thumbprint", &self.public.thumbprint())
            .finish_non_exhaustive()
    }
}

/// The public JWK members of a key pair (RFC 7518 §6.2.1, §6.3.1; RFC 8037 §2).
fn public_members(pair: &Pair) -> Result<Map<String, Value>, JoseError> {
    let mut m = Map::new();
    match pair {
        Pair::Es256(p) => {
            // aws-lc returns the SEC 1 uncompressed point 0x04 || x || y.
            let point = p.public_key().as_ref();
            let (Some(x), Some(y)) = (point.get(1..33), point.get(33..65)) else {
                return Err(JoseError::KeySerialization);
            };
            m.insert("kty".into(), "EC".into());
            m.insert("crv".into(), "P-256".into());
            m.insert("x".into(), b64url_encode(x).into());
            m.insert("y".into(), b64url_encode(y).into());
        }
        Pair::Ps256(p) => {
            // Big-endian without leading zeros: exactly Base64urlUInt (RFC 7518 §2).
            let c = PublicKeyComponents::<Vec<u8>>::from(p.public_key());
            m.insert("kty".into(), "RSA".into());
            m.insert("n".into(), b64url_encode(&c.n).into());
            m.insert("e".into(), b64url_encode(&c.e).into());
        }
        Pair::EdDsa(p) => {
            m.insert("kty".into(), "OKP".into());
            m.insert("crv".into(), "Ed25519".into());
            m.insert("x".into(), b64url_encode(p.public_key().as_ref()).into());
        }
    }
    Ok(m)
}
