//! The authorization-code flow from the client's and the browser's side: PAR, a cookie-keeping
//! browser that fills in the login and consent forms, PKCE, and the token request.

use serde_json::{Value, json};

use crate::{Answer, ClientKey, ORG, ORG_TOKEN, TestServer};

pub const REDIRECT_URI: &str = "https://tpp.example.com/callback";
pub const USERNAME: &str = "alice";
pub const PASSWORD: &str = "correct horse battery";

/// A PKCE pair (RFC 7636): a 64-character verifier and its S256 challenge.
pub fn pkce() -> (String, String) {
    let verifier = format!(
        "{}{}",
        clavex_jose::random_token(32),
        "-._~abcdefghijklmnopqrstu"
    );
    let challenge = clavex_jose::b64url_encode(&clavex_jose::sha256(verifier.as_bytes()));
    (verifier, challenge)
}

/// A registered code-flow client.
pub struct FapiClient {
    pub client_id: String,
    pub key: ClientKey,
    pub redirect_uri: String,
}

/// The value of a hidden form field in a page.
pub fn hidden_field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(
        html[start..end]
            .replace("&#x2b;", "+")
            .replace("&#43;", "+")
            .replace("&amp;", "&")
            .replace("&#x3a;", ":")
            .replace("&#58;", ":"),
    )
}

/// A browser: keeps cookies, does not follow redirects (tests inspect them).
pub struct Browser {
    pub http: reqwest::Client,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    pub fn new() -> Browser {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("browser");
        Browser { http }
    }

    pub async fn get(&self, url: &str) -> Answer {
        Answer::from(self.http.get(url).send().await.expect("browser GET")).await
    }

    pub async fn post(&self, url: &str, form: &[(&str, &str)]) -> Answer {
        Answer::from(
            self.http
                .post(url)
                .form(form)
                .send()
                .await
                .expect("browser POST"),
        )
        .await
    }
}

impl Answer {
    pub fn location(&self) -> String {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    }

    /// Query parameters of the `Location` header.
    pub fn redirect_params(&self) -> Vec<(String, String)> {
        url::Url::parse(&self.location())
            .map(|u| u.query_pairs().into_owned().collect())
            .unwrap_or_default()
    }

    pub fn redirect_param(&self, name: &str) -> Option<String> {
        self.redirect_params()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
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

    pub fn par_endpoint(&self) -> String {
        format!("{}/par", self.issuer)
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

    pub fn authorize_url(&self, client_id: &str, request_uri: &str) -> String {
        let mut url = url::Url::parse(&format!("{}/authorize", self.issuer)).expect("url");
        url.query_pairs_mut()
            .append_pair("client_id", client_id)
            .append_pair("request_uri", request_uri);
        url.to_string()
    }

    /// Opens the authorization URL, signs in as alice and approves; returns the final redirect.
    pub async fn login_and_approve(
        &self,
        browser: &Browser,
        client_id: &str,
        request_uri: &str,
    ) -> Answer {
        let page = browser
            .get(&self.authorize_url(client_id, request_uri))
            .await;
        assert_eq!(page.status.as_u16(), 200, "authorize page: {}", page.text);
        let page = if page.text.contains("id=\"password\"") {
            let csrf = hidden_field(&page.text, "csrf").expect("csrf field");
            let answer = browser
                .post(
                    &format!("{}/login", self.issuer),
                    &[
                        ("client_id", client_id),
                        ("request_uri", request_uri),
                        ("csrf", &csrf),
                        ("username", USERNAME),
                        ("password", PASSWORD),
                        ("action", "login"),
                    ],
                )
                .await;
            if answer.status.as_u16() == 303 {
                return answer;
            }
            answer
        } else {
            page
        };
        assert!(
            page.text.contains("id=\"approve\""),
            "consent page expected: {}",
            page.text
        );
        let csrf = hidden_field(&page.text, "csrf").expect("csrf field");
        browser
            .post(
                &format!("{}/consent", self.issuer),
                &[
                    ("client_id", client_id),
                    ("request_uri", request_uri),
                    ("csrf", &csrf),
                    ("action", "approve"),
                ],
            )
            .await
    }

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

    /// PAR → login → consent → code. Returns (code, verifier).
    pub async fn obtain_code(
        &self,
        browser: &Browser,
        client: &FapiClient,
        scope: &str,
    ) -> (String, String) {
        let (verifier, challenge) = pkce();
        let par = self
            .par(
                client,
                &Self::authorization_params(client, scope, &challenge),
                &[],
            )
            .await;
        assert_eq!(par.status.as_u16(), 201, "PAR: {}", par.text);
        let request_uri = par.body["request_uri"]
            .as_str()
            .expect("request_uri")
            .to_owned();
        let done = self
            .login_and_approve(browser, &client.client_id, &request_uri)
            .await;
        assert_eq!(
            done.status.as_u16(),
            303,
            "authorization response: {}",
            done.text
        );
        let code = done.redirect_param("code").expect("code in redirect");
        (code, verifier)
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
}
