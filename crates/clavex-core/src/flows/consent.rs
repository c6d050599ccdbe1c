//! `POST /{org}/consent`: the user approves or denies a pushed request; an approval is remembered
//! per user and client (scopes only: `authorization_details` are approved every time).

use clavex_store::ConsentRecord;

use crate::artifacts::PushedRequest;
use crate::client::ResolvedClient;
use crate::engine::{Engine, OrgContext};
use crate::error::{ErrorCode, Result};
use crate::events::{DomainEvent, emit};
use crate::flows::interaction::{BrowserContext, ConsentForm, ErrorPage, Interaction};
use crate::ids::OrgId;

impl Engine {
    /// `POST /{org}/consent`.
    pub async fn consent(
        &self,
        org_id: &OrgId,
        form: &ConsentForm<'_>,
        browser: &BrowserContext<'_>,
    ) -> Result<Interaction> {
        let org = self.org(org_id).await?;
        let (client, pushed, _record) = match self
            .load_pushed(&org, Some(form.client_id), Some(form.request_uri), None)
            .await?
        {
            Ok(found) => found,
            Err(interaction) => return Ok(interaction),
        };
        if !self.csrf_ok(browser.browser_id, form.request_uri, form.csrf) {
            return Ok(Interaction::ErrorPage(ErrorPage::FormExpired));
        }
        if !form.approve {
            emit(&DomainEvent::ConsentDenied {
                org_id: &org.record.id,
                client_id: client.metadata.client_id.as_str(),
            });
            return self
                .deny(
                    &org,
                    &client,
                    &pushed,
                    form.request_uri,
                    "the user denied the request",
                )
                .await;
        }
        let Some(session) = self.session(&org, browser.session).await? else {
            return Ok(Interaction::Login(self.view(
                &org,
                &client,
                &pushed,
                form.request_uri,
                browser.browser_id,
            )));
        };
        let now = self.now();
        self.store
            .upsert_consent(&ConsentRecord {
                org_id: org.record.id.clone(),
                user_id: session.user_id.clone(),
                client_id: client.metadata.client_id.to_string(),
                scope: pushed.scope.to_string(),
                created_at: now,
                updated_at: now,
            })
            .await?;
        emit(&DomainEvent::ConsentGiven {
            org_id: &org.record.id,
            user_id: &session.user_id,
            client_id: client.metadata.client_id.as_str(),
        });
        self.complete_authorization(&org, &client, &pushed, form.request_uri, &session)
            .await
    }

    pub(crate) async fn deny(
        &self,
        org: &OrgContext,
        client: &ResolvedClient,
        pushed: &PushedRequest,
        request_uri: &str,
        why: &str,
    ) -> Result<Interaction> {
        self.spend_pushed(request_uri).await?;
        self.pushed_error(org, client, pushed, ErrorCode::AccessDenied, why)
            .await
    }
}
