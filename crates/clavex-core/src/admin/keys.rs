//! Signing keys of an organization: listing and rotation (new keys active at once, the old ones
//! retired but published for `policy::lifetimes::KEY_PUBLISH_GRACE_SECS` after their last token).

use clavex_jose::Algorithm;
use clavex_store::KeyStatus;
use serde::Serialize;
use serde_json::Value;

use crate::actor::AdminActor;
use crate::admin::{AdminRequest, record_change};
use crate::connection::ConnectionFacts;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::events::AdminChange;
use crate::ids::OrgId;
use crate::keyring;
use crate::policy::lifetimes;
use crate::records;

/// `POST /api/v1/organizations/{org}/keys/rotate`: `alg` names the one algorithm to rotate; absent
/// or `null`, every algorithm. Other members, and a body that is not an object, are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RotateKeys {
    pub alg: Option<String>,
}

impl AdminRequest for RotateKeys {
    fn from_json(body: &Value) -> Result<RotateKeys> {
        let alg = match body.get("alg") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(Error::BadRequest("alg must be a string".into())),
        };
        Ok(RotateKeys { alg })
    }
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

impl Engine {
    pub async fn list_keys(&self, org_id: &OrgId) -> Result<Vec<KeyView>> {
        self.org(org_id).await?;
        self.store
            .list_signing_keys(org_id.as_str())
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
                    public_jwk: records::public_jwk(k)?,
                })
            })
            .collect()
    }

    /// Rotates the signing key of `alg` (or of every algorithm). The retired key stays published
    /// until every token it signed has expired, plus the cache time of relying parties.
    pub async fn rotate_keys(
        &self,
        org_id: &OrgId,
        request: RotateKeys,
        actor: &AdminActor,
        connection: &ConnectionFacts,
    ) -> Result<Vec<KeyView>> {
        self.org(org_id).await?;
        let algs: Vec<Algorithm> = match request.alg.as_deref() {
            Some(name) => vec![crate::policy::fapi_algorithm(name).map_err(Error::BadRequest)?],
            None => vec![Algorithm::Es256, Algorithm::Ps256, Algorithm::EdDsa],
        };
        let now = self.now();
        // The longest lifetime any token could have been issued with, not the current setting: the
        // lifetime may have been lowered after longer-lived tokens were signed with this key.
        let publish_until = now
            .saturating_add(lifetimes::MAX_ACCESS_TOKEN_LIFETIME_SECS)
            .saturating_add(lifetimes::KEY_PUBLISH_GRACE_SECS);
        // The active keys of these algorithms are the ones the rotation retires.
        let retired: Vec<String> = self
            .store
            .list_signing_keys(org_id.as_str())
            .await?
            .into_iter()
            .filter(|k| {
                k.status == KeyStatus::Active && algs.iter().any(|alg| alg.as_str() == k.alg)
            })
            .map(|k| k.kid)
            .collect();
        let mut activated = Vec::with_capacity(algs.len());
        for alg in algs {
            let record = keyring::new_key_record(&self.master, org_id, alg, now)?;
            self.store
                .rotate_signing_key(&record, now, publish_until)
                .await?;
            activated.push(record.kid);
        }
        self.keys.invalidate(org_id.as_str()).await;
        record_change(
            actor,
            connection,
            AdminChange::SigningKeysRotated {
                org_id: org_id.as_str(),
                activated: &activated,
                retired: &retired,
            },
        );
        let keys = self.list_keys(org_id).await?;
        Ok(keys
            .into_iter()
            .filter(|k| {
                k.status == KeyStatus::Active.as_str() || k.publish_until.is_some_and(|u| u > now)
            })
            .collect())
    }
}
