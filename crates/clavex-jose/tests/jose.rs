//! Behaviour tests: round trips, published test vectors, and one refusal test per rule.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clavex_jose::{
    Algorithm, JoseError, JwkSet, Jws, JwsLimits, PublicKey, SigningKey, b64url_decode,
    b64url_encode, jwk_thumbprint, random_token, sha256, typ_matches,
};
use serde_json::{Map, Value, json};

fn key(alg: Algorithm, kid: &str) -> SigningKey {
    SigningKey::generate(alg, kid.to_owned()).unwrap()
}

fn limits() -> JwsLimits {
    JwsLimits::default()
}

/// Sign arbitrary header/payload JSON text with `key`, bypassing `sign_jwt`'s rules,
/// so that the parser's refusals can be tested on otherwise validly signed tokens.
fn forge(key: &SigningKey, header: &str, payload: &str) -> String {
    let input = format!(
        "{}.{}",
        b64url_encode(header.as_bytes()),
        b64url_encode(payload.as_bytes())
    );
    let sig = key.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", b64url_encode(&sig))
}

fn parse_err(token: &str) -> JoseError {
    Jws::parse(token, &limits()).expect_err("token should be refused")
}

fn jwk_err(jwk: Value) -> JoseError {
    PublicKey::from_jwk(&jwk).expect_err("JWK should be refused")
}

// RFC 7638 §3.1 example key (its `alg` RS256 removed: we refuse RS256 keys, and the
// thumbprint covers required members only, so the expected value is unchanged).
const RFC7638_N: &str = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";

// RFC 8037 Appendix A.1/A.2 Ed25519 key.
const RFC8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
const RFC8037_D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";

// RFC 7515 Appendix A.3 ES256 key and JWS.
const RFC7515_A3_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
const RFC7515_A3_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
const RFC7515_A3_JWS: &str = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

fn ec_jwk() -> Value {
    json!({"kty":"EC","crv":"P-256","x":RFC7515_A3_X,"y":RFC7515_A3_Y})
}

fn rsa_jwk() -> Value {
    json!({"kty":"RSA","n":RFC7638_N,"e":"AQAB"})
}

fn okp_jwk() -> Value {
    json!({"kty":"OKP","crv":"Ed25519","x":RFC8037_X})
}

fn with(mut jwk: Value, name: &str, value: Value) -> Value {
    jwk.as_object_mut().unwrap().insert(name.to_owned(), value);
    jwk
}

// ---------------------------------------------------------------- round trips

#[test]
fn sign_verify_round_trip_every_algorithm() {
    for alg in Algorithm::ALL {
        let k = key(alg, "k1");
        let claims = json!({"iss":"https://as.example","sub":"alice","n":1});
        let token = k.sign_jwt(Some("JWT"), None, true, &claims).unwrap();
        let jws = Jws::parse(&token, &limits()).unwrap();
        assert_eq!(jws.alg_name(), alg.as_str());
        assert_eq!(jws.algorithm(), Ok(alg));
        assert_eq!(jws.kid(), Some("k1"));
        assert_eq!(jws.typ(), Some("JWT"));
        assert_eq!(Value::Object(jws.claims().clone()), claims);
        let header_names: Vec<&str> = jws.header().keys().map(String::as_str).collect();
        assert_eq!(header_names, ["alg", "typ", "kid"]);
        assert_eq!(jws.verify_with(&k.public_key()), Ok(alg));

        // Raw sign/verify and signature sizes (RFC 7518 §3.4: ES256 is 64 bytes r||s).
        let sig = k.sign(b"input").unwrap();
        let expected_len = match alg {
            Algorithm::Es256 | Algorithm::EdDsa => 64,
            Algorithm::Ps256 => 256,
        };
        assert_eq!(sig.len(), expected_len);
        let public = PublicKey::from_jwk(&k.public_jwk()).unwrap();
        assert_eq!(public.verify(alg, b"input", &sig), Ok(()));
        assert_eq!(
            public.verify(alg, b"inpuT", &sig),
            Err(JoseError::SignatureInvalid)
        );
    }
}

#[test]
fn public_jwk_shape() {
    let es = key(Algorithm::Es256, "e").public_jwk();
    let names: Vec<&str> = es.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(names, ["kty", "crv", "x", "y", "kid", "use", "alg"]);
    assert_eq!(es["alg"], "ES256");
    assert_eq!(es["use"], "sig");
    let ps = key(Algorithm::Ps256, "p").public_jwk();
    assert_eq!(ps["kty"], "RSA");
    assert_eq!(ps["e"], "AQAB");
    assert_eq!(b64url_decode(ps["n"].as_str().unwrap()).unwrap().len(), 256);
    let ed = key(Algorithm::EdDsa, "d").public_jwk();
    assert_eq!(ed["kty"], "OKP");
    assert_eq!(ed["crv"], "Ed25519");
    assert_eq!(ed["alg"], "EdDSA");
    for jwk in [es, ps, ed] {
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(jwk.get(private).is_none());
        }
    }
}

#[test]
fn pkcs8_round_trip_every_algorithm() {
    for alg in Algorithm::ALL {
        let k = key(alg, "orig");
        let der = k.to_pkcs8().unwrap();
        let k2 = SigningKey::from_pkcs8(alg, "copy".into(), &der).unwrap();
        assert_eq!(k2.alg(), alg);
        assert_eq!(k2.kid(), "copy");
        assert_eq!(k2.thumbprint(), k.thumbprint());
        assert_eq!(k2.to_pkcs8().unwrap(), der);
        // The reloaded key signs; the original's public key verifies.
        let token = k2.sign_jwt(None, None, false, &json!({"a":1})).unwrap();
        let jws = Jws::parse(&token, &limits()).unwrap();
        assert_eq!(jws.kid(), None);
        assert_eq!(jws.verify_with(&k.public_key()), Ok(alg));
    }
}

#[test]
fn pkcs8_of_wrong_type_is_refused() {
    let ec = key(Algorithm::Es256, "e").to_pkcs8().unwrap();
    let ed = key(Algorithm::EdDsa, "d").to_pkcs8().unwrap();
    assert_eq!(
        SigningKey::from_pkcs8(Algorithm::Ps256, "x".into(), &ec).err(),
        Some(JoseError::InvalidPkcs8(Algorithm::Ps256))
    );
    assert_eq!(
        SigningKey::from_pkcs8(Algorithm::Es256, "x".into(), &ed).err(),
        Some(JoseError::InvalidPkcs8(Algorithm::Es256))
    );
    assert_eq!(
        SigningKey::from_pkcs8(Algorithm::EdDsa, "x".into(), b"not der").err(),
        Some(JoseError::InvalidPkcs8(Algorithm::EdDsa))
    );
}

#[test]
fn signing_key_debug_hides_key_material() {
    for alg in Algorithm::ALL {
        let k = key(alg, "kid-1");
        let debug = format!("{k:?}");
        assert!(debug.contains("kid-1"), "{debug}");
        assert!(debug.contains(&k.thumbprint()), "{debug}");
        let der = k.to_pkcs8().unwrap();
        let der_hex: String = der.iter().map(|b| format!("{b:02x}")).collect();
        assert!(!debug.contains(&b64url_encode(&der)));
        assert!(!debug.contains(&der_hex));
        assert!(debug.len() < 200, "{debug}");
    }
}

#[test]
fn sign_jwt_dpop_style_extra_header() {
    let k = key(Algorithm::Es256, "dpop");
    let mut extra = Map::new();
    let mut jwk = k.public_jwk();
    jwk.as_object_mut().unwrap().remove("kid");
    extra.insert("jwk".into(), jwk.clone());
    let claims = json!({"htm":"POST","htu":"https://as.example/token","iat":1,"jti":"x"});
    let token = k
        .sign_jwt(Some("dpop+jwt"), Some(&extra), false, &claims)
        .unwrap();
    let jws = Jws::parse(&token, &limits()).unwrap();
    let names: Vec<&str> = jws.header().keys().map(String::as_str).collect();
    assert_eq!(names, ["alg", "typ", "jwk"]);
    assert!(typ_matches(jws.typ(), "dpop+jwt"));
    let embedded = PublicKey::from_jwk(&jws.header()["jwk"]).unwrap();
    assert_eq!(embedded.thumbprint(), k.thumbprint());
    assert_eq!(jws.verify_with(&embedded), Ok(Algorithm::Es256));

    // extra_header may not override generated members or add ones we refuse.
    let mut bad = Map::new();
    bad.insert("alg".into(), json!("none"));
    assert_eq!(
        k.sign_jwt(None, Some(&bad), true, &claims).err(),
        Some(JoseError::HeaderConflict("alg".into()))
    );
    let mut bad = Map::new();
    bad.insert("kid".into(), json!("other"));
    assert_eq!(
        k.sign_jwt(None, Some(&bad), true, &claims).err(),
        Some(JoseError::HeaderConflict("kid".into()))
    );
    let mut bad = Map::new();
    bad.insert("crit".into(), json!(["exp"]));
    assert_eq!(
        k.sign_jwt(None, Some(&bad), true, &claims).err(),
        Some(JoseError::CritUnsupported)
    );
    assert_eq!(
        k.sign_jwt(None, None, true, &json!(["not", "an", "object"]))
            .err(),
        Some(JoseError::ClaimsNotObject)
    );
}

// ---------------------------------------------------------------- published vectors

#[test]
fn rfc7638_rsa_thumbprint_vector() {
    const EXPECTED: &str = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
    assert_eq!(jwk_thumbprint(&rsa_jwk()).unwrap(), EXPECTED);
    let decorated = with(rsa_jwk(), "kid", json!("2011-04-29"));
    let k = PublicKey::from_jwk(&decorated).unwrap();
    assert_eq!(k.thumbprint(), EXPECTED);
    assert_eq!(k.kid(), Some("2011-04-29"));
    // The RFC's own JWK says "alg":"RS256", which FAPI 2.0 forbids.
    assert_eq!(
        jwk_err(with(decorated, "alg", json!("RS256"))),
        JoseError::UnsupportedAlgorithm("RS256".into())
    );
}

#[test]
fn rfc8037_ed25519_thumbprint_vector() {
    assert_eq!(
        jwk_thumbprint(&okp_jwk()).unwrap(),
        "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    );
}

/// RFC 8037 Appendix A.4 (payload "Example of Ed25519 signing", not a JSON object,
/// so it is checked at the signature level). Ed25519 is deterministic, so the
/// signing side must reproduce the published signature exactly.
#[test]
fn rfc8037_ed25519_signature_vector() {
    let input = b"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
    let sig = b64url_decode(
        "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg",
    )
    .unwrap();
    let public = PublicKey::from_jwk(&okp_jwk()).unwrap();
    assert_eq!(public.verify(Algorithm::EdDsa, input, &sig), Ok(()));

    // RFC 8410 §7 PKCS#8 v1 wrapping of the RFC 8037 seed.
    let mut pkcs8 = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    pkcs8.extend(b64url_decode(RFC8037_D).unwrap());
    let k = SigningKey::from_pkcs8(Algorithm::EdDsa, "rfc".into(), &pkcs8).unwrap();
    assert_eq!(k.public_jwk()["x"], RFC8037_X);
    assert_eq!(k.sign(input).unwrap(), sig);
}

#[test]
fn rfc7515_a3_es256_vector() {
    let public = PublicKey::from_jwk(&ec_jwk()).unwrap();
    let jws = Jws::parse(RFC7515_A3_JWS, &limits()).unwrap();
    assert_eq!(jws.claims()["iss"], "joe");
    assert_eq!(jws.verify_with(&public), Ok(Algorithm::Es256));
    // The same key cannot be used under another algorithm.
    assert_eq!(
        public.verify(Algorithm::Ps256, jws.signing_input(), jws.signature()),
        Err(JoseError::KeyAlgorithmMismatch(Algorithm::Ps256))
    );
}

#[test]
fn ed25519_fully_specified_alg_name() {
    let k = key(Algorithm::EdDsa, "ed");
    let token = forge(&k, r#"{"alg":"Ed25519","kid":"ed"}"#, r#"{"sub":"a"}"#);
    let jws = Jws::parse(&token, &limits()).unwrap();
    assert_eq!(jws.alg_name(), "Ed25519");
    assert_eq!(jws.verify_with(&k.public_key()), Ok(Algorithm::EdDsa));
    // A JWK that says "alg":"Ed25519" keeps that name and supports EdDSA.
    let jwk = with(okp_jwk(), "alg", json!("Ed25519"));
    let public = PublicKey::from_jwk(&jwk).unwrap();
    assert_eq!(public.jwk_alg(), Some(Algorithm::EdDsa));
    assert!(public.supports(Algorithm::EdDsa));
    assert_eq!(public.to_jwk()["alg"], "Ed25519");
}

// ---------------------------------------------------------------- JWK refusals

#[test]
fn jwk_private_members_refused() {
    for member in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
        for base in [ec_jwk(), rsa_jwk(), okp_jwk()] {
            let err = jwk_err(with(base, member, json!("AQAB")));
            assert_eq!(err, JoseError::PrivateKeyMember(member_static(member)));
        }
    }
    let err = jwk_err(with(okp_jwk(), "d", json!(RFC8037_D)));
    assert_eq!(err.to_string(), "JWK contains private key member 'd'");
}

fn member_static(m: &str) -> &'static str {
    ["d", "p", "q", "dp", "dq", "qi", "oth", "k"]
        .into_iter()
        .find(|s| *s == m)
        .unwrap()
}

#[test]
fn jwk_key_types_and_curves_refused() {
    assert_eq!(
        jwk_err(json!({"kty":"oct","alg":"HS256"})),
        JoseError::SymmetricKey
    );
    assert_eq!(
        jwk_err(json!({"kty":"oct","k":"c2VjcmV0"})),
        JoseError::PrivateKeyMember("k")
    );
    assert!(matches!(
        jwk_err(json!({"kty":"DSA"})),
        JoseError::UnsupportedKeyType(t) if t == "DSA"
    ));
    let p384 = with(ec_jwk(), "crv", json!("P-384"));
    assert!(matches!(
        jwk_err(p384.clone()),
        JoseError::UnsupportedCurve { kty: "EC", .. }
    ));
    assert_eq!(
        jwk_err(with(p384, "alg", json!("ES256"))).to_string(),
        "EC key curve P-384 does not match alg ES256"
    );
    assert!(matches!(
        jwk_err(with(okp_jwk(), "crv", json!("X25519"))),
        JoseError::UnsupportedCurve { kty: "OKP", .. }
    ));
    assert!(matches!(
        jwk_err(with(okp_jwk(), "crv", json!("Ed448"))),
        JoseError::UnsupportedCurve { kty: "OKP", .. }
    ));
    assert_eq!(jwk_err(json!("EC")), JoseError::JwkNotObject);
    assert_eq!(
        jwk_err(json!({"crv":"P-256"})),
        JoseError::JwkMissingMember("kty")
    );
    assert_eq!(
        jwk_err(json!({"kty":1})),
        JoseError::JwkMemberNotString("kty")
    );
}

#[test]
fn jwk_alg_must_be_ours_and_fit() {
    for bad in ["RS256", "HS256", "none", "ES384", "PS512"] {
        assert_eq!(
            jwk_err(with(rsa_jwk(), "alg", json!(bad))),
            JoseError::UnsupportedAlgorithm(bad.into())
        );
    }
    assert_eq!(
        jwk_err(with(rsa_jwk(), "alg", json!("ES256"))),
        JoseError::JwkAlgorithmMismatch {
            kty: "RSA",
            alg: Algorithm::Es256
        }
    );
    assert_eq!(
        jwk_err(with(ec_jwk(), "alg", json!("EdDSA"))),
        JoseError::JwkAlgorithmMismatch {
            kty: "EC",
            alg: Algorithm::EdDsa
        }
    );
    assert_eq!(
        jwk_err(with(okp_jwk(), "alg", json!("PS256"))),
        JoseError::JwkAlgorithmMismatch {
            kty: "OKP",
            alg: Algorithm::Ps256
        }
    );
    assert_eq!(
        jwk_err(with(ec_jwk(), "alg", json!(256))),
        JoseError::JwkMemberNotString("alg")
    );
}

#[test]
fn jwk_supports_matrix() {
    let ec = PublicKey::from_jwk(&ec_jwk()).unwrap();
    let rsa = PublicKey::from_jwk(&rsa_jwk()).unwrap();
    let okp = PublicKey::from_jwk(&okp_jwk()).unwrap();
    assert!(ec.supports(Algorithm::Es256) && !ec.supports(Algorithm::Ps256));
    assert!(rsa.supports(Algorithm::Ps256) && !rsa.supports(Algorithm::Es256));
    assert!(okp.supports(Algorithm::EdDsa) && !okp.supports(Algorithm::Es256));
    assert_eq!(ec.kty(), "EC");
    assert_eq!(rsa.jwk_alg(), None);
    let tagged = PublicKey::from_jwk(&with(rsa_jwk(), "alg", json!("PS256"))).unwrap();
    assert_eq!(tagged.jwk_alg(), Some(Algorithm::Ps256));
    assert!(tagged.supports(Algorithm::Ps256));
    // to_jwk round-trips exactly.
    let full = json!({"kty":"EC","crv":"P-256","x":RFC7515_A3_X,"y":RFC7515_A3_Y,"kid":"a","use":"sig","alg":"ES256"});
    assert_eq!(PublicKey::from_jwk(&full).unwrap().to_jwk(), full);
}

#[test]
fn jwk_weak_rsa_refused() {
    // 128-byte modulus with the top bit set: exactly 1024 bits.
    let mut n = vec![0xC5u8; 128];
    n[127] = 0x01;
    let err = jwk_err(json!({"kty":"RSA","n":b64url_encode(&n),"e":"AQAB"}));
    assert_eq!(err, JoseError::RsaKeyTooSmall(1024));
    assert_eq!(
        err.to_string(),
        "RSA key is 1024 bits; at least 2048 are required"
    );
    // 2047 bits: 256 bytes whose top bit is clear.
    let mut n = b64url_decode(RFC7638_N).unwrap();
    n[0] = 0x7f;
    assert_eq!(
        jwk_err(json!({"kty":"RSA","n":b64url_encode(&n),"e":"AQAB"})),
        JoseError::RsaKeyTooSmall(2047)
    );
    // Over 8192 bits.
    let n = vec![0xffu8; 1025];
    assert_eq!(
        jwk_err(json!({"kty":"RSA","n":b64url_encode(&n),"e":"AQAB"})),
        JoseError::RsaKeyTooLarge(8200)
    );
}

#[test]
fn jwk_malformed_material_refused() {
    // Leading zero octet on n (RFC 7518 §2 minimal encoding).
    let mut n = vec![0u8];
    n.extend(b64url_decode(RFC7638_N).unwrap());
    assert!(matches!(
        jwk_err(json!({"kty":"RSA","n":b64url_encode(&n),"e":"AQAB"})),
        JoseError::InvalidKey(_)
    ));
    // Even, too small, too large, zero-prefixed exponents.
    for e in [
        &[0x01, 0x00, 0x00][..],
        &[1],
        &[2],
        &[1, 0, 0, 0, 1],
        &[0, 1, 0, 1],
    ] {
        assert!(
            matches!(
                jwk_err(json!({"kty":"RSA","n":RFC7638_N,"e":b64url_encode(e)})),
                JoseError::InvalidKey(_)
            ),
            "{e:?}"
        );
    }
    assert!(PublicKey::from_jwk(&json!({"kty":"RSA","n":RFC7638_N,"e":"Aw"})).is_ok());
    // Padded / non-url-safe base64url.
    assert_eq!(
        jwk_err(with(ec_jwk(), "x", json!(format!("{RFC7515_A3_X}=")))),
        JoseError::InvalidBase64("JWK member 'x'")
    );
    let std_alphabet = RFC7638_N.replace('-', "+").replace('_', "/");
    assert_eq!(
        jwk_err(with(rsa_jwk(), "n", json!(std_alphabet))),
        JoseError::InvalidBase64("JWK member 'n'")
    );
    // Wrong coordinate lengths (RFC 7518 §6.2.1.2: full 32 bytes).
    let short = b64url_encode(&b64url_decode(RFC7515_A3_X).unwrap()[1..]);
    assert!(matches!(
        jwk_err(with(ec_jwk(), "x", json!(short))),
        JoseError::InvalidKey(_)
    ));
    let short = b64url_encode(&[7u8; 31]);
    assert!(matches!(
        jwk_err(with(okp_jwk(), "x", json!(short))),
        JoseError::InvalidKey(_)
    ));
    // A point not on P-256.
    let mut y = b64url_decode(RFC7515_A3_Y).unwrap();
    y[31] ^= 1;
    assert_eq!(
        jwk_err(with(ec_jwk(), "y", json!(b64url_encode(&y)))),
        JoseError::InvalidKey("EC point is not on curve P-256")
    );
    assert_eq!(
        jwk_err(json!({"kty":"EC","crv":"P-256","x":RFC7515_A3_X})),
        JoseError::JwkMissingMember("y")
    );
}

// ---------------------------------------------------------------- JWK Set

#[test]
fn jwk_set_parse_and_select() {
    let es = key(Algorithm::Es256, "es");
    let ps = key(Algorithm::Ps256, "ps");
    let ed = key(Algorithm::EdDsa, "ed");
    let enc =
        json!({"kty":"EC","crv":"P-256","x":RFC7515_A3_X,"y":RFC7515_A3_Y,"kid":"enc","use":"enc"});
    let set = JwkSet::from_json(
        &json!({"keys":[es.public_jwk(), ps.public_jwk(), ed.public_jwk(), enc]}),
    )
    .unwrap();
    assert_eq!(set.keys().len(), 4);

    let pick = |kid, alg| {
        set.select(kid, alg)
            .map(|k| k.kid().unwrap_or_default().to_owned())
    };
    assert_eq!(pick(Some("ps"), Algorithm::Ps256).as_deref(), Some("ps"));
    assert_eq!(pick(Some("ps"), Algorithm::Es256), None); // kid found, alg does not fit
    assert_eq!(pick(Some("nope"), Algorithm::Es256), None); // no fallback
    assert_eq!(pick(Some("enc"), Algorithm::Es256), None); // use != sig
    // Without kid: the one sig key for the alg ("enc" is skipped, so ES256 is unambiguous).
    assert_eq!(pick(None, Algorithm::Es256).as_deref(), Some("es"));
    assert_eq!(pick(None, Algorithm::EdDsa).as_deref(), Some("ed"));

    // Two ES256 signing keys: ambiguous without kid.
    let es2 = key(Algorithm::Es256, "es2");
    let set = JwkSet::from_json(&json!({"keys":[es.public_jwk(), es2.public_jwk()]})).unwrap();
    assert!(set.select(None, Algorithm::Es256).is_none());
    assert_eq!(
        set.select(Some("es2"), Algorithm::Es256)
            .map(PublicKey::thumbprint),
        Some(es2.thumbprint().as_str())
    );

    // A selected key verifies the token it was selected for.
    let token = es2.sign_jwt(None, None, true, &json!({"x":1})).unwrap();
    let jws = Jws::parse(&token, &limits()).unwrap();
    let k = set.select(jws.kid(), jws.algorithm().unwrap()).unwrap();
    assert_eq!(jws.verify_with(k), Ok(Algorithm::Es256));
}

#[test]
fn jwk_set_refusals() {
    let err = JwkSet::from_json(&json!({"keys":[okp_jwk(), with(ec_jwk(), "d", json!("AAAA"))]}))
        .err()
        .unwrap();
    assert_eq!(
        err,
        JoseError::KeyInSet {
            index: 1,
            source: Box::new(JoseError::PrivateKeyMember("d"))
        }
    );
    assert_eq!(
        err.to_string(),
        "JWK set key 1: JWK contains private key member 'd'"
    );
    let weak = json!({"kty":"RSA","n":b64url_encode(&[0xC1; 128]),"e":"AQAB"});
    let err = JwkSet::from_json(&json!({"keys":[weak]})).err().unwrap();
    assert!(err.to_string().contains("RSA key is 1024 bits"), "{err}");
    assert!(matches!(
        JwkSet::from_json(&json!({"keys":[]})),
        Err(JoseError::InvalidJwkSet(_))
    ));
    assert!(matches!(
        JwkSet::from_json(&json!([okp_jwk()])),
        Err(JoseError::InvalidJwkSet(_))
    ));
    assert!(matches!(
        JwkSet::from_json(&json!({"keys":{}})),
        Err(JoseError::InvalidJwkSet(_))
    ));
    let a = with(okp_jwk(), "kid", json!("same"));
    let b = with(ec_jwk(), "kid", json!("same"));
    assert_eq!(
        JwkSet::from_json(&json!({"keys":[a, b]})).err(),
        Some(JoseError::DuplicateKid("same".into()))
    );
}

// ---------------------------------------------------------------- JWS refusals

#[test]
fn jws_unsupported_algorithms_refused() {
    let k = key(Algorithm::Es256, "k");
    for alg in ["none", "RS256", "HS256", "ES384", "PS384", "es256"] {
        let token = forge(&k, &format!(r#"{{"alg":"{alg}"}}"#), "{}");
        // Parsing keeps the raw name so callers can word their own error...
        let jws = Jws::parse(&token, &limits()).unwrap();
        assert_eq!(jws.alg_name(), alg);
        // ...but it never becomes an Algorithm, and never verifies.
        let expected = JoseError::UnsupportedAlgorithm(alg.into());
        assert_eq!(jws.algorithm(), Err(expected.clone()));
        assert_eq!(jws.verify_with(&k.public_key()), Err(expected));
    }
    // alg none with the empty signature of an unsecured JWS (RFC 7515 §A.5).
    let unsecured = format!(
        "{}.{}.",
        b64url_encode(br#"{"alg":"none"}"#),
        b64url_encode(b"{}")
    );
    assert_eq!(parse_err(&unsecured), JoseError::EmptySignature);
    assert_eq!(
        JoseError::UnsupportedAlgorithm("RS256".into()).to_string(),
        "unsupported alg RS256: only PS256, ES256 and EdDSA are allowed"
    );
}

#[test]
fn jws_forbidden_header_members_refused() {
    let k = key(Algorithm::Es256, "k");
    let crit = forge(&k, r#"{"alg":"ES256","crit":["exp"],"exp":1}"#, "{}");
    assert_eq!(parse_err(&crit), JoseError::CritUnsupported);
    assert_eq!(
        JoseError::CritUnsupported.to_string(),
        "crit header is not supported"
    );
    for (member, value) in [
        ("b64", "false"),
        ("jku", r#""https://attacker.example/jwks""#),
        ("x5u", r#""https://attacker.example/cert""#),
    ] {
        let token = forge(
            &k,
            &format!(r#"{{"alg":"ES256","{member}":{value}}}"#),
            "{}",
        );
        assert_eq!(
            parse_err(&token),
            JoseError::ForbiddenHeader(member_static_h(member))
        );
    }
}

fn member_static_h(m: &str) -> &'static str {
    ["b64", "jku", "x5u"].into_iter().find(|s| *s == m).unwrap()
}

#[test]
fn jws_segment_rules() {
    let k = key(Algorithm::Es256, "k");
    let good = k.sign_jwt(None, None, true, &json!({"a":1})).unwrap();
    assert!(Jws::parse(&good, &limits()).is_ok());
    let parts: Vec<&str> = good.split('.').collect();
    let (h, p, s) = (parts[0], parts[1], parts[2]);

    assert_eq!(parse_err(&format!("{h}.{p}")), JoseError::JwsSegments);
    assert_eq!(
        parse_err(&format!("{h}.{p}.{s}.{s}")),
        JoseError::JwsSegments
    );
    assert_eq!(
        parse_err(&format!("{h}.{p}.{s}.{s}.{s}")),
        JoseError::JwsSegments
    );
    assert_eq!(parse_err(h), JoseError::JwsSegments);
    assert_eq!(parse_err(&format!("{h}.{p}.")), JoseError::EmptySignature);
    assert_eq!(
        JoseError::JwsSegments.to_string(),
        "JWS must have three segments"
    );

    // Padding on any segment (the ES256 signature is 64 bytes, so pad it to 88 chars).
    assert_eq!(
        parse_err(&format!("{h}.{p}.{s}==")),
        JoseError::InvalidBase64("JWS signature")
    );
    let hb = b64url_decode(h).unwrap();
    let padded_h = base64_std_padded_urlsafe(&hb);
    if padded_h.ends_with('=') {
        assert_eq!(
            parse_err(&format!("{padded_h}.{p}.{s}")),
            JoseError::InvalidBase64("JWS header")
        );
    }
    assert_eq!(
        parse_err(&format!("{h}.{p}=.{s}")),
        JoseError::InvalidBase64("JWS payload")
    );
    // Non-url-safe alphabet and whitespace.
    let std_sig = s.replace('-', "+").replace('_', "/");
    if std_sig != s {
        assert_eq!(
            parse_err(&format!("{h}.{p}.{std_sig}")),
            JoseError::InvalidBase64("JWS signature")
        );
    }
    assert_eq!(
        parse_err(&format!("{h}.{p}.+{s}")),
        JoseError::InvalidBase64("JWS signature")
    );
    assert_eq!(
        parse_err(&format!("{h} .{p}.{s}")),
        JoseError::InvalidBase64("JWS header")
    );

    // Length limit.
    assert_eq!(
        Jws::parse(&good, &JwsLimits { max_total_len: 20 }).err(),
        Some(JoseError::JwsTooLong { max: 20 })
    );
}

fn base64_std_padded_urlsafe(bytes: &[u8]) -> String {
    let mut s = b64url_encode(bytes);
    while !s.len().is_multiple_of(4) {
        s.push('=');
    }
    s
}

#[test]
fn jws_json_rules() {
    let k = key(Algorithm::Es256, "k");
    let dup = forge(&k, r#"{"alg":"ES256","kid":"a","kid":"b"}"#, "{}");
    assert_eq!(
        parse_err(&dup),
        JoseError::DuplicateMember {
            part: "header",
            name: "kid".into()
        }
    );
    // The dangerous case: a second alg that a last-wins parser would pick.
    let dup_alg = forge(&k, r#"{"alg":"ES256","alg":"none"}"#, "{}");
    assert!(matches!(
        parse_err(&dup_alg),
        JoseError::DuplicateMember { part: "header", .. }
    ));
    let dup_claim = forge(&k, r#"{"alg":"ES256"}"#, r#"{"sub":"a","sub":"b"}"#);
    assert_eq!(
        parse_err(&dup_claim),
        JoseError::DuplicateMember {
            part: "payload",
            name: "sub".into()
        }
    );
    for header in [r#"["ES256"]"#, r#""ES256""#, "null", "1"] {
        assert_eq!(
            parse_err(&forge(&k, header, "{}")),
            JoseError::NotJsonObject("header")
        );
    }
    assert_eq!(
        parse_err(&forge(&k, r#"{"alg":"ES256""#, "{}")),
        JoseError::InvalidJson("header")
    );
    assert_eq!(
        parse_err(&forge(&k, r#"{"alg":"ES256"}"#, "[1,2]")),
        JoseError::NotJsonObject("payload")
    );
    assert_eq!(
        parse_err(&forge(&k, r#"{"alg":"ES256"}"#, "plain text")),
        JoseError::InvalidJson("payload")
    );
    assert_eq!(
        parse_err(&forge(&k, r#"{"typ":"JWT"}"#, "{}")),
        JoseError::MissingAlg
    );
    assert_eq!(
        parse_err(&forge(&k, r#"{"alg":["ES256"]}"#, "{}")),
        JoseError::HeaderMemberNotString("alg")
    );
    assert_eq!(
        parse_err(&forge(&k, r#"{"alg":"ES256","kid":7}"#, "{}")),
        JoseError::HeaderMemberNotString("kid")
    );
    assert_eq!(
        parse_err(&forge(&k, r#"{"alg":"ES256","typ":null}"#, "{}")),
        JoseError::HeaderMemberNotString("typ")
    );
}

#[test]
fn jws_bad_signatures_refused() {
    for alg in Algorithm::ALL {
        let k = key(alg, "k");
        let other = key(alg, "k");
        let token = k.sign_jwt(None, None, true, &json!({"a":1})).unwrap();

        // Corrupted signature: flip one bit of the decoded signature.
        let (input, sig64) = token.rsplit_once('.').unwrap();
        let mut sig = b64url_decode(sig64).unwrap();
        sig[10] ^= 0x01;
        let corrupted = format!("{input}.{}", b64url_encode(&sig));
        let jws = Jws::parse(&corrupted, &limits()).unwrap();
        assert_eq!(
            jws.verify_with(&k.public_key()),
            Err(JoseError::SignatureInvalid)
        );
        assert_eq!(
            JoseError::SignatureInvalid.to_string(),
            "signature verification failed"
        );

        // Tampered payload, original signature.
        let (h, rest) = token.split_once('.').unwrap();
        let (_, s) = rest.split_once('.').unwrap();
        let tampered = format!("{h}.{}.{s}", b64url_encode(br#"{"a":2}"#));
        let jws = Jws::parse(&tampered, &limits()).unwrap();
        assert_eq!(
            jws.verify_with(&k.public_key()),
            Err(JoseError::SignatureInvalid)
        );

        // Right algorithm, wrong key.
        let jws = Jws::parse(&token, &limits()).unwrap();
        assert_eq!(
            jws.verify_with(&other.public_key()),
            Err(JoseError::SignatureInvalid)
        );

        // Key of another type.
        for wrong in Algorithm::ALL.into_iter().filter(|a| *a != alg) {
            let wrong_key = key(wrong, "w").public_key();
            assert_eq!(
                jws.verify_with(&wrong_key),
                Err(JoseError::KeyAlgorithmMismatch(alg))
            );
        }
    }
}

#[test]
fn jws_alg_substitution_refused_by_jwk_alg() {
    // A token whose header claims another algorithm than the JWK pins.
    let k = key(Algorithm::Es256, "k");
    let token = k.sign_jwt(None, None, true, &json!({})).unwrap();
    let jws = Jws::parse(&token, &limits()).unwrap();
    let pinned = with(k.public_jwk(), "alg", json!("ES256"));
    assert!(
        jws.verify_with(&PublicKey::from_jwk(&pinned).unwrap())
            .is_ok()
    );
    // ES256 key verifying a header that says EdDSA.
    let forged = forge(&k, r#"{"alg":"EdDSA"}"#, "{}");
    let jws = Jws::parse(&forged, &limits()).unwrap();
    assert_eq!(
        jws.verify_with(&k.public_key()),
        Err(JoseError::KeyAlgorithmMismatch(Algorithm::EdDsa))
    );
}

// ---------------------------------------------------------------- helpers

#[test]
fn helpers() {
    assert!(typ_matches(Some("application/DPoP+JWT"), "dpop+jwt"));
    assert!(typ_matches(Some("JWT"), "jwt"));
    assert!(!typ_matches(Some("at+jwt"), "jwt"));
    assert!(!typ_matches(None, "jwt"));
    assert_eq!(b64url_decode("YQ").unwrap(), b"a");
    assert!(b64url_decode("YQ==").is_err());
    assert_eq!(
        b64url_encode(&sha256(b"")),
        "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
    );
    let t = random_token(32);
    assert_eq!(b64url_decode(&t).unwrap().len(), 32);
    assert_ne!(t, random_token(32));
}
