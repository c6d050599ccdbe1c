//! `POST /{org}/par`: pushed authorization requests (RFC 9126, FAPI 2.0 SP §5.3.2.2), optionally
//! as a signed request object (RFC 9101, FAPI 2.0 MS §5.3.1).

use clavex_store::{ArtifactKind, ArtifactRecord};
use serde::Serialize;

use crate::artifacts::{Payload, PushedRequest, REQUEST_URI_PREFIX, hash_secret};
use crate::connection::ConnectionFacts;
use crate::dpop::{self, DpopContext};
use crate::engine::{Engine, OrgContext};
use crate::error::{OAuthError, Result};
use crate::flows::authorization_request::AuthorizationRequest;
use crate::form::Params;
use crate::ids::OrgId;
use crate::policy::dpop::JwkThumbprint;
use crate::policy::{self, lifetimes};

pub struct ParRequest<'a> {
    pub params: Params,
    pub dpop: Vec<&'a str>,
    pub authorization_header: Option<&'a str>,
    pub connection: &'a ConnectionFacts,
}

#[derive(Debug, Serialize)]
pub struct ParResponse {
    pub request_uri: String,
    pub expires_in: i64,
}

impl Engine {
    /// `POST /{org}/par` (RFC 9126 §2).
    pub async fn push_authorization_request(
        &self,
        org_id: &OrgId,
        request: ParRequest<'_>,
    ) -> Result<ParResponse> {
        let org = self.org(org_id).await?;
        self.push_request(&org, &request).await.map_err(|err| {
            crate::client_auth::with_client_challenge(err, &org, request.authorization_header)
        })
    }

    async fn push_request(
        &self,
        org: &OrgContext,
        request: &ParRequest<'_>,
    ) -> Result<ParResponse> {
        let form = &request.params;
        // RFC 9126 §2.1: request_uri must not be pushed.
        if form.single("request_uri")?.is_some() {
            return Err(OAuthError::invalid_request(
                "request_uri must not be sent to the pushed authorization request endpoint",
            )
            .into());
        }
        let authenticated = self
            .authenticate_client(org, form, request.authorization_header)
            .await?;
        let client = authenticated.client.clone();
        // JAR (RFC 9101 §5, FAPI 2.0 MS §5.3.1): with a request object, its claims are the whole
        // authorization request; the outer form only authenticates the client.
        let from_request_object = match form.single("request")? {
            Some(request_object) => Some(
                self.verify_request_object(org, &client, request_object)
                    .await?,
            ),
            None if client.metadata.require_signed_request_object => {
                return Err(OAuthError::invalid_request(
                    "this client must push a signed request object (JAR): send the authorization parameters in the request parameter",
                )
                .into());
            }
            None => None,
        };
        let parsed = AuthorizationRequest::parse(
            from_request_object.as_ref().unwrap_or(form),
            org,
            &client,
        )?;
        let now = self.now();
        // RFC 9449 §10: a proof at PAR binds the code to its key; with dpop_jkt too, both must agree.
        let proof = if request.dpop.is_empty() {
            None
        } else {
            let proof = dpop::verify_proof(
                &request.dpop,
                &DpopContext {
                    method: "POST",
                    url: &org.par_endpoint,
                    access_token: None,
                },
                now,
            )?;
            self.check_dpop_nonce(org, &proof)?;
            let proof_jkt = JwkThumbprint::of_proof(&proof);
            policy::dpop::check_par_binding(parsed.dpop_jkt.as_ref(), &proof_jkt)?;
            Some((proof, proof_jkt))
        };
        let (proof, proof_jkt) = proof.unzip();
        let dpop_jkt = proof_jkt.or_else(|| parsed.dpop_jkt.clone());

        self.record_request_uses(org, proof.as_ref(), &authenticated)
            .await?;

        let pushed = PushedRequest {
            client_id: client.metadata.client_id.clone(),
            redirect_uri: parsed.redirect_uri,
            scope: parsed.scope,
            state: parsed.state,
            nonce: parsed.nonce,
            code_challenge: parsed.code_challenge,
            dpop_jkt,
            prompt: parsed.prompt,
            max_age: parsed.max_age,
            claims: parsed.claims,
            acr_values: parsed.acr_values,
            jarm: parsed.response_mode.is_jwt(),
            authorization_details: parsed.authorization_details,
            created_at: now,
        };
        let request_uri = format!("{REQUEST_URI_PREFIX}{}", clavex_jose::random_token(32));
        self.store
            .insert_artifact(&ArtifactRecord {
                kind: ArtifactKind::PushedRequest,
                id_hash: hash_secret(&request_uri),
                org_id: org.record.id.clone(),
                client_id: Some(client.metadata.client_id.to_string()),
                grant_id: None,
                payload_json: pushed.encode()?,
                created_at: now,
                expires_at: now + lifetimes::PAR_LIFETIME_SECS,
                retain_until: now + lifetimes::PAR_LIFETIME_SECS + lifetimes::PAR_RETAIN_SECS,
                used_at: None,
            })
            .await?;
        Ok(ParResponse {
            request_uri,
            expires_in: lifetimes::PAR_LIFETIME_SECS,
        })
    }
}
