//! Lambda function `pay`: wiring only; the routes live in `dompet::http`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    dompet::lambda::run(&dompet::http::PAY).await
}
