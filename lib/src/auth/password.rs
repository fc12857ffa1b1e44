//! argon2id hashing on the blocking pool, behind a semaphore: each hash takes 19 MiB, so
//! unbounded concurrency would be a memory exhaustion attack.

use std::sync::Arc;

use anyhow::Context;
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString,
};
use argon2::Argon2;
use tokio::sync::{OnceCell, Semaphore};

#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    /// A hash of a random secret, verified against when the account does not exist, so that an
    /// unknown identifier costs the same as a wrong secret.
    dummy: Arc<OnceCell<String>>,
}

impl Default for PasswordHasher {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::new(cores)
    }
}

impl PasswordHasher {
    pub fn new(concurrency: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy: Arc::new(OnceCell::new()),
        }
    }

    /// argon2id, 19 MiB, t=2, p=1 (the crate's defaults, OWASP's recommendation), PHC string.
    pub async fn hash(&self, secret: &str) -> anyhow::Result<String> {
        let secret = secret.to_owned();
        self.blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(secret.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| anyhow::anyhow!("Failed to hash a secret: {e}"))
        })
        .await
    }

    /// Verifies `secret` against a stored PHC string; `None` verifies against the dummy hash
    /// and always answers false.
    pub async fn verify(&self, secret: &str, stored: Option<&str>) -> anyhow::Result<bool> {
        let (phc, real) = match stored {
            Some(s) => (s.to_owned(), true),
            None => (self.dummy_hash().await?, false),
        };
        let secret = secret.to_owned();
        let matched = self
            .blocking(move || {
                let parsed = PasswordHash::new(&phc)
                    .map_err(|e| anyhow::anyhow!("Stored secret hash is not a PHC string: {e}"))?;
                Ok(Argon2::default()
                    .verify_password(secret.as_bytes(), &parsed)
                    .is_ok())
            })
            .await?;
        Ok(real && matched)
    }

    async fn dummy_hash(&self) -> anyhow::Result<String> {
        self.dummy
            .get_or_try_init(|| async {
                let random = uuid::Uuid::new_v4().to_string();
                self.hash(&random).await
            })
            .await
            .cloned()
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let _permit = self
            .permits
            .acquire()
            .await
            .context("Failed to acquire a hashing permit")?;
        tokio::task::spawn_blocking(f)
            .await
            .context("Hashing task failed")?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let hasher = PasswordHasher::new(2);
        let phc = hasher.hash("correct horse").await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(hasher.verify("correct horse", Some(&phc)).await.unwrap());
        assert!(!hasher.verify("wrong horse", Some(&phc)).await.unwrap());
        assert!(!hasher.verify("correct horse", None).await.unwrap());
        assert_ne!(phc, hasher.hash("correct horse").await.unwrap(), "salted");
    }
}
