//! `GET /{org}/authorize`: the front channel of a pushed request (FAPI 2.0 SP §5.3.2.2). Only pushed
//! parameters are ever used; the front channel carries `client_id` and `request_uri`, and anything
//! else in it is ignored, except to report a refused unpushed request to a redirect URI registered
//! exactly. The next step is decided here: login, consent, or the authorization response.

use std::sync::Arc;

use clavex_store::{ArtifactKind, ArtifactRecord};

use crate::artifacts::{Payload, PushedRequest, SessionPayload, hash_secret};
use crate::client::ResolvedClient;
use crate::engine::{Engine, OrgContext};
use crate::error::{ErrorCode, Result};
use crate::flows::interaction::{BrowserContext, ErrorPage, Interaction};
use crate::form::Params;
use crate::ids::{ClientId, OrgId};
use crate::policy::scope::ScopeSet;
use crate::policy::{prompt, redirect_uri, response};

impl Engine {
    /// Loads the pushed request for the front channel. Errors are already decided as page or redirect.
    pub(crate) async fn load_pushed(
        &self,
        org: &OrgContext,
        client_id: Option<&str>,
        request_uri: Option<&str>,
        query: Option<&Params>,
    ) -> Result<
        std::result::Result<(Arc<ResolvedClient>, PushedRequest, ArtifactRecord), Interaction>,
    > {
        let Some(client_id) = client_id else {
            return Ok(Err(Interaction::ErrorPage(ErrorPage::MissingClientId)));
        };
        // An id that could never have been registered names no client, as an unknown one.
        let Ok(client_id) = ClientId::parse(client_id) else {
            return Ok(Err(Interaction::ErrorPage(ErrorPage::UnknownClient)));
        };
        let Some(client) = self.client(&org.id, &client_id).await? else {
            return Ok(Err(Interaction::ErrorPage(ErrorPage::UnknownClient)));
        };
        let Some(request_uri) = request_uri else {
            // FAPI 2.0 SP §5.3.2.2-3: only pushed requests. Report on the redirect URI only when the
            // front channel names one that is registered exactly.
            let front = |name: &str| query.and_then(|q| q.single(name).ok().flatten());
            let redirect = front("redirect_uri")
                .and_then(|r| redirect_uri::registered_exactly(&client.metadata.redirect_uris, r));
            let mode = response::front_channel_response_mode(front("response_mode"));
            return Ok(Err(match redirect {
                Some(r) => {
                    self.respond(
                        org,
                        &client,
                        &r,
                        front("state"),
                        mode,
                        &[
                            ("error", ErrorCode::InvalidRequest.as_str()),
                            (
                                "error_description",
                                "authorization requests must be pushed first (PAR): send client_id and request_uri only",
                            ),
                        ],
                    )
                    .await?
                }
                None => Interaction::ErrorPage(ErrorPage::NotPushed),
            }));
        };
        let Some(record) = self
            .store
            .get_artifact(ArtifactKind::PushedRequest, &hash_secret(request_uri))
            .await?
        else {
            return Ok(Err(Interaction::ErrorPage(ErrorPage::UnknownRequest)));
        };
        if record.org_id != org.record.id || record.client_id.as_deref() != Some(client_id.as_str())
        {
            return Ok(Err(Interaction::ErrorPage(ErrorPage::OtherClientsRequest)));
        }
        let pushed = PushedRequest::of_artifact(&record)?;
        let now = self.now();
        if record.used_at.is_some() || record.expires_at <= now {
            let why = if record.used_at.is_some() {
                "request_uri has already been used"
            } else {
                "request_uri has expired"
            };
            return Ok(Err(self
                .pushed_error(org, &client, &pushed, ErrorCode::InvalidRequestUri, why)
                .await?));
        }
        Ok(Ok((client, pushed, record)))
    }

    pub(crate) async fn session(
        &self,
        org: &OrgContext,
        cookie: Option<&str>,
    ) -> Result<Option<SessionPayload>> {
        let Some(cookie) = cookie else {
            return Ok(None);
        };
        let Some(record) = self
            .store
            .get_artifact(ArtifactKind::Session, &hash_secret(cookie))
            .await?
        else {
            return Ok(None);
        };
        // A session belongs to one organization: a login in one never counts in another.
        if record.org_id != org.record.id || record.expires_at <= self.now() {
            return Ok(None);
        }
        let Ok(payload) = SessionPayload::of_artifact(&record) else {
            return Ok(None);
        };
        // A user deleted since the login is signed out everywhere.
        if self
            .store
            .get_user(&org.record.id, &payload.user_id)
            .await?
            .is_none()
        {
            self.store
                .delete_artifact(ArtifactKind::Session, &hash_secret(cookie))
                .await?;
            return Ok(None);
        }
        Ok(Some(payload))
    }

    /// `GET /{org}/authorize`: validates the pushed request (without using it up) and decides what
    /// the browser sees next.
    pub async fn authorize(
        &self,
        org_id: &OrgId,
        query: &Params,
        browser: &BrowserContext<'_>,
    ) -> Result<Interaction> {
        let org = self.org(org_id).await?;
        let client_id = query.single("client_id").ok().flatten();
        let request_uri = query.single("request_uri").ok().flatten();
        let (client, pushed, _record) = match self
            .load_pushed(&org, client_id, request_uri, Some(query))
            .await?
        {
            Ok(found) => found,
            Err(interaction) => return Ok(interaction),
        };
        let request_uri = request_uri.unwrap_or_default();
        self.next_step(&org, &client, &pushed, request_uri, browser)
            .await
    }

    /// Login when needed, consent when needed, else the authorization response.
    pub(crate) async fn next_step(
        &self,
        org: &OrgContext,
        client: &Arc<ResolvedClient>,
        pushed: &PushedRequest,
        request_uri: &str,
        browser: &BrowserContext<'_>,
    ) -> Result<Interaction> {
        let now = self.now();
        let request_uri_tag = clavex_jose::b64url_encode(&hash_secret(request_uri));
        let session = self.session(org, browser.session).await?;
        let session = session.filter(|s| {
            // prompt=login and max_age=0: a login that happened after the request was pushed, or
            // for this very request, satisfies them.
            let logged_in_for_this = s.auth_time > pushed.created_at
                || s.login_for.as_deref() == Some(request_uri_tag.as_str());
            prompt::session_satisfies(
                &pushed.prompt,
                pushed.max_age,
                s.auth_time,
                now,
                logged_in_for_this,
            )
        });
        let prompt_none = pushed.prompt.none();
        let Some(session) = session else {
            if prompt_none {
                self.spend_pushed(request_uri).await?;
                return self
                    .pushed_error(
                        org,
                        client,
                        pushed,
                        ErrorCode::LoginRequired,
                        "the user is not signed in",
                    )
                    .await;
            }
            return Ok(Interaction::Login(self.view(
                org,
                client,
                pushed,
                request_uri,
                browser.browser_id,
            )));
        };
        let consent = self
            .store
            .get_consent(
                &org.record.id,
                &session.user_id,
                client.metadata.client_id.as_str(),
            )
            .await?;
        let covered = consent.is_some_and(|c| ScopeSet::parse(&c.scope).covers(&pushed.scope));
        // A remembered consent covers scopes, never a particular payment or account request:
        // authorization_details are approved each time.
        let forced = pushed.prompt.consent() || pushed.authorization_details.is_some();
        if covered && !forced {
            return self
                .complete_authorization(org, client, pushed, request_uri, &session)
                .await;
        }
        if prompt_none {
            self.spend_pushed(request_uri).await?;
            return self
                .pushed_error(
                    org,
                    client,
                    pushed,
                    ErrorCode::ConsentRequired,
                    "the user has not consented",
                )
                .await;
        }
        let mut view = self.view(org, client, pushed, request_uri, browser.browser_id);
        view.username = self
            .store
            .get_user(&org.record.id, &session.user_id)
            .await?
            .map(|u| u.username);
        Ok(Interaction::Consent(view))
    }

    pub(crate) async fn spend_pushed(&self, request_uri: &str) -> Result<()> {
        self.store
            .consume_artifact(
                ArtifactKind::PushedRequest,
                &hash_secret(request_uri),
                self.now(),
            )
            .await?;
        Ok(())
    }
}
