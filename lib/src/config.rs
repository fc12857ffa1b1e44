//! Configuration: every setting comes from one environment variable, parsed once at start;
//! a missing or bad value fails with a message naming the variable.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;

use crate::auth::LockoutPolicy;

/// Where data is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// `DOMPET_STORE=sqlite`: the embedded database file `DOMPET_DB`.
    Sqlite { path: PathBuf },
    /// `DOMPET_STORE=dynamodb`: the table `DOMPET_TABLE`, reached with the AWS SDK's standard
    /// environment (`AWS_REGION`, credentials, `AWS_ENDPOINT_URL_DYNAMODB`).
    DynamoDb { table: String },
}

impl StoreConfig {
    /// The store's name, as `DOMPET_STORE` spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sqlite { .. } => "sqlite",
            Self::DynamoDb { .. } => "dynamodb",
        }
    }
}

/// A configured secret: usable through [`SecretString::expose`], never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Where the token keys come from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyConfig {
    /// `DOMPET_SIGNING_KEY`: Ed25519 private key, PKCS#8 PEM.
    pub signing_key_pem: Option<SecretString>,
    /// `DOMPET_SIGNING_KEY_FILE`: a file holding it (local development).
    pub signing_key_file: Option<PathBuf>,
    /// `DOMPET_SIGNING_KEY_PARAMETER`: name of an SSM Parameter Store SecureString holding it.
    pub signing_key_parameter: Option<String>,
    /// `DOMPET_PUBLIC_KEY`: Ed25519 public key, SPKI PEM or base64url.
    pub public_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub store: StoreConfig,
    pub keys: KeyConfig,
    /// `DOMPET_JWT_ISSUER` (default `dompet`).
    pub jwt_issuer: String,
    /// `DOMPET_JWT_AUDIENCE` (default `dompet`).
    pub jwt_audience: String,
    /// `DOMPET_ACCESS_TOKEN_TTL_SECS` (default 900).
    pub access_ttl: Duration,
    /// `DOMPET_REFRESH_TOKEN_TTL_SECS` (default 2592000, 30 days).
    pub refresh_ttl: Duration,
    /// `DOMPET_SESSION_MAX_AGE_SECS` (default 2592000, 30 days): a login's absolute lifetime;
    /// no refresh extends it.
    pub session_max_age: Duration,
    /// `DOMPET_LOCKOUT_FAILURES` (default 5), `DOMPET_LOCKOUT_SECS` (default 30),
    /// `DOMPET_LOCKOUT_MAX_SECS` (default 900), `DOMPET_LOCKOUT_CEILING` (default 20
    /// verifications per account from addresses not the owner's) per
    /// `DOMPET_LOCKOUT_CEILING_SECS` (default 3600); records are kept
    /// `DOMPET_LOCKOUT_MEMORY_SECS` (default 86400) after their last failure.
    pub lockout: LockoutPolicy,
    /// `DOMPET_TRUSTED_PROXIES`: comma-separated addresses or CIDR blocks of the proxies whose
    /// `X-Forwarded-For` names the client (none by default).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// `DOMPET_TRANSFER_QUEUE_URL`: the SQS queue transfers are enqueued on (Lambda).
    pub transfer_queue_url: Option<String>,
    /// `DOMPET_TRANSFER_DLQ_URL`: its dead-letter queue, whose depth operators see.
    pub transfer_dlq_url: Option<String>,
    /// `DOMPET_CURSOR_SECRET`, or the contents of the file `DOMPET_CURSOR_SECRET_FILE`: key of
    /// the pagination cursors' HMAC. Without one each process draws a random key.
    pub cursor_secret: Option<SecretString>,
    /// `DOMPET_CURSOR_SECRET_PARAMETER`: an SSM SecureString holding the cursor key, read at
    /// init (the Lambda functions that page: transactions, entities, admin).
    pub cursor_secret_parameter: Option<String>,
    /// `DOMPET_CURSOR_SECRET_FILE`: a file holding the cursor key (the server keeps one in
    /// `.dompet/`).
    pub cursor_secret_file: Option<PathBuf>,
    /// `DOMPET_MFA_KEY`, or the contents of the file `DOMPET_MFA_KEY_FILE` (at least 32 bytes):
    /// seals second-factor secrets at rest and keys the recovery codes' hashes. The hosts that
    /// verify codes (login, account, pay, transfer) need it, and every one of them the same.
    pub mfa_key: Option<SecretString>,
    /// `DOMPET_MFA_KEY_FILE` (the server keeps one in `.dompet/`).
    pub mfa_key_file: Option<PathBuf>,
    /// `DOMPET_MFA_KEY_PARAMETER`: an SSM SecureString holding it, read at init.
    pub mfa_key_parameter: Option<String>,
    /// `DOMPET_CORS_ORIGINS`: comma-separated exact origins (`https://app.example.com`) that
    /// browsers may call the API from; none by default.
    pub cors_origins: Vec<String>,
    /// `DOMPET_IDEMPOTENCY_TTL_SECS` (default 86400): how long idempotency keys are kept.
    pub idempotency_ttl: Duration,
    /// `DOMPET_SWEEP_INTERVAL_SECS` (default 30): how often the server's sweep runs.
    pub sweep_interval: Duration,
    /// `DOMPET_SWEEP_AGE_SECS` (default 60): how long a transfer stays `PENDING` before the
    /// sweep enqueues it again.
    pub sweep_age: Duration,
    /// `DOMPET_TRANSFER_MAX_RECEIVES` (default 5, the queue's `maxReceiveCount`): a transfer
    /// whose settlement fails on this many deliveries of one message is given up: `FAILED` and
    /// refunded, or its money in suspense, instead of going to the dead-letter queue.
    pub transfer_max_receives: u32,
    /// `DOMPET_AUDIT_BUCKET_SECS` (default 60): the stream audit counts changes in buckets of
    /// this width, and reads the money at their ends.
    pub audit_bucket: Duration,
    /// `DOMPET_AUDIT_GRACE_SECS` (default 60, may be 0): how long after its end a bucket is
    /// taken as complete (the stream's delivery lag the stream audit tolerates).
    pub audit_grace: Duration,
    /// Where the server's outbox writes one-time codes (default: `outbox/` beside the SQLite
    /// database, or `.dompet/outbox` on DynamoDB).
    pub outbox_dir: PathBuf,
    /// `DOMPET_EMAIL_FROM`: on AWS, codes and notices go by email through SES from this
    /// address (an identity verified in SES covers it), and by SMS through SNS, instead of the
    /// outbox.
    pub email_from: Option<String>,
    /// `DOMPET_SMS_COUNTRIES`: comma-separated E.164 calling codes (`+62,+65`) SMS may be sent
    /// to; a national number (`0812…`) is taken as the first one's. None: no SMS is sent.
    pub sms_countries: Vec<String>,
    /// Where the server keeps profile pictures (default: `pictures/` beside the SQLite
    /// database, or `.dompet/pictures` on DynamoDB).
    pub pictures_dir: PathBuf,
    /// The S3 bucket pictures are kept in instead (the Lambda functions).
    pub pictures_bucket: Option<String>,
}

pub const DEFAULT_DB_PATH: &str = ".dompet/dompet.db";

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let parsed = |name: &str, default: u64| -> anyhow::Result<u64> {
            match get(name) {
                None => Ok(default),
                Some(v) => u64::from_str(v.trim())
                    .ok()
                    .filter(|n| *n > 0)
                    .with_context(|| {
                        format!("{name} must be a positive whole number of seconds, got {v:?}")
                    }),
            }
        };
        let store = match get("DOMPET_STORE").as_deref().map(str::trim) {
            None | Some("sqlite") => StoreConfig::Sqlite {
                path: get("DOMPET_DB")
                    .unwrap_or_else(|| DEFAULT_DB_PATH.into())
                    .into(),
            },
            Some("dynamodb") => StoreConfig::DynamoDb {
                table: get("DOMPET_TABLE").context(
                    "DOMPET_TABLE must name the DynamoDB table when DOMPET_STORE=dynamodb",
                )?,
            },
            Some(other) => {
                anyhow::bail!("DOMPET_STORE must be `sqlite` or `dynamodb`, got {other:?}")
            }
        };
        let threshold = match get("DOMPET_LOCKOUT_FAILURES") {
            None => 5,
            Some(v) => u32::from_str(v.trim())
                .ok()
                .filter(|n| *n > 0)
                .with_context(|| {
                    format!("DOMPET_LOCKOUT_FAILURES must be a positive whole number, got {v:?}")
                })?,
        };
        let lockout = LockoutPolicy {
            threshold,
            base: Duration::from_secs(parsed("DOMPET_LOCKOUT_SECS", 30)?),
            max: Duration::from_secs(parsed("DOMPET_LOCKOUT_MAX_SECS", 15 * 60)?),
            ceiling: u32::try_from(parsed("DOMPET_LOCKOUT_CEILING", 20)?)
                .context("DOMPET_LOCKOUT_CEILING is too large")?,
            ceiling_window: Duration::from_secs(parsed("DOMPET_LOCKOUT_CEILING_SECS", 3600)?),
            memory: Duration::from_secs(parsed("DOMPET_LOCKOUT_MEMORY_SECS", 86_400)?),
            ..LockoutPolicy::default()
        };
        if lockout.max < lockout.base {
            anyhow::bail!("DOMPET_LOCKOUT_MAX_SECS must not be less than DOMPET_LOCKOUT_SECS");
        }
        Ok(Self {
            keys: KeyConfig {
                signing_key_pem: get("DOMPET_SIGNING_KEY").map(SecretString),
                signing_key_file: get("DOMPET_SIGNING_KEY_FILE").map(PathBuf::from),
                signing_key_parameter: get("DOMPET_SIGNING_KEY_PARAMETER"),
                public_key: get("DOMPET_PUBLIC_KEY"),
            },
            jwt_issuer: get("DOMPET_JWT_ISSUER").unwrap_or_else(|| "dompet".into()),
            jwt_audience: get("DOMPET_JWT_AUDIENCE").unwrap_or_else(|| "dompet".into()),
            access_ttl: Duration::from_secs(parsed("DOMPET_ACCESS_TOKEN_TTL_SECS", 900)?),
            refresh_ttl: Duration::from_secs(parsed("DOMPET_REFRESH_TOKEN_TTL_SECS", 30 * 86_400)?),
            session_max_age: Duration::from_secs(parsed(
                "DOMPET_SESSION_MAX_AGE_SECS",
                30 * 86_400,
            )?),
            lockout,
            trusted_proxies: get("DOMPET_TRUSTED_PROXIES")
                .map(|v| parse_proxies(&v))
                .transpose()?
                .unwrap_or_default(),
            transfer_queue_url: get("DOMPET_TRANSFER_QUEUE_URL"),
            transfer_dlq_url: get("DOMPET_TRANSFER_DLQ_URL"),
            cursor_secret: get("DOMPET_CURSOR_SECRET").map(SecretString),
            cursor_secret_file: get("DOMPET_CURSOR_SECRET_FILE").map(PathBuf::from),
            cursor_secret_parameter: get("DOMPET_CURSOR_SECRET_PARAMETER"),
            mfa_key: get("DOMPET_MFA_KEY").map(SecretString),
            mfa_key_file: get("DOMPET_MFA_KEY_FILE").map(PathBuf::from),
            mfa_key_parameter: get("DOMPET_MFA_KEY_PARAMETER"),
            cors_origins: get("DOMPET_CORS_ORIGINS")
                .map(|v| parse_origins(&v))
                .transpose()?
                .unwrap_or_default(),
            idempotency_ttl: Duration::from_secs(parsed("DOMPET_IDEMPOTENCY_TTL_SECS", 86_400)?),
            sweep_interval: Duration::from_secs(parsed("DOMPET_SWEEP_INTERVAL_SECS", 30)?),
            sweep_age: Duration::from_secs(parsed("DOMPET_SWEEP_AGE_SECS", 60)?),
            transfer_max_receives: u32::try_from(parsed("DOMPET_TRANSFER_MAX_RECEIVES", 5)?)
                .context("DOMPET_TRANSFER_MAX_RECEIVES is too large")?,
            audit_bucket: Duration::from_secs(parsed("DOMPET_AUDIT_BUCKET_SECS", 60)?),
            audit_grace: Duration::from_secs(match get("DOMPET_AUDIT_GRACE_SECS") {
                None => 60,
                Some(v) => u64::from_str(v.trim()).with_context(|| {
                    format!("DOMPET_AUDIT_GRACE_SECS must be a whole number of seconds, got {v:?}")
                })?,
            }),
            outbox_dir: get("DOMPET_OUTBOX_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| beside_the_data(&store, "outbox")),
            email_from: get("DOMPET_EMAIL_FROM"),
            sms_countries: get("DOMPET_SMS_COUNTRIES")
                .map(|v| parse_countries(&v))
                .transpose()?
                .unwrap_or_default(),
            pictures_dir: get("DOMPET_PICTURES_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| beside_the_data(&store, "pictures")),
            pictures_bucket: get("DOMPET_PICTURES_BUCKET"),
            store,
        })
    }
}

/// `DOMPET_SMS_COUNTRIES`: `+` and 1–3 digits each.
fn parse_countries(value: &str) -> anyhow::Result<Vec<String>> {
    value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| {
            let digits = v.strip_prefix('+').unwrap_or("");
            if (1..=3).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
                Ok(v.to_string())
            } else {
                Err(anyhow::anyhow!(
                    "DOMPET_SMS_COUNTRIES must list calling codes like +62, got {v:?}"
                ))
            }
        })
        .collect()
}

/// `DOMPET_TRUSTED_PROXIES`: addresses (`10.0.0.7`, `::1`) or blocks (`10.0.0.0/8`).
fn parse_proxies(value: &str) -> anyhow::Result<Vec<ipnet::IpNet>> {
    value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse::<ipnet::IpNet>()
                .or_else(|_| v.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map(|net| net.trunc())
                .map_err(|_| {
                    anyhow::anyhow!(
                        "DOMPET_TRUSTED_PROXIES must list IP addresses or CIDR blocks, got {v:?}"
                    )
                })
        })
        .collect()
}

/// The folder `name` beside the SQLite database, or in `.dompet/` on DynamoDB.
fn beside_the_data(store: &StoreConfig, name: &str) -> PathBuf {
    match store {
        StoreConfig::Sqlite { path } => path
            .parent()
            .unwrap_or_else(|| std::path::Path::new("."))
            .join(name),
        StoreConfig::DynamoDb { .. } => PathBuf::from(".dompet").join(name),
    }
}

/// `scheme://host[:port]`, nothing else: no wildcard, path, query or trailing slash.
fn parse_origins(list: &str) -> anyhow::Result<Vec<String>> {
    list.split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|origin| {
            let rest = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            let valid = rest.is_some_and(|host| {
                !host.is_empty()
                    && host
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
            });
            if valid {
                Ok(origin.to_string())
            } else {
                anyhow::bail!(
                    "DOMPET_CORS_ORIGINS must list exact origins like https://app.example.com (no wildcard, path or trailing slash), got {origin:?}"
                )
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> anyhow::Result<Config> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn the_lockout_threshold_is_configurable_and_positive() {
        let c = config(&[("DOMPET_LOCKOUT_FAILURES", "7")]).unwrap();
        assert_eq!(c.lockout.threshold, 7);
        let err = config(&[("DOMPET_LOCKOUT_FAILURES", "0")]).unwrap_err();
        assert!(err.to_string().contains("DOMPET_LOCKOUT_FAILURES"), "{err}");
    }

    #[test]
    fn trusted_proxies_are_addresses_or_blocks() {
        let c = config(&[("DOMPET_TRUSTED_PROXIES", "127.0.0.1, 10.1.2.3/8 ,::1")]).unwrap();
        let shown: Vec<String> = c.trusted_proxies.iter().map(|n| n.to_string()).collect();
        assert_eq!(shown, ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]);
        let err = config(&[("DOMPET_TRUSTED_PROXIES", "10.0.0.1,proxy")]).unwrap_err();
        assert!(err.to_string().contains("\"proxy\""), "{err}");
        assert!(config(&[]).unwrap().trusted_proxies.is_empty());
    }

    #[test]
    fn defaults_are_the_embedded_store_and_the_contract_lifetimes() {
        let c = config(&[]).unwrap();
        assert_eq!(
            c.store,
            StoreConfig::Sqlite {
                path: DEFAULT_DB_PATH.into()
            }
        );
        assert_eq!(c.access_ttl, Duration::from_secs(900));
        assert_eq!(c.refresh_ttl, Duration::from_secs(2_592_000));
        assert_eq!(c.lockout, LockoutPolicy::default());
    }

    #[test]
    fn debug_output_never_contains_secrets() {
        let c = config(&[
            (
                "DOMPET_SIGNING_KEY",
                "-----BEGIN PRIVATE KEY-----secret-key-material",
            ),
            ("DOMPET_CURSOR_SECRET", "cursor-secret-material"),
            ("DOMPET_MFA_KEY", "mfa-key-material"),
        ])
        .unwrap();
        let printed = format!("{c:?}");
        assert!(!printed.contains("mfa-key-material"), "{printed}");
        assert!(!printed.contains("secret-key-material"), "{printed}");
        assert!(!printed.contains("cursor-secret-material"), "{printed}");
        assert!(printed.contains("[redacted]"), "{printed}");
        assert_eq!(
            c.keys.signing_key_pem.unwrap().expose(),
            "-----BEGIN PRIVATE KEY-----secret-key-material"
        );
    }

    #[test]
    fn cors_origins_are_exact_origins() {
        assert!(config(&[]).unwrap().cors_origins.is_empty());
        let c = config(&[(
            "DOMPET_CORS_ORIGINS",
            "https://app.example.com, http://localhost:5173",
        )])
        .unwrap();
        assert_eq!(
            c.cors_origins,
            ["https://app.example.com", "http://localhost:5173"]
        );
        for bad in [
            "*",
            "https://*.example.com",
            "https://a.com/",
            "a.com",
            "https://a.com/x",
        ] {
            let err = config(&[("DOMPET_CORS_ORIGINS", bad)])
                .unwrap_err()
                .to_string();
            assert!(err.contains("DOMPET_CORS_ORIGINS"), "{bad}: {err}");
        }
    }

    #[test]
    fn errors_name_the_variable() {
        let err = config(&[("DOMPET_STORE", "dynamodb")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("DOMPET_TABLE"), "{err}");
        let err = config(&[("DOMPET_STORE", "mysql")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("DOMPET_STORE"), "{err}");
        let err = config(&[("DOMPET_LOCKOUT_SECS", "soon")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("DOMPET_LOCKOUT_SECS"), "{err}");
    }
}
