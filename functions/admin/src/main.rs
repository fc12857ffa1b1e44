//! Lambda function `admin`: wiring only; the routes live in `dompet::http`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    dompet::init_tracing();
    // The queue is read (its depth), never written.
    let state = dompet::AppState::from_env(dompet::Needs::ENQUEUE).await?;
    dompet::lambda::serve(dompet::http::admin_router(state)).await
}

#[cfg(test)]
mod tests;
