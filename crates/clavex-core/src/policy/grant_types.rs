//! Grant types: which a client may register and which the token endpoint serves.

/// Grant types a client may register (and the token endpoint knows).
pub const REGISTRABLE_GRANT_TYPES: [&str; 3] =
    ["authorization_code", "refresh_token", "client_credentials"];

/// Grant types the token endpoint serves today (advertised in discovery).
pub const SERVED_GRANT_TYPES: [&str; 3] =
    ["authorization_code", "refresh_token", "client_credentials"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_fapi_grants() {
        for g in REGISTRABLE_GRANT_TYPES {
            assert!(
                SERVED_GRANT_TYPES.contains(&g),
                "{g} registrable but not served"
            );
        }
        for refused in [
            "implicit",
            "password",
            "urn:ietf:params:oauth:grant-type:device_code",
        ] {
            assert!(!REGISTRABLE_GRANT_TYPES.contains(&refused));
        }
    }
}
