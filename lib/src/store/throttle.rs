//! Login throttling state, one record per login key.

use async_trait::async_trait;

use super::StoreResult;
use crate::auth::Throttle;
use crate::domain::Millis;

/// A value with the version a conditional write must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versioned<T> {
    pub value: T,
    pub version: u64,
}

/// Versioned throttle records: every write is conditional on the version it read.
#[async_trait]
pub trait ThrottleStore: Send + Sync + 'static {
    /// Throttle state for a login key; an expired record reads as absent.
    async fn get_throttle(
        &self,
        key: &str,
        now: Millis,
    ) -> StoreResult<Option<Versioned<Throttle>>>;

    /// Writes the state if the stored version is still `expected` (`None`: no live record),
    /// as version `expected + 1` (`1` for a new record). Returns false when someone else wrote
    /// first.
    async fn put_throttle(
        &self,
        key: &str,
        expected: Option<u64>,
        state: &Throttle,
        expires_at: Option<Millis>,
        now: Millis,
    ) -> StoreResult<bool>;

    /// A successful login resets the record, unless it is locked by an attempt other than the
    /// one that wrote `reserved` (the version its reservation wrote): then nothing changes and
    /// the answer is false. A missing record counts as reset.
    async fn release_throttle(&self, key: &str, reserved: u64, now: Millis) -> StoreResult<bool>;
}
