//! Administration: organizations, admin tokens, clients, users and keys. The Admin API and the CLI
//! both call these; neither restates a rule.

use clavex_jose::Algorithm;
use clavex_store::{
    AdminTokenRecord, ArtifactKind, ClientRecord, KeyStatus, OrganizationRecord, UserRecord,
};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::client::{self, ClientMetadata};
use crate::engine::Engine;
use crate::error::{Error, OAuthError, Result};
use crate::keyring;
use crate::settings::OrgSettings;

/// Who is calling the Admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminPrincipal {
    /// The server-level admin: may create organizations and manage all of them.
    Server,
    /// An organization's admin: may manage only that organization.
    Org(String),
}

impl AdminPrincipal {
    pub fn ensure_org(&self, org_id: &str) -> Result<()> {
        match self {
            AdminPrincipal::Server => Ok(()),
            AdminPrincipal::Org(own) if own == org_id => Ok(()),
            AdminPrincipal::Org(_) => Err(Error::Forbidden(
                "this admin token belongs to another organization".into(),
            )),
        }
    }
    pub fn ensure_server(&self) -> Result<()> {
        match self {
            AdminPrincipal::Server => Ok(()),
            AdminPrincipal::Org(_) => Err(Error::Forbidden(
                "only the server admin token may do this".into(),
            )),
        }
    }
}

/// The default API scopes of a new organization.
pub const DEFAULT_SCOPES: [&str; 2] = ["accounts", "payments"];

/// Organization ids become issuer path segments, so they are short lowercase slugs, and never a
/// word the router uses itself.
pub fn check_org_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 63
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
        && ![
            "api",
            "healthz",
            "readyz",
            "metrics",
            "well-known",
            "static",
        ]
        .contains(&id);
    if ok {
        Ok(())
    } else {
        Err(Error::BadRequest(
            "organization id must be 1-63 characters of a-z, 0-9 and '-', not starting with '-', and not a reserved word".into(),
        ))
    }
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

fn hash_token(token: &str) -> Vec<u8> {
    clavex_jose::sha256(token.as_bytes()).to_vec()
}

/// A new admin token: a prefix that tells what it is, and 256 random bits.
pub fn new_admin_token() -> String {
    format!("clx_{}", clavex_jose::random_token(32))
}

#[derive(Debug, Serialize)]
pub struct OrganizationView {
    pub id: String,
    pub display_name: String,
    pub issuer: String,
    pub settings: OrgSettings,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Serialize)]
pub struct KeyView {
    pub kid: String,
    pub alg: String,
    pub status: &'static str,
    pub created_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publish_until: Option<i64>,
    pub public_jwk: Value,
}

#[derive(Debug, Serialize)]
pub struct UserView {
    pub user_id: String,
    pub username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub claims: Value,
    pub created_at: i64,
    pub updated_at: i64,
}

fn user_view(record: &UserRecord) -> UserView {
    UserView {
        user_id: record.user_id.clone(),
        username: record.username.clone(),
        email: record.email.clone(),
        claims: serde_json::from_str(&record.claims_json).unwrap_or_else(|_| json!({})),
        created_at: record.created_at,
        updated_at: record.updated_at,
    }
}

/// Profile claims an administrator may set on a user (OIDC Core §5.1, minus `sub` and `email`).
const USER_CLAIMS: [&str; 12] = [
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "birthdate",
    "locale",
    "phone_number",
    "address",
    "email_verified",
    "zoneinfo",
];

fn admin_metadata_error(err: OAuthError) -> Error {
    Error::OAuth(err)
}

/// What a fresh start found or created.
pub struct BootstrapOutcome {
    pub created: bool,
    /// The bootstrap organization's admin token, when this start generated it (printed once).
    pub generated_org_token: Option<String>,
    /// The server-level admin token, when this start generated it (printed once).
    pub generated_server_token: Option<String>,
}

impl Engine {
    pub fn org_view(&self, record: &OrganizationRecord) -> Result<OrganizationView> {
        let settings: OrgSettings = serde_json::from_str(&record.settings_json)
            .map_err(|e| Error::Internal(format!("org settings: {e}")))?;
        Ok(OrganizationView {
            id: record.id.clone(),
            display_name: record.display_name.clone(),
            issuer: self.issuer_for(&record.id),
            settings,
            created_at: record.created_at,
            updated_at: record.updated_at,
        })
    }

    pub async fn authenticate_admin(&self, bearer: &str) -> Result<AdminPrincipal> {
        // A lookup by SHA-256 of the presented token: the comparison happens on a hash the caller
        // cannot steer, so it leaks nothing useful about stored tokens through timing.
        let record = self
            .store
            .find_admin_token(&hash_token(bearer))
            .await?
            .ok_or_else(|| Error::Unauthorized("unknown admin token".into()))?;
        Ok(match record.org_id {
            Some(org) => AdminPrincipal::Org(org),
            None => AdminPrincipal::Server,
        })
    }

    /// Stores an admin token (hashed). `org_id = None` makes a server-level token.
    pub async fn add_admin_token(
        &self,
        org_id: Option<&str>,
        token: &str,
        label: &str,
    ) -> Result<()> {
        let record = AdminTokenRecord {
            token_hash: hash_token(token),
            org_id: org_id.map(str::to_owned),
            label: label.to_owned(),
            created_at: self.now(),
        };
        match self.store.insert_admin_token(&record).await {
            Ok(()) | Err(clavex_store::StoreError::Conflict(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates an organization with its signing keys (ES256, PS256, EdDSA) and returns a new admin
    /// token for it (shown once).
    pub async fn create_organization(
        &self,
        id: &str,
        display_name: Option<&str>,
        settings_patch: Option<&Value>,
    ) -> Result<(OrganizationView, String)> {
        check_org_id(id)?;
        if let Some(name) = display_name {
            check_display_name(name)?;
        }
        let mut settings = OrgSettings {
            scopes: DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            ..OrgSettings::default()
        };
        if let Some(patch) = settings_patch {
            settings = apply_settings_patch(&settings, patch)?;
        }
        let now = self.now();
        let record = OrganizationRecord {
            id: id.to_owned(),
            display_name: display_name.unwrap_or(id).to_owned(),
            settings_json: serde_json::to_string(&settings)
                .map_err(|e| Error::Internal(e.to_string()))?,
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
            let key = keyring::new_key_record(&self.master, id, alg, now)?;
            self.store.insert_signing_key(&key).await?;
        }
        let token = new_admin_token();
        self.add_admin_token(Some(id), &token, "organization admin")
            .await?;
        Ok((self.org_view(&record)?, token))
    }

    /// First-start setup: the bootstrap organization and a server-level admin token. Idempotent; an
    /// explicitly configured token is (re)registered on every start so scripts can rely on it.
    pub async fn bootstrap(
        &self,
        org_id: &str,
        org_token: Option<&str>,
        server_token: Option<&str>,
    ) -> Result<BootstrapOutcome> {
        let mut outcome = BootstrapOutcome {
            created: false,
            generated_org_token: None,
            generated_server_token: None,
        };
        if self.store.get_organization(org_id).await?.is_none() {
            let display = if org_id == "acme" {
                "ACME Bank (demo)"
            } else {
                org_id
            };
            // Nodes starting together on an empty database race here; the loser finds the
            // organization created by the winner, which is what it wanted.
            match self.create_organization(org_id, Some(display), None).await {
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
                self.store.delete_admin_tokens(Some(org_id)).await?;
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

    pub async fn get_organization(&self, id: &str) -> Result<OrganizationView> {
        let record = self
            .store
            .get_organization(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("organization {id}")))?;
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

    /// `PATCH /api/v1/organizations/{org}`: `display_name` and any settings member.
    pub async fn patch_organization(&self, id: &str, patch: &Value) -> Result<OrganizationView> {
        let patch = patch
            .as_object()
            .ok_or_else(|| Error::BadRequest("body must be a JSON object".into()))?;
        let mut record = self
            .store
            .get_organization(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("organization {id}")))?;
        let current: OrgSettings = serde_json::from_str(&record.settings_json)
            .map_err(|e| Error::Internal(format!("org settings: {e}")))?;
        let mut settings_patch = Map::new();
        for (key, value) in patch {
            match key.as_str() {
                "display_name" => {
                    let name = value.as_str().ok_or_else(display_name_error)?;
                    check_display_name(name)?;
                    record.display_name = name.to_owned();
                }
                "id" | "issuer" | "created_at" | "updated_at" => {
                    return Err(Error::BadRequest(format!("{key} cannot be changed")));
                }
                "settings" => {
                    let inner = value
                        .as_object()
                        .ok_or_else(|| Error::BadRequest("settings must be an object".into()))?;
                    settings_patch.extend(inner.clone());
                }
                _ => {
                    settings_patch.insert(key.clone(), value.clone());
                }
            }
        }
        let settings = apply_settings_patch(&current, &Value::Object(settings_patch))?;
        record.settings_json =
            serde_json::to_string(&settings).map_err(|e| Error::Internal(e.to_string()))?;
        record.updated_at = self.now();
        self.store.update_organization(&record).await?;
        self.forget_org(id).await;
        self.org_view(&record)
    }

    pub async fn delete_organization(&self, id: &str) -> Result<()> {
        // The node's cached clients of this organization go with it: otherwise an organization
        // re-created under the same id would authenticate the old one's clients until the cache
        // expires.
        let clients = self.store.list_clients(id).await?;
        self.store
            .delete_organization(id)
            .await
            .map_err(|e| match e {
                clavex_store::StoreError::NotFound => Error::NotFound(format!("organization {id}")),
                other => other.into(),
            })?;
        for client in &clients {
            self.forget_client(id, &client.client_id).await;
        }
        self.forget_org(id).await;
        Ok(())
    }

    // ---- clients ----

    /// A `jwks_uri` this server would never fetch (plain http outside the allow-list) is refused at
    /// registration rather than failing every later authentication.
    fn check_jwks_uri_fetchable(&self, metadata: &ClientMetadata) -> Result<()> {
        match &metadata.jwks_uri {
            Some(uri) if !self.fetcher.permits(uri) => Err(OAuthError::invalid_client_metadata(
                "jwks_uri must be an https URL (plain http only for hosts in CLAVEX_JWKS_FETCH_ALLOW)",
            )
            .into()),
            _ => Ok(()),
        }
    }

    pub async fn register_client(&self, org_id: &str, body: &Value) -> Result<ClientMetadata> {
        let org = self.org(org_id).await?;
        let client_id = match body.get("client_id") {
            None | Some(Value::Null) => format!("clavex_fapi_{}", clavex_jose::random_token(16)),
            Some(Value::String(id)) => {
                client::check_client_id(id).map_err(admin_metadata_error)?;
                id.clone()
            }
            Some(_) => {
                return Err(
                    OAuthError::invalid_client_metadata("client_id must be a string").into(),
                );
            }
        };
        let now = self.now();
        let metadata = client::validate_registration(org.settings.profile, body, client_id, now)
            .map_err(admin_metadata_error)?;
        self.check_jwks_uri_fetchable(&metadata)?;
        let record = ClientRecord {
            org_id: org_id.to_owned(),
            client_id: metadata.client_id.clone(),
            metadata_json: serde_json::to_string(&metadata)
                .map_err(|e| Error::Internal(e.to_string()))?,
            created_at: now,
            updated_at: now,
        };
        self.store
            .insert_client(&record)
            .await
            .map_err(|e| match e {
                clavex_store::StoreError::Conflict(_) => {
                    Error::Conflict(format!("client {} already exists", metadata.client_id))
                }
                other => other.into(),
            })?;
        Ok(metadata)
    }

    pub async fn get_client(&self, org_id: &str, client_id: &str) -> Result<ClientMetadata> {
        let record = self
            .store
            .get_client(org_id, client_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("client {client_id}")))?;
        serde_json::from_str(&record.metadata_json)
            .map_err(|e| Error::Internal(format!("client metadata: {e}")))
    }

    pub async fn list_clients(&self, org_id: &str) -> Result<Vec<ClientMetadata>> {
        self.org(org_id).await?;
        self.store
            .list_clients(org_id)
            .await?
            .iter()
            .map(|r| {
                serde_json::from_str(&r.metadata_json)
                    .map_err(|e| Error::Internal(format!("client metadata: {e}")))
            })
            .collect()
    }

    /// `PUT` replaces the metadata; `PATCH` (`merge = true`) merges top-level members first. Either way
    /// the result is validated as a fresh registration.
    pub async fn update_client(
        &self,
        org_id: &str,
        client_id: &str,
        body: &Value,
        merge: bool,
    ) -> Result<ClientMetadata> {
        let org = self.org(org_id).await?;
        let mut record = self
            .store
            .get_client(org_id, client_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("client {client_id}")))?;
        let current: ClientMetadata = serde_json::from_str(&record.metadata_json)
            .map_err(|e| Error::Internal(format!("client metadata: {e}")))?;
        let incoming = body.as_object().ok_or_else(|| {
            OAuthError::invalid_client_metadata("client metadata must be a JSON object")
        })?;
        if let Some(id) = incoming.get("client_id")
            && id.as_str() != Some(client_id)
        {
            return Err(OAuthError::invalid_client_metadata("client_id cannot be changed").into());
        }
        let merged = if merge {
            let mut base =
                serde_json::to_value(&current).map_err(|e| Error::Internal(e.to_string()))?;
            if let Some(obj) = base.as_object_mut() {
                for (k, v) in incoming {
                    if v.is_null() {
                        obj.remove(k);
                    } else {
                        obj.insert(k.clone(), v.clone());
                    }
                }
                // A new key source replaces the other one rather than conflicting with it.
                if incoming.contains_key("jwks") && !incoming.contains_key("jwks_uri") {
                    obj.remove("jwks_uri");
                } else if incoming.contains_key("jwks_uri") && !incoming.contains_key("jwks") {
                    obj.remove("jwks");
                }
            }
            base
        } else {
            body.clone()
        };
        let metadata = client::validate_registration(
            org.settings.profile,
            &merged,
            client_id.to_owned(),
            current.client_id_issued_at,
        )
        .map_err(admin_metadata_error)?;
        self.check_jwks_uri_fetchable(&metadata)?;
        record.metadata_json =
            serde_json::to_string(&metadata).map_err(|e| Error::Internal(e.to_string()))?;
        record.updated_at = self.now();
        self.store.update_client(&record).await?;
        self.forget_client(org_id, client_id).await;
        Ok(metadata)
    }

    /// Deletes a client and its RFC 7592 registration access token (if it was registered
    /// dynamically), whichever API deletes it.
    pub async fn delete_client(&self, org_id: &str, client_id: &str) -> Result<()> {
        self.store
            .delete_client(org_id, client_id)
            .await
            .map_err(|e| match e {
                clavex_store::StoreError::NotFound => {
                    Error::NotFound(format!("client {client_id}"))
                }
                other => other.into(),
            })?;
        self.forget_client(org_id, client_id).await;
        // After the client, so that a failed delete never leaves a client without its token. A
        // token left behind by a failure here is unusable (its client is gone) and is deleted when
        // it is next presented (`dcr_authenticate`); the client's deletion stands.
        if let Err(err) = self
            .store
            .delete_client_artifacts(ArtifactKind::RegistrationAccessToken, org_id, client_id)
            .await
        {
            tracing::warn!(org = %org_id, client_id = %client_id, error = %err, "could not delete the registration access token of a deleted client");
        }
        Ok(())
    }

    // ---- users ----

    pub async fn create_user(&self, org_id: &str, body: &Value) -> Result<UserView> {
        self.org(org_id).await?;
        let body = body
            .as_object()
            .ok_or_else(|| Error::BadRequest("body must be a JSON object".into()))?;
        let username = body
            .get("username")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::BadRequest("username is required".into()))?;
        check_username(username)?;
        let password = body
            .get("password")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::BadRequest("password is required".into()))?;
        check_password(password)?;
        let email = optional_email(body)?;
        let claims = user_claims(body, &Map::new())?;
        let now = self.now();
        let record = UserRecord {
            org_id: org_id.to_owned(),
            user_id: uuid::Uuid::now_v7().to_string(),
            username: username.to_owned(),
            email,
            password_hash: self.hasher.hash(password.to_owned()).await?,
            claims_json: Value::Object(claims).to_string(),
            created_at: now,
            updated_at: now,
        };
        self.store.insert_user(&record).await.map_err(|e| match e {
            clavex_store::StoreError::Conflict(_) => {
                Error::Conflict("username or email is already taken".into())
            }
            other => other.into(),
        })?;
        Ok(user_view(&record))
    }

    pub async fn get_user(&self, org_id: &str, user_id: &str) -> Result<UserView> {
        let record = self
            .store
            .get_user(org_id, user_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("user {user_id}")))?;
        Ok(user_view(&record))
    }

    pub async fn list_users(&self, org_id: &str) -> Result<Vec<UserView>> {
        self.org(org_id).await?;
        Ok(self
            .store
            .list_users(org_id)
            .await?
            .iter()
            .map(user_view)
            .collect())
    }

    pub async fn patch_user(&self, org_id: &str, user_id: &str, body: &Value) -> Result<UserView> {
        let body = body
            .as_object()
            .ok_or_else(|| Error::BadRequest("body must be a JSON object".into()))?;
        let mut record = self
            .store
            .get_user(org_id, user_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("user {user_id}")))?;
        if let Some(username) = body.get("username") {
            let username = username
                .as_str()
                .ok_or_else(|| Error::BadRequest("username must be a string".into()))?;
            check_username(username)?;
            record.username = username.to_owned();
        }
        if body.contains_key("email") {
            record.email = optional_email(body)?;
        }
        if let Some(password) = body.get("password") {
            let password = password
                .as_str()
                .ok_or_else(|| Error::BadRequest("password must be a string".into()))?;
            check_password(password)?;
            record.password_hash = self.hasher.hash(password.to_owned()).await?;
        }
        let existing: Map<String, Value> =
            serde_json::from_str(&record.claims_json).unwrap_or_default();
        record.claims_json = Value::Object(user_claims(body, &existing)?).to_string();
        record.updated_at = self.now();
        self.store.update_user(&record).await.map_err(|e| match e {
            clavex_store::StoreError::Conflict(_) => {
                Error::Conflict("username or email is already taken".into())
            }
            clavex_store::StoreError::NotFound => Error::NotFound(format!("user {user_id}")),
            other => other.into(),
        })?;
        Ok(user_view(&record))
    }

    /// Deletes a user and revokes everything issued for them: their grants (so their access tokens
    /// fail every grant-status check), refresh tokens, codes and consents.
    pub async fn delete_user(&self, org_id: &str, user_id: &str) -> Result<()> {
        self.store
            .delete_user(org_id, user_id)
            .await
            .map_err(|e| match e {
                clavex_store::StoreError::NotFound => Error::NotFound(format!("user {user_id}")),
                other => other.into(),
            })?;
        let revoked = self
            .store
            .revoke_user_grants(org_id, user_id, self.now())
            .await?;
        if revoked > 0 {
            tracing::info!(org = %org_id, grants = revoked, "deleted user's grants revoked");
        }
        Ok(())
    }

    /// Checks a user's password (used by the login flow). The same answer, and about the same work,
    /// for an unknown user and a wrong password.
    pub async fn verify_user_password(
        &self,
        org_id: &str,
        login: &str,
        password: &str,
    ) -> Result<Option<UserView>> {
        let record = self.store.find_user_by_login(org_id, login).await?;
        let phc = match &record {
            Some(r) => r.password_hash.clone(),
            None => DUMMY_PHC.to_owned(),
        };
        let ok = self.hasher.verify(password.to_owned(), phc).await?;
        Ok(match record {
            Some(r) if ok => Some(user_view(&r)),
            _ => None,
        })
    }

    // ---- keys ----

    pub async fn list_keys(&self, org_id: &str) -> Result<Vec<KeyView>> {
        self.org(org_id).await?;
        self.store
            .list_signing_keys(org_id)
            .await?
            .iter()
            .map(|k| {
                Ok(KeyView {
                    kid: k.kid.clone(),
                    alg: k.alg.clone(),
                    status: k.status.as_str(),
                    created_at: k.created_at,
                    retired_at: k.retired_at,
                    publish_until: k.publish_until,
                    public_jwk: serde_json::from_str(&k.public_jwk_json)
                        .map_err(|e| Error::Internal(e.to_string()))?,
                })
            })
            .collect()
    }

    /// Rotates the signing key of `alg` (or of every algorithm). The retired key stays published
    /// until every token it signed has expired, plus the cache time of relying parties.
    pub async fn rotate_keys(&self, org_id: &str, alg: Option<&str>) -> Result<Vec<KeyView>> {
        self.org(org_id).await?;
        let algs: Vec<Algorithm> = match alg {
            Some(name) => vec![crate::policy::fapi_algorithm(name).map_err(Error::BadRequest)?],
            None => vec![Algorithm::Es256, Algorithm::Ps256, Algorithm::EdDsa],
        };
        let now = self.now();
        // The longest lifetime any token could have been issued with, not the current setting: the
        // lifetime may have been lowered after longer-lived tokens were signed with this key.
        let publish_until = now
            .saturating_add(MAX_ACCESS_TOKEN_LIFETIME_SECS)
            .saturating_add(KEY_PUBLISH_GRACE_SECS);
        for alg in algs {
            let record = keyring::new_key_record(&self.master, org_id, alg, now)?;
            self.store
                .rotate_signing_key(&record, now, publish_until)
                .await?;
        }
        self.keys.invalidate(org_id).await;
        let keys = self.list_keys(org_id).await?;
        Ok(keys
            .into_iter()
            .filter(|k| {
                k.status == KeyStatus::Active.as_str() || k.publish_until.is_some_and(|u| u > now)
            })
            .collect())
    }
}

/// Extra time a retired key stays in the JWKS after its last token expired, for verifier caches.
pub const KEY_PUBLISH_GRACE_SECS: i64 = 3600;

/// The upper bound of `access_token_lifetime` (and of every other token Clavex signs).
pub const MAX_ACCESS_TOKEN_LIFETIME_SECS: i64 = 86_400;

/// A valid argon2id hash of a random string, verified when the user does not exist so that both
/// answers cost one argon2 verification.
const DUMMY_PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$YZ0yS6R0nLwMSU7gD2v5Kq5yLq0xQmJ0dDpYQ8vYw9E";

fn check_username(username: &str) -> Result<()> {
    if username.is_empty()
        || username.chars().count() > 200
        || username.chars().any(char::is_control)
    {
        return Err(Error::BadRequest(
            "username must be 1-200 printable characters".into(),
        ));
    }
    Ok(())
}

fn check_password(password: &str) -> Result<()> {
    if password.chars().count() < 8 || password.len() > 1024 {
        return Err(Error::BadRequest(
            "password must be 8-1024 characters".into(),
        ));
    }
    Ok(())
}

fn optional_email(body: &Map<String, Value>) -> Result<Option<String>> {
    match body.get("email") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(e))
            if e.contains('@') && e.len() <= 254 && !e.chars().any(char::is_whitespace) =>
        {
            Ok(Some(e.clone()))
        }
        Some(_) => Err(Error::BadRequest(
            "email must be an address like user@example.com".into(),
        )),
    }
}

fn user_claims(
    body: &Map<String, Value>,
    existing: &Map<String, Value>,
) -> Result<Map<String, Value>> {
    let mut claims = existing.clone();
    for (key, value) in body {
        if USER_CLAIMS.contains(&key.as_str()) {
            if value.is_null() {
                claims.remove(key);
            } else {
                claims.insert(key.clone(), value.clone());
            }
        } else if !["username", "password", "email"].contains(&key.as_str()) {
            return Err(Error::BadRequest(format!(
                "unknown user attribute {key}; allowed: username, password, email, {}",
                USER_CLAIMS.join(", ")
            )));
        }
    }
    Ok(claims)
}

fn apply_settings_patch(current: &OrgSettings, patch: &Value) -> Result<OrgSettings> {
    let mut merged = serde_json::to_value(current).map_err(|e| Error::Internal(e.to_string()))?;
    let (Some(target), Some(source)) = (merged.as_object_mut(), patch.as_object()) else {
        return Err(Error::BadRequest("settings must be a JSON object".into()));
    };
    for (k, v) in source {
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
        if !crate::policy::valid_scope_token(scope) {
            return Err(Error::BadRequest(format!(
                "scope {scope:?} is not a valid scope token (RFC 6749 §3.3)"
            )));
        }
        if crate::policy::OIDC_SCOPES.contains(&scope.as_str()) {
            return Err(Error::BadRequest(format!(
                "{scope} is an OpenID Connect scope and is always available; list only API scopes"
            )));
        }
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
    if !(30..=MAX_ACCESS_TOKEN_LIFETIME_SECS.unsigned_abs())
        .contains(&settings.access_token_lifetime)
    {
        return Err(Error::BadRequest(
            "access_token_lifetime must be between 30 and 86400 seconds".into(),
        ));
    }

    Ok(())
}
