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
    report(transfer_id, outcome, message.sent_at);
    Ok(outcome)
}

/// Settles the transfers of many queue messages: those naming one recipient together (the
/// store credits them in one write of the account where it can), the rest each on its own,
/// all at once. One outcome per message, in their order.
#[tracing::instrument(skip_all)]
pub async fn settle_messages(
    state: &AppState,
    messages: &[TransferMessage],
) -> Vec<anyhow::Result<Settlement>> {
    let mut by_recipient: std::collections::BTreeMap<&str, Vec<usize>> = Default::default();
    let mut alone = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        match &message.to_user {
            Some(to) => by_recipient.entry(to.as_str()).or_default().push(i),
            None => alone.push(vec![i]),
        }
    }
    let groups = by_recipient
        .into_iter()
        .map(|(to, group)| (Some(to), group));
    let settled = futures::future::join_all(
        groups
            .chain(alone.into_iter().map(|group| (None, group)))
            .map(|(to, group)| async move {
                let outcomes = match (to, group.as_slice()) {
                    (Some(to), [_, _, ..]) => {
                        let ids: Vec<String> = group
                            .iter()
                            .map(|&i| messages[i].transfer_id.clone())
                            .collect();
                        let outcomes = state
                            .store()
                            .settle_transfers_to(to, &ids, now_millis())
                            .await;
                        for (&i, outcome) in group.iter().zip(&outcomes) {
                            if let Ok(outcome) = outcome {
                                let m = &messages[i];
                                report(&m.transfer_id, *outcome, m.sent_at);
                            }
                        }
                        outcomes
                    }
                    _ => vec![settle_message(state, &messages[group[0]]).await],
                };
                group.into_iter().zip(outcomes).collect::<Vec<_>>()
            }),
    )
    .await;
    let mut outcomes: Vec<Option<anyhow::Result<Settlement>>> =
        messages.iter().map(|_| None).collect();
    for (i, outcome) in settled.into_iter().flatten() {
        outcomes[i] = Some(outcome);
    }
    outcomes
        .into_iter()
        .map(|o| o.unwrap_or_else(|| Err(anyhow::anyhow!("no outcome"))))
        .collect()
}

/// Counts and logs how the settlement of `transfer_id` ended.
fn report(transfer_id: &str, outcome: Settlement, sent_at: Option<i64>) {
    record(outcome, sent_at);
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

/// Settles a batch of queue messages ([`settle_messages`]: those to one recipient credited
/// together); returns the ids of the messages that failed and must be delivered again (a body
/// that is not a transfer message fails every time and ends in the dead-letter queue). A
/// transfer whose settlement still fails on its last delivery (`DOMPET_TRANSFER_MAX_RECEIVES`,
/// the queue's own) is given up instead of going to the dead-letter queue ([`give_up`]).
#[tracing::instrument(skip_all)]
pub async fn settle_batch(state: &AppState, messages: Vec<Received>) -> Vec<String> {
    let last = state.config().transfer_max_receives;
    let mut failed = Vec::new();
    let mut received = Vec::new();
    let mut transfers = Vec::new();
    for m in messages {
        match serde_json::from_str::<TransferMessage>(&m.body) {
            Ok(message) => {
                transfers.push(TransferMessage {
                    sent_at: m.sent_at,
                    ..message
                });
                received.push(m);
            }
            Err(e) => {
                tracing::error!(message = %m.id, error = %e, "settlement failed: not a transfer message");
                failed.push(m.id);
            }
        }
    }
    let outcomes = settle_messages(state, &transfers).await;
    let retried = futures::future::join_all(
        received
            .into_iter()
            .zip(&transfers)
            .zip(outcomes)
            .map(|((m, message), outcome)| async move {
                let result = match outcome {
                    Err(e) if m.receives >= last => {
                        tracing::error!(transfer = %message.transfer_id, error = ?e, receives = m.receives, "settlement failed on the last delivery");
                        give_up(state, &message.transfer_id, message.sent_at)
                            .await
                            .map(|_| ())
                    }
                    other => other.map(|_| ()),
                };
                result
                    .map_err(|e| tracing::error!(message = %m.id, error = ?e, "settlement failed"))
                    .err()
                    .map(|_| m.id)
            }),
    )
    .await;
    failed.extend(retried.into_iter().flatten());
    failed
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

/// How many queued transfers the standalone server's worker settles at once.
const WORKER_BATCH: usize = 1_000;

/// The standalone server's worker: settles what is queued in batches ([`settle_messages`]:
/// transfers to one recipient credited together), one batch at a time while the next
/// gathers; a failure is retried shortly, up to `DOMPET_TRANSFER_MAX_RECEIVES` tries in all,
/// then the transfer is given up.
pub async fn run_worker(state: AppState, mut receiver: TransferReceiver) {
    while let Some(first) = receiver.recv_message().await {
        let mut batch = vec![first];
        while batch.len() < WORKER_BATCH {
            match receiver.try_recv_message() {
                Some(message) => batch.push(message),
                None => break,
            }
        }
        for message in &mut batch {
            message.attempts += 1;
        }
        // On a task of its own, so that a panic fails the batch (each message is tried again)
        // rather than the worker.
        let settling = {
            let (state, batch) = (state.clone(), batch.clone());
            tokio::spawn(async move { settle_messages(&state, &batch).await })
        };
        let outcomes = match settling.await {
            Ok(outcomes) => outcomes,
            Err(e) => batch
                .iter()
                .map(|_| Err(anyhow::anyhow!("settling the batch failed: {e}")))
                .collect(),
        };
        for (message, outcome) in batch.into_iter().zip(outcomes) {
            if let Err(e) = outcome {
                tokio::spawn(retry(state.clone(), message, e));
            }
        }
    }
}

/// A transfer whose settlement failed on the worker: given up after its last try, else sent
/// again shortly.
async fn retry(state: AppState, message: TransferMessage, error: anyhow::Error) {
    if message.attempts >= state.config().transfer_max_receives {
        tracing::error!(transfer = %message.transfer_id, error = ?error, "settlement failed on the last try");
        if let Err(e) = give_up(&state, &message.transfer_id, message.sent_at).await {
            tracing::error!(transfer = %message.transfer_id, error = ?e, "giving up failed; the sweep sends it again");
        }
        return;
    }
    tracing::error!(transfer = %message.transfer_id, error = ?error, "settlement failed; retrying shortly");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _ = state.queue().enqueue(&message).await;
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
