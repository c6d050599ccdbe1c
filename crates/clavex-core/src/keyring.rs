//! Organization signing keys: generation, sealing at rest, loading into parsed in-memory keys, and the
//! published JWKS (active keys plus retired keys until every token they signed has expired).

use std::collections::HashMap;
use std::sync::Arc;

use clavex_jose::{Algorithm, PublicKey, SigningKey};
use clavex_store::{KeyStatus, SigningKeyRecord};
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::ids::OrgId;
use crate::master_key::MasterKey;
use crate::records;

/// Parsed keys of one organization, cached by the engine.
pub struct OrgKeys {
    pub signing: HashMap<Algorithm, Arc<SigningKey>>,
    /// The public JWKS document served at `/{org}/jwks`.
    pub jwks: Value,
    /// The same keys, parsed, for verifying tokens this organization issued.
    pub published: Vec<PublicKey>,
}

impl OrgKeys {
    /// A published key (active or retired) that verifies `alg` and has `kid`.
    pub fn verification_key(&self, kid: Option<&str>, alg: Algorithm) -> Option<PublicKey> {
        let kid = kid?;
        self.published
            .iter()
            .find(|k| k.kid() == Some(kid) && k.supports(alg))
            .cloned()
    }

    pub fn signer(&self, alg: Algorithm) -> Result<&Arc<SigningKey>> {
        self.signing.get(&alg).ok_or_else(|| {
            Error::invariant(format!("organization has no active {} key", alg.as_str()))
        })
    }
}

fn aad(org_id: &str, kid: &str, alg: &str) -> String {
    format!("clavex-signing-key|{org_id}|{kid}|{alg}")
}

/// Generates a key and seals it; returns the record to store.
pub fn new_key_record(
    master: &MasterKey,
    org_id: &OrgId,
    alg: Algorithm,
    now: i64,
) -> Result<SigningKeyRecord> {
    // The kid is random rather than the thumbprint, so that it reveals nothing and stays unique.
    let kid = clavex_jose::random_token(12);
    let key =
        SigningKey::generate(alg, kid.clone()).map_err(|e| Error::internal("key generation", e))?;
    let pkcs8 = zeroize::Zeroizing::new(
        key.to_pkcs8()
            .map_err(|e| Error::internal("key export", e))?,
    );
    let sealed = master.seal(&pkcs8, &aad(org_id.as_str(), &kid, alg.as_str()))?;
    Ok(SigningKeyRecord {
        org_id: org_id.to_string(),
        kid,
        alg: alg.as_str().to_owned(),
        status: KeyStatus::Active,
        public_jwk_json: key.public_jwk().to_string(),
        sealed_private_key: sealed,
        created_at: now,
        retired_at: None,
        publish_until: None,
    })
}

/// Opens the active keys and builds the published JWKS.
pub fn load(master: &MasterKey, records: &[SigningKeyRecord], now: i64) -> Result<OrgKeys> {
    let mut signing = HashMap::new();
    let mut published = Vec::new();
    let mut parsed = Vec::new();
    for record in records {
        let visible = match record.status {
            KeyStatus::Active => true,
            KeyStatus::Retired => record.publish_until.is_some_and(|until| until > now),
        };
        if visible {
            let jwk = records::public_jwk(record)?;
            parsed
                .push(PublicKey::from_jwk(&jwk).map_err(|e| {
                    Error::internal(format!("stored public key {}", record.kid), e)
                })?);
            published.push(jwk);
        }
        if record.status == KeyStatus::Active {
            let alg =
                Algorithm::parse(&record.alg).map_err(|e| Error::internal("stored key alg", e))?;
            let pkcs8 = master.open(
                &record.sealed_private_key,
                &aad(&record.org_id, &record.kid, &record.alg),
            )?;
            let key = SigningKey::from_pkcs8(alg, record.kid.clone(), &pkcs8)
                .map_err(|e| Error::internal(format!("stored key {}", record.kid), e))?;
            // Several active keys of one alg can exist only transiently; the newest wins.
            signing.insert(alg, Arc::new(key));
        }
    }
    Ok(OrgKeys {
        signing,
        jwks: json!({ "keys": published }),
        published: parsed,
    })
}
