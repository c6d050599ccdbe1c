//! What a flow needs registered first: code-flow clients, the user alice, further organizations.

use serde_json::{Value, json};

use super::{PASSWORD, REDIRECT_URI, USERNAME};
use crate::{ClientKey, ORG, ORG_TOKEN, TestServer};

/// A registered code-flow client.
pub struct FapiClient {
    pub client_id: String,
    pub key: ClientKey,
    pub redirect_uri: String,
}

impl TestServer {
    /// Registers a code-flow client (authorization_code, refresh_token, client_credentials).
    pub async fn fapi_client(&self, extra: Value) -> FapiClient {
        let key = ClientKey::es256();
        let mut body = json!({
            "client_name": "PSD2 TPP Client",
            "redirect_uris": [REDIRECT_URI, "https://tpp.example.com/callback?dummy1=lorem&dummy2=ipsum"],
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": key.jwks(),
            "require_pushed_authorization_requests": true,
            "require_dpop": true,
        });
        if let (Some(obj), Some(more)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in more {
                obj.insert(k.clone(), v.clone());
            }
        }
        let md = self.register_client(body).await;
        FapiClient {
            client_id: md["client_id"].as_str().expect("client_id").to_owned(),
            key,
            redirect_uri: REDIRECT_URI.to_owned(),
        }
    }

    /// A code-flow client (as [`TestServer::fapi_client`]) in organization `org`.
    pub async fn fapi_client_in(&self, org: &str, token: &str) -> FapiClient {
        let key = ClientKey::es256();
        let md = self
            .register_client_in(
                org,
                token,
                json!({
                    "client_name": "PSD2 TPP Client",
                    "redirect_uris": [REDIRECT_URI],
                    "grant_types": ["authorization_code", "refresh_token"],
                    "response_types": ["code"],
                    "token_endpoint_auth_method": "private_key_jwt",
                    "jwks": key.jwks(),
                }),
            )
            .await;
        FapiClient {
            client_id: md["client_id"].as_str().expect("client_id").to_owned(),
            key,
            redirect_uri: REDIRECT_URI.to_owned(),
        }
    }

    /// Creates the test user `alice` with profile claims.
    pub async fn create_user(&self) -> Value {
        let answer = self
            .admin(
                reqwest::Method::POST,
                &format!("/api/v1/organizations/{ORG}/users"),
                ORG_TOKEN,
                Some(json!({"username": USERNAME, "password": PASSWORD, "email": "alice@example.com", "given_name": "Alice", "family_name": "Doe"})),
            )
            .await;
        assert_eq!(answer.status.as_u16(), 201, "create user: {}", answer.text);
        answer.body
    }

    /// Creates alice (same password as in `acme`) in organization `org`.
    pub async fn create_user_in(&self, org: &str, token: &str) -> Value {
        let answer = self
            .admin(
                reqwest::Method::POST,
                &format!("/api/v1/organizations/{org}/users"),
                token,
                Some(json!({"username": USERNAME, "password": PASSWORD})),
            )
            .await;
        assert_eq!(answer.status.as_u16(), 201, "create user: {}", answer.text);
        answer.body
    }

    /// Creates organization `id` with the server token; returns its admin token.
    pub async fn create_org(&self, id: &str) -> String {
        let answer = self
            .admin(
                reqwest::Method::POST,
                "/api/v1/organizations",
                crate::SERVER_TOKEN,
                Some(json!({"id": id, "display_name": id})),
            )
            .await;
        assert_eq!(answer.status.as_u16(), 201, "create org: {}", answer.text);
        answer.body["admin_token"]
            .as_str()
            .expect("admin_token")
            .to_owned()
    }
}
