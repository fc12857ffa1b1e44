//! The storage port, shaped by the use cases, and its adapters.
//!
//! Every write that guards an invariant (identifier uniqueness, refresh rotation, throttle
//! state) checks its precondition in the same atomic write: an SQLite `BEGIN IMMEDIATE`
//! transaction, or a DynamoDB conditional write / `TransactWriteItems`.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

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

/// What moved an account's money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EntryKind {
    TopUp,
    Payment,
    TransferOut,
    TransferIn,
    Refund,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TopUp => "TOP_UP",
            Self::Payment => "PAYMENT",
            Self::TransferOut => "TRANSFER_OUT",
            Self::TransferIn => "TRANSFER_IN",
            Self::Refund => "REFUND",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::TopUp,
            Self::Payment,
            Self::TransferOut,
            Self::TransferIn,
            Self::Refund,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    pub fn is_credit(self) -> bool {
        matches!(self, Self::TopUp | Self::TransferIn | Self::Refund)
    }
}

/// `PENDING` until settled; every entry but a sender's transfer entry is born `SUCCESS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TxStatus {
    Pending,
    Success,
    Failed,
}

impl TxStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Success => "SUCCESS",
            Self::Failed => "FAILED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Success, Self::Failed]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// One change of one account's balance: an entry of `/transactions`. `seq` is the account's
/// version after the change, so entries of an account are totally ordered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub user_id: String,
    pub seq: u64,
    pub kind: EntryKind,
    /// The top-up, payment or transfer id.
    pub reference_id: String,
    pub amount: i64,
    pub remarks: String,
    pub balance_before: i64,
    pub balance_after: i64,
    pub status: TxStatus,
    pub created_at: Millis,
}

/// A money movement to apply atomically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoneyOp {
    pub user: UserId,
    pub kind: MoneyOpKind,
    /// The new top-up, payment or transfer id.
    pub reference_id: String,
    pub amount: i64,
    pub remarks: String,
    pub now: Millis,
}

impl MoneyOp {
    /// The entry this operation makes on an account holding `balance` at `version`, or why
    /// it can't be made. Both adapters write exactly this entry.
    pub fn entry(&self, balance: i64, version: u64) -> Result<LedgerEntry, MoneyError> {
        let (kind, after, status) = match self.kind {
            MoneyOpKind::TopUp => (
                EntryKind::TopUp,
                balance
                    .checked_add(self.amount)
                    .ok_or(MoneyError::Overflow)?,
                TxStatus::Success,
            ),
            _ if balance < self.amount => return Err(MoneyError::InsufficientBalance),
            MoneyOpKind::Payment => (EntryKind::Payment, balance - self.amount, TxStatus::Success),
            MoneyOpKind::Transfer { .. } => (
                EntryKind::TransferOut,
                balance - self.amount,
                TxStatus::Pending,
            ),
        };
        Ok(LedgerEntry {
            user_id: self.user.to_string(),
            seq: version + 1,
            kind,
            reference_id: self.reference_id.clone(),
            amount: self.amount,
            remarks: self.remarks.clone(),
            balance_before: balance,
            balance_after: after,
            status,
            created_at: self.now,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoneyOpKind {
    TopUp,
    Payment,
    /// Debits the sender and records the transfer `PENDING` for the worker.
    Transfer {
        to: UserId,
    },
}

/// An `Idempotency-Key` to record with the operation, in the same atomic write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyClaim {
    /// Route the key is scoped to (with the user).
    pub scope: &'static str,
    pub key: String,
    /// Hash of the validated, canonical request body.
    pub request_hash: String,
    pub expires_at: Millis,
}

/// What a used key recorded: the request's hash and the entry the original request made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub request_hash: String,
    pub entry: LedgerEntry,
}

#[derive(Debug, thiserror::Error)]
pub enum MoneyError {
    #[error("Balance is not enough")]
    InsufficientBalance,
    /// The key was used before (possibly concurrently): nothing moved now.
    #[error("idempotency key already used")]
    KeyUsed(Box<IdempotencyRecord>),
    /// The account kept changing under us; nothing moved.
    #[error("the account is busy")]
    Contention,
    #[error("account not found")]
    UserNotFound,
    /// The balance would leave the representable range.
    #[error("balance out of range")]
    Overflow,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub transfer_id: String,
    pub from_user: String,
    pub to_user: String,
    pub amount: i64,
    pub remarks: String,
    pub status: TxStatus,
    pub created_at: Millis,
    pub settled_at: Option<Millis>,
    /// `FAILED` and neither credited nor refunded: both accounts were gone (or could not hold
    /// the money), so the amount is held in suspense for an operator to resolve.
    pub suspense: bool,
}

impl Transfer {
    /// The entry settling this transfer makes: the recipient's `TransferIn` credit, or the
    /// sender's `Refund` when the recipient can't be credited, on that account holding
    /// `balance` at `version`. `None` when the balance would overflow.
    pub fn settlement_entry(
        &self,
        refund: bool,
        balance: i64,
        version: u64,
        now: Millis,
    ) -> Option<LedgerEntry> {
        let (kind, account) = if refund {
            (EntryKind::Refund, &self.from_user)
        } else {
            (EntryKind::TransferIn, &self.to_user)
        };
        Some(LedgerEntry {
            user_id: account.clone(),
            seq: version + 1,
            kind,
            reference_id: self.transfer_id.clone(),
            amount: self.amount,
            remarks: self.remarks.clone(),
            balance_before: balance,
            balance_after: balance.checked_add(self.amount)?,
            status: TxStatus::Success,
            created_at: now,
        })
    }
}

/// A page of pending transfer ids and where the next page starts (opaque to callers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PendingPage {
    pub ids: Vec<String>,
    pub next: Option<String>,
}

impl PendingPage {
    /// Every pending transfer created before `created_before`, following the cursors.
    pub async fn all(store: &dyn Store, created_before: Millis) -> StoreResult<Vec<String>> {
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = store
                .pending_transfers(created_before, cursor.as_deref(), 1000)
                .await?;
            ids.extend(page.ids);
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(ids),
            }
        }
    }
}

/// What settling a transfer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    /// Credited to the recipient now.
    Credited,
    /// The recipient could not be credited: marked `FAILED`, sender refunded now.
    Refunded,
    /// Neither credited nor refunded (both accounts gone): marked `FAILED` with the money held
    /// in suspense, so it is never retried again.
    Suspended,
    /// It was settled before (a duplicate delivery): nothing happened.
    AlreadySettled,
    /// No such transfer.
    Unknown,
}

impl Settlement {
    /// The status a settlement leaves its transfer (and the sender's entry) in.
    pub fn final_status(self) -> TxStatus {
        match self {
            Self::Credited => TxStatus::Success,
            Self::Refunded | Self::Suspended => TxStatus::Failed,
            Self::AlreadySettled | Self::Unknown => TxStatus::Pending,
        }
    }
}

/// Fields of `PUT /profile`: `None` leaves a field, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileChanges {
    pub first_name: Option<Option<String>>,
    pub last_name: Option<Option<String>>,
    pub address: Option<Option<String>>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates the account and claims its identifiers atomically; the first identifier
    /// (username, email, phone) already taken is reported.
    async fn create_user(&self, user: &UserRecord) -> Result<(), CreateUserError>;
    async fn get_user(&self, id: UserId) -> StoreResult<Option<UserRecord>>;
    async fn find_user(&self, identifier: &LoginIdentifier) -> StoreResult<Option<UserRecord>>;

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

    /// Records a new refresh family; families already expired at `now_secs` may be dropped.
    async fn create_session(&self, session: &Session, now_secs: i64) -> StoreResult<()>;
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

    /// Applies a top-up, payment or transfer debit in one atomic write: the balance (checked
    /// never to go negative, on the version it was read at), the ledger entry, the transfer
    /// record and the idempotency record change together or not at all.
    async fn apply(
        &self,
        op: &MoneyOp,
        claim: Option<&IdempotencyClaim>,
    ) -> Result<LedgerEntry, MoneyError>;
    /// The record of a used key, unless expired at `now`.
    async fn idempotency_record(
        &self,
        user: UserId,
        scope: &str,
        key: &str,
        now: Millis,
    ) -> StoreResult<Option<IdempotencyRecord>>;
    /// Settles a `PENDING` transfer exactly once, atomically: credit the recipient (or refund
    /// the sender when the recipient can't be credited) and mark transfer and sender entry.
    async fn settle_transfer(&self, transfer_id: &str, now: Millis) -> StoreResult<Settlement>;
    async fn get_transfer(&self, transfer_id: &str) -> StoreResult<Option<Transfer>>;
    /// One page of the transfers still `PENDING` that were created before `created_before`.
    /// Pass the page's `next` back to continue: following it visits each such transfer once,
    /// and it is `None` once all have been visited. A page may be short, even empty, while
    /// `next` is still given.
    async fn pending_transfers(
        &self,
        created_before: Millis,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<PendingPage>;
    /// The account's entries newest first, starting below `before_seq`.
    async fn list_entries(
        &self,
        user: UserId,
        before_seq: Option<u64>,
        limit: usize,
    ) -> StoreResult<Vec<LedgerEntry>>;
    /// Changes the non-unique profile fields; `None` when the user does not exist.
    async fn update_profile(
        &self,
        user: UserId,
        changes: &ProfileChanges,
        now: Millis,
    ) -> StoreResult<Option<UserRecord>>;
    /// Operator action: removes an account and frees its identifiers. Its transfers still
    /// settle (an incoming one is refunded to its sender).
    async fn delete_user(&self, user: UserId) -> StoreResult<bool>;
}
