//! Lambda function `audit` (scheduled): checks the money and every ledger chain and keeps the
//! verdict `GET /admin/stats` shows (`dompet::jobs::audit`).

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
        move |_: LambdaEvent<serde_json::Value>| async move {
            let outcome = dompet::jobs::audit(state).await;
            // A run that failed gives no verdict: the last one's gauges are not written again.
            if outcome.is_ok() {
                dompet::metrics::emf::flush();
            }
            outcome
        },
    ))
    .await
}
