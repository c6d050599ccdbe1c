//! Claims about users (OIDC Core §5.1): what Clavex can return in ID tokens and at UserInfo.

/// Claims Clavex can return about a user (ID token and UserInfo).
pub const SUPPORTED_CLAIMS: [&str; 20] = [
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "azp",
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "email",
    "email_verified",
    "birthdate",
    "locale",
    "updated_at",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_claims_listed_once() {
        for name in ["sub", "email", "auth_time", "acr"] {
            assert_eq!(
                SUPPORTED_CLAIMS.iter().filter(|c| **c == name).count(),
                1,
                "{name}"
            );
        }
        assert!(!SUPPORTED_CLAIMS.contains(&"password"));
    }
}
