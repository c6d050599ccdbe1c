//! Request values a client makes up: PKCE pairs, the conformance suite's long state and
//! verifier, a mismatching thumbprint, and editing a parameter list.

/// A PKCE pair (RFC 7636): a 64-character verifier and its S256 challenge.
pub fn pkce() -> (String, String) {
    let verifier = format!(
        "{}{}",
        clavex_jose::random_token(32),
        "-._~abcdefghijklmnopqrstu"
    );
    let challenge = clavex_jose::b64url_encode(&clavex_jose::sha256(verifier.as_bytes()));
    (verifier, challenge)
}

/// A PKCE verifier of exactly 128 characters (what the suite sends) and its S256 challenge.
pub fn pkce_128() -> (String, String) {
    let mut verifier = String::new();
    while verifier.len() < 128 {
        verifier.push_str(&clavex_jose::random_token(32));
    }
    verifier.truncate(128);
    let challenge = clavex_jose::b64url_encode(&clavex_jose::sha256(verifier.as_bytes()));
    (verifier, challenge)
}

/// The conformance suite's client-2 state: 128 characters ending in `-._~`.
pub fn suite_state_128() -> String {
    let mut state = "s".repeat(124);
    state.push_str("-._~");
    state
}

/// A syntactically valid JWK thumbprint that is not `jkt`: every byte XOR 0x5A (what the suite
/// sends as a mismatching `dpop_jkt`).
pub fn corrupted_thumbprint(jkt: &str) -> String {
    let bytes: Vec<u8> = clavex_jose::b64url_decode(jkt)
        .expect("thumbprint is base64url")
        .iter()
        .map(|b| b ^ 0x5A)
        .collect();
    clavex_jose::b64url_encode(&bytes)
}

/// Sets `name` in a parameter list: removes every occurrence, then appends `value` if any.
pub fn set_param<'a>(params: &mut Vec<(&'a str, &'a str)>, name: &'a str, value: Option<&'a str>) {
    params.retain(|(k, _)| *k != name);
    if let Some(value) = value {
        params.push((name, value));
    }
}
