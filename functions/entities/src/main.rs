//! Lambda function `entities`: wiring only; the routes live in `dompet::http`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    dompet::init_tracing();
    let state = dompet::AppState::from_env(dompet::Needs::VERIFY).await?;
    dompet::lambda::serve(dompet::http::entities_router(state)).await
}

#[cfg(test)]
mod tests;
