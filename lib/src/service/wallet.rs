//! Top up, pay, transfer: each one atomic store write, optionally under an idempotency key.

use crate::metrics;
use sha2::{Digest, Sha256};

use crate::domain::ClientAddress;
use crate::domain::{now_millis, Amount, IdempotencyKey, Phone, UserId, Username};
use crate::domain::{IdentifierKind, LoginIdentifier};
use crate::paging::{InvalidCursor, Listing, Page, PageRequest};
use crate::queue::TransferMessage;
use crate::service::accounts::LoginError;
use crate::service::mfa::{self, Presented};
use crate::service::sessions::{Caller, Principal, SessionError};
use crate::state::AppState;
use crate::store::{
    IdempotencyClaim, IdempotencyRecord, LedgerEntry, MoneyError, MoneyOp, MoneyOpKind,
    ProfileChanges, Reads, Snapshot, Transfer, UserRecord,
};

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
    /// The caller's login is no longer live.
    #[error("Unauthenticated")]
    Unauthenticated,
    /// The second factor is missing or wrong, or the address is locked.
    #[error(transparent)]
    Refused(#[from] crate::service::accounts::LoginError),
    /// No such transfer of the caller's.
    #[error("The requested resource does not exist")]
    NotFound,
    #[error(transparent)]
    InvalidCursor(#[from] InvalidCursor),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<SessionError> for WalletError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Unauthenticated => Self::Unauthenticated,
            SessionError::Unexpected(e) => Self::Unexpected(e),
        }
    }
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
    let kind = match op.kind {
        MoneyOpKind::TopUp => "topup",
        MoneyOpKind::Payment => "payment",
        MoneyOpKind::Transfer { .. } => "transfer",
    };
    let amount = op.amount;
    match state.store().apply(&op, claim.as_ref()).await {
        Ok(entry) => {
            metrics::money_moved(kind, amount);
            Ok(Applied {
                entry,
                replayed: false,
            })
        }
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
        Err(MoneyError::RecipientNotFound) => Err(WalletError::RecipientNotFound),
        Err(MoneyError::CodeUsed) => Err(LoginError::InvalidCode.into()),
        Err(MoneyError::Unexpected(e)) => Err(e.into()),
    }
}

/// The original answer when the key was already used with this request; `KeyReused` for
/// another request.
fn replay(
    record: Option<IdempotencyRecord>,
    idempotency: Option<&Idempotency>,
) -> Result<Option<Applied>, WalletError> {
    match (record, idempotency) {
        (Some(r), Some(i)) if r.request_hash == i.request_hash => Ok(Some(Applied {
            entry: r.entry,
            replayed: true,
        })),
        (Some(_), Some(_)) => Err(WalletError::KeyReused),
        _ => Ok(None),
    }
}

/// What a payment or transfer is stepped up with, and where the request comes from.
pub struct StepUp {
    pub presented: Option<Presented>,
    pub from: ClientAddress,
}

/// The first read of a money request, with the caller's session: the account, the key's
/// record, and what a step-up needs (the factor, and with a code the lockout's records).
/// Answers a replay, or the operation on the account as read.
async fn first_read(
    state: &AppState,
    caller: &Caller,
    scope: &'static str,
    idempotency: Option<&Idempotency>,
    recipient: Option<&Recipient>,
    step_up: Option<&StepUp>,
) -> Result<(Principal, Snapshot, Option<Applied>), WalletError> {
    let user = caller.user_id();
    let (other_account, identifier) = recipient.map_or((None, None), Recipient::reads);
    let mut reads = Reads {
        account: Some(user),
        other_account,
        idempotency: idempotency.map(|i| (user, scope, i.key.as_str().to_string())),
        identifier,
        ..Reads::default()
    };
    if let Some(s) = step_up {
        mfa::add_reads(&mut reads, user, &s.from, s.presented.as_ref());
    }
    let (principal, mut snap) = caller.load(state, reads).await?;
    let replayed = replay(snap.idempotency.take(), idempotency)?;
    Ok((principal, snap, replayed))
}

/// The step-up of a money request, after a replay was answered: nothing without an active
/// factor; else the code, checked and counted.
async fn stepped_up(
    state: &AppState,
    snap: &Snapshot,
    step_up: &StepUp,
) -> Result<Option<mfa::SteppedUp>, WalletError> {
    let account = snap
        .account
        .as_ref()
        .ok_or(WalletError::AccountUnavailable)?;
    Ok(mfa::step_up(
        state,
        account,
        snap,
        step_up.presented.as_ref(),
        &step_up.from,
        None,
    )
    .await?)
}

/// Applies `op` used up the step-up's code; a right code's reservation is reset unless its
/// use lost a race.
async fn apply_stepped(
    state: &AppState,
    scope: &'static str,
    mut op: MoneyOp,
    idempotency: Option<Idempotency>,
    stepped: Option<mfa::SteppedUp>,
) -> Result<Applied, WalletError> {
    op.code = stepped.as_ref().map(|s| s.code.clone());
    let applied = apply(state, scope, op, idempotency).await;
    if !matches!(applied, Err(WalletError::Refused(_))) {
        mfa::passed(state, stepped.as_ref()).await;
    }
    applied
}

/// A new operation with a fresh reference id, dated now, on the account as `snap` read it.
fn new_op(
    user: UserId,
    kind: MoneyOpKind,
    amount: Amount,
    remarks: String,
    snap: &Snapshot,
) -> Result<MoneyOp, WalletError> {
    let account = snap
        .account
        .as_ref()
        .ok_or(WalletError::AccountUnavailable)?;
    Ok(MoneyOp {
        user,
        kind,
        reference_id: uuid::Uuid::new_v4().to_string(),
        amount: amount.get(),
        remarks,
        now: now_millis(),
        seen: Some((account.balance, account.version)),
        code: None,
    })
}

#[tracing::instrument(skip_all)]
pub async fn top_up(
    state: &AppState,
    caller: &Caller,
    amount: Amount,
    idempotency: Option<Idempotency>,
) -> Result<Applied, WalletError> {
    let (who, snap, replayed) =
        first_read(state, caller, "topup", idempotency.as_ref(), None, None).await?;
    if let Some(replayed) = replayed {
        return Ok(replayed);
    }
    let op = new_op(
        who.user_id,
        MoneyOpKind::TopUp,
        amount,
        String::new(),
        &snap,
    )?;
    apply(state, "topup", op, idempotency).await
}

#[tracing::instrument(skip_all)]
pub async fn pay(
    state: &AppState,
    caller: &Caller,
    amount: Amount,
    remarks: String,
    idempotency: Option<Idempotency>,
    step_up: &StepUp,
) -> Result<Applied, WalletError> {
    let (who, snap, replayed) = first_read(
        state,
        caller,
        "pay",
        idempotency.as_ref(),
        None,
        Some(step_up),
    )
    .await?;
    if let Some(replayed) = replayed {
        return Ok(replayed);
    }
    let stepped = stepped_up(state, &snap, step_up).await?;
    let op = new_op(who.user_id, MoneyOpKind::Payment, amount, remarks, &snap)?;
    apply_stepped(state, "pay", op, idempotency, stepped).await
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

    /// What names the account: its id ([`Reads::other_account`]) or an identifier whose owner
    /// it is ([`Reads::identifier`]).
    pub fn reads(&self) -> (Option<UserId>, Option<LoginIdentifier>) {
        match self {
            Self::Id(id) => (Some(*id), None),
            Self::Username(u) => (
                None,
                Some(LoginIdentifier::new(IdentifierKind::Username, u.as_str())),
            ),
            Self::Phone(p) => (
                None,
                Some(LoginIdentifier::new(IdentifierKind::Phone, p.as_str())),
            ),
        }
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

/// Debits the sender, records the transfer `PENDING` and enqueues it for the worker. One
/// read (session, account, key, and the recipient's identifier when named by one), then one
/// write, which also checks that the recipient's account exists.
#[tracing::instrument(skip_all)]
pub async fn transfer(
    state: &AppState,
    caller: &Caller,
    recipient: &Recipient,
    amount: Amount,
    remarks: String,
    idempotency: Option<Idempotency>,
    step_up: &StepUp,
) -> Result<Applied, WalletError> {
    let (who, snap, replayed) = first_read(
        state,
        caller,
        "transfer",
        idempotency.as_ref(),
        Some(recipient),
        Some(step_up),
    )
    .await?;
    // A replay answers what the original did, even if the recipient has gone since.
    if let Some(replayed) = replayed {
        return Ok(replayed);
    }
    // The second factor comes before the recipient and the balance (api.md's order).
    let stepped = stepped_up(state, &snap, step_up).await?;
    let to = transfer_op(who.user_id, recipient, &snap, amount, remarks);
    let (to, op) = match to {
        Ok(found) => found,
        Err(e) => {
            // Refused after a right code: its reservation is reset, the code stays unused.
            mfa::passed(state, stepped.as_ref()).await;
            return Err(e);
        }
    };
    let applied = apply_stepped(state, "transfer", op, idempotency, stepped).await?;
    if !applied.replayed {
        // The debit is recorded; if this fails the sweep enqueues the transfer later.
        let message = TransferMessage {
            to_user: Some(to.to_string()),
            ..TransferMessage::new(applied.entry.reference_id.clone())
        };
        if let Err(e) = state.queue().enqueue(&message).await {
            tracing::warn!(transfer = %applied.entry.reference_id, error = ?e, "enqueue failed; the sweep will retry");
        }
    }
    Ok(applied)
}

/// The recipient of a transfer from `from` and its operation, on the accounts as `snap` read
/// them. An unknown recipient is reported before the balance is looked at, whatever names it;
/// the write checks again that the account still exists.
fn transfer_op(
    from: UserId,
    recipient: &Recipient,
    snap: &Snapshot,
    amount: Amount,
    remarks: String,
) -> Result<(UserId, MoneyOp), WalletError> {
    let to = match recipient {
        Recipient::Id(id) if snap.other_account.is_some() => *id,
        Recipient::Id(_) => return Err(WalletError::RecipientNotFound),
        _ => snap
            .identifier_owner
            .ok_or(WalletError::RecipientNotFound)?,
    };
    if to == from {
        return Err(WalletError::SelfTransfer);
    }
    let op = new_op(from, MoneyOpKind::Transfer { to }, amount, remarks, snap)?;
    Ok((to, op))
}

/// A transfer as its sender or recipient may see it; `NotFound` for anyone else, and for a
/// path id that is not a transfer's (once the caller's login is known to be live).
#[tracing::instrument(skip_all)]
pub async fn transfer_for(
    state: &AppState,
    caller: &Caller,
    transfer_id: Option<&str>,
) -> Result<Transfer, WalletError> {
    let Some(transfer_id) = transfer_id.filter(|id| UserId::parse(id).is_ok()) else {
        caller.check(state).await?;
        return Err(WalletError::NotFound);
    };
    let reads = Reads {
        transfer: Some(transfer_id.to_string()),
        ..Reads::default()
    };
    let (who, snap) = caller.load(state, reads).await?;
    snap.transfer
        .filter(|t| t.from_user == who.user_id || t.to_user == who.user_id)
        .ok_or(WalletError::NotFound)
}

/// One page of the caller's ledger, newest first. The session check and the page are read
/// at once: one round trip of latency.
#[tracing::instrument(skip_all, fields(limit = page.limit))]
pub async fn transactions(
    state: &AppState,
    caller: &Caller,
    page: &PageRequest,
) -> Result<Page<LedgerEntry>, WalletError> {
    let listing = Listing::new(state.cursor_key(), caller.user_id(), "transactions");
    let before = listing.start(page, |p| p.parse::<u64>().ok())?;
    let entries: Vec<LedgerEntry> = caller
        .alongside::<_, WalletError>(
            state,
            state
                .store()
                .list_entries(caller.user_id(), before, page.limit + 1),
        )
        .await?;
    Ok(listing.page(entries, page.limit, |e| e.seq.to_string()))
}

/// `PUT /profile`: the names and address of the caller's account.
#[tracing::instrument(skip_all)]
pub async fn update_profile(
    state: &AppState,
    who: &Principal,
    changes: &ProfileChanges,
) -> Result<UserRecord, WalletError> {
    state
        .store()
        .update_profile(who.user_id, changes, now_millis())
        .await?
        .ok_or(WalletError::Unauthenticated)
}
