//! Top up, pay, transfer: each one atomic store write, optionally under an idempotency key.

use sha2::{Digest, Sha256};

use crate::domain::{now_millis, Amount, IdempotencyKey, Phone, UserId, Username};
use crate::domain::{IdentifierKind, LoginIdentifier};
use crate::state::AppState;
use crate::store::{IdempotencyClaim, LedgerEntry, MoneyError, MoneyOp, MoneyOpKind, Transfer};

#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    #[error("Balance is not enough")]
    InsufficientBalance,
    #[error("Recipient not found")]
    RecipientNotFound,
    #[error("Cannot transfer to yourself")]
    SelfTransfer,
    #[error("This Idempotency-Key was used with a different request")]
    KeyReused,
    #[error("The account is busy; retry with the same Idempotency-Key")]
    Contention,
    /// The amount would take the balance past what an account can hold.
    #[error("would take the balance over the largest amount an account can hold")]
    BalanceOverflow,
    /// The caller's own account is gone.
    #[error("account cannot be changed")]
    AccountUnavailable,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// An idempotency key with the hash of the request it came with.
pub struct Idempotency {
    pub key: IdempotencyKey,
    pub request_hash: String,
}

impl Idempotency {
    /// `canonical` is the validated request, rendered deterministically.
    pub fn new(key: IdempotencyKey, canonical: &serde_json::Value) -> Self {
        let hash = Sha256::digest(canonical.to_string().as_bytes());
        Self {
            key,
            request_hash: hash.iter().map(|b| format!("{b:02x}")).collect(),
        }
    }
}

/// The entry the request made, and whether it is a replay of an earlier request.
pub struct Applied {
    pub entry: LedgerEntry,
    pub replayed: bool,
}

async fn apply(
    state: &AppState,
    scope: &'static str,
    op: MoneyOp,
    idempotency: Option<Idempotency>,
) -> Result<Applied, WalletError> {
    let claim = idempotency.map(|i| IdempotencyClaim {
        scope,
        key: i.key.as_str().to_string(),
        request_hash: i.request_hash,
        expires_at: op.now + state.config().idempotency_ttl.as_millis() as i64,
    });
    match state.store().apply(&op, claim.as_ref()).await {
        Ok(entry) => Ok(Applied {
            entry,
            replayed: false,
        }),
        Err(MoneyError::KeyUsed(record)) => match &claim {
            Some(c) if c.request_hash == record.request_hash => Ok(Applied {
                entry: record.entry,
                replayed: true,
            }),
            _ => Err(WalletError::KeyReused),
        },
        Err(MoneyError::InsufficientBalance) => Err(WalletError::InsufficientBalance),
        Err(MoneyError::Contention) => Err(WalletError::Contention),
        Err(MoneyError::Overflow) => Err(WalletError::BalanceOverflow),
        Err(MoneyError::UserNotFound) => Err(WalletError::AccountUnavailable),
        Err(MoneyError::Unexpected(e)) => Err(e.into()),
    }
}

/// The original answer for a key already used with this request; `KeyReused` for another.
async fn recorded(
    state: &AppState,
    user: UserId,
    scope: &'static str,
    idempotency: Option<&Idempotency>,
) -> Result<Option<Applied>, WalletError> {
    let Some(i) = idempotency else {
        return Ok(None);
    };
    let record = state
        .store()
        .idempotency_record(user, scope, i.key.as_str(), now_millis())
        .await?;
    match record {
        None => Ok(None),
        Some(r) if r.request_hash == i.request_hash => Ok(Some(Applied {
            entry: r.entry,
            replayed: true,
        })),
        Some(_) => Err(WalletError::KeyReused),
    }
}

/// A new operation with a fresh reference id, dated now.
fn new_op(user: UserId, kind: MoneyOpKind, amount: Amount, remarks: String) -> MoneyOp {
    MoneyOp {
        user,
        kind,
        reference_id: uuid::Uuid::new_v4().to_string(),
        amount: amount.get(),
        remarks,
        now: now_millis(),
    }
}

pub async fn top_up(
    state: &AppState,
    user: UserId,
    amount: Amount,
    idempotency: Option<Idempotency>,
) -> Result<Applied, WalletError> {
    let op = new_op(user, MoneyOpKind::TopUp, amount, String::new());
    apply(state, "topup", op, idempotency).await
}

pub async fn pay(
    state: &AppState,
    user: UserId,
    amount: Amount,
    remarks: String,
    idempotency: Option<Idempotency>,
) -> Result<Applied, WalletError> {
    let op = new_op(user, MoneyOpKind::Payment, amount, remarks);
    apply(state, "pay", op, idempotency).await
}

/// How a transfer names its recipient: a user id, a username or a phone number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    Id(UserId),
    Username(Username),
    Phone(Phone),
}

impl Recipient {
    pub fn parse(s: &str) -> Result<Self, String> {
        if let Ok(id) = UserId::parse(s) {
            return Ok(Self::Id(id));
        }
        if let Ok(u) = Username::parse(s) {
            return Ok(Self::Username(u));
        }
        if let Ok(p) = Phone::parse(s) {
            return Ok(Self::Phone(p));
        }
        Err("must be a user id, a username or a phone number".into())
    }

    /// The canonical form, for request hashing.
    pub fn canonical(&self) -> String {
        match self {
            Self::Id(id) => id.to_string(),
            Self::Username(u) => format!("username:{}", u.key()),
            Self::Phone(p) => format!("phone:{}", p.as_str()),
        }
    }
}

/// Debits the sender, records the transfer `PENDING` and enqueues it for the worker.
pub async fn transfer(
    state: &AppState,
    sender: UserId,
    recipient: &Recipient,
    amount: Amount,
    remarks: String,
    idempotency: Option<Idempotency>,
) -> Result<Applied, WalletError> {
    let found = match recipient {
        Recipient::Id(id) => state.store().get_user(*id).await?,
        Recipient::Username(u) => {
            state
                .store()
                .find_user(&LoginIdentifier::new(IdentifierKind::Username, u.as_str()))
                .await?
        }
        Recipient::Phone(p) => {
            state
                .store()
                .find_user(&LoginIdentifier::new(IdentifierKind::Phone, p.as_str()))
                .await?
        }
    };
    let to = match found {
        Some(user) if user.user_id != sender => user.user_id,
        refused => {
            // A replay answers what the original did, even if the recipient has gone since.
            if let Some(replay) = recorded(state, sender, "transfer", idempotency.as_ref()).await? {
                return Ok(replay);
            }
            return Err(match refused {
                None => WalletError::RecipientNotFound,
                Some(_) => WalletError::SelfTransfer,
            });
        }
    };
    let op = new_op(sender, MoneyOpKind::Transfer { to }, amount, remarks);
    let applied = apply(state, "transfer", op, idempotency).await?;
    if !applied.replayed {
        // The debit is recorded; if this fails the sweep enqueues the transfer later.
        if let Err(e) = state.queue().enqueue(&applied.entry.reference_id).await {
            tracing::warn!(transfer = %applied.entry.reference_id, error = ?e, "enqueue failed; the sweep will retry");
        }
    }
    Ok(applied)
}

/// A transfer as its sender or recipient may see it; anyone else gets `None`.
pub async fn transfer_for(
    state: &AppState,
    viewer: UserId,
    transfer_id: &str,
) -> anyhow::Result<Option<Transfer>> {
    let viewer = viewer.to_string();
    Ok(state
        .store()
        .get_transfer(transfer_id)
        .await?
        .filter(|t| t.from_user == viewer || t.to_user == viewer))
}
