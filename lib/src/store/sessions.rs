//! Refresh families: one per login.

use async_trait::async_trait;

use super::StoreResult;
use super::{CodeUse, ThrottleRelease};
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
    /// The account's auth epoch this login is bound to: it is live only while the account is
    /// at the same epoch (see `UserRecord::auth_epoch`).
    pub auth_epoch: u64,
    /// The login passed a second factor.
    pub mfa: bool,
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
    /// The login passed a second factor.
    pub mfa: bool,
}

/// What recording a verified login came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginWrite {
    /// The family is recorded and the throttle reset.
    Started,
    /// Another attempt locked the throttle meanwhile: nothing was written.
    Locked,
    /// The account left the auth epoch the secret was verified at (its secret changed, every
    /// login was ended, or it closed): nothing was written.
    EpochMoved,
    /// The second-factor code was used meanwhile: nothing was written.
    CodeUsed,
    /// A login by this id exists already (its `mfa_token` was used): nothing was written.
    Duplicate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The presented refresh token was current; the family now expects the new one.
    Rotated,
    /// The presented token was already used: the whole family has been revoked.
    Reused,
    /// The family is revoked, expired, unknown, or bound to an auth epoch its account left.
    Inactive,
    /// The presented token was current, but the family was moved to another auth epoch (a
    /// secret change keeps the login that made it): nothing was written; rotate again with
    /// that epoch.
    Moved { auth_epoch: u64 },
}

/// Refresh families and their rotation.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Records a new refresh family; families already expired at `now_secs` may be dropped.
    async fn create_session(&self, session: &Session, now_secs: i64) -> StoreResult<()>;

    /// Records the family of a login whose secret was just verified at the account's auth
    /// epoch `session.auth_epoch` and, in the same atomic write, resets the login throttle
    /// that the attempt reserved (`release`) — unless another attempt has locked it since, or
    /// the account is no longer at that epoch: then nothing is written. `code`, the second
    /// factor the login passed, is used up in the same write.
    async fn create_session_releasing(
        &self,
        session: &Session,
        release: &ThrottleRelease,
        code: Option<&CodeUse>,
        now: Millis,
    ) -> StoreResult<LoginWrite>;

    /// True when the family exists, is not revoked, has not expired at `now_secs` and is bound
    /// to its account's current auth epoch.
    async fn session_active(
        &self,
        user: UserId,
        session_id: &str,
        now_secs: i64,
    ) -> StoreResult<bool>;

    /// Swaps the family's current refresh token if `presented_jti` is it and both the family
    /// and its account are at `auth_epoch` (what the presented token says); a stale token of a
    /// live family revokes the family.
    #[allow(clippy::too_many_arguments)]
    async fn rotate_session(
        &self,
        user: UserId,
        session_id: &str,
        presented_jti: &str,
        auth_epoch: u64,
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

    /// The user's active families (bound to the account's current auth epoch), newest login
    /// first, in one read.
    async fn list_sessions(&self, user: UserId, now_secs: i64) -> StoreResult<Vec<SessionInfo>>;

    /// Ends every login of the user (`POST /logout/all`): moves the account to the next auth
    /// epoch — which ends logins still being made too — and revokes the families `sessions`
    /// (the user's, as just listed) in the same atomic write (DynamoDB: the revocations past the
    /// first 99 follow, 100 to a `TransactWriteItems`). False when the account is gone.
    async fn end_every_login(
        &self,
        user: UserId,
        sessions: &[String],
        now_secs: i64,
    ) -> StoreResult<bool>;

    /// Revokes every family of `sessions` still active (the user's, as just listed); returns
    /// how many this call revoked.
    async fn revoke_sessions(
        &self,
        user: UserId,
        sessions: &[String],
        now_secs: i64,
    ) -> StoreResult<usize>;
}
