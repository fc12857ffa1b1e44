//! Lambda function `password`: wiring only; the routes live in `dompet::http`. One-time codes

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    dompet::lambda::run(&dompet::http::PASSWORD).await
}
