//! Request ids: every response carries `x-request-id`, every log line of a request names it,
//! and error bodies include it as `request_id`. On Lambda the id is API Gateway's (the host
//! puts a [`RequestId`] in the request's extensions); otherwise a new UUID.

use std::time::Instant;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The id a host assigned to a request before it reached the router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

tokio::task_local! {
    static CURRENT: String;
}

/// Runs `task` (a request's, on a task of its own) as part of the request this task handles:
/// inside its span, with its id.
pub(super) fn carried<F: std::future::Future>(
    task: F,
) -> impl std::future::Future<Output = F::Output> {
    let id = current();
    let task = task.in_current_span();
    async move {
        match id {
            Some(id) => CURRENT.scope(id, task).await,
            None => task.await,
        }
    }
}

/// The id of the request being handled on this task, if any.
pub fn current() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok()
}

/// Assigns the id, logs the request under it, and returns it in `x-request-id`.
pub(super) async fn middleware(req: Request, next: Next) -> Response {
    let id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .filter(|id| HeaderValue::from_str(id).is_ok())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.uri().path()
    );
    let started = Instant::now();
    let mut response = CURRENT
        .scope(id.clone(), next.run(req))
        .instrument(span.clone())
        .await;
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            latency_ms = started.elapsed().as_millis() as u64,
            "served"
        )
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}
