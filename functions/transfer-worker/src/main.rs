//! Lambda function `transfer-worker`: settles the transfers of an SQS batch
//! (`dompet::jobs::settle_transfers`).

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    dompet::init_tracing();
    dompet::metrics::emf::install();
    let state = dompet::AppState::from_env(dompet::Needs::VERIFY).await?;
    let state = &state;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let response = dompet::jobs::settle_transfers(state, event.payload).await;
        dompet::metrics::emf::flush();
        Ok::<_, Error>(response)
    }))
    .await
}
