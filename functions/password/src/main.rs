//! Lambda function `password`: wiring only; the routes live in `dompet::http`. One-time codes
//! go to the SNS topic `DOMPET_RESET_TOPIC_ARN` names.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    dompet::init_tracing();
    let state = dompet::AppState::from_env(dompet::Needs::VERIFY).await?;
    dompet::lambda::serve(dompet::http::password_router(state)).await
}

#[cfg(test)]
mod tests;
