//! What operators see: transfers by status and the state of the money.

use crate::domain::{now_millis, Millis};
use crate::queue::QueueDepth;
use crate::service::sessions::{Caller, SessionError};
use crate::state::AppState;
use crate::store::{MoneyCheck, Role, StoreResult, Transfer, TransferPosition, TxStatus};

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// The caller's account is gone.
    #[error("Unauthenticated")]
    Unauthenticated,
    /// The caller is not an operator.
    #[error("operators only")]
    Forbidden,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Operators are accounts with role `admin` (set only by the operator command): one read of
/// the session and the account.
pub async fn require_admin(state: &AppState, caller: &Caller) -> Result<(), OperatorError> {
    let account = caller.load_account(state).await.map_err(|e| match e {
        SessionError::Unauthenticated => OperatorError::Unauthenticated,
        SessionError::Unexpected(e) => OperatorError::Unexpected(e),
    })?;
    match account {
        None => Err(OperatorError::Unauthenticated),
        Some(u) if u.role == Role::Admin => Ok(()),
        Some(_) => Err(OperatorError::Forbidden),
    }
}

/// One page of transfers with `status`, newest first, and whether more follow.
pub async fn transfers(
    state: &AppState,
    status: TxStatus,
    before: Option<&TransferPosition>,
    limit: usize,
) -> StoreResult<(Vec<Transfer>, bool)> {
    let rows = state
        .store()
        .list_transfers(status, before, limit + 1)
        .await?;
    Ok(super::page_of(rows, limit))
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

pub async fn stats(state: &AppState) -> anyhow::Result<Stats> {
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

/// The scheduled audit on DynamoDB: checks, logs and stores the verdict.
#[cfg(feature = "dynamodb")]
pub async fn audit(store: &crate::store::DynamoStore) -> anyhow::Result<MoneyCheck> {
    let check = store.audit(now_millis()).await?;
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
    store.store_verdict(&check).await?;
    Ok(check)
}
