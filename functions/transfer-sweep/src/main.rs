//! Lambda function `transfer-sweep` (scheduled): enqueues again the transfers left `PENDING`
//! too long (`dompet::jobs::sweep_transfers`).

use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    dompet::init_tracing();
    dompet::metrics::emf::install();
    let state = dompet::AppState::from_env(dompet::Needs::ENQUEUE).await?;
    let state = &state;
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<serde_json::Value>| async move {
            let outcome = dompet::jobs::sweep_transfers(state).await;
            dompet::metrics::emf::flush();
            outcome
        },
    ))
    .await
}
