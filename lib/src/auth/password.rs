//! argon2id hashing on a fixed set of hashing threads, each reusing one preallocated memory
//! block for every hash it computes.
//!
//! Each hash needs 19 MiB. Computed on the blocking pool (a thread per call, up to 512), every
//! hash allocated a fresh 19 MiB buffer on whichever thread ran it, and glibc's malloc kept
//! those buffers: freeing one raises its dynamic mmap threshold, so later buffers come from
//! the thread's arena, and each thread has an arena of its own, which glibc does not give
//! back. Memory grew with the number of threads that ever hashed, never shrinking. Here the
//! number of hashing threads is fixed (the cores) and each allocates its block once, so
//! hashing memory is bounded by `threads × 19 MiB` however many clients and hashes come.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};

use anyhow::Context;
use argon2::password_hash::{rand_core::OsRng, Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::{oneshot, OnceCell};

/// Work for a hashing thread: runs with that thread's memory block.
type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

#[derive(Clone)]
pub struct PasswordHasher {
    threads: usize,
    /// Started on first use, so hosts that never hash never allocate.
    pool: Arc<OnceLock<mpsc::Sender<Job>>>,
    /// A hash of a random secret, verified against when the account does not exist, so that an
    /// unknown identifier costs the same as a wrong secret.
    dummy: Arc<OnceCell<String>>,
    /// Verifications run so far (real and dummy), for operators and tests.
    verifications: Arc<AtomicU64>,
}

impl Default for PasswordHasher {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::new(cores)
    }
}

/// argon2id, 19 MiB, t=2, p=1: the crate's defaults, OWASP's recommendation.
fn argon2id(params: Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Computes the hash of `secret` with `salt` into `out`, on `memory` (grown if `params` need
/// more than it holds; never shrunk).
fn compute(
    memory: &mut Vec<Block>,
    params: Params,
    secret: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> anyhow::Result<()> {
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::new());
    }
    argon2id(params)
        .hash_password_into_with_memory(secret, salt, out, &mut memory[..blocks])
        .map_err(|e| anyhow::anyhow!("argon2id failed: {e}"))
}

impl PasswordHasher {
    pub fn new(threads: usize) -> Self {
        Self {
            threads: threads.max(1),
            pool: Arc::new(OnceLock::new()),
            dummy: Arc::new(OnceCell::new()),
            verifications: Arc::new(AtomicU64::new(0)),
        }
    }

    /// argon2id, 19 MiB, t=2, p=1, as a PHC string.
    pub async fn hash(&self, secret: &str) -> anyhow::Result<String> {
        self.hash_with_salt(secret, SaltString::generate(&mut OsRng))
            .await
    }

    /// [`hash`](Self::hash) with a given salt: the same secret and salt give the same string
    /// (for reproducible datasets; accounts created through the API get random salts).
    pub async fn hash_with_salt(&self, secret: &str, salt: SaltString) -> anyhow::Result<String> {
        let secret = secret.to_owned();
        self.run(move |memory| {
            let params = Params::default();
            let mut raw_salt = [0u8; 64];
            let raw_salt = salt
                .decode_b64(&mut raw_salt)
                .map_err(|e| anyhow::anyhow!("Failed to decode a salt: {e}"))?;
            let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
            compute(
                memory,
                params.clone(),
                secret.as_bytes(),
                raw_salt,
                &mut out,
            )?;
            let phc = PasswordHash {
                algorithm: Algorithm::Argon2id.ident(),
                version: Some(Version::V0x13.into()),
                params: ParamsString::try_from(&params)
                    .map_err(|e| anyhow::anyhow!("Failed to encode parameters: {e}"))?,
                salt: Some(salt.as_salt()),
                hash: Some(
                    Output::new(&out)
                        .map_err(|e| anyhow::anyhow!("Failed to encode a hash: {e}"))?,
                ),
            };
            Ok(phc.to_string())
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
        self.verifications.fetch_add(1, Ordering::Relaxed);
        let matched = self
            .run(move |memory| {
                let parsed = PasswordHash::new(&phc)
                    .map_err(|e| anyhow::anyhow!("Stored secret hash is not a PHC string: {e}"))?;
                anyhow::ensure!(
                    parsed.algorithm == Algorithm::Argon2id.ident()
                        && parsed.version == Some(Version::V0x13.into()),
                    "Stored secret hash is not argon2id v19"
                );
                let params = Params::try_from(&parsed)
                    .map_err(|e| anyhow::anyhow!("Stored hash has bad parameters: {e}"))?;
                let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
                    anyhow::bail!("Stored secret hash has no salt or no hash");
                };
                let mut raw_salt = [0u8; 64];
                let raw_salt = salt
                    .decode_b64(&mut raw_salt)
                    .map_err(|e| anyhow::anyhow!("Stored hash has a bad salt: {e}"))?;
                let mut out = vec![0u8; expected.len()];
                compute(memory, params, secret.as_bytes(), raw_salt, &mut out)?;
                let computed =
                    Output::new(&out).map_err(|e| anyhow::anyhow!("Bad hash length: {e}"))?;
                // `Output`'s equality is constant-time.
                Ok(computed == expected)
            })
            .await?;
        Ok(real && matched)
    }

    /// How many verifications this hasher has run (each costs one argon2id computation).
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
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

    /// Runs `f` on one of the hashing threads, with that thread's memory block.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Vec<Block>) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |memory| {
            let _ = tx.send(f(memory));
        });
        self.pool
            .get_or_init(|| start_pool(self.threads))
            .send(job)
            .map_err(|_| anyhow::anyhow!("the hashing threads are gone"))?;
        rx.await.context("a hashing thread dropped its job")?
    }
}

/// `threads` hashing threads taking jobs from one queue; each allocates its memory block on
/// its first job and keeps it.
fn start_pool(threads: usize) -> mpsc::Sender<Job> {
    let (sender, receiver) = mpsc::channel::<Job>();
    let receiver = Arc::new(Mutex::new(receiver));
    for i in 0..threads {
        let receiver = receiver.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("argon2id-{i}"))
            .spawn(move || {
                let mut memory: Vec<Block> = Vec::new();
                loop {
                    let job = {
                        let queue = receiver.lock().unwrap_or_else(|e| e.into_inner());
                        queue.recv()
                    };
                    match job {
                        Ok(job) => job(&mut memory),
                        Err(_) => return,
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "could not start a hashing thread");
        }
    }
    sender
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
        assert_eq!(hasher.verifications(), 3);
    }

    #[tokio::test]
    async fn hashes_interoperate_with_the_argon2_crate() {
        use argon2::{PasswordHasher as _, PasswordVerifier as _};
        let hasher = PasswordHasher::new(1);
        let ours = hasher.hash("tukar-tambah").await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default()
            .verify_password(b"tukar-tambah", &parsed)
            .is_ok());
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default()
            .hash_password(b"tukar-tambah", &salt)
            .unwrap()
            .to_string();
        assert!(hasher.verify("tukar-tambah", Some(&theirs)).await.unwrap());
        assert!(!hasher.verify("tukar-kurang", Some(&theirs)).await.unwrap());
    }

    #[tokio::test]
    async fn a_stored_hash_that_is_not_argon2id_is_an_error_not_a_match() {
        let hasher = PasswordHasher::new(1);
        assert!(hasher.verify("x", Some("not a phc string")).await.is_err());
        assert!(hasher
            .verify(
                "x",
                Some("$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaA")
            )
            .await
            .is_err());
    }

    #[tokio::test]
    async fn many_concurrent_hashes_finish_on_the_fixed_threads() {
        let hasher = PasswordHasher::new(2);
        let phcs = futures::future::join_all((0..8).map(|i| {
            let hasher = hasher.clone();
            async move { hasher.hash(&format!("secret-{i}")).await.unwrap() }
        }))
        .await;
        for (i, phc) in phcs.iter().enumerate() {
            assert!(hasher
                .verify(&format!("secret-{i}"), Some(phc))
                .await
                .unwrap());
        }
    }
}
