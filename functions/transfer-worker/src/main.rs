//! Lambda function `transfer-worker`: settles the transfers of an SQS batch, reporting the
//! messages that failed (`ReportBatchItemFailures`) so only those are delivered again; on a
//! message's last receive (`DOMPET_TRANSFER_MAX_RECEIVES`, the queue's `maxReceiveCount`) a
//! transfer that still can't be settled is given up (refunded) instead.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, Error, LambdaEvent};

async fn handle(state: &dompet::AppState, event: SqsEvent) -> SqsBatchResponse {
    let messages = event
        .records
        .into_iter()
        .map(|r| dompet::service::transfers::Received {
            receives: r
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|n| n.parse().ok())
                .unwrap_or(1),
            id: r.message_id.unwrap_or_default(),
            body: r.body.unwrap_or_default(),
        })
        .collect();
    let failed = dompet::service::transfers::settle_batch(state, messages).await;
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

#[tokio::main]
async fn main() -> Result<(), Error> {
    dompet::init_tracing();
    let state = dompet::AppState::from_env(dompet::Needs::VERIFY).await?;
    let state = &state;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(handle(state, event.payload).await)
    }))
    .await
}

#[cfg(test)]
mod tests;
