//! Lambda function `transfer`: wiring only; the routes live in `dompet::http`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    dompet::init_tracing();
    let state = dompet::AppState::from_env(dompet::Needs::ENQUEUE).await?;
    lambda_http::run(dompet::http::transfer_router(state)).await
}

#[cfg(test)]
mod tests;
