//! The storage port, shaped by the use cases, and its adapters.
//!
//! Every write that guards an invariant (identifier uniqueness, refresh rotation, throttle
//! state) checks its precondition in the same atomic write: an SQLite `BEGIN IMMEDIATE`
//! transaction, or a DynamoDB conditional write / `TransactWriteItems`.

use async_trait::async_trait;

use crate::auth::Throttle;
use crate::domain::{IdentifierKind, LoginIdentifier, Millis, SecretKind, UserId};

pub mod dynamodb;
pub mod schema;
pub mod sqlite;

pub use dynamodb::DynamoStore;
pub use sqlite::SqliteStore;

/// An account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub user_id: UserId,
    pub username: Option<String>,
    pub email: Option<String>,
    pub phone_number: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub address: Option<String>,
    pub secret_kind: SecretKind,
    /// argon2id PHC string.
    pub secret_hash: String,
    pub role: Role,
    /// Minor units; never negative.
    pub balance: i64,
    /// Incremented by every change to the balance.
    pub version: u64,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl UserRecord {
    /// The keys uniqueness is enforced on, in the order conflicts are reported.
    pub fn identifiers(&self) -> Vec<LoginIdentifier> {
        [
            (IdentifierKind::Username, &self.username),
            (IdentifierKind::Email, &self.email),
            (IdentifierKind::Phone, &self.phone_number),
        ]
        .into_iter()
        .filter_map(|(kind, v)| v.as_deref().map(|v| LoginIdentifier::new(kind, v)))
        .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Role {
    #[default]
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(Self::User),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    #[error("{} already registered", .0.label())]
    Taken(IdentifierKind),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

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

/// A value with the version a conditional write must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versioned<T> {
    pub value: T,
    pub version: u64,
}

pub type StoreResult<T> = anyhow::Result<T>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates the account and claims its identifiers atomically; the first identifier
    /// (username, email, phone) already taken is reported.
    async fn create_user(&self, user: &UserRecord) -> Result<(), CreateUserError>;
    async fn get_user(&self, id: UserId) -> StoreResult<Option<UserRecord>>;
    async fn find_user(&self, identifier: &LoginIdentifier) -> StoreResult<Option<UserRecord>>;

    /// Throttle state for a login key; an expired record reads as absent.
    async fn get_throttle(&self, key: &str, now: Millis) -> StoreResult<Option<Versioned<Throttle>>>;
    /// Writes the state if the stored version is still `expected` (`None`: no live record).
    /// Returns false when someone else wrote first.
    async fn put_throttle(
        &self,
        key: &str,
        expected: Option<u64>,
        state: &Throttle,
        expires_at: Option<Millis>,
        now: Millis,
    ) -> StoreResult<bool>;
    async fn clear_throttle(&self, key: &str) -> StoreResult<()>;

    async fn create_session(&self, session: &Session) -> StoreResult<()>;
    /// True when the family exists, is not revoked and has not expired at `now_secs`.
    async fn session_active(&self, user: UserId, session_id: &str, now_secs: i64) -> StoreResult<bool>;
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
    async fn revoke_session(&self, user: UserId, session_id: &str, now_secs: i64) -> StoreResult<bool>;
}
