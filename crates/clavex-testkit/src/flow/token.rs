//! The back channel after the code: redeeming it, refreshing, the whole flow, the userinfo endpoint
//! and the ID token.

use serde_json::Value;

use super::{Browser, FapiClient};
use crate::{Answer, ClientKey, ORG, TestServer};

impl TestServer {
    /// Redeems a code at the token endpoint with a fresh assertion and a proof of `dpop_key`.
    pub async fn redeem_code(
        &self,
        client: &FapiClient,
        code: &str,
        verifier: &str,
        dpop_key: &ClientKey,
    ) -> Answer {
        let assertion = client
            .key
            .assertion(&client.client_id, &self.issuer, self.now());
        let proof = dpop_key.dpop_proof("POST", &self.token_endpoint, self.now());
        self.token_request(
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", client.redirect_uri.as_str()),
                ("code_verifier", verifier),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", assertion.as_str()),
            ],
            &[&proof],
        )
        .await
    }

    /// A token request authenticated as `client` (fresh assertion) with `form` and DPoP headers.
    pub async fn token_as(
        &self,
        client: &FapiClient,
        form: &[(&str, &str)],
        dpop: &[&str],
    ) -> Answer {
        let assertion = client
            .key
            .assertion(&client.client_id, &self.issuer, self.now());
        let mut full: Vec<(&str, &str)> = form.to_vec();
        full.push(("client_assertion_type", crate::JWT_BEARER));
        full.push(("client_assertion", assertion.as_str()));
        self.token_request(&full, dpop).await
    }

    /// `grant_type=refresh_token` as `client` with a fresh proof of `dpop_key` and `extra`.
    pub async fn refresh(
        &self,
        client: &FapiClient,
        refresh_token: &str,
        dpop_key: &ClientKey,
        extra: &[(&str, &str)],
    ) -> Answer {
        let proof = self.token_proof(dpop_key);
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        form.extend_from_slice(extra);
        self.token_as(client, &form, &[&proof]).await
    }

    /// PAR (usual parameters), login, consent, token request with `dpop_key`. Returns the
    /// successful token response.
    pub async fn full_flow(
        &self,
        browser: &Browser,
        client: &FapiClient,
        scope: &str,
        dpop_key: &ClientKey,
    ) -> Answer {
        let (code, verifier) = self.obtain_code(browser, client, scope).await;
        let tokens = self.redeem_code(client, &code, &verifier, dpop_key).await;
        assert_eq!(tokens.status.as_u16(), 200, "token: {}", tokens.text);
        tokens
    }

    /// `GET /userinfo` with a DPoP-bound token.
    pub async fn userinfo(&self, access_token: &str, dpop_key: &ClientKey) -> Answer {
        let url = format!("{}/userinfo", self.issuer);
        let mut claims = dpop_key.dpop_claims("GET", &url, self.now());
        claims["ath"] = Value::String(clavex_jose::b64url_encode(&clavex_jose::sha256(
            access_token.as_bytes(),
        )));
        let proof = dpop_key.dpop_with(claims);
        Answer::from(
            self.http
                .get(&url)
                .header("Authorization", format!("DPoP {access_token}"))
                .header("DPoP", proof)
                .send()
                .await
                .expect("userinfo"),
        )
        .await
    }

    /// The ID token of a token response, verified with the organization's published JWKS:
    /// (header, claims).
    pub async fn verified_id_token(&self, tokens: &Answer) -> (Value, Value) {
        let id_token = tokens.body["id_token"]
            .as_str()
            .unwrap_or_else(|| panic!("id_token in {}", tokens.text));
        let jwks = self.get(&format!("/{ORG}/jwks")).await.body;
        let claims = crate::verify_with_jwks(id_token, &jwks)
            .unwrap_or_else(|e| panic!("ID token does not verify with the JWKS: {e}"));
        let (header, _) = crate::decode_unverified(id_token);
        (header, claims)
    }
}
