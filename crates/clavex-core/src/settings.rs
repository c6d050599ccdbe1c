//! Per-organization settings, stored as JSON in the organization record.

use serde::{Deserialize, Serialize};

/// The security profile an organization enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// FAPI 2.0 Security Profile rules everywhere (the default).
    #[default]
    Fapi2,
}

impl Profile {
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Fapi2 => "fapi2",
        }
    }
}

pub const DEFAULT_ACCESS_TOKEN_LIFETIME: u64 = 300;

/// Who may use RFC 7591 dynamic client registration at `/{org}/register`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DynamicRegistration {
    /// No registration endpoint: `/register` answers 404 and discovery does not list it.
    Disabled,
    /// Anyone may register a client (still under the profile's registration rules).
    Open,
    /// A registration needs an initial access token issued through the Admin API (the default).
    #[default]
    InitialAccessToken,
}

impl DynamicRegistration {
    pub fn enabled(self) -> bool {
        !matches!(self, DynamicRegistration::Disabled)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgSettings {
    #[serde(default)]
    pub profile: Profile,
    /// API scopes the organization's resource servers accept (the OpenID Connect scopes are implied).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Default access-token audience; `None` means `{issuer}/api`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_audience: Option<String>,
    /// Further resource identifiers (RFC 8707) a token request may name.
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default = "default_access_token_lifetime")]
    pub access_token_lifetime: u64,
    /// RFC 9449 §8 server nonces for DPoP proofs.
    #[serde(default)]
    pub dpop_nonce_required: bool,
    /// Accept the token endpoint URL, the PAR URL and arrays as client-assertion `aud`, as the FAPI 2.0
    /// ID2 test plan expects. FAPI 2.0 final requires the issuer as a single string.
    #[serde(default)]
    pub accept_legacy_assertion_audience: bool,
    /// RFC 7591 dynamic client registration: `disabled`, `open` or `initial_access_token`.
    #[serde(default)]
    pub dynamic_registration: DynamicRegistration,
    /// RFC 9396: the `type`s of `authorization_details` the organization's APIs understand.
    #[serde(default = "default_authorization_details_types")]
    pub authorization_details_types: Vec<String>,
}

/// The open-banking types of RFC 9396's examples, so that PSD2 clients work out of the box.
fn default_authorization_details_types() -> Vec<String> {
    vec![
        "payment_initiation".to_owned(),
        "account_information".to_owned(),
    ]
}

fn default_access_token_lifetime() -> u64 {
    DEFAULT_ACCESS_TOKEN_LIFETIME
}

impl Default for OrgSettings {
    fn default() -> Self {
        OrgSettings {
            profile: Profile::Fapi2,
            scopes: Vec::new(),
            default_audience: None,
            resources: Vec::new(),
            access_token_lifetime: DEFAULT_ACCESS_TOKEN_LIFETIME,
            dpop_nonce_required: false,
            accept_legacy_assertion_audience: false,
            dynamic_registration: DynamicRegistration::InitialAccessToken,
            authorization_details_types: default_authorization_details_types(),
        }
    }
}
