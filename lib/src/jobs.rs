//! The functions that are not HTTP: the transfer worker (an SQS batch), the transfer sweep and
//! the audit (each on an EventBridge schedule). Each handler takes the state its function was
//! built with; a failure is reported to Lambda as a `Diagnostic` whose error type names the
//! job that failed.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::Diagnostic;
use serde_json::{json, Value};

use crate::service::{operators, transfers};
use crate::state::AppState;

/// A scheduled job that failed: its name is the error type Lambda records.
#[derive(Debug, thiserror::Error)]
#[error("{job} failed: {cause:#}")]
pub struct JobFailed {
    job: &'static str,
    cause: anyhow::Error,
}

impl From<JobFailed> for Diagnostic {
    fn from(e: JobFailed) -> Self {
        Diagnostic {
            error_type: e.job.to_string(),
            error_message: format!("{:#}", e.cause),
        }
    }
}

fn failed(job: &'static str) -> impl FnOnce(anyhow::Error) -> JobFailed {
    move |cause| {
        tracing::error!(job, error = ?cause, "job failed");
        JobFailed { job, cause }
    }
}

/// `transfer-worker`: settles the transfers of an SQS batch and reports the messages that
/// failed (`ReportBatchItemFailures`), so only those are delivered again; on a message's last
/// receive (`DOMPET_TRANSFER_MAX_RECEIVES`, the queue's `maxReceiveCount`) a transfer that
/// still can't be settled is given up instead.
#[tracing::instrument(skip_all, fields(messages = event.records.len()))]
pub async fn settle_transfers(state: &AppState, event: SqsEvent) -> SqsBatchResponse {
    let messages = event
        .records
        .into_iter()
        .map(|r| transfers::Received {
            receives: r
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|n| n.parse().ok())
                .unwrap_or(1),
            sent_at: r
                .attributes
                .get("SentTimestamp")
                .and_then(|t| t.parse().ok()),
            id: r.message_id.unwrap_or_default(),
            body: r.body.unwrap_or_default(),
        })
        .collect();
    let failed = transfers::settle_batch(state, messages).await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|id| {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            f
        })
        .collect();
    response
}

/// `transfer-sweep`: enqueues again the transfers left `PENDING` longer than
/// `DOMPET_SWEEP_AGE_SECS`, recovering enqueues that were lost.
#[tracing::instrument(skip_all)]
pub async fn sweep_transfers(state: &AppState) -> Result<Value, JobFailed> {
    let count = transfers::sweep(state, state.config().sweep_age)
        .await
        .map_err(failed("TransferSweepFailed"))?;
    Ok(json!({ "requeued": count }))
}

/// `audit`: keeps the verdict `GET /admin/stats` shows. On its schedule it reads the stream
/// audit's totals ([`audit_changes`]); invoked with `{"full": true}` (the operators' command)
/// it checks the money and every ledger chain by reading the whole table.
#[tracing::instrument(skip_all)]
pub async fn audit(state: &AppState, event: &Value) -> Result<Value, JobFailed> {
    let full = event.get("full").and_then(Value::as_bool).unwrap_or(false);
    let run = operators::scheduled_audit(state, full)
        .await
        .map_err(failed("AuditFailed"))?;
    match run {
        operators::AuditRun::Verdict(check) => {
            crate::metrics::audit(check.holds(), check.broken_accounts.len());
            Ok(verdict_json(&check))
        }
        operators::AuditRun::NoVerdict(reason) => {
            Ok(json!({ "verdict": "none", "reason": reason }))
        }
    }
}

fn verdict_json(check: &crate::store::MoneyCheck) -> Value {
    json!({
        "verdict": if check.holds() { "holds" } else { "broken" },
        "accounts_checked": check.accounts_checked,
        "broken_accounts": check.broken_accounts,
    })
}

/// `audit-stream`: checks and counts one batch of the table's stream (a `DynamoDB` event source
/// with a tumbling window, whose events name their shard), exactly once; the scheduled
/// [`audit`] reads the verdict from what it counted. A batch that fails is delivered again.
#[cfg(feature = "dynamodb")]
#[tracing::instrument(skip_all)]
pub async fn audit_changes(state: &AppState, event: Value) -> Result<Value, JobFailed> {
    let event: crate::store::dynamodb::stream_audit::StreamEvent = serde_json::from_value(event)
        .map_err(|e| failed("AuditStreamFailed")(anyhow::Error::new(e)))?;
    let applied = operators::audit_changes(state, &event)
        .await
        .map_err(failed("AuditStreamFailed"))?;
    tracing::info!(
        changes = applied.changes,
        applied = applied.applied,
        read = applied.items_read,
        "stream batch"
    );
    // The tumbling window's state is not used: every batch is applied as it comes.
    Ok(json!({ "state": {}, "batchItemFailures": [] }))
}
