//! Audiences: of a client assertion (FAPI 2.0 SP §5.3.2.1-8) and of an access token (RFC 8707
//! resource indicators).

use serde_json::Value;

use crate::error::OAuthError;
use crate::settings::OrgSettings;

/// FAPI 2.0 SP §5.3.2.1-8: the audience of a client assertion must be the issuer identifier as a
/// single string. The org setting `accept_legacy_assertion_audience` widens it to what the ID2 plan
/// sends (token endpoint, PAR endpoint, arrays containing any accepted value).
pub fn assertion_audience_accepted(
    aud: &Value,
    issuer: &str,
    token_endpoint: &str,
    par_endpoint: &str,
    settings: &OrgSettings,
) -> bool {
    if !settings.accept_legacy_assertion_audience {
        return matches!(aud, Value::String(s) if s == issuer);
    }
    let accepted = |s: &str| s == issuer || s == token_endpoint || s == par_endpoint;
    match aud {
        Value::String(s) => accepted(s),
        Value::Array(items) => items.iter().any(|v| v.as_str().is_some_and(accepted)),
        _ => false,
    }
}

/// RFC 8707: the audience of the access token. Without `resource`, the org default; with one,
/// it must be the default audience or a registered resource.
pub fn resolve_audience(
    resources: &[&str],
    default_audience: &str,
    settings: &OrgSettings,
) -> Result<String, OAuthError> {
    match resources {
        [] => Ok(default_audience.to_owned()),
        [one] => {
            let url = url::Url::parse(one)
                .map_err(|_| OAuthError::invalid_target("resource must be an absolute URI"))?;
            if url.fragment().is_some() {
                return Err(OAuthError::invalid_target(
                    "resource must not contain a fragment (RFC 8707 §2)",
                ));
            }
            if *one == default_audience || settings.resources.iter().any(|r| r == one) {
                Ok((*one).to_owned())
            } else {
                Err(OAuthError::invalid_target(format!(
                    "resource {one} is not registered with this organization"
                )))
            }
        }
        _ => Err(OAuthError::invalid_target(
            "only one resource may be requested per access token",
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    const ISS: &str = "https://id.example/acme";
    const TOKEN: &str = "https://id.example/acme/token";
    const PAR: &str = "https://id.example/acme/par";
    #[test]
    fn assertion_audience_final_rules() {
        let s = OrgSettings::default();
        assert!(assertion_audience_accepted(
            &json!(ISS),
            ISS,
            TOKEN,
            PAR,
            &s
        ));
        assert!(!assertion_audience_accepted(
            &json!(TOKEN),
            ISS,
            TOKEN,
            PAR,
            &s
        ));
        assert!(!assertion_audience_accepted(
            &json!(PAR),
            ISS,
            TOKEN,
            PAR,
            &s
        ));
        assert!(!assertion_audience_accepted(
            &json!([ISS]),
            ISS,
            TOKEN,
            PAR,
            &s
        ));
        assert!(!assertion_audience_accepted(
            &json!("https://other.example"),
            ISS,
            TOKEN,
            PAR,
            &s
        ));
    }

    #[test]
    fn assertion_audience_legacy_switch() {
        let s = OrgSettings {
            accept_legacy_assertion_audience: true,
            ..OrgSettings::default()
        };
        assert!(assertion_audience_accepted(
            &json!(TOKEN),
            ISS,
            TOKEN,
            PAR,
            &s
        ));
        assert!(assertion_audience_accepted(
            &json!([PAR, "x"]),
            ISS,
            TOKEN,
            PAR,
            &s
        ));
        assert!(!assertion_audience_accepted(
            &json!(["x"]),
            ISS,
            TOKEN,
            PAR,
            &s
        ));
    }

    #[test]
    fn audience_rules() {
        let s = OrgSettings {
            resources: vec!["https://api.bank.example/".into()],
            ..OrgSettings::default()
        };
        let def = "https://id.example/acme/api";
        assert_eq!(resolve_audience(&[], def, &s).unwrap(), def);
        assert_eq!(resolve_audience(&[def], def, &s).unwrap(), def);
        assert_eq!(
            resolve_audience(&["https://api.bank.example/"], def, &s).unwrap(),
            "https://api.bank.example/"
        );
        assert!(resolve_audience(&["https://evil.example/"], def, &s).is_err());
        assert!(resolve_audience(&["not a uri"], def, &s).is_err());
        assert!(resolve_audience(&["https://api.bank.example/#x"], def, &s).is_err());
        assert!(resolve_audience(&[def, def], def, &s).is_err());
    }
}
