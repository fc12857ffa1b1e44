//! Lambda function `password`: wiring only; the routes live in `dompet::http`. One-time codes
//! go to the account's own email through SES (from `DOMPET_EMAIL_FROM`) or its own phone by
//! SMS through SNS (to the countries `DOMPET_SMS_COUNTRIES` lists).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    dompet::init_tracing();
    let state = dompet::AppState::from_env(dompet::Needs::VERIFY).await?;
    dompet::lambda::serve(dompet::http::password_router(state)).await
}

#[cfg(test)]
mod tests;
