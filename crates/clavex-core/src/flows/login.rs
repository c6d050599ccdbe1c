//! `POST /{org}/login`: password sign-in for a pushed request (throttled per account and per
//! address), the browser session it creates, and logout.

use clavex_store::{ArtifactKind, ArtifactRecord};

use crate::artifacts::{Payload, SessionPayload, hash_secret};
use crate::engine::Engine;
use crate::error::Result;
use crate::events::{DomainEvent, emit};
use crate::flows::interaction::{BrowserContext, ErrorPage, Interaction, LoginForm, LoginOutcome};
use crate::ids::OrgId;
use crate::policy::{lifetimes, login};

impl Engine {
    /// `POST /{org}/login`.
    pub async fn login(
        &self,
        org_id: &OrgId,
        form: &LoginForm<'_>,
        browser: &BrowserContext<'_>,
    ) -> Result<LoginOutcome> {
        let org = self.org(org_id).await?;
        let (client, pushed, _record) = match self
            .load_pushed(&org, Some(form.client_id), Some(form.request_uri), None)
            .await?
        {
            Ok(found) => found,
            Err(interaction) => return Ok(LoginOutcome::Continue(interaction)),
        };
        if !self.csrf_ok(browser.browser_id, form.request_uri, form.csrf) {
            return Ok(LoginOutcome::Continue(Interaction::ErrorPage(
                ErrorPage::FormExpired,
            )));
        }
        if form.cancel {
            return Ok(LoginOutcome::Continue(
                self.deny(
                    &org,
                    &client,
                    &pushed,
                    form.request_uri,
                    "the user cancelled the sign-in",
                )
                .await?,
            ));
        }
        let now = self.now();
        let window = login::login_window(now);
        let login = form.username.trim();
        let account = if login.is_empty() {
            None
        } else {
            self.store.find_user_by_login(&org.record.id, login).await?
        };
        let account_key = login::login_account_counter_key(
            &org.id,
            account.as_ref().map(|u| u.user_id.as_str()),
            login,
        );
        let address = browser.connection.peer.to_string();
        let address_key = login::login_address_counter_key(&org.id, &address);
        let mut view = self.view(&org, &client, &pushed, form.request_uri, browser.browser_id);
        if login::login_throttled(self.store.read_counter(&account_key, window).await?)
            || login::login_throttled(self.store.read_counter(&address_key, window).await?)
        {
            emit(&DomainEvent::SignInFailed {
                org_id: &org.record.id,
                user_id: account.as_ref().map(|u| u.user_id.as_str()),
                peer: browser.connection.peer,
                throttled: true,
            });
            view.throttled = true;
            view.message = Some(
                "Too many failed sign-in attempts. Please wait a few minutes and try again."
                    .to_owned(),
            );
            return Ok(LoginOutcome::Continue(Interaction::Login(view)));
        }
        let user = if login.is_empty() || form.password.is_empty() {
            None
        } else {
            self.verify_user_password(&org.id, login, form.password)
                .await?
        };
        let Some(user) = user else {
            emit(&DomainEvent::SignInFailed {
                org_id: &org.record.id,
                user_id: account.as_ref().map(|u| u.user_id.as_str()),
                peer: browser.connection.peer,
                throttled: false,
            });
            self.store.bump_counter(&account_key, window, now).await?;
            self.store.bump_counter(&address_key, window, now).await?;
            view.username = Some(login.to_owned());
            view.message = Some("The username or password is incorrect.".to_owned());
            return Ok(LoginOutcome::Continue(Interaction::Login(view)));
        };
        self.store.reset_counter(&account_key).await?;
        emit(&DomainEvent::SignInSucceeded {
            org_id: &org.record.id,
            user_id: &user.user_id,
            peer: browser.connection.peer,
        });
        // A new session id at every login (session fixation).
        if let Some(old) = browser.session {
            self.store
                .delete_artifact(ArtifactKind::Session, &hash_secret(old))
                .await?;
        }
        let session_value = clavex_jose::random_token(32);
        let payload = SessionPayload {
            user_id: user.user_id.clone(),
            auth_time: now,
            login_for: Some(clavex_jose::b64url_encode(&hash_secret(form.request_uri))),
        };
        self.store
            .insert_artifact(&ArtifactRecord {
                kind: ArtifactKind::Session,
                id_hash: hash_secret(&session_value),
                org_id: org.record.id.clone(),
                client_id: None,
                grant_id: None,
                payload_json: payload.encode()?,
                created_at: now,
                expires_at: now + lifetimes::SESSION_LIFETIME_SECS,
                retain_until: now + lifetimes::SESSION_LIFETIME_SECS,
                used_at: None,
            })
            .await?;
        let next_browser = BrowserContext {
            browser_id: browser.browser_id,
            session: Some(&session_value),
            connection: browser.connection,
        };
        let next = self
            .next_step(&org, &client, &pushed, form.request_uri, &next_browser)
            .await?;
        Ok(LoginOutcome::SignedIn {
            session: session_value,
            next,
        })
    }

    /// Ends the browser session of this organization (logout).
    pub async fn end_session(&self, session_cookie: &str) -> Result<()> {
        self.store
            .delete_artifact(ArtifactKind::Session, &hash_secret(session_cookie))
            .await?;
        Ok(())
    }
}
