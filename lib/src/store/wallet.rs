//! Balances, ledger entries and idempotency records.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{CodeUse, StoreResult, Transfer};
use crate::domain::{Millis, UserId};

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
    pub user_id: UserId,
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
    /// The account's balance and version as the caller already read them, if it did: a
    /// store that reads before it writes (DynamoDB) writes on them first instead of reading
    /// again. A stale pair costs nothing but a retry: every write is conditional on the version.
    pub seen: Option<(i64, u64)>,
    /// The second-factor code the request was stepped up with, used up by this write.
    pub code: Option<CodeUse>,
}

impl MoneyOp {
    /// The `PENDING` transfer a transfer operation records (`None` for other operations).
    pub fn pending_transfer(&self) -> Option<Transfer> {
        let MoneyOpKind::Transfer { to } = self.kind else {
            return None;
        };
        Some(Transfer {
            transfer_id: self.reference_id.clone(),
            from_user: self.user,
            to_user: to,
            amount: self.amount,
            remarks: self.remarks.clone(),
            status: TxStatus::Pending,
            created_at: self.now,
            settled_at: None,
            suspense: false,
        })
    }

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
            user_id: self.user,
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
    /// A transfer's recipient has no account (checked in the same atomic write).
    #[error("recipient not found")]
    RecipientNotFound,
    /// The second-factor code was used meanwhile: nothing moved.
    #[error("the code was already used")]
    CodeUsed,
    /// The balance would leave the representable range.
    #[error("balance out of range")]
    Overflow,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Money movements on one account and the ledger they leave.
#[async_trait]
pub trait WalletStore: Send + Sync + 'static {
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

    /// The account's entries newest first, starting below `before_seq`.
    async fn list_entries(
        &self,
        user: UserId,
        before_seq: Option<u64>,
        limit: usize,
    ) -> StoreResult<Vec<LedgerEntry>>;
}
