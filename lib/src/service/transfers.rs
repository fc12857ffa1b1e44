//! The background side of transfers: settle each exactly once, and sweep up the ones whose
//! enqueue was lost.

use std::time::Duration;

use crate::domain::now_millis;
use crate::metrics;
use crate::queue::{TransferMessage, TransferReceiver};
use crate::state::AppState;
use crate::store::Settlement;

/// Settles one transfer; a duplicate delivery is a no-op.
pub async fn settle(state: &AppState, transfer_id: &str) -> anyhow::Result<Settlement> {
    settle_message(state, &TransferMessage::new(transfer_id)).await
}

/// Settles the transfer of a queue message, reading its recipient with it when the message
/// names one.
#[tracing::instrument(skip_all)]
pub async fn settle_message(
    state: &AppState,
    message: &TransferMessage,
) -> anyhow::Result<Settlement> {
    let transfer_id = message.transfer_id.as_str();
    let now = now_millis();
    let outcome = match &message.to_user {
        Some(to) => {
            state
                .store()
                .settle_transfer_to(transfer_id, to, now)
                .await?
        }
        None => state.store().settle_transfer(transfer_id, now).await?,
    };
    record(outcome, message.sent_at);
    match outcome {
        Settlement::Credited => tracing::info!(transfer = transfer_id, "transfer settled"),
        Settlement::Refunded => tracing::warn!(
            transfer = transfer_id,
            "recipient could not be credited: refunded"
        ),
        Settlement::Suspended => tracing::error!(
            transfer = transfer_id,
            "neither recipient nor sender could be credited: FAILED, money held in suspense"
        ),
        Settlement::AlreadySettled => {
            tracing::info!(transfer = transfer_id, "duplicate delivery ignored")
        }
        Settlement::Unknown => tracing::warn!(transfer = transfer_id, "no such transfer"),
    }
    Ok(outcome)
}

/// Counts a settlement that ended a transfer, with the time since `sent_at` (when its message
/// was enqueued) if known.
fn record(outcome: Settlement, sent_at: Option<i64>) {
    let lag = sent_at.map(|sent| now_millis() - sent);
    match outcome {
        Settlement::Credited => metrics::transfer_settled(true, lag),
        Settlement::Refunded | Settlement::Suspended => metrics::transfer_settled(false, lag),
        Settlement::AlreadySettled | Settlement::Unknown => {}
    }
}

/// A message as the queue delivered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub id: String,
    pub body: String,
    /// How many times the queue has delivered it, this time included (SQS's
    /// `ApproximateReceiveCount`).
    pub receives: u32,
    /// When the queue took it (SQS's `SentTimestamp`), milliseconds since the epoch.
    pub sent_at: Option<i64>,
}

/// Settles a batch of queue messages concurrently; returns the ids of the messages that
/// failed and must be delivered again (a body that is not a transfer message fails every time
/// and ends in the dead-letter queue). A transfer whose settlement still fails on its last
/// delivery (`DOMPET_TRANSFER_MAX_RECEIVES`, the queue's own) is given up instead of going to
/// the dead-letter queue ([`give_up`]).
#[tracing::instrument(skip_all)]
pub async fn settle_batch(state: &AppState, messages: Vec<Received>) -> Vec<String> {
    let last = state.config().transfer_max_receives;
    let settled = futures::future::join_all(messages.into_iter().map(|m| async move {
        let result = match serde_json::from_str::<TransferMessage>(&m.body) {
            Ok(message) => {
                let message = TransferMessage {
                    sent_at: m.sent_at,
                    ..message
                };
                match settle_message(state, &message).await {
                Err(e) if m.receives >= last => {
                    tracing::error!(transfer = %message.transfer_id, error = ?e, receives = m.receives, "settlement failed on the last delivery");
                    give_up(state, &message.transfer_id, message.sent_at)
                        .await
                        .map(|_| ())
                }
                    other => other.map(|_| ()),
                }
            }
            Err(e) => Err(anyhow::anyhow!(
                "message {} is not a transfer message: {e}",
                m.id
            )),
        };
        (m.id, result)
    }))
    .await;
    settled
        .into_iter()
        .filter_map(|(id, result)| {
            result
                .map_err(|e| tracing::error!(message = %id, error = ?e, "settlement failed"))
                .err()
                .map(|_| id)
        })
        .collect()
}

/// How many pending transfers the sweep reads per page.
const SWEEP_PAGE: usize = 100;

/// Enqueues again every transfer `PENDING` for longer than `age`, each once per run (a cursor
/// over the pending index, one batch per page); returns how many.
#[tracing::instrument(skip_all)]
pub async fn sweep(state: &AppState, age: Duration) -> anyhow::Result<usize> {
    let before = now_millis() - age.as_millis() as i64;
    let mut count = 0;
    let mut cursor: Option<String> = None;
    loop {
        let page = state
            .store()
            .pending_transfers(before, cursor.as_deref(), SWEEP_PAGE)
            .await?;
        let messages: Vec<TransferMessage> = page.ids.iter().map(TransferMessage::new).collect();
        state.queue().enqueue_batch(&messages).await?;
        count += page.ids.len();
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    if count > 0 {
        tracing::warn!(count, "sweep re-enqueued pending transfers");
    }
    Ok(count)
}

/// Ends a transfer whose settlement failed on every delivery, exactly once as a settlement:
/// `FAILED` with its sender refunded (its recipient is not credited), or, when even the refund
/// can't be posted, `FAILED` with the money held in suspense. Nothing sends it again.
#[tracing::instrument(skip_all)]
pub async fn give_up(
    state: &AppState,
    transfer_id: &str,
    sent_at: Option<i64>,
) -> anyhow::Result<Settlement> {
    let outcome = state
        .store()
        .give_up_transfer(transfer_id, now_millis())
        .await?;
    record(outcome, sent_at);
    match outcome {
        Settlement::Refunded => tracing::error!(
            transfer = transfer_id,
            "a transfer that could not be settled was given up: FAILED, refunded"
        ),
        Settlement::Suspended => tracing::error!(
            transfer = transfer_id,
            "a transfer that could not be settled was given up: FAILED, money held in suspense"
        ),
        _ => {}
    }
    Ok(outcome)
}

/// The standalone server's worker: settles each enqueued id; a failure is retried shortly, up
/// to `DOMPET_TRANSFER_MAX_RECEIVES` tries in all, then the transfer is given up.
pub async fn run_worker(state: AppState, mut receiver: TransferReceiver) {
    while let Some(mut message) = receiver.recv_message().await {
        let state = state.clone();
        tokio::spawn(async move {
            message.attempts += 1;
            if let Err(e) = settle_message(&state, &message).await {
                if message.attempts >= state.config().transfer_max_receives {
                    tracing::error!(transfer = %message.transfer_id, error = ?e, "settlement failed on the last try");
                    if let Err(e) = give_up(&state, &message.transfer_id, message.sent_at).await {
                        tracing::error!(transfer = %message.transfer_id, error = ?e, "giving up failed; the sweep sends it again");
                    }
                    return;
                }
                tracing::error!(transfer = %message.transfer_id, error = ?e, "settlement failed; retrying shortly");
                tokio::time::sleep(Duration::from_secs(1)).await;
                let _ = state.queue().enqueue(&message).await;
            }
        });
    }
}

/// The standalone server's periodic sweep.
pub async fn run_sweeper(state: AppState) {
    let mut tick = tokio::time::interval(state.config().sweep_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = sweep(&state, state.config().sweep_age).await {
            tracing::error!(error = ?e, "sweep failed");
        }
    }
}

/// Starts the in-process worker and the periodic sweep on the current runtime.
pub fn spawn_background(state: AppState, receiver: TransferReceiver) {
    tokio::spawn(run_worker(state.clone(), receiver));
    tokio::spawn(run_sweeper(state));
}
