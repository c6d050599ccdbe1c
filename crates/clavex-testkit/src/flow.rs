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

// ---- Helpers of the module-named conformance tests (par, authorize, code_grant, refresh,
// interaction, id_token). ----

/// Client 2's redirect URI in the conformance suite: registered with its own query, which every
/// authorization response must keep.
pub const REDIRECT_URI_WITH_QUERY: &str =
    "https://tpp.example.com/callback?dummy1=lorem&dummy2=ipsum";

/// The conformance suite's client-2 state: 128 characters ending in `-._~`.
pub fn suite_state_128() -> String {
    let mut state = "s".repeat(124);
    state.push_str("-._~");
    state
}

/// A PKCE verifier of exactly 128 characters (what the suite sends) and its S256 challenge.
pub fn pkce_128() -> (String, String) {
    let mut verifier = String::new();
    while verifier.len() < 128 {
        verifier.push_str(&clavex_jose::random_token(32));
    }
    verifier.truncate(128);
    let challenge = clavex_jose::b64url_encode(&clavex_jose::sha256(verifier.as_bytes()));
    (verifier, challenge)
}

/// A syntactically valid JWK thumbprint that is not `jkt`: every byte XOR 0x5A (what the suite
/// sends as a mismatching `dpop_jkt`).
pub fn corrupted_thumbprint(jkt: &str) -> String {
    let bytes: Vec<u8> = clavex_jose::b64url_decode(jkt)
        .expect("thumbprint is base64url")
        .iter()
        .map(|b| b ^ 0x5A)
        .collect();
    clavex_jose::b64url_encode(&bytes)
}

/// The `action` attribute of the page's (only) form.
pub fn form_action(html: &str) -> Option<String> {
    let marker = "<form method=\"post\" action=\"";
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

/// The value of `name` in `Set-Cookie` headers, with the whole header line.
pub fn set_cookie_line<'a>(answer: &'a Answer, name: &str) -> Option<&'a str> {
    answer
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|line| line.starts_with(&format!("{name}=")))
}

/// The value a `Set-Cookie` header gives to cookie `name`.
pub fn set_cookie_value(answer: &Answer, name: &str) -> Option<String> {
    let line = set_cookie_line(answer, name)?;
    let rest = &line[name.len() + 1..];
    Some(rest.split(';').next().unwrap_or("").to_owned())
}

/// Cookie names on a plain-http test node (no `__Host-` prefix there).
pub const BROWSER_COOKIE: &str = "clavex_browser";
pub fn session_cookie(org: &str) -> String {
    format!("clavex_session_{org}")
}

impl Browser {
    /// A browser whose connections come from `ip` (any 127.0.0.0/8 address reaches the node on
    /// Linux): login throttling counts per address.
    pub fn from_address(ip: &str) -> Browser {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .local_address(ip.parse::<std::net::IpAddr>().expect("ip address"))
            .build()
            .expect("browser");
        Browser { http }
    }

    /// A POST with a raw body and content type (garbage tests).
    pub async fn post_raw(&self, url: &str, content_type: &str, body: &str) -> Answer {
        Answer::from(
            self.http
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body.to_owned())
                .send()
                .await
                .expect("browser POST"),
        )
        .await
    }
}

/// A request made with exactly these cookies (no cookie store): transplanted or forged cookies.
pub async fn get_with_cookies(url: &str, cookies: &str) -> Answer {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    Answer::from(
        http.get(url)
            .header(reqwest::header::COOKIE, cookies)
            .send()
            .await
            .expect("GET with cookies"),
    )
    .await
}

/// A form POST made with exactly these cookies (no cookie store).
pub async fn post_with_cookies(url: &str, cookies: &str, form: &[(&str, &str)]) -> Answer {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    Answer::from(
        http.post(url)
            .header(reqwest::header::COOKIE, cookies)
            .form(form)
            .send()
            .await
            .expect("POST with cookies"),
    )
    .await
}

impl Answer {
    pub fn is_login_page(&self) -> bool {
        self.status.as_u16() == 200 && self.text.contains("id=\"password\"")
    }

    pub fn is_consent_page(&self) -> bool {
        self.status.as_u16() == 200 && self.text.contains("id=\"approve\"")
    }

    /// Asserts an authorization error response (RFC 6749 §4.1.2.1, RFC 9207): 303 See Other to
    /// `redirect_uri` (its own query kept), `error` = `code`, the pushed `state` (or none), `iss`,
    /// no `code`, nothing in a fragment, and only the parameters the suite allows.
    #[track_caller]
    pub fn assert_authorization_error(
        &self,
        redirect_uri: &str,
        code: &str,
        state: Option<&str>,
        issuer: &str,
    ) {
        assert_eq!(self.status.as_u16(), 303, "status; body: {}", self.text);
        let location = self.location();
        let url = url::Url::parse(&location).expect("Location is an absolute URL");
        let registered = url::Url::parse(redirect_uri).expect("redirect_uri");
        assert_eq!(
            (url.scheme(), url.host_str(), url.path()),
            (
                registered.scheme(),
                registered.host_str(),
                registered.path()
            ),
            "redirected to {location}"
        );
        assert!(url.fragment().is_none(), "fragment in {location}");
        for (k, v) in registered.query_pairs() {
            assert_eq!(
                self.redirect_param(&k).as_deref(),
                Some(v.as_ref()),
                "registered query parameter {k} kept in {location}"
            );
        }
        assert_eq!(
            self.redirect_param("error").as_deref(),
            Some(code),
            "{location}"
        );
        assert_eq!(self.redirect_param("state").as_deref(), state, "{location}");
        assert_eq!(
            self.redirect_param("iss").as_deref(),
            Some(issuer),
            "{location}"
        );
        assert!(self.redirect_param("code").is_none(), "{location}");
        let registered_names: Vec<String> = registered
            .query_pairs()
            .map(|(k, _)| k.into_owned())
            .collect();
        for (k, _) in self.redirect_params() {
            assert!(
                ["error", "error_description", "state", "iss"].contains(&k.as_str())
                    || registered_names.contains(&k),
                "unexpected parameter {k} in {location}"
            );
        }
        if let Some(description) = self.redirect_param("error_description") {
            assert!(
                description
                    .bytes()
                    .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E)),
                "error_description characters: {description:?}"
            );
        }
    }

    /// Asserts a successful authorization response to `redirect_uri`: 303, `code`, `iss`, and
    /// exactly `state` (absent when none was pushed). Returns the code.
    #[track_caller]
    pub fn assert_authorization_code(
        &self,
        redirect_uri: &str,
        state: Option<&str>,
        issuer: &str,
    ) -> String {
        assert_eq!(self.status.as_u16(), 303, "status; body: {}", self.text);
        let location = self.location();
        assert!(
            location.starts_with(redirect_uri),
            "redirected to {location}, expected {redirect_uri}"
        );
        assert!(!location.contains('#'), "fragment in {location}");
        assert!(self.redirect_param("error").is_none(), "{location}");
        assert_eq!(self.redirect_param("state").as_deref(), state, "{location}");
        assert_eq!(
            self.redirect_param("iss").as_deref(),
            Some(issuer),
            "{location}"
        );
        self.redirect_param("code").expect("code in the redirect")
    }

    /// Asserts an HTML error page with `status`: no redirect, the security headers, an error message.
    #[track_caller]
    pub fn assert_error_page(&self, status: u16) {
        assert_eq!(self.status.as_u16(), status, "status; body: {}", self.text);
        assert!(
            self.headers.get("location").is_none(),
            "an error page must not redirect: {:?}",
            self.headers.get("location")
        );
        assert!(
            self.headers
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/html")),
            "error page content type: {:?}",
            self.headers.get(reqwest::header::CONTENT_TYPE)
        );
        assert!(self.text.contains("id=\"error\""), "{}", self.text);
        assert!(!self.text.contains("code="), "{}", self.text);
    }
}

impl TestServer {
    /// The issuer's PAR endpoint for organization `org`.
    pub fn par_endpoint_of(&self, org: &str) -> String {
        format!("{}/par", self.issuer_of(org))
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

    /// The authorization URL of organization `org` with `client_id`, `request_uri` and `extra`
    /// front-channel parameters, in this order.
    pub fn authorize_url_at(
        &self,
        org: &str,
        client_id: &str,
        request_uri: &str,
        extra: &[(&str, &str)],
    ) -> String {
        let mut url = url::Url::parse(&format!("{}/authorize", self.issuer_of(org))).expect("url");
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_id", client_id)
                .append_pair("request_uri", request_uri);
            for (k, v) in extra {
                q.append_pair(k, v);
            }
        }
        url.to_string()
    }

    /// Submits the login form of `page` (a login page) as `username`/`password`, or with
    /// `action=cancel` when `cancel`.
    pub async fn submit_login(
        &self,
        browser: &Browser,
        page: &Answer,
        username: &str,
        password: &str,
        cancel: bool,
    ) -> Answer {
        assert!(page.is_login_page(), "login page expected: {}", page.text);
        let action = form_action(&page.text).expect("login form action");
        let client_id = hidden_field(&page.text, "client_id").expect("client_id field");
        let request_uri = hidden_field(&page.text, "request_uri").expect("request_uri field");
        let csrf = hidden_field(&page.text, "csrf").expect("csrf field");
        browser
            .post(
                &self.url(&action),
                &[
                    ("client_id", client_id.as_str()),
                    ("request_uri", request_uri.as_str()),
                    ("csrf", csrf.as_str()),
                    ("username", username),
                    ("password", password),
                    ("action", if cancel { "cancel" } else { "login" }),
                ],
            )
            .await
    }

    /// Submits the consent form of `page` with `approve` or deny.
    pub async fn submit_consent(&self, browser: &Browser, page: &Answer, approve: bool) -> Answer {
        assert!(
            page.is_consent_page(),
            "consent page expected: {}",
            page.text
        );
        let action = form_action(&page.text).expect("consent form action");
        let client_id = hidden_field(&page.text, "client_id").expect("client_id field");
        let request_uri = hidden_field(&page.text, "request_uri").expect("request_uri field");
        let csrf = hidden_field(&page.text, "csrf").expect("csrf field");
        browser
            .post(
                &self.url(&action),
                &[
                    ("client_id", client_id.as_str()),
                    ("request_uri", request_uri.as_str()),
                    ("csrf", csrf.as_str()),
                    ("action", if approve { "approve" } else { "deny" }),
                ],
            )
            .await
    }

    /// Opens the authorization URL of organization `org`, signs in as alice and approves when
    /// asked; returns the final answer (normally the 303 authorization response).
    pub async fn login_and_approve_at(
        &self,
        org: &str,
        browser: &Browser,
        client_id: &str,
        request_uri: &str,
    ) -> Answer {
        let mut answer = browser
            .get(&self.authorize_url_at(org, client_id, request_uri, &[]))
            .await;
        if answer.is_login_page() {
            answer = self
                .submit_login(browser, &answer, USERNAME, PASSWORD, false)
                .await;
        }
        if answer.is_consent_page() {
            answer = self.submit_consent(browser, &answer, true).await;
        }
        answer
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
}

/// Sets `name` in a parameter list: removes every occurrence, then appends `value` if any.
pub fn set_param<'a>(params: &mut Vec<(&'a str, &'a str)>, name: &'a str, value: Option<&'a str>) {
    params.retain(|(k, _)| *k != name);
    if let Some(value) = value {
        params.push((name, value));
    }
}

impl TestServer {
    /// Opens `url` in `browser`, signs in as alice and approves when asked; returns the final answer.
    pub async fn interact(&self, browser: &Browser, url: &str) -> Answer {
        let mut answer = browser.get(url).await;
        if answer.is_login_page() {
            answer = self
                .submit_login(browser, &answer, USERNAME, PASSWORD, false)
                .await;
        }
        if answer.is_consent_page() {
            answer = self.submit_consent(browser, &answer, true).await;
        }
        answer
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
