//! The authorization response (RFC 6749 §4.1.2, RFC 9207 `iss`; JARM for `response_mode=jwt`), and
//! the point of authorization that issues the code.

use clavex_store::{ArtifactKind, ArtifactRecord, Consumed, GrantRecord};
use serde_json::Value;

use crate::artifacts::{
    CodePayload, GrantPayload, Payload, PushedRequest, SessionPayload, hash_secret,
};
use crate::client::ResolvedClient;
use crate::engine::{Engine, OrgContext};
use crate::error::{Error, ErrorCode, Result};
use crate::flows::interaction::{ErrorPage, Interaction};
use crate::policy::redirect_uri::RedirectUri;
use crate::policy::response::ResponseMode;
use crate::policy::{self, lifetimes};

/// Builds the authorization response URI: the registered redirect URI with its own query kept and
/// ours appended (RFC 6749 §4.1.2, RFC 9207 `iss`).
pub fn response_uri(redirect_uri: &str, params: &[(&str, &str)]) -> Result<String> {
    let mut url = url::Url::parse(redirect_uri)
        .map_err(|e| Error::internal("parsing a stored redirect_uri", e))?;
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in params {
            query.append_pair(k, v);
        }
    }
    Ok(url.to_string())
}
impl Engine {
    /// The authorization response of a pushed request, success or error, in its response mode:
    /// query parameters with `iss` (RFC 9207), or with JARM one `response` parameter carrying a JWT
    /// signed by the organization (`authorization_signed_response_alg` of the client, ES256 by
    /// default) with `iss`, `aud`, `exp` and the same parameters.
    pub(crate) async fn respond_to_pushed(
        &self,
        org: &OrgContext,
        client: &ResolvedClient,
        pushed: &PushedRequest,
        params: &[(&str, &str)],
    ) -> Result<Interaction> {
        self.respond(
            org,
            client,
            &pushed.redirect_uri,
            pushed.state.as_deref(),
            pushed.response_mode(),
            params,
        )
        .await
    }

    /// An authorization response to `redirect_uri` (registered for `client`), plain or JARM.
    pub(crate) async fn respond(
        &self,
        org: &OrgContext,
        client: &ResolvedClient,
        redirect_uri: &RedirectUri,
        state: Option<&str>,
        mode: ResponseMode,
        params: &[(&str, &str)],
    ) -> Result<Interaction> {
        let mut all: Vec<(&str, &str)> = params.to_vec();
        if let Some(state) = state {
            all.push(("state", state));
        }
        if !mode.is_jwt() {
            all.push(("iss", &org.issuer));
            return Ok(Interaction::Redirect(response_uri(
                redirect_uri.as_str(),
                &all,
            )?));
        }
        let alg =
            policy::signing_algorithm(client.metadata.authorization_signed_response_alg.as_deref())
                .map_err(|e| Error::internal("the client's authorization response alg", e))?;
        let keys = self.org_keys(&org.id).await?;
        let signer = keys.signer(alg)?;
        let now = self.now();
        let mut claims = serde_json::Map::new();
        claims.insert("iss".into(), Value::String(org.issuer.clone()));
        claims.insert(
            "aud".into(),
            Value::String(client.metadata.client_id.to_string()),
        );
        claims.insert("iat".into(), Value::from(now));
        claims.insert(
            "exp".into(),
            Value::from(now + policy::AUTHORIZATION_RESPONSE_LIFETIME_SECS),
        );
        for (name, value) in &all {
            claims.insert((*name).to_owned(), Value::String((*value).to_owned()));
        }
        let response = signer
            .sign_jwt(None, None, true, &Value::Object(claims))
            .map_err(|e| Error::internal("signing the authorization response", e))?;
        Ok(Interaction::Redirect(response_uri(
            redirect_uri.as_str(),
            &[("response", &response)],
        )?))
    }

    /// An error answered to the client of a pushed request, in the request's response mode.
    pub(crate) async fn pushed_error(
        &self,
        org: &OrgContext,
        client: &ResolvedClient,
        pushed: &PushedRequest,
        code: ErrorCode,
        description: &str,
    ) -> Result<Interaction> {
        self.respond_to_pushed(
            org,
            client,
            pushed,
            &[("error", code.as_str()), ("error_description", description)],
        )
        .await
    }

    /// The point of authorization: uses up the `request_uri` (exactly once, on any node), records the
    /// grant and issues the code, in one transaction: either all three happen or none.
    pub(crate) async fn complete_authorization(
        &self,
        org: &OrgContext,
        client: &ResolvedClient,
        pushed: &PushedRequest,
        request_uri: &str,
        session: &SessionPayload,
    ) -> Result<Interaction> {
        let now = self.now();
        let grant_id = uuid::Uuid::now_v7().to_string();
        // OIDC Core §3.1.2.1: `acr` is the class the authentication *satisfied*. Clavex signs users
        // in with a password only and defines no class for it, so a requested `acr_values` is never
        // echoed as if it had been performed.
        let grant = GrantPayload {
            user_id: session.user_id.clone(),
            scope: pushed.scope.clone(),
            auth_time: session.auth_time,
            claims: pushed.claims.clone(),
            acr: None,
            authorization_details: pushed.authorization_details.clone(),
        };
        let grant_record = GrantRecord {
            grant_id: grant_id.clone(),
            org_id: org.record.id.clone(),
            client_id: client.metadata.client_id.to_string(),
            user_id: Some(session.user_id.clone()),
            payload_json: grant.encode()?,
            created_at: now,
            expires_at: now + lifetimes::GRANT_LIFETIME_SECS,
            revoked_at: None,
        };
        let code = clavex_jose::random_token(32);
        let code_payload = CodePayload {
            redirect_uri: pushed.redirect_uri.clone(),
            code_challenge: pushed.code_challenge.clone(),
            dpop_jkt: pushed.dpop_jkt.clone(),
            nonce: pushed.nonce.clone(),
        };
        let code_record = ArtifactRecord {
            kind: ArtifactKind::AuthorizationCode,
            id_hash: hash_secret(&code),
            org_id: org.record.id.clone(),
            client_id: Some(client.metadata.client_id.to_string()),
            grant_id: Some(grant_id),
            payload_json: code_payload.encode()?,
            created_at: now,
            expires_at: now + lifetimes::CODE_LIFETIME_SECS,
            retain_until: now + lifetimes::CODE_LIFETIME_SECS + lifetimes::CODE_RETAIN_SECS,
            used_at: None,
        };
        match self
            .store
            .consume_artifact_and_issue(
                ArtifactKind::PushedRequest,
                &hash_secret(request_uri),
                now,
                &grant_record,
                &code_record,
            )
            .await?
        {
            Consumed::Fresh(_) => {}
            Consumed::AlreadyUsed(_) | Consumed::Expired(_) => {
                return self
                    .pushed_error(
                        org,
                        client,
                        pushed,
                        ErrorCode::InvalidRequestUri,
                        "request_uri has already been used or has expired",
                    )
                    .await;
            }
            Consumed::Missing => {
                return Ok(Interaction::ErrorPage(ErrorPage::RequestGone));
            }
        }
        self.respond_to_pushed(org, client, pushed, &[("code", &code)])
            .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn response_uri_keeps_registered_query() {
        let uri = response_uri(
            "https://tpp.example/cb?dummy1=lorem&dummy2=ipsum",
            &[
                ("code", "abc"),
                ("state", "s t"),
                ("iss", "https://id.example/acme"),
            ],
        )
        .unwrap();
        assert_eq!(
            uri,
            "https://tpp.example/cb?dummy1=lorem&dummy2=ipsum&code=abc&state=s+t&iss=https%3A%2F%2Fid.example%2Facme"
        );
    }
}
