//! Password hashing with argon2id, off the async executor and bounded so a login flood cannot starve
//! the token endpoint.

use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use tokio::sync::Semaphore;

use crate::error::{Error, Result};

#[derive(Clone)]
pub struct PasswordHasherPool {
    permits: Arc<Semaphore>,
}

impl PasswordHasherPool {
    pub fn new(parallelism: usize) -> Self {
        PasswordHasherPool {
            permits: Arc::new(Semaphore::new(parallelism.max(1))),
        }
    }

    pub async fn hash(&self, password: String) -> Result<String> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| Error::invariant("hasher closed"))?;
        tokio::task::spawn_blocking(move || {
            Argon2::default()
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| Error::internal("argon2", e))
        })
        .await
        .map_err(|e| Error::internal("hash task", e))?
    }

    pub async fn verify(&self, password: String, phc: String) -> Result<bool> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| Error::invariant("hasher closed"))?;
        tokio::task::spawn_blocking(move || {
            let parsed = PasswordHash::new(&phc).map_err(|e| Error::internal("stored hash", e))?;
            Ok(Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok())
        })
        .await
        .map_err(|e| Error::internal("verify task", e))?
    }
}
