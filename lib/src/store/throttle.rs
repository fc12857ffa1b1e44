//! Login throttling state, one record per key (an account or unknown identifier at one client
//! address, an account's ceiling, a user's lookups).

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

/// One conditional write of a throttle record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleWrite {
    pub key: String,
    /// The version read (`None`: no live record), which the stored one must still be.
    pub expected: Option<u64>,
    pub state: Throttle,
    /// When the record may be forgotten (`Millis::MAX`: never).
    pub expires_at: Millis,
}

impl ThrottleWrite {
    /// The version this write leaves (see [`first_version`] for a new record).
    pub fn version(&self) -> u64 {
        let expires = (self.expires_at != Millis::MAX).then_some(self.expires_at);
        self.expected
            .map_or_else(|| first_version(expires), |v| v + 1)
    }
}

/// The version a new record of a key starts at: its expiry time (ms), or 1 when it never
/// expires. A record made after another of its key expired (expired records read as absent,
/// and may linger or be deleted) starts above every version the other reached — it would need
/// more writes than milliseconds between them — so a write conditional on a version of the old
/// record can never match the new one.
pub fn first_version(expires_at: Option<Millis>) -> u64 {
    expires_at.map_or(1, |e| e.clamp(1, 1 << 52) as u64)
}

/// A verified secret's reset of the record its attempt reserved: written unless an attempt
/// other than the one that wrote `reserved` has locked the record since (the store's version
/// moves on either way, never back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleRelease {
    pub key: String,
    /// The version the attempt's reservation wrote.
    pub reserved: u64,
    pub state: Throttle,
    pub expires_at: Millis,
}

/// Versioned throttle records: every write is conditional on the version it read.
#[async_trait]
pub trait ThrottleStore: Send + Sync + 'static {
    /// Throttle state for a key; an expired record reads as absent.
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

    /// Every write of `writes` (distinct keys) as one: all of them, or none when any record
    /// is no longer at its expected version (false).
    async fn put_throttles(&self, writes: &[ThrottleWrite], now: Millis) -> StoreResult<bool>;

    /// A verified secret's reset (see [`ThrottleRelease`]); false when another attempt locked
    /// the record meanwhile, and then nothing changes. A missing record counts as reset.
    async fn release_throttle(&self, release: &ThrottleRelease, now: Millis) -> StoreResult<bool>;
}
