//! The front channel: authorization URLs, the login and consent forms, and the code they end in.

use super::{Browser, FapiClient, PASSWORD, USERNAME, form_action, hidden_field, pkce};
use crate::{Answer, TestServer};

impl TestServer {
    pub fn authorize_url(&self, client_id: &str, request_uri: &str) -> String {
        let mut url = url::Url::parse(&format!("{}/authorize", self.issuer)).expect("url");
        url.query_pairs_mut()
            .append_pair("client_id", client_id)
            .append_pair("request_uri", request_uri);
        url.to_string()
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
}
