//! The cold-start baseline: the smallest `lambda_http` function (one fixed JSON answer), built
//! with the same profile as dompet's functions.

use lambda_http::{service_fn, Body, Error, Request, Response};

async fn hello(_: Request) -> Result<Response<Body>, Error> {
    Ok(Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(Body::from(r#"{"status":"SUCCESS","message":"hello"}"#))?)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::run(service_fn(hello)).await
}
