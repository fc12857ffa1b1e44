//! Refresh families: one per login.

use async_trait::async_trait;

use super::StoreResult;
use crate::domain::{Millis, UserId};

/// A refresh family: one login and every token rotated from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub session_id: String,
    pub user_id: UserId,
    /// The one refresh token of the family that may still be used.
    pub refresh_jti: String,
    pub revoked: bool,
    /// Seconds since the epoch; the record is kept (and honoured) until then.
    pub expires_at: i64,
    /// When the login happened, in seconds since the epoch.
    pub created_at: i64,
    /// The `User-Agent` the login came with (at most [`USER_AGENT_MAX`] characters).
    pub user_agent: Option<String>,
}

/// How much of a `User-Agent` a session keeps.
pub const USER_AGENT_MAX: usize = 256;

/// An active login as its user sees it (`GET /sessions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub session_id: String,
    /// Seconds since the epoch.
    pub created_at: i64,
    /// The last login or refresh, in seconds since the epoch.
    pub last_used_at: i64,
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The presented refresh token was current; the family now expects the new one.
    Rotated,
    /// The presented token was already used: the whole family has been revoked.
    Reused,
    /// The family is revoked, expired or unknown.
    Inactive,
}

/// Refresh families and their rotation.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Records a new refresh family; families already expired at `now_secs` may be dropped.
    async fn create_session(&self, session: &Session, now_secs: i64) -> StoreResult<()>;

    /// Records the family of a login whose secret was just verified and, in the same atomic
    /// write, resets the login throttle `throttle_key` that the attempt reserved at version
    /// `reserved` — unless another attempt has locked it since: then nothing is written and
    /// the answer is false.
    async fn create_session_releasing(
        &self,
        session: &Session,
        throttle_key: &str,
        reserved: u64,
        now: Millis,
    ) -> StoreResult<bool>;

    /// True when the family exists, is not revoked and has not expired at `now_secs`.
    async fn session_active(
        &self,
        user: UserId,
        session_id: &str,
        now_secs: i64,
    ) -> StoreResult<bool>;

    /// Swaps the family's current refresh token if `presented_jti` is it; a stale one revokes
    /// the family.
    async fn rotate_session(
        &self,
        user: UserId,
        session_id: &str,
        presented_jti: &str,
        new_jti: &str,
        new_expires_at: i64,
        now_secs: i64,
    ) -> StoreResult<Rotation>;

    /// Revokes the family; false when it was not active.
    async fn revoke_session(
        &self,
        user: UserId,
        session_id: &str,
        now_secs: i64,
    ) -> StoreResult<bool>;

    /// The user's active families, newest login first, in one read.
    async fn list_sessions(&self, user: UserId, now_secs: i64) -> StoreResult<Vec<SessionInfo>>;

    /// Revokes every family of `sessions` still active (the user's, as just listed); returns
    /// how many this call revoked.
    async fn revoke_sessions(
        &self,
        user: UserId,
        sessions: &[String],
        now_secs: i64,
    ) -> StoreResult<usize>;
}
