//! Users: creation with an argon2id password hash, reads, changes, deletion (which ends their
//! sessions and grants), and password verification for the login page.

use std::fmt;

use clavex_store::UserRecord;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::actor::AdminActor;
use crate::admin::{AdminRequest, changed_members, record_change};
use crate::connection::ConnectionFacts;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::events::AdminChange;
use crate::ids::OrgId;
use crate::records;

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

/// The Admin API's answer for a user that does not exist (also for a user of an organization that
/// could not exist: it holds none).
pub fn unknown_user(user_id: &str) -> Error {
    Error::NotFound(format!("user {user_id}"))
}

fn user_view(record: &UserRecord) -> UserView {
    UserView {
        user_id: record.user_id.clone(),
        username: record.username.clone(),
        email: record.email.clone(),
        claims: records::stored_user_claims(record),
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

/// A password as sent, checked for length; never printed (its `Debug` is redacted).
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn parse(password: &str) -> Result<Password> {
        check_password(password)?;
        Ok(Password(password.to_owned()))
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

/// `POST /api/v1/organizations/{org}/users`: `username` and `password` (required), `email`, and
/// profile claims ([`USER_CLAIMS`]). Any other member is refused.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateUser {
    pub username: String,
    pub password: Password,
    pub email: Option<String>,
    /// Profile claims; a `null` claim is left unset.
    pub claims: Map<String, Value>,
}

impl AdminRequest for CreateUser {
    fn from_json(body: &Value) -> Result<CreateUser> {
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
        Ok(CreateUser {
            username: username.to_owned(),
            password: Password::parse(password)?,
            email: optional_email(body)?,
            claims: claim_changes(body)?,
        })
    }
}

/// `PATCH /api/v1/organizations/{org}/users/{user_id}`: absent members stay as they are; `email`
/// and profile claims may be `null` (removed); `username` and `password` may not. Any other member
/// is refused.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UpdateUser {
    pub username: Option<String>,
    /// `Some(None)`: remove the email address.
    pub email: Option<Option<String>>,
    pub password: Option<Password>,
    /// Profile claims to set, or to remove (`null`).
    pub claims: Map<String, Value>,
}

impl AdminRequest for UpdateUser {
    fn from_json(body: &Value) -> Result<UpdateUser> {
        let body = body
            .as_object()
            .ok_or_else(|| Error::BadRequest("body must be a JSON object".into()))?;
        let mut request = UpdateUser::default();
        if let Some(username) = body.get("username") {
            let username = username
                .as_str()
                .ok_or_else(|| Error::BadRequest("username must be a string".into()))?;
            check_username(username)?;
            request.username = Some(username.to_owned());
        }
        if body.contains_key("email") {
            request.email = Some(optional_email(body)?);
        }
        if let Some(password) = body.get("password") {
            let password = password
                .as_str()
                .ok_or_else(|| Error::BadRequest("password must be a string".into()))?;
            request.password = Some(Password::parse(password)?);
        }
        request.claims = claim_changes(body)?;
        Ok(request)
    }
}

/// A user's changeable members except the password, as one JSON object, to name what a change
/// changed.
fn changeable_members(record: &UserRecord, claims: &Map<String, Value>) -> Value {
    let mut members = claims.clone();
    members.insert("username".into(), Value::String(record.username.clone()));
    members.insert(
        "email".into(),
        record.email.clone().map_or(Value::Null, Value::String),
    );
    Value::Object(members)
}

impl Engine {
    pub async fn create_user(
        &self,
        org_id: &OrgId,
        request: CreateUser,
        actor: &AdminActor,
        connection: &ConnectionFacts,
    ) -> Result<UserView> {
        self.org(org_id).await?;
        let now = self.now();
        let record = UserRecord {
            org_id: org_id.to_string(),
            user_id: uuid::Uuid::now_v7().to_string(),
            username: request.username,
            email: request.email,
            password_hash: self.hasher.hash(request.password.0).await?,
            claims_json: Value::Object(apply_claim_changes(&Map::new(), &request.claims))
                .to_string(),
            created_at: now,
            updated_at: now,
        };
        self.store.insert_user(&record).await.map_err(|e| match e {
            clavex_store::StoreError::Conflict(_) => {
                Error::Conflict("username or email is already taken".into())
            }
            other => other.into(),
        })?;
        record_change(
            actor,
            connection,
            AdminChange::UserCreated {
                org_id: org_id.as_str(),
                user_id: &record.user_id,
            },
        );
        Ok(user_view(&record))
    }

    pub async fn get_user(&self, org_id: &OrgId, user_id: &str) -> Result<UserView> {
        let record = self
            .store
            .get_user(org_id.as_str(), user_id)
            .await?
            .ok_or_else(|| unknown_user(user_id))?;
        Ok(user_view(&record))
    }

    pub async fn list_users(&self, org_id: &OrgId) -> Result<Vec<UserView>> {
        self.org(org_id).await?;
        Ok(self
            .store
            .list_users(org_id.as_str())
            .await?
            .iter()
            .map(user_view)
            .collect())
    }

    pub async fn patch_user(
        &self,
        org_id: &OrgId,
        user_id: &str,
        request: UpdateUser,
        actor: &AdminActor,
        connection: &ConnectionFacts,
    ) -> Result<UserView> {
        let mut record = self
            .store
            .get_user(org_id.as_str(), user_id)
            .await?
            .ok_or_else(|| unknown_user(user_id))?;
        let existing = records::user_claims(&record);
        let before = changeable_members(&record, &existing);
        if let Some(username) = request.username {
            record.username = username;
        }
        if let Some(email) = request.email {
            record.email = email;
        }
        let password_set = request.password.is_some();
        if let Some(password) = request.password {
            record.password_hash = self.hasher.hash(password.0).await?;
        }
        let claims = apply_claim_changes(&existing, &request.claims);
        let mut changed = changed_members(&before, &changeable_members(&record, &claims));
        record.claims_json = Value::Object(claims).to_string();
        record.updated_at = self.now();
        self.store.update_user(&record).await.map_err(|e| match e {
            clavex_store::StoreError::Conflict(_) => {
                Error::Conflict("username or email is already taken".into())
            }
            clavex_store::StoreError::NotFound => unknown_user(user_id),
            other => other.into(),
        })?;
        let change = if password_set {
            changed.push("password".into());
            AdminChange::UserPasswordSet {
                org_id: org_id.as_str(),
                user_id,
                changed: &changed,
            }
        } else {
            AdminChange::UserUpdated {
                org_id: org_id.as_str(),
                user_id,
                changed: &changed,
            }
        };
        record_change(actor, connection, change);
        Ok(user_view(&record))
    }

    /// Deletes a user and revokes everything issued for them: their grants (so their access tokens
    /// fail every grant-status check), refresh tokens, codes and consents.
    pub async fn delete_user(
        &self,
        org_id: &OrgId,
        user_id: &str,
        actor: &AdminActor,
        connection: &ConnectionFacts,
    ) -> Result<()> {
        self.store
            .delete_user(org_id.as_str(), user_id)
            .await
            .map_err(|e| match e {
                clavex_store::StoreError::NotFound => unknown_user(user_id),
                other => other.into(),
            })?;
        let revoked = self
            .store
            .revoke_user_grants(org_id.as_str(), user_id, self.now())
            .await?;
        if revoked > 0 {
            tracing::info!(org = %org_id, grants = revoked, "deleted user's grants revoked");
        }
        record_change(
            actor,
            connection,
            AdminChange::UserDeleted {
                org_id: org_id.as_str(),
                user_id,
                grants_revoked: revoked,
            },
        );
        Ok(())
    }

    /// Checks a user's password (used by the login flow). The same answer, and about the same work,
    /// for an unknown user and a wrong password.
    pub async fn verify_user_password(
        &self,
        org_id: &OrgId,
        login: &str,
        password: &str,
    ) -> Result<Option<UserView>> {
        let record = self
            .store
            .find_user_by_login(org_id.as_str(), login)
            .await?;
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
}

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

/// The profile claims a body sets (or removes, `null`); any member that is neither a claim nor
/// `username`, `password` or `email` is refused.
fn claim_changes(body: &Map<String, Value>) -> Result<Map<String, Value>> {
    let mut changes = Map::new();
    for (key, value) in body {
        if USER_CLAIMS.contains(&key.as_str()) {
            changes.insert(key.clone(), value.clone());
        } else if !["username", "password", "email"].contains(&key.as_str()) {
            return Err(Error::BadRequest(format!(
                "unknown user attribute {key}; allowed: username, password, email, {}",
                USER_CLAIMS.join(", ")
            )));
        }
    }
    Ok(changes)
}

fn apply_claim_changes(
    existing: &Map<String, Value>,
    changes: &Map<String, Value>,
) -> Map<String, Value> {
    let mut claims = existing.clone();
    for (key, value) in changes {
        if value.is_null() {
            claims.remove(key);
        } else {
            claims.insert(key.clone(), value.clone());
        }
    }
    claims
}
