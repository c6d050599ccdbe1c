//! Organizations: creation (with signing keys and an admin token), the first-start bootstrap, reads,
//! settings changes and deletion.

use clavex_jose::Algorithm;
use clavex_store::OrganizationRecord;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::actor::{AdminActor, AdminTokenId};
use crate::admin::{AdminRequest, changed_members, new_admin_token, record_change};
use crate::connection::ConnectionFacts;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::events::AdminChange;
use crate::ids::{ClientId, OrgId, unknown_organization};
use crate::keyring;
use crate::policy::{self, lifetimes};
use crate::records;
use crate::settings::OrgSettings;

#[derive(Debug, Serialize)]
pub struct OrganizationView {
    pub id: String,
    pub display_name: String,
    pub issuer: String,
    pub settings: OrgSettings,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What a fresh start found or created.
pub struct BootstrapOutcome {
    pub created: bool,
    /// The bootstrap organization's admin token, when this start generated it (printed once).
    pub generated_org_token: Option<String>,
    /// The server-level admin token, when this start generated it (printed once).
    pub generated_server_token: Option<String>,
}

fn display_name_error() -> Error {
    Error::BadRequest("display_name must be a string of 1-200 characters".into())
}

/// The same rule at creation and on change.
fn check_display_name(name: &str) -> Result<()> {
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(display_name_error());
    }
    Ok(())
}

/// `POST /api/v1/organizations`: `id` (required), `display_name`, `settings`. Other members are
/// ignored.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateOrganization {
    pub id: OrgId,
    /// `None`: the id serves as the name.
    pub display_name: Option<String>,
    /// Settings members to set over the defaults; a `null` member drops the member, so the setting
    /// takes its built-in default.
    pub settings: Option<Map<String, Value>>,
}

impl CreateOrganization {
    /// An organization with default settings, its id and name checked.
    pub fn new(id: &str, display_name: Option<&str>) -> Result<CreateOrganization> {
        let id = OrgId::parse(id)?;
        if let Some(name) = display_name {
            check_display_name(name)?;
        }
        Ok(CreateOrganization {
            id,
            display_name: display_name.map(str::to_owned),
            settings: None,
        })
    }
}

impl AdminRequest for CreateOrganization {
    fn from_json(body: &Value) -> Result<CreateOrganization> {
        let id = body
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::BadRequest("id is required".into()))?;
        let display_name = match body.get("display_name") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => return Err(Error::BadRequest("display_name must be a string".into())),
        };
        let mut request = CreateOrganization::new(id, display_name)?;
        // When present, `settings` must be an object: `null` is refused as well.
        request.settings = match body.get("settings") {
            None => None,
            Some(Value::Object(members)) => Some(members.clone()),
            Some(_) => return Err(settings_not_an_object()),
        };
        Ok(request)
    }
}

/// `PATCH /api/v1/organizations/{org}`: `display_name` and any settings member, at the top level
/// or inside `settings`. Absent members stay as they are; a settings member set to `null` returns
/// to its default; `display_name` cannot be `null`; the read-only members are refused.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UpdateOrganization {
    pub display_name: Option<String>,
    pub settings: Map<String, Value>,
}

impl AdminRequest for UpdateOrganization {
    fn from_json(body: &Value) -> Result<UpdateOrganization> {
        let body = body
            .as_object()
            .ok_or_else(|| Error::BadRequest("body must be a JSON object".into()))?;
        let mut request = UpdateOrganization::default();
        for (key, value) in body {
            match key.as_str() {
                "display_name" => {
                    let name = value.as_str().ok_or_else(display_name_error)?;
                    check_display_name(name)?;
                    request.display_name = Some(name.to_owned());
                }
                "id" | "issuer" | "created_at" | "updated_at" => {
                    return Err(Error::BadRequest(format!("{key} cannot be changed")));
                }
                "settings" => {
                    let inner = value
                        .as_object()
                        .ok_or_else(|| Error::BadRequest("settings must be an object".into()))?;
                    request.settings.extend(inner.clone());
                }
                _ => {
                    request.settings.insert(key.clone(), value.clone());
                }
            }
        }
        Ok(request)
    }
}

fn settings_not_an_object() -> Error {
    Error::BadRequest("settings must be a JSON object".into())
}

/// An organization's changeable members as one JSON object, to name what a change changed.
fn changeable_members(display_name: &str, settings: &OrgSettings) -> Result<Value> {
    let mut members =
        serde_json::to_value(settings).map_err(|e| Error::internal("encoding JSON", e))?;
    if let Some(object) = members.as_object_mut() {
        object.insert(
            "display_name".into(),
            Value::String(display_name.to_owned()),
        );
    }
    Ok(members)
}

impl Engine {
    pub fn org_view(&self, record: &OrganizationRecord) -> Result<OrganizationView> {
        let settings = records::org_settings(record)?;
        Ok(OrganizationView {
            id: record.id.clone(),
            display_name: record.display_name.clone(),
            issuer: self.issuer_for(&records::org_id(record)?),
            settings,
            created_at: record.created_at,
            updated_at: record.updated_at,
        })
    }

    /// Creates an organization with its signing keys (ES256, PS256, EdDSA) and returns a new admin
    /// token for it (shown once).
    pub async fn create_organization(
        &self,
        request: CreateOrganization,
        actor: &AdminActor,
        connection: &ConnectionFacts,
    ) -> Result<(OrganizationView, String)> {
        let org_id = &request.id;
        let id = org_id.as_str();
        let mut settings = OrgSettings {
            scopes: policy::scope::DEFAULT_API_SCOPES
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            ..OrgSettings::default()
        };
        if let Some(patch) = &request.settings {
            settings = apply_settings_patch(&settings, patch)?;
        }
        let now = self.now();
        let record = OrganizationRecord {
            id: id.to_owned(),
            display_name: request.display_name.as_deref().unwrap_or(id).to_owned(),
            settings_json: serde_json::to_string(&settings)
                .map_err(|e| Error::internal("encoding JSON", e))?,
            created_at: now,
            updated_at: now,
        };
        self.store
            .insert_organization(&record)
            .await
            .map_err(|e| match e {
                clavex_store::StoreError::Conflict(_) => {
                    Error::Conflict(format!("organization {id} already exists"))
                }
                other => other.into(),
            })?;
        for alg in [Algorithm::Es256, Algorithm::Ps256, Algorithm::EdDsa] {
            let key = keyring::new_key_record(&self.master, org_id, alg, now)?;
            self.store.insert_signing_key(&key).await?;
        }
        let token = new_admin_token();
        self.add_admin_token(Some(org_id), &token, "organization admin")
            .await?;
        record_change(
            actor,
            connection,
            AdminChange::OrganizationCreated {
                org_id: id,
                admin_token_id: &AdminTokenId::of_token(&token),
            },
        );
        Ok((self.org_view(&record)?, token))
    }

    /// First-start setup: the bootstrap organization and a server-level admin token. Idempotent; an
    /// explicitly configured token is (re)registered on every start so scripts can rely on it.
    pub async fn bootstrap(
        &self,
        org_id: &OrgId,
        org_token: Option<&str>,
        server_token: Option<&str>,
    ) -> Result<BootstrapOutcome> {
        let mut outcome = BootstrapOutcome {
            created: false,
            generated_org_token: None,
            generated_server_token: None,
        };
        if self
            .store
            .get_organization(org_id.as_str())
            .await?
            .is_none()
        {
            let display = if org_id.as_str() == "acme" {
                "ACME Bank (demo)"
            } else {
                org_id.as_str()
            };
            // Nodes starting together on an empty database race here; the loser finds the
            // organization created by the winner, which is what it wanted.
            let request = CreateOrganization::new(org_id.as_str(), Some(display))?;
            match self
                .create_organization(
                    request,
                    &AdminActor::Bootstrap,
                    &ConnectionFacts::loopback(),
                )
                .await
            {
                Ok((_, generated)) => {
                    outcome.created = true;
                    outcome.generated_org_token = Some(generated);
                }
                Err(Error::Conflict(_)) => {}
                Err(other) => return Err(other),
            }
        }
        if outcome.created {
            if org_token.is_some() {
                // The configured token replaces the generated one.
                outcome.generated_org_token = None;
                self.store
                    .delete_admin_tokens(Some(org_id.as_str()))
                    .await?;
            }
            if server_token.is_none() {
                let token = new_admin_token();
                self.add_admin_token(None, &token, "server admin").await?;
                outcome.generated_server_token = Some(token);
            }
        }
        if let Some(token) = org_token {
            self.add_admin_token(
                Some(org_id),
                token,
                "bootstrap (CLAVEX_BOOTSTRAP_ADMIN_TOKEN)",
            )
            .await?;
        }
        if let Some(token) = server_token {
            self.add_admin_token(None, token, "server admin (CLAVEX_SERVER_ADMIN_TOKEN)")
                .await?;
        }
        Ok(outcome)
    }

    pub async fn get_organization(&self, id: &OrgId) -> Result<OrganizationView> {
        let record = self
            .store
            .get_organization(id.as_str())
            .await?
            .ok_or_else(|| unknown_organization(id.as_str()))?;
        self.org_view(&record)
    }

    pub async fn list_organizations(&self) -> Result<Vec<OrganizationView>> {
        self.store
            .list_organizations()
            .await?
            .iter()
            .map(|r| self.org_view(r))
            .collect()
    }

    /// `PATCH /api/v1/organizations/{org}` ([`UpdateOrganization`]).
    pub async fn patch_organization(
        &self,
        id: &OrgId,
        request: UpdateOrganization,
        actor: &AdminActor,
        connection: &ConnectionFacts,
    ) -> Result<OrganizationView> {
        let mut record = self
            .store
            .get_organization(id.as_str())
            .await?
            .ok_or_else(|| unknown_organization(id.as_str()))?;
        let current = records::org_settings(&record)?;
        let before = changeable_members(&record.display_name, &current)?;
        if let Some(name) = request.display_name {
            record.display_name = name;
        }
        let settings = apply_settings_patch(&current, &request.settings)?;
        record.settings_json =
            serde_json::to_string(&settings).map_err(|e| Error::internal("encoding JSON", e))?;
        record.updated_at = self.now();
        self.store.update_organization(&record).await?;
        self.forget_org(id).await;
        let after = changeable_members(&record.display_name, &settings)?;
        record_change(
            actor,
            connection,
            AdminChange::OrganizationUpdated {
                org_id: id.as_str(),
                changed: &changed_members(&before, &after),
            },
        );
        self.org_view(&record)
    }

    pub async fn delete_organization(
        &self,
        id: &OrgId,
        actor: &AdminActor,
        connection: &ConnectionFacts,
    ) -> Result<()> {
        // The node's cached clients of this organization go with it: otherwise an organization
        // re-created under the same id would authenticate the old one's clients until the cache
        // expires.
        let clients = self.store.list_clients(id.as_str()).await?;
        self.store
            .delete_organization(id.as_str())
            .await
            .map_err(|e| match e {
                clavex_store::StoreError::NotFound => unknown_organization(id.as_str()),
                other => other.into(),
            })?;
        // Only ids that parse were ever looked up, hence cached.
        for client_id in clients
            .iter()
            .filter_map(|c| ClientId::parse(&c.client_id).ok())
        {
            self.forget_client(id, &client_id).await;
        }
        self.forget_org(id).await;
        record_change(
            actor,
            connection,
            AdminChange::OrganizationDeleted {
                org_id: id.as_str(),
            },
        );
        Ok(())
    }
}

fn apply_settings_patch(current: &OrgSettings, patch: &Map<String, Value>) -> Result<OrgSettings> {
    let mut merged =
        serde_json::to_value(current).map_err(|e| Error::internal("encoding JSON", e))?;
    let target = merged
        .as_object_mut()
        .ok_or_else(|| Error::invariant("organization settings do not encode as an object"))?;
    for (k, v) in patch {
        if v.is_null() {
            target.remove(k);
        } else {
            target.insert(k.clone(), v.clone());
        }
    }
    let settings: OrgSettings =
        serde_json::from_value(merged).map_err(|e| Error::BadRequest(format!("settings: {e}")))?;
    validate_settings(&settings)?;
    Ok(settings)
}

fn validate_settings(settings: &OrgSettings) -> Result<()> {
    for kind in &settings.authorization_details_types {
        if kind.is_empty() || kind.len() > 100 || kind.chars().any(|c| c.is_control()) {
            return Err(Error::BadRequest(format!(
                "authorization_details type {kind:?} must be 1-100 printable characters"
            )));
        }
    }
    for scope in &settings.scopes {
        policy::scope::check_offered_scope(scope).map_err(Error::BadRequest)?;
    }
    let named = settings.resources.iter().map(|r| ("resource", r)).chain(
        settings
            .default_audience
            .iter()
            .map(|a| ("default_audience", a)),
    );
    for (setting, resource) in named {
        let url = url::Url::parse(resource).map_err(|_| {
            Error::BadRequest(format!("{setting} {resource} must be an absolute URI"))
        })?;
        if url.fragment().is_some() {
            return Err(Error::BadRequest(format!(
                "{setting} {resource} must not contain a fragment (RFC 8707 §2)"
            )));
        }
    }
    if !lifetimes::access_token_lifetime_allowed(settings.access_token_lifetime) {
        return Err(Error::BadRequest(
            "access_token_lifetime must be between 30 and 86400 seconds".into(),
        ));
    }

    Ok(())
}
