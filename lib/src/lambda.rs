//! Serving a router as a Lambda function behind API Gateway's HTTP API: API Gateway's request
//! id becomes the request's id (its `x-request-id`, its log lines, its error bodies), and its
//! source address the request's client address.

use axum::extract::Request;
use axum::Router;
use lambda_http::request::RequestContext;

use crate::http::client::SourceIp;
use crate::http::request_id::RequestId;

/// Runs the HTTP function `function`: its state from the environment (a missing variable fails
/// the cold start, naming it), then its router as this Lambda function's handler.
pub async fn run(function: &crate::http::Function) -> Result<(), lambda_http::Error> {
    crate::init_tracing();
    let state = crate::AppState::from_env(function.needs).await?;
    serve(function.router(state)).await
}

/// Runs `router` as this Lambda function's handler; the metrics a request recorded are
/// written (Embedded Metric Format) once its response is ready.
pub async fn serve(router: Router) -> Result<(), lambda_http::Error> {
    crate::metrics::emf::install();
    let router = with_gateway_request_id(router).layer(axum::middleware::map_response(
        |response: axum::response::Response| async {
            crate::metrics::emf::flush();
            response
        },
    ));
    lambda_http::run(router).await
}

/// `router`, taking each request's id from API Gateway's request context.
pub fn with_gateway_request_id(router: Router) -> Router {
    router.layer(axum::middleware::map_request(gateway_request_id))
}

async fn gateway_request_id(mut req: Request) -> Request {
    let (id, source) = match req.extensions().get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV2(ctx)) => {
            (ctx.request_id.clone(), ctx.http.source_ip.clone())
        }
        _ => (None, None),
    };
    if let Some(id) = id {
        req.extensions_mut().insert(RequestId(id));
    }
    if let Some(ip) = source.and_then(|s| s.trim().parse().ok()) {
        req.extensions_mut().insert(SourceIp(ip));
    }
    req
}
