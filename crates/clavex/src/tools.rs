//! `clavex tools`: the client side of the protocol from a shell, so the README's curl walkthrough
//! needs nothing but curl: make a key, sign a client assertion, sign a DPoP proof.

use std::path::Path;

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use clavex_jose::{Algorithm, SigningKey};
use serde_json::{Map, Value, json};

/// Writes a new private key file (mode 0600) and returns the public JWKS to register.
pub fn keygen(alg: &str, out: &Path) -> Result<Value> {
    let alg = Algorithm::parse(alg).map_err(|e| anyhow::anyhow!("{e}"))?;
    let key = SigningKey::generate(alg, clavex_jose::random_token(8))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let pkcs8 = key.to_pkcs8().map_err(|e| anyhow::anyhow!("{e}"))?;
    let file = json!({
        "alg": alg.as_str(),
        "kid": key.kid(),
        "pkcs8": base64::engine::general_purpose::STANDARD.encode(pkcs8),
    });
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut handle = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .with_context(|| format!("creating {} (it must not exist yet)", out.display()))?;
    handle.write_all(serde_json::to_string_pretty(&file)?.as_bytes())?;
    Ok(json!({ "keys": [key.public_jwk()] }))
}

fn load(path: &Path) -> Result<SigningKey> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file: Value = serde_json::from_str(&text).context("key file is not JSON")?;
    let (Some(alg), Some(kid), Some(pkcs8)) = (
        file["alg"].as_str(),
        file["kid"].as_str(),
        file["pkcs8"].as_str(),
    ) else {
        bail!("key file must have alg, kid and pkcs8 (make one with `clavex tools keygen`)");
    };
    let alg = Algorithm::parse(alg).map_err(|e| anyhow::anyhow!("{e}"))?;
    let der = base64::engine::general_purpose::STANDARD
        .decode(pkcs8)
        .context("pkcs8 is not base64")?;
    SigningKey::from_pkcs8(alg, kid.to_owned(), &der).map_err(|e| anyhow::anyhow!("{e}"))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A `private_key_jwt` client assertion (RFC 7523), valid for 60 seconds.
pub fn client_assertion(key_file: &Path, client_id: &str, audience: &str) -> Result<String> {
    let key = load(key_file)?;
    let now = now();
    let claims = json!({
        "iss": client_id, "sub": client_id, "aud": audience,
        "iat": now, "exp": now + 60, "jti": clavex_jose::random_token(16),
    });
    key.sign_jwt(None, None, true, &claims)
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// A request object (RFC 9101, FAPI 2.0 Message Signing §5.3.1): the `name=value` parameters as
/// claims plus `iss` and `client_id` (the client), `aud` (the issuer), `nbf`, `iat`, `exp` (60 s),
/// `jti`; typed `oauth-authz-req+jwt`.
pub fn request_object(
    key_file: &Path,
    client_id: &str,
    audience: &str,
    params: &[String],
) -> Result<String> {
    let key = load(key_file)?;
    let now = now();
    let mut claims = Map::new();
    for param in params {
        let Some((name, value)) = param.split_once('=') else {
            bail!("--param {param:?} must be name=value");
        };
        let structured = (value.starts_with('[') || value.starts_with('{'))
            .then(|| serde_json::from_str::<Value>(value).ok())
            .flatten();
        claims.insert(
            name.to_owned(),
            structured.unwrap_or_else(|| Value::String(value.to_owned())),
        );
    }
    for (name, value) in [
        ("iss", json!(client_id)),
        ("client_id", json!(client_id)),
        ("aud", json!(audience)),
        ("iat", json!(now)),
        ("nbf", json!(now)),
        ("exp", json!(now + 60)),
        ("jti", json!(clavex_jose::random_token(16))),
    ] {
        claims.insert(name.to_owned(), value);
    }
    key.sign_jwt(
        Some("oauth-authz-req+jwt"),
        None,
        true,
        &Value::Object(claims),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))
}

/// A DPoP proof (RFC 9449 §4.2); with an access token, it carries `ath` for a resource request.
pub fn dpop_proof(
    key_file: &Path,
    method: &str,
    url: &str,
    access_token: Option<&str>,
) -> Result<String> {
    let key = load(key_file)?;
    let mut claims =
        json!({ "jti": clavex_jose::random_token(16), "htm": method, "htu": url, "iat": now() });
    if let Some(token) = access_token {
        claims["ath"] = Value::String(clavex_jose::b64url_encode(&clavex_jose::sha256(
            token.as_bytes(),
        )));
    }
    let mut jwk = key.public_jwk();
    if let Some(obj) = jwk.as_object_mut() {
        obj.remove("kid");
    }
    let header: Map<String, Value> = [("jwk".to_owned(), jwk)].into_iter().collect();
    key.sign_jwt(Some("dpop+jwt"), Some(&header), false, &claims)
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// A PKCE pair (RFC 7636 §4.1-4.2): a 43-character random verifier and its S256 challenge.
pub fn pkce() -> Value {
    let verifier = clavex_jose::random_token(32);
    let challenge = clavex_jose::b64url_encode(&clavex_jose::sha256(verifier.as_bytes()));
    json!({ "code_verifier": verifier, "code_challenge": challenge, "code_challenge_method": "S256" })
}
