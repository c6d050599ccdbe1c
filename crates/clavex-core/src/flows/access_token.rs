//! RFC 9068 JWT access tokens, bound to the DPoP key (`cnf.jkt`, RFC 9449 §6.1), signed ES256 by
//! the organization.

use serde_json::{Map, Value, json};

use crate::engine::{Engine, OrgContext};
use crate::error::{Error, Result};
use crate::ids::ClientId;
use crate::policy;
use crate::policy::dpop::JwkThumbprint;

/// What an access token says, besides the issuer and the times.
pub(crate) struct AccessTokenClaims<'a> {
    /// The user, or the client itself for `client_credentials`.
    pub subject: &'a str,
    pub client_id: &'a ClientId,
    pub audience: &'a str,
    pub scope: Option<&'a str>,
    /// The JWK thumbprint of the DPoP key the token is bound to.
    pub jkt: &'a JwkThumbprint,
    pub lifetime: u64,
    /// The grant, so that resource checks can see whether it has been revoked.
    pub grant_id: Option<&'a str>,
    /// RFC 9396 §9.1: resource servers read what was approved from the token.
    pub authorization_details: Option<&'a Value>,
}

impl Engine {
    pub(crate) async fn issue_access_token(
        &self,
        org: &OrgContext,
        token: &AccessTokenClaims<'_>,
        now: i64,
    ) -> Result<String> {
        let keys = self.org_keys(&org.id).await?;
        let signer = keys.signer(policy::algorithms::DEFAULT_SIGNING_ALGORITHM)?;
        let mut claims = Map::new();
        claims.insert("iss".into(), Value::String(org.issuer.clone()));
        claims.insert("sub".into(), Value::String(token.subject.to_owned()));
        claims.insert("aud".into(), Value::String(token.audience.to_owned()));
        claims.insert(
            "client_id".into(),
            Value::String(token.client_id.to_string()),
        );
        if let Some(scope) = token.scope {
            claims.insert("scope".into(), Value::String(scope.to_owned()));
        }
        claims.insert("iat".into(), json!(now));
        claims.insert(
            "exp".into(),
            json!(now.saturating_add(i64::try_from(token.lifetime).unwrap_or(i64::MAX))),
        );
        claims.insert("jti".into(), Value::String(clavex_jose::random_token(16)));
        claims.insert("cnf".into(), json!({ "jkt": token.jkt.as_str() }));
        if let Some(grant_id) = token.grant_id {
            claims.insert("grant_id".into(), Value::String(grant_id.to_owned()));
        }
        if let Some(details) = token.authorization_details {
            claims.insert("authorization_details".into(), details.clone());
        }
        signer
            .sign_jwt(Some("at+jwt"), None, true, &Value::Object(claims))
            .map_err(|e| Error::internal("signing an access token", e))
    }
}
