//! What operators see: transfers by status and the state of the money.

use anyhow::Context;

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

/// What a run of the scheduled audit reached.
#[derive(Debug, Clone, PartialEq)]
pub enum AuditRun {
    /// A verdict, kept for operators.
    Verdict(MoneyCheck),
    /// None this time, and why (the last one stays).
    NoVerdict(String),
}

/// The scheduled audit (the `audit` function): on DynamoDB the stream audit's verdict, unless
/// `full`; the full check of the whole store otherwise.
pub async fn scheduled_audit(state: &AppState, full: bool) -> anyhow::Result<AuditRun> {
    #[cfg(feature = "dynamodb")]
    if !full && state.store().as_dynamodb().is_some() {
        use crate::store::dynamodb::stream_audit::StreamVerdict;
        return Ok(match stream_verdict(state).await? {
            StreamVerdict::Checked(check) if check.holds() => AuditRun::Verdict(check),
            // Not on the stream audit's word alone: the full check decides.
            StreamVerdict::Checked(check) => confirmed(state, &check).await,
            StreamVerdict::Unsettled { offsets } => AuditRun::NoVerdict(format!(
                "money in flight at the closed buckets (offsets {offsets:?})"
            )),
            StreamVerdict::Behind { shard, behind } => AuditRun::NoVerdict(format!(
                "stream shard {shard} is catching up ({behind} ms behind)"
            )),
            StreamVerdict::Empty => {
                AuditRun::NoVerdict("the stream audit has counted no change yet".into())
            }
        });
    }
    #[cfg(not(feature = "dynamodb"))]
    let _ = full;
    audit(state.store()).await.map(AuditRun::Verdict)
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

/// The stream audit's side of one batch of the table's stream (the `audit-stream` function):
/// checks and counts its changes, exactly once.
#[cfg(feature = "dynamodb")]
#[tracing::instrument(skip_all, fields(shard, changes))]
pub async fn audit_changes(
    state: &AppState,
    event: &crate::store::dynamodb::stream_audit::StreamEvent,
) -> anyhow::Result<crate::store::dynamodb::stream_audit::Applied> {
    let store = dynamo(state)?;
    let shard = event
        .shard_id
        .as_deref()
        .context("the batch names no shard: the event source needs a tumbling window")?;
    let changes = event.changes()?;
    tracing::Span::current()
        .record("shard", shard)
        .record("changes", changes.len());
    let applied = store
        .apply_stream(shard, &changes, now_millis(), buckets(state))
        .await?;
    if !applied.broken.is_empty() {
        tracing::error!(broken = ?applied.broken, "ledger BROKEN");
    }
    tracing::debug!(?applied, "stream batch applied");
    Ok(applied)
}

/// The stream audit's verdict now, kept when it says the money holds.
#[cfg(feature = "dynamodb")]
#[tracing::instrument(skip_all)]
pub async fn stream_verdict(
    state: &AppState,
) -> anyhow::Result<crate::store::dynamodb::stream_audit::StreamVerdict> {
    use crate::store::dynamodb::stream_audit::StreamVerdict;
    let store = dynamo(state)?;
    let (verdict, read) = store.stream_verdict(now_millis(), buckets(state)).await?;
    match &verdict {
        // Kept when it holds; otherwise the full check's verdict is ([`scheduled_audit`]).
        StreamVerdict::Checked(check) if check.holds() => {
            store.store_verdict(check).await?;
            tracing::info!(accounts = check.accounts_checked, read, "money holds");
        }
        StreamVerdict::Checked(_) => {}
        other => tracing::warn!(verdict = ?other, read, "no verdict this time"),
    }
    Ok(verdict)
}

/// The state's store, which the stream audit needs to be DynamoDB.
#[cfg(feature = "dynamodb")]
fn dynamo(state: &AppState) -> anyhow::Result<&crate::store::DynamoStore> {
    state
        .store()
        .as_dynamodb()
        .context("the stream audit follows DynamoDB's stream only")
}

#[cfg(feature = "dynamodb")]
fn buckets(state: &AppState) -> crate::store::dynamodb::stream_audit::Buckets {
    let config = state.config();
    crate::store::dynamodb::stream_audit::Buckets {
        width: config.audit_bucket.as_millis() as Millis,
        grace: config.audit_grace.as_millis() as Millis,
    }
}

/// The full check's verdict on what the stream audit found (`seen`): it is the one kept. When
/// it holds, the accounts the stream audit saw broken are forgotten (the ledgers hold now).
#[cfg(feature = "dynamodb")]
async fn confirmed(state: &AppState, seen: &MoneyCheck) -> AuditRun {
    tracing::warn!(
        offset = seen.held() - seen.entered(),
        broken = ?seen.broken_accounts,
        "the stream audit sees the money off: the full check decides"
    );
    match audit(state.store()).await {
        Ok(check) => {
            if check.holds() {
                if let Some(store) = state.store().as_dynamodb() {
                    if let Err(e) = store.clear_stream_broken().await {
                        tracing::warn!(error = ?e, "the stream audit's broken accounts stay");
                    }
                }
            }
            AuditRun::Verdict(check)
        }
        Err(e) => AuditRun::NoVerdict(format!(
            "the stream audit sees the money off by {} (accounts {:?}); the full check gave no \
             verdict: {e:#}",
            seen.held() - seen.entered(),
            seen.broken_accounts
        )),
    }
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
