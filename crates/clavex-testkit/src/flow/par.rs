//! Pushed authorization requests (RFC 9126): the usual parameters, authenticated and raw pushes.

use super::{FapiClient, pkce};
use crate::{Answer, TestServer};

impl TestServer {
    pub fn par_endpoint(&self) -> String {
        format!("{}/par", self.issuer)
    }

    /// The issuer's PAR endpoint for organization `org`.
    pub fn par_endpoint_of(&self, org: &str) -> String {
        format!("{}/par", self.issuer_of(org))
    }

    /// The usual pushed parameters: code, redirect URI, `scope`, state, nonce, S256 challenge.
    pub fn authorization_params<'a>(
        client: &'a FapiClient,
        scope: &'a str,
        challenge: &'a str,
    ) -> Vec<(&'a str, &'a str)> {
        vec![
            ("response_type", "code"),
            ("redirect_uri", client.redirect_uri.as_str()),
            ("scope", scope),
            ("state", "state-123"),
            ("nonce", "nonce-456"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ]
    }

    /// `POST /par` with client authentication and `params`, plus DPoP headers.
    pub async fn par(&self, client: &FapiClient, params: &[(&str, &str)], dpop: &[&str]) -> Answer {
        let assertion = client
            .key
            .assertion(&client.client_id, &self.issuer, self.now());
        let mut form: Vec<(&str, &str)> = vec![
            ("client_id", client.client_id.as_str()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion.as_str()),
        ];
        form.extend_from_slice(params);
        let mut request = self.http.post(self.par_endpoint()).form(&form);
        for proof in dpop {
            request = request.header("DPoP", *proof);
        }
        Answer::from(request.send().await.expect("PAR")).await
    }

    /// `POST /par` with exactly `form` (no client authentication added) and these DPoP headers.
    pub async fn par_form(&self, form: &[(&str, &str)], dpop: &[&str]) -> Answer {
        let mut request = self.http.post(self.par_endpoint()).form(form);
        for proof in dpop {
            request = request.header("DPoP", *proof);
        }
        Answer::from(request.send().await.expect("PAR")).await
    }

    /// `POST /par` authenticated with the given (possibly unusual) `client_assertion`.
    pub async fn par_with_assertion(
        &self,
        client: &FapiClient,
        assertion: &str,
        params: &[(&str, &str)],
    ) -> Answer {
        let mut form: Vec<(&str, &str)> = vec![
            ("client_id", client.client_id.as_str()),
            ("client_assertion_type", crate::JWT_BEARER),
            ("client_assertion", assertion),
        ];
        form.extend_from_slice(params);
        self.par_form(&form, &[]).await
    }

    /// PAR at organization `org` (assertion audience = that organization's issuer).
    pub async fn par_at(
        &self,
        org: &str,
        client: &FapiClient,
        params: &[(&str, &str)],
        dpop: &[&str],
    ) -> Answer {
        let assertion = client
            .key
            .assertion(&client.client_id, &self.issuer_of(org), self.now());
        let mut form: Vec<(&str, &str)> = vec![
            ("client_id", client.client_id.as_str()),
            ("client_assertion_type", crate::JWT_BEARER),
            ("client_assertion", assertion.as_str()),
        ];
        form.extend_from_slice(params);
        let mut request = self.http.post(self.par_endpoint_of(org)).form(&form);
        for proof in dpop {
            request = request.header("DPoP", *proof);
        }
        Answer::from(request.send().await.expect("PAR")).await
    }

    /// Pushes `params` for `client`, asserts 201, returns the `request_uri`.
    pub async fn push(&self, client: &FapiClient, params: &[(&str, &str)]) -> String {
        let par = self.par(client, params, &[]).await;
        assert_eq!(par.status.as_u16(), 201, "PAR: {}", par.text);
        par.body["request_uri"]
            .as_str()
            .expect("request_uri")
            .to_owned()
    }

    /// Pushes the usual parameters for `scope`; returns (request_uri, code_verifier).
    pub async fn push_default(&self, client: &FapiClient, scope: &str) -> (String, String) {
        let (verifier, challenge) = pkce();
        let request_uri = self
            .push(
                client,
                &Self::authorization_params(client, scope, &challenge),
            )
            .await;
        (request_uri, verifier)
    }
}
