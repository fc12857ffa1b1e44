//! What operators see: transfers by status and the state of the money.

use crate::domain::{now_millis, Millis, UserId};
use crate::paging::{InvalidCursor, Listing, Page, PageRequest};
use crate::queue::QueueDepth;
use crate::service::sessions::{Caller, SessionError};
use crate::state::AppState;
use crate::store::{MoneyCheck, Role, Store, Transfer, TransferPosition, TxStatus};

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// The caller's account is gone.
    #[error("Unauthenticated")]
    Unauthenticated,
    /// The caller is not an operator.
    #[error("operators only")]
    Forbidden,
    #[error(transparent)]
    InvalidCursor(#[from] InvalidCursor),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// A caller known to be an operator: what every operator's use case takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    user_id: UserId,
}

/// Operators are accounts with role `admin` (set only by the operator command): one read of
/// the session and the account.
#[tracing::instrument(skip_all)]
pub async fn operator(state: &AppState, caller: &Caller) -> Result<Operator, OperatorError> {
    let account = caller.load_account(state).await.map_err(|e| match e {
        SessionError::Unauthenticated => OperatorError::Unauthenticated,
        SessionError::Unexpected(e) => OperatorError::Unexpected(e),
    })?;
    match account {
        None => Err(OperatorError::Unauthenticated),
        Some(u) if u.role == Role::Admin => Ok(Operator { user_id: u.user_id }),
        Some(_) => Err(OperatorError::Forbidden),
    }
}

/// One page of transfers with `status`, newest first (operators only).
#[tracing::instrument(skip_all, fields(status = status.as_str(), limit = page.limit))]
pub async fn transfers(
    state: &AppState,
    operator: &Operator,
    status: TxStatus,
    page: &PageRequest,
) -> Result<Page<Transfer>, OperatorError> {
    let scope = format!("admin-transfers:{}", status.as_str());
    let listing = Listing::new(state.cursor_key(), operator.user_id, scope);
    let before = listing.start(page, |p| {
        let (at, id) = p.split_once(':')?;
        Some(TransferPosition {
            created_at: at.parse().ok()?,
            transfer_id: id.to_string(),
        })
    })?;
    let rows = state
        .store()
        .list_transfers(status, before.as_ref(), page.limit + 1)
        .await?;
    Ok(listing.page(rows, page.limit, |t| {
        format!("{}:{}", t.created_at, t.transfer_id)
    }))
}

/// `GET /admin/stats`.
#[derive(Debug, Clone)]
pub struct Stats {
    pub oldest_pending_at: Option<Millis>,
    pub queue: Option<QueueDepth>,
    /// `None` until the first audit (DynamoDB).
    pub money: Option<MoneyCheck>,
    pub now: Millis,
}

/// The state of the transfers, the queue and the money (operators only).
#[tracing::instrument(skip_all)]
pub async fn stats(state: &AppState, _operator: &Operator) -> Result<Stats, OperatorError> {
    let now = now_millis();
    let (oldest, queue, money) = tokio::join!(
        state.store().oldest_pending(),
        state.queue().depth(),
        state.store().money_check(now),
    );
    Ok(Stats {
        oldest_pending_at: oldest?,
        queue: queue?,
        money: money?,
        now,
    })
}

/// The scheduled audit of the state's store (the `audit` function).
pub async fn audit_kept(state: &AppState) -> anyhow::Result<MoneyCheck> {
    audit(state.store()).await
}

/// The scheduled audit: checks the money and every ledger chain, logs and keeps the verdict.
#[tracing::instrument(skip_all)]
pub async fn audit(store: &dyn Store) -> anyhow::Result<MoneyCheck> {
    let check = check_money(store, now_millis()).await?;
    if check.holds() {
        tracing::info!(
            accounts = check.accounts_checked,
            held = check.held(),
            "money check holds"
        );
    } else {
        tracing::error!(
            accounts = check.accounts_checked,
            held = check.held(),
            entered = check.entered(),
            broken = ?check.broken_accounts,
            "money check BROKEN"
        );
    }
    Ok(check)
}

/// On DynamoDB a scan of the table, kept as the verdict `money_check` answers with; SQLite
/// checks in one consistent read at every `money_check`, so there the audit is that check.
async fn check_money(store: &dyn Store, now: Millis) -> anyhow::Result<MoneyCheck> {
    #[cfg(feature = "dynamodb")]
    if let Some(dynamo) = store.as_dynamodb() {
        let check = dynamo.audit(now).await?;
        dynamo.store_verdict(&check).await?;
        return Ok(check);
    }
    store
        .money_check(now)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the store keeps no money check"))
}
