//! ID tokens (OIDC Core §2, §3.1.3.6) and the claims Clavex knows about a user (§5.1).

use clavex_jose::Algorithm;
use serde_json::{Map, Value, json};

use crate::artifacts::GrantPayload;
use crate::client::ClientMetadata;
use crate::engine::{Engine, OrgContext};
use crate::error::{Error, Result};
use crate::ids::OrgId;
use crate::policy::{self, lifetimes};
use crate::records;

/// The base64url left half of the hash of `value` that goes with `alg` (OIDC Core §3.1.3.6).
fn left_half_hash(alg: Algorithm, value: &str) -> String {
    let digest = match alg {
        Algorithm::Es256 | Algorithm::Ps256 => clavex_jose::sha256(value.as_bytes()).to_vec(),
        Algorithm::EdDsa => aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA512, value.as_bytes())
            .as_ref()
            .to_vec(),
    };
    clavex_jose::b64url_encode(digest.get(..digest.len() / 2).unwrap_or(&digest))
}

impl Engine {
    pub(crate) async fn issue_id_token(
        &self,
        org: &OrgContext,
        client: &ClientMetadata,
        grant: &GrantPayload,
        nonce: Option<&str>,
        access_token: &str,
        now: i64,
    ) -> Result<String> {
        let client_id = client.client_id.as_str();
        let alg = policy::signing_algorithm(client.id_token_signed_response_alg.as_deref())
            .map_err(|e| Error::internal("the client's id_token alg", e))?;
        let keys = self.org_keys(&org.id).await?;
        let signer = keys.signer(alg)?;
        let mut claims = Map::new();
        claims.insert("iss".into(), Value::String(org.issuer.clone()));
        claims.insert("sub".into(), Value::String(grant.user_id.clone()));
        claims.insert("aud".into(), Value::String(client_id.to_owned()));
        claims.insert("azp".into(), Value::String(client_id.to_owned()));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + lifetimes::ID_TOKEN_LIFETIME_SECS));
        claims.insert("auth_time".into(), json!(grant.auth_time));
        if let Some(nonce) = nonce {
            claims.insert("nonce".into(), Value::String(nonce.to_owned()));
        }
        if let Some(acr) = &grant.acr {
            claims.insert("acr".into(), Value::String(acr.clone()));
        }
        // OIDC Core §3.1.3.6: at_hash is the left half of the hash of the access token, with the
        // hash of the ID token's alg: SHA-256 for ES256/PS256, SHA-512 for EdDSA (Ed25519, as the
        // OIDC errata and the conformance suite's ValidateHash have it).
        claims.insert(
            "at_hash".into(),
            Value::String(left_half_hash(alg, access_token)),
        );
        if let Some(requested) = grant
            .claims
            .as_ref()
            .and_then(|c| c.get("id_token"))
            .and_then(Value::as_object)
        {
            let user_claims = self.user_claims(&org.id, &grant.user_id).await?;
            for name in requested.keys() {
                if let Some(value) = user_claims.get(name)
                    && !claims.contains_key(name)
                {
                    claims.insert(name.clone(), value.clone());
                }
            }
        }
        signer
            .sign_jwt(None, None, true, &Value::Object(claims))
            .map_err(|e| Error::internal("signing an ID token", e))
    }

    /// Every claim Clavex knows about a user (standard OIDC names).
    pub async fn user_claims(&self, org_id: &OrgId, user_id: &str) -> Result<Map<String, Value>> {
        let Some(user) = self.store.get_user(org_id.as_str(), user_id).await? else {
            return Ok(Map::new());
        };
        let mut claims = records::user_claims(&user);
        claims.insert("sub".into(), Value::String(user.user_id.clone()));
        claims
            .entry("preferred_username")
            .or_insert_with(|| Value::String(user.username.clone()));
        if let Some(email) = &user.email {
            claims.insert("email".into(), Value::String(email.clone()));
            claims.entry("email_verified").or_insert(Value::Bool(false));
        }
        if !claims.contains_key("name") {
            let given = claims
                .get("given_name")
                .and_then(Value::as_str)
                .unwrap_or("");
            let family = claims
                .get("family_name")
                .and_then(Value::as_str)
                .unwrap_or("");
            let full = format!("{given} {family}").trim().to_owned();
            if !full.is_empty() {
                claims.insert("name".into(), Value::String(full));
            }
        }
        claims.insert("updated_at".into(), json!(user.updated_at));
        Ok(claims)
    }
}
