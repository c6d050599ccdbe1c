//! Differential tests against jsonwebtoken 10 (aws_lc_rs backend): tokens we sign
//! must verify there, and tokens it signs must verify here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clavex_jose::{Algorithm, Jws, JwsLimits, SigningKey};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Value, json};

fn their_alg(alg: Algorithm) -> jsonwebtoken::Algorithm {
    match alg {
        Algorithm::Es256 => jsonwebtoken::Algorithm::ES256,
        Algorithm::Ps256 => jsonwebtoken::Algorithm::PS256,
        Algorithm::EdDsa => jsonwebtoken::Algorithm::EdDSA,
    }
}

fn claims() -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    json!({"iss":"https://as.example","sub":"alice","aud":"rs","iat":now,"exp":now + 600})
}

fn validation(alg: Algorithm) -> Validation {
    let mut v = Validation::new(their_alg(alg));
    v.set_audience(&["rs"]);
    v.set_issuer(&["https://as.example"]);
    v
}

#[test]
fn our_tokens_verify_with_jsonwebtoken() {
    for alg in Algorithm::ALL {
        let key = SigningKey::generate(alg, format!("kid-{}", alg.as_str())).unwrap();
        let claims = claims();
        let token = key.sign_jwt(Some("JWT"), None, true, &claims).unwrap();

        let jwk: Jwk = serde_json::from_value(key.public_jwk()).unwrap();
        let decoding = DecodingKey::from_jwk(&jwk).unwrap();
        let data = jsonwebtoken::decode::<Value>(&token, &decoding, &validation(alg))
            .unwrap_or_else(|e| panic!("{alg}: jsonwebtoken refused our token: {e:?}"));
        assert_eq!(data.claims, claims);
        assert_eq!(data.header.kid.as_deref(), Some(key.kid()));
        assert_eq!(data.header.alg, their_alg(alg));

        // And jsonwebtoken notices tampering (so the check above is meaningful).
        let (input, sig) = token.rsplit_once('.').unwrap();
        let mut bytes = clavex_jose::b64url_decode(sig).unwrap();
        bytes[0] ^= 0x80;
        let bad = format!("{input}.{}", clavex_jose::b64url_encode(&bytes));
        assert!(jsonwebtoken::decode::<Value>(&bad, &decoding, &validation(alg)).is_err());
    }
}

#[test]
fn jsonwebtoken_tokens_verify_with_us() {
    for alg in Algorithm::ALL {
        let key = SigningKey::generate(alg, "theirs".into()).unwrap();
        let pkcs8 = key.to_pkcs8().unwrap();
        let encoding = match alg {
            Algorithm::Es256 => EncodingKey::from_ec_der(&pkcs8),
            Algorithm::EdDsa => EncodingKey::from_ed_der(&pkcs8),
            // jsonwebtoken's RSA signer takes PKCS#1 RSAPrivateKey, which is the
            // privateKey OCTET STRING inside our PKCS#8 PrivateKeyInfo.
            Algorithm::Ps256 => EncodingKey::from_rsa_der(&pkcs8_inner_key(&pkcs8)),
        };
        let mut header = Header::new(their_alg(alg));
        header.kid = Some("theirs".into());
        let claims = claims();
        let token = jsonwebtoken::encode(&header, &claims, &encoding).unwrap();

        let jws = Jws::parse(&token, &JwsLimits::default()).unwrap();
        assert_eq!(jws.kid(), Some("theirs"));
        assert_eq!(Value::Object(jws.claims().clone()), claims);
        assert_eq!(
            jws.verify_with(&key.public_key()),
            Ok(alg),
            "{alg}: we refused jsonwebtoken's token"
        );
    }
}

/// Minimal DER walk: PrivateKeyInfo ::= SEQUENCE { INTEGER, AlgorithmIdentifier,
/// OCTET STRING privateKey, ... } (RFC 5208 §5). Returns privateKey's contents.
fn pkcs8_inner_key(der: &[u8]) -> Vec<u8> {
    fn tlv(input: &[u8]) -> (u8, &[u8], &[u8]) {
        let tag = input[0];
        let (len, header) = match input[1] {
            l if l < 0x80 => (l as usize, 2),
            0x81 => (input[2] as usize, 3),
            0x82 => (((input[2] as usize) << 8) | input[3] as usize, 4),
            other => panic!("unsupported DER length form {other:#x}"),
        };
        (tag, &input[header..header + len], &input[header + len..])
    }
    let (tag, body, _) = tlv(der);
    assert_eq!(tag, 0x30);
    let (tag, _, rest) = tlv(body); // version
    assert_eq!(tag, 0x02);
    let (tag, _, rest) = tlv(rest); // algorithm
    assert_eq!(tag, 0x30);
    let (tag, key, _) = tlv(rest);
    assert_eq!(tag, 0x04);
    key.to_vec()
}
