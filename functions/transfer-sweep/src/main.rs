//! Lambda function `transfer-sweep` (scheduled): enqueues again the transfers left `PENDING`
//! longer than `DOMPET_SWEEP_AGE_SECS`, recovering enqueues that were lost.

use lambda_runtime::{service_fn, Error, LambdaEvent};

async fn handle(state: &dompet::AppState) -> Result<serde_json::Value, Error> {
    let age = state.config().sweep_age;
    let count = dompet::service::transfers::sweep(state, age).await?;
    Ok(serde_json::json!({ "requeued": count }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    dompet::init_tracing();
    let state = dompet::AppState::from_env(dompet::Needs::ENQUEUE).await?;
    let state = &state;
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<serde_json::Value>| async move { handle(state).await },
    ))
    .await
}

#[cfg(test)]
mod tests;
