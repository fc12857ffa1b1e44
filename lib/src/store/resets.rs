//! One-time codes that reset a forgotten secret: one record per account.

use async_trait::async_trait;

use super::{StoreResult, Versioned};
use crate::domain::{Millis, UserId};

/// The reset state of an account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResetCode {
    /// The live code's argon2id PHC string; `None` once it is used or voided (or before any).
    pub code_hash: Option<String>,
    /// When the live code stops working.
    pub code_expires_at: Millis,
    /// Wrong codes tried against the live code.
    pub failures: u32,
    /// The hour that limits deliveries: when it began, and how many codes were sent in it.
    pub window_start: Millis,
    pub deliveries: u32,
}

impl ResetCode {
    /// When the record stops mattering: the end of its delivery hour or of its code.
    pub fn expires_at(&self, window: Millis) -> Millis {
        (self.window_start + window).max(self.code_expires_at)
    }
}

/// Versioned reset records: every write is conditional on the version it read.
#[async_trait]
pub trait ResetStore: Send + Sync + 'static {
    /// The account's reset record; an expired one reads as absent.
    async fn get_reset(
        &self,
        user: UserId,
        now: Millis,
    ) -> StoreResult<Option<Versioned<ResetCode>>>;

    /// Writes the record if the stored version is still `expected` (`None`: no live record), as
    /// version `expected + 1`, kept until `expires_at`. False when someone else wrote first.
    async fn put_reset(
        &self,
        user: UserId,
        expected: Option<u64>,
        state: &ResetCode,
        expires_at: Millis,
        now: Millis,
    ) -> StoreResult<bool>;
}
