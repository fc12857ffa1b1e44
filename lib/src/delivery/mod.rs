//! Delivering one-time codes and security notifications to an account's email or phone: the
//! port and its adapters.
//!
//! The server writes an outbox (one JSON file per message in a folder beside the database,
//! and a line in the log); on AWS email goes through Amazon SES to the account's own address
//! and SMS through Amazon SNS to its own number ([`AwsDelivery`]).

use std::path::{Path, PathBuf};

use anyhow::Context;
use async_trait::async_trait;
use serde::Serialize;

#[cfg(feature = "delivery")]
mod aws;
#[cfg(feature = "delivery")]
pub use aws::AwsDelivery;

/// Where a code goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Email,
    Sms,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Sms => "sms",
        }
    }
}

/// One message, as the outbox file and the SNS message body carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    /// What the message is for: `password_reset` (with a code), or a security notification:
    /// `identifier_changed` (with the field), `secret_changed`, `mfa_enabled`, `mfa_disabled`,
    /// `mfa_code_failures`.
    pub kind: &'static str,
    pub user_id: String,
    pub channel: Channel,
    /// The email address or phone number.
    pub to: String,
    /// The one-time code of a `password_reset`; notifications carry no secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The identifier an `identifier_changed` is about: `email` or `phone_number`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
    pub created_date: String,
}

impl Message {
    /// What a subject line or an SMS says the message is about.
    pub fn subject(&self) -> &'static str {
        match self.kind {
            "password_reset" => "dompet: your one-time code",
            "identifier_changed" => "dompet: your sign-in details changed",
            "secret_changed" => "dompet: your password or PIN changed",
            "mfa_enabled" => "dompet: two-step sign-in turned on",
            "mfa_disabled" => "dompet: two-step sign-in turned off",
            "mfa_code_failures" => "dompet: wrong sign-in codes after your password",
            _ => "dompet: security notice",
        }
    }

    /// The message as an email's text or an SMS says it: the code, or what changed and what
    /// to do when it wasn't the owner.
    pub fn text(&self) -> String {
        let not_you = "If this wasn't you, reset your password now and contact support.";
        match (self.kind, &self.code, self.field) {
            ("password_reset", Some(code), _) => format!(
                "Your dompet code is {code}. It works once, for 15 minutes. \
                 If you didn't ask for it, ignore this message."
            ),
            ("identifier_changed", _, Some(field)) => format!(
                "The {} of your dompet account was changed or removed; this {} no longer \
                 signs in to it. {not_you}",
                field.replace('_', " "),
                if self.channel == Channel::Email {
                    "address"
                } else {
                    "number"
                },
            ),
            ("secret_changed", _, _) => {
                format!("The password or PIN of your dompet account was changed. {not_you}")
            }
            ("mfa_enabled", _, _) => format!(
                "Two-step sign-in is now on for your dompet account: signing in and moving \
                 money ask for a code from your authenticator app. {not_you}"
            ),
            ("mfa_disabled", _, _) => {
                format!("Two-step sign-in was turned off for your dompet account. {not_you}")
            }
            ("mfa_code_failures", _, _) => {
                "Someone signed in to your dompet account with the right password or PIN, then \
                 entered wrong codes. If this wasn't you, they know your password or PIN: \
                 change it now."
                    .to_string()
            }
            _ => format!("Something changed in your dompet account. {not_you}"),
        }
    }
}

#[async_trait]
pub trait Delivery: Send + Sync + 'static {
    async fn deliver(&self, message: &Message) -> anyhow::Result<()>;
}

/// The server's delivery: `<dir>/<time>-<id>.json` per message (readable by its owner only),
/// and a log line naming the file (not the code).
#[derive(Debug, Clone)]
pub struct Outbox {
    dir: PathBuf,
}

impl Outbox {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[async_trait]
impl Delivery for Outbox {
    async fn deliver(&self, message: &Message) -> anyhow::Result<()> {
        let body = serde_json::to_vec_pretty(message)?;
        let name = format!(
            "{}-{}.json",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
            uuid::Uuid::new_v4().simple()
        );
        let (dir, path) = (self.dir.clone(), self.dir.join(&name));
        let written = path.clone();
        tokio::task::spawn_blocking(move || write_private(&dir, &written, &body))
            .await
            .context("outbox write task failed")??;
        tracing::info!(
            kind = message.kind,
            user = %message.user_id,
            channel = message.channel.as_str(),
            to = %message.to,
            file = %path.display(),
            "message written to the outbox"
        );
        Ok(())
    }
}

/// Writes `body` to `path` in `dir` (created if missing) under a temporary name first, so a
/// reader never sees half a message.
fn write_private(dir: &Path, path: &Path, body: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("Failed to create the outbox {}", dir.display()))?;
    let partial = path.with_extension("partial");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&partial)
        .with_context(|| format!("Failed to create {}", partial.display()))?;
    file.write_all(body)?;
    file.sync_all()?;
    std::fs::rename(&partial, path)
        .with_context(|| format!("Failed to move {} into place", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_outbox_writes_one_private_json_file_per_message() {
        let dir = std::env::temp_dir().join(format!("dompet-outbox-{}", uuid::Uuid::new_v4()));
        let outbox = Outbox::new(&dir);
        let message = Message {
            kind: "password_reset",
            user_id: "u-1".into(),
            channel: Channel::Sms,
            to: "081234567890".into(),
            code: Some("042042".into()),
            field: None,
            created_date: "2026-11-23 10:00:00".into(),
        };
        outbox.deliver(&message).await.unwrap();
        outbox.deliver(&message).await.unwrap();
        let files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 2, "{files:?}");
        for f in &files {
            assert_eq!(f.extension().unwrap(), "json");
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
            assert_eq!(
                v,
                serde_json::json!({"kind": "password_reset", "user_id": "u-1", "channel": "sms",
                    "to": "081234567890", "code": "042042", "created_date": "2026-11-23 10:00:00"})
            );
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(f).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o600);
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
