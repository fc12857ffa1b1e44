//! Lambda function `audit`, deployed twice: on the table's stream (`AuditStreamFunction`) it
//! checks and counts each batch of changes (`dompet::jobs::audit_changes`); on its schedule
//! (`AuditFunction`) it keeps the verdict `GET /admin/stats` shows, and invoked with
//! `{"full": true}` it checks the whole table (`dompet::jobs::audit`).

// The audit's future (a segmented Scan and the checks over it) is deeper than the compiler's
// default limit for computing its layout when this package is built on its own.
#![recursion_limit = "256"]

use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    dompet::init_tracing();
    dompet::metrics::emf::install();
    let state = dompet::AppState::from_env(dompet::Needs::VERIFY).await?;
    let state = &state;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            // A batch of the stream (a tumbling window's last call for a window may carry no
            // records, but names its shard).
            if event.payload.get("Records").is_some() || event.payload.get("shardId").is_some() {
                return dompet::jobs::audit_changes(state, event.payload).await;
            }
            let outcome = dompet::jobs::audit(state, &event.payload).await;
            // A run that failed gives no verdict: the last one's gauges are not written again.
            if outcome.is_ok() {
                dompet::metrics::emf::flush();
            }
            outcome
        },
    ))
    .await
}
