//! Everything a request needs, built once per process (per Lambda cold start).

use std::sync::Arc;

use anyhow::Context;

use crate::auth::tokens::{Audience, PublicKey};
use crate::auth::totp::FactorKey;
use crate::auth::{KeyPair, LockoutPolicy, PasswordHasher, TokenIssuer, TokenVerifier};
use crate::config::{Config, KeyConfig, StoreConfig};
use crate::delivery::{Delivery, Outbox};
use crate::paging::CursorKey;
use crate::pictures::{PictureFiles, PictureStore};
use crate::queue::{NoQueue, TransferQueue};
use crate::store::Store;

/// Which key a host needs: the issuer (login) holds the private key, everyone else verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRole {
    Issuer,
    Verifier,
}

/// What a Lambda function needs at init; anything missing fails the cold start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    pub keys: KeyRole,
    /// Enqueues transfers (needs `DOMPET_TRANSFER_QUEUE_URL`).
    pub queue: bool,
}

impl Needs {
    /// Verifies tokens only.
    pub const VERIFY: Self = Self {
        keys: KeyRole::Verifier,
        queue: false,
    };
    /// Issues tokens.
    pub const ISSUE: Self = Self {
        keys: KeyRole::Issuer,
        queue: false,
    };
    /// Verifies tokens and enqueues transfers.
    pub const ENQUEUE: Self = Self {
        keys: KeyRole::Verifier,
        queue: true,
    };
}

/// The key material a state is built with.
pub enum Keys {
    Signing(KeyPair),
    Verifying(PublicKey),
}

#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    queue: Arc<dyn TransferQueue>,
    hasher: PasswordHasher,
    verifier: TokenVerifier,
    issuer: Option<TokenIssuer>,
    cursor_key: CursorKey,
    /// The second factor's key (see [`FactorKey`]): set at start from the environment or a
    /// file; from SSM (`DOMPET_MFA_KEY_PARAMETER`) on the first code checked, so a cold start
    /// of a money function pays no SSM call for requests that carry no code.
    factor_key: tokio::sync::OnceCell<FactorKey>,
    /// Seconds added to the system clock where second-factor codes are checked: a test moves
    /// this host's time to check codes of later steps without waiting for them.
    code_clock_offset: std::sync::atomic::AtomicI64,
    delivery: Arc<dyn Delivery>,
    pictures: Arc<dyn PictureStore>,
    config: Config,
    /// Awaited by a login between verifying the secret and writing its family (tests make
    /// races deterministic with it); none in production.
    before_login_write: Option<LoginHook>,
}

/// What a login awaits between verifying its secret and writing its family.
pub type LoginHook =
    Arc<dyn Fn() -> futures::future::BoxFuture<'static, ()> + Send + Sync + 'static>;

impl AppState {
    pub fn new(
        store: Arc<dyn Store>,
        queue: Arc<dyn TransferQueue>,
        keys: Keys,
        config: &Config,
    ) -> anyhow::Result<Self> {
        let audience = Audience {
            issuer: config.jwt_issuer.clone(),
            audience: config.jwt_audience.clone(),
        };
        let (public, issuer) = match keys {
            Keys::Signing(pair) => {
                let issuer = TokenIssuer::new(
                    &pair,
                    audience.clone(),
                    config.access_ttl,
                    config.refresh_ttl,
                    config.session_max_age,
                )?;
                (pair.public(), Some(issuer))
            }
            Keys::Verifying(public) => (public, None),
        };
        let cursor_key = cursor_key(config)?;
        let factor_key = tokio::sync::OnceCell::new_with(factor_key(config)?);
        Ok(Self {
            inner: Arc::new(Inner {
                factor_key,
                code_clock_offset: Default::default(),
                store,
                queue,
                hasher: PasswordHasher::default(),
                verifier: TokenVerifier::new(public, audience)?,
                issuer,
                cursor_key,
                delivery: Arc::new(Outbox::new(&config.outbox_dir)),
                pictures: Arc::new(PictureFiles::new(&config.pictures_dir)),
                config: config.clone(),
                before_login_write: None,
            }),
        })
    }

    /// Builds the state a Lambda function runs with, from its environment.
    pub async fn from_env(needs: Needs) -> anyhow::Result<Self> {
        let mut config = Config::from_env()?;
        // The cursor key from SSM Parameter Store, read once at init, never an environment
        // variable's plain text.
        if let (None, Some(name)) = (&config.cursor_secret, &config.cursor_secret_parameter) {
            let secret = read_ssm_secret(name, "DOMPET_CURSOR_SECRET_PARAMETER").await?;
            config.cursor_secret = Some(crate::config::SecretString::new(secret));
        }
        let store = open_store(&config.store).await?;
        let keys = load_keys(&config.keys, needs.keys).await?;
        let queue: Arc<dyn TransferQueue> = match (&config.transfer_queue_url, needs.queue) {
            #[cfg(feature = "sqs")]
            (Some(url), true) => Arc::new(
                crate::queue::SqsQueue::from_env(url.clone())
                    .await?
                    .with_dead_letter(config.transfer_dlq_url.clone()),
            ),
            #[cfg(not(feature = "sqs"))]
            (Some(_), true) => {
                anyhow::bail!("this build has no SQS queue (the library's `sqs` feature)")
            }
            (None, true) => {
                anyhow::bail!("this function enqueues transfers: set DOMPET_TRANSFER_QUEUE_URL")
            }
            (_, false) => Arc::new(NoQueue),
        };
        let state = Self::new(store, queue, keys, &config)?;
        let state = match &config.pictures_bucket {
            #[cfg(feature = "s3")]
            Some(bucket) => state.with_pictures(Arc::new(
                crate::pictures::S3Pictures::from_env(bucket.clone()).await?,
            )),
            #[cfg(not(feature = "s3"))]
            Some(_) => anyhow::bail!(
                "DOMPET_PICTURES_BUCKET is set but this build has no S3 client (the library's `s3` feature)"
            ),
            None => state,
        };
        match &config.email_from {
            #[cfg(feature = "delivery")]
            Some(from) => Ok(state.with_delivery(Arc::new(
                crate::delivery::AwsDelivery::from_env(from.clone(), config.sms_countries.clone())
                    .await?,
            ))),
            #[cfg(not(feature = "delivery"))]
            Some(_) => anyhow::bail!(
                "DOMPET_EMAIL_FROM is set but this build has no SES and SNS clients (the library's `delivery` feature)"
            ),
            None => Ok(state),
        }
    }

    /// The state with one-time codes delivered by `delivery` (before the state is shared).
    pub fn with_delivery(mut self, delivery: Arc<dyn Delivery>) -> Self {
        Arc::get_mut(&mut self.inner)
            .expect("with_delivery before the state is cloned")
            .delivery = delivery;
        self
    }

    /// The state with `hook` awaited by every login after its secret verified and before its
    /// family is written (before the state is shared): a test holds a login there.
    pub fn with_login_hook(mut self, hook: LoginHook) -> Self {
        Arc::get_mut(&mut self.inner)
            .expect("with_login_hook before the state is cloned")
            .before_login_write = Some(hook);
        self
    }

    pub(crate) async fn login_write_pause(&self) {
        if let Some(hook) = &self.inner.before_login_write {
            hook().await;
        }
    }

    /// The state with pictures kept by `pictures` (before the state is shared).
    pub fn with_pictures(mut self, pictures: Arc<dyn PictureStore>) -> Self {
        Arc::get_mut(&mut self.inner)
            .expect("with_pictures before the state is cloned")
            .pictures = pictures;
        self
    }

    pub fn pictures(&self) -> &dyn PictureStore {
        self.inner.pictures.as_ref()
    }

    pub fn delivery(&self) -> &dyn Delivery {
        self.inner.delivery.as_ref()
    }

    pub fn queue(&self) -> &dyn TransferQueue {
        self.inner.queue.as_ref()
    }

    pub fn cursor_key(&self) -> &CursorKey {
        &self.inner.cursor_key
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    /// The store, to build another host on the same data.
    pub fn store_handle(&self) -> Arc<dyn Store> {
        self.inner.store.clone()
    }

    pub fn hasher(&self) -> &PasswordHasher {
        &self.inner.hasher
    }

    pub fn verifier(&self) -> &TokenVerifier {
        &self.inner.verifier
    }

    /// The token issuer; only hosts built with the signing key have one.
    pub fn issuer(&self) -> anyhow::Result<&TokenIssuer> {
        self.inner.issuer.as_ref().context(
            "this host has no signing key (set DOMPET_SIGNING_KEY or DOMPET_SIGNING_KEY_PARAMETER)",
        )
    }

    /// The second factor's key, read from SSM the first time one is needed; an error on a
    /// host configured without one.
    pub async fn factor_key(&self) -> anyhow::Result<&FactorKey> {
        self.inner
            .factor_key
            .get_or_try_init(|| async {
                let name = self.inner.config.mfa_key_parameter.as_ref().context(
                    "this host checks second-factor codes but has no key for them: set \
                     DOMPET_MFA_KEY, DOMPET_MFA_KEY_FILE or DOMPET_MFA_KEY_PARAMETER",
                )?;
                let secret = read_ssm_secret(name, "DOMPET_MFA_KEY_PARAMETER").await?;
                factor_key_of(secret.as_bytes())
            })
            .await
    }

    /// Now, in Unix seconds, as second-factor codes are checked (see [`Self::advance_code_clock`]).
    pub fn code_clock(&self) -> u64 {
        let offset = self
            .inner
            .code_clock_offset
            .load(std::sync::atomic::Ordering::SeqCst);
        (chrono::Utc::now().timestamp() + offset).max(0) as u64
    }

    /// Moves the time this host checks second-factor codes at by `secs` (tests: codes of later
    /// steps without waiting 30 seconds for each).
    pub fn advance_code_clock(&self, secs: i64) {
        self.inner
            .code_clock_offset
            .fetch_add(secs, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn lockout(&self) -> &LockoutPolicy {
        &self.inner.config.lockout
    }

    /// The proxies whose `X-Forwarded-For` names the client.
    pub fn trusted_proxies(&self) -> &[ipnet::IpNet] {
        &self.inner.config.trusted_proxies
    }
}

/// Opens the configured store.
pub async fn open_store(config: &StoreConfig) -> anyhow::Result<Arc<dyn Store>> {
    match config {
        #[cfg(feature = "sqlite")]
        StoreConfig::Sqlite { path } => {
            return Ok(Arc::new(crate::store::SqliteStore::open(path)?))
        }
        #[cfg(feature = "dynamodb")]
        StoreConfig::DynamoDb { table } => {
            return Ok(Arc::new(
                crate::store::DynamoStore::from_env(table.clone()).await?,
            ))
        }
        #[allow(unreachable_patterns)]
        _ => {}
    }
    anyhow::bail!(
        "this build has no {0} store (the library's `{0}` feature): set DOMPET_STORE to one it has",
        config.name()
    )
}

/// The key of the pagination cursors' HMAC: the configured secret, or a random key for this
/// process (cursors then stay valid only within it), never anything derived from public data.
fn cursor_key(config: &Config) -> anyhow::Result<CursorKey> {
    if let Some(secret) = &config.cursor_secret {
        return Ok(CursorKey::from_secret(secret.expose().as_bytes()));
    }
    if let Some(path) = &config.cursor_secret_file {
        let secret = std::fs::read(path).with_context(|| {
            format!(
                "Failed to read DOMPET_CURSOR_SECRET_FILE {}",
                path.display()
            )
        })?;
        anyhow::ensure!(
            secret.len() >= 32,
            "DOMPET_CURSOR_SECRET_FILE {} must hold at least 32 bytes",
            path.display()
        );
        return Ok(CursorKey::from_secret(&secret));
    }
    tracing::warn!(
        "no DOMPET_CURSOR_SECRET: pagination cursors are signed with a random key of this process"
    );
    let mut secret = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
    Ok(CursorKey::from_secret(&secret))
}

/// The second factor's key: the configured secret (at least 32 bytes), or none.
fn factor_key(config: &Config) -> anyhow::Result<Option<FactorKey>> {
    let material = match (&config.mfa_key, &config.mfa_key_file) {
        (Some(secret), _) => secret.expose().as_bytes().to_vec(),
        (None, Some(path)) => std::fs::read(path)
            .with_context(|| format!("Failed to read DOMPET_MFA_KEY_FILE {}", path.display()))?,
        (None, None) => return Ok(None),
    };
    factor_key_of(&material).map(Some)
}

/// The key of `material`, which must hold at least 32 bytes.
fn factor_key_of(material: &[u8]) -> anyhow::Result<FactorKey> {
    anyhow::ensure!(
        material.len() >= 32,
        "the second factor's key (DOMPET_MFA_KEY) must hold at least 32 bytes"
    );
    Ok(FactorKey::from_secret(material))
}

/// Loads the keys a host with `role` needs, failing with the variable to set.
pub async fn load_keys(config: &KeyConfig, role: KeyRole) -> anyhow::Result<Keys> {
    let signing_pem = match (
        &config.signing_key_pem,
        &config.signing_key_file,
        &config.signing_key_parameter,
    ) {
        (Some(pem), _, _) => Some(pem.expose().to_string()),
        (None, Some(path), _) => Some(std::fs::read_to_string(path).with_context(|| {
            format!("Failed to read DOMPET_SIGNING_KEY_FILE {}", path.display())
        })?),
        (None, None, Some(name)) if role == KeyRole::Issuer => {
            Some(read_ssm_secret(name, "DOMPET_SIGNING_KEY_PARAMETER").await?)
        }
        _ => None,
    };
    let public = config
        .public_key
        .as_deref()
        .map(PublicKey::parse)
        .transpose()
        .context("DOMPET_PUBLIC_KEY is not a valid Ed25519 public key")?;
    match (role, signing_pem, public) {
        (KeyRole::Issuer, Some(pem), public) => {
            let pair = KeyPair::from_pem(&pem).context("DOMPET_SIGNING_KEY is not a valid Ed25519 private key")?;
            if public.is_some_and(|p| p != pair.public()) {
                anyhow::bail!("DOMPET_PUBLIC_KEY does not match the signing key");
            }
            Ok(Keys::Signing(pair))
        }
        (KeyRole::Issuer, None, _) => anyhow::bail!(
            "this function issues tokens: set DOMPET_SIGNING_KEY_PARAMETER (an SSM SecureString) or DOMPET_SIGNING_KEY"
        ),
        (KeyRole::Verifier, _, Some(public)) => Ok(Keys::Verifying(public)),
        (KeyRole::Verifier, Some(pem), None) => Ok(Keys::Verifying(
            KeyPair::from_pem(&pem)
                .context("DOMPET_SIGNING_KEY is not a valid Ed25519 private key")?
                .public(),
        )),
        (KeyRole::Verifier, None, None) => {
            anyhow::bail!("this function verifies tokens: set DOMPET_PUBLIC_KEY")
        }
    }
}

#[cfg(not(feature = "ssm"))]
async fn read_ssm_secret(name: &str, var: &str) -> anyhow::Result<String> {
    anyhow::bail!("{var} {name:?}: this build has no SSM client (the library's `ssm` feature)")
}

#[cfg(feature = "ssm")]
async fn read_ssm_secret(name: &str, var: &str) -> anyhow::Result<String> {
    let client = aws_sdk_ssm::Client::new(crate::aws_config().await?);
    ssm_secret(&client, name, var).await
}

/// The decrypted value of the SSM SecureString `name` (named by the variable `var`).
#[cfg(feature = "ssm")]
pub async fn ssm_secret(
    client: &aws_sdk_ssm::Client,
    name: &str,
    var: &str,
) -> anyhow::Result<String> {
    let out = client
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .with_context(|| format!("Failed to read {var} {name:?} from SSM"))?;
    out.parameter
        .and_then(|p| p.value)
        .with_context(|| format!("SSM parameter {name:?} ({var}) has no value"))
}
