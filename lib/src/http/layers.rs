//! What wraps every route: the body limit (413 before anything else runs), the 404/405
//! fallbacks in the envelope, requests that change data run to their end, `no-store` unless a
//! route says otherwise, CORS for the configured origins, and the request id.

use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::CONTENT_LENGTH;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::Router;

use super::error::ApiError;
use super::request_id;
use crate::state::AppState;

/// Bodies larger than this are refused with 413.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Wraps a route's handlers in the body limit; the 405 fallback stays outside it.
pub(crate) fn limited(route: MethodRouter<AppState>) -> MethodRouter<AppState> {
    limited_to(route, BODY_LIMIT)
}

/// [`limited`] with a limit of `max` bytes (a picture's route).
pub(crate) fn limited_to(route: MethodRouter<AppState>, max: usize) -> MethodRouter<AppState> {
    route.route_layer(middleware::from_fn(move |req, next| {
        limit_body(req, next, max)
    }))
}

pub(super) fn finish(routes: Router<AppState>, state: AppState) -> Router {
    let cors = cors_layer(&state.config().cors_origins);
    routes
        .fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(middleware::from_fn(run_to_completion))
        .layer(middleware::map_response(no_store_by_default))
        .layer(tower::util::option_layer(cors))
        .layer(middleware::from_fn(request_id::middleware))
        .with_state(state)
}

/// Every API response carries personal data, money or tokens (RFC 6749 §5.1: token responses
/// must not be stored), so none may be cached unless its route says otherwise: the JWKS, the
/// OpenAPI document, the web app's files and pictures set their own `Cache-Control`.
async fn no_store_by_default(mut response: Response) -> Response {
    use axum::http::header::CACHE_CONTROL;
    use axum::http::HeaderValue;
    response
        .headers_mut()
        .entry(CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// A request that may change data runs to its end on a task of its own. A client that closes
/// its connection mid-request drops the request's future; run inline, a transfer could be
/// committed and never handed to the worker (the sweep would settle it a minute later), and no
/// write should stop halfway because a client went away.
async fn run_to_completion(req: Request, next: Next) -> Response {
    if req.method().is_safe() {
        return next.run(req).await;
    }
    // The task stays part of the request: its log lines, spans and error bodies name it.
    match tokio::spawn(request_id::carried(next.run(req))).await {
        Ok(response) => response,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Only a runtime shutting down cancels the task.
        Err(e) => {
            ApiError::internal(&anyhow::anyhow!("request task cancelled: {e}")).into_response()
        }
    }
}

/// CORS for the configured exact origins (`DOMPET_CORS_ORIGINS`); none configured: no CORS
/// headers at all, and a browser on another origin is refused by its own same-origin policy.
fn cors_layer(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::{header, HeaderName, HeaderValue, Method};
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        tower_http::cors::CorsLayer::new()
            .allow_origin(origins)
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::IF_MATCH,
                HeaderName::from_static("idempotency-key"),
            ])
            .expose_headers([
                header::ETAG,
                header::RETRY_AFTER,
                HeaderName::from_static("x-request-id"),
            ])
            .max_age(Duration::from_secs(600)),
    )
}

/// Buffers the body up to `max` bytes; anything larger is 413 before anything else runs.
async fn limit_body(req: Request, next: Next, max: usize) -> Response {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return ApiError::payload_too_large(max).into_response();
    }
    let (parts, body) = req.into_parts();
    match axum::body::to_bytes(body, max).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(e) if is_length_limit(&e) => ApiError::payload_too_large(max).into_response(),
        Err(_) => ApiError::bad_request("The request body could not be read").into_response(),
    }
}

fn is_length_limit(err: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::routing::post;
    use tower::ServiceExt;
    use tracing_subscriber::layer::{Context, SubscriberExt};
    use tracing_subscriber::registry::LookupSpan;
    use tracing_subscriber::Layer;

    use super::*;

    /// An event's target and the names of the spans it is inside, outermost first.
    type Scope = (String, Vec<String>);

    /// Records every event's [`Scope`].
    struct Scopes(Arc<Mutex<Vec<Scope>>>);

    impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Scopes {
        fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
            let names = ctx
                .event_scope(event)
                .map(|scope| scope.from_root().map(|s| s.name().to_string()).collect())
                .unwrap_or_default();
            let target = event.metadata().target().to_string();
            self.0.lock().unwrap().push((target, names));
        }
    }

    #[tokio::test]
    async fn a_request_that_changes_data_runs_on_its_own_task_as_part_of_its_request() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry().with(Scopes(seen.clone()));
        let _default = tracing::subscriber::set_default(subscriber);
        let app = Router::new()
            .route(
                "/change",
                post(|| async {
                    tracing::info!(target: "handler", "changing");
                    request_id::current().unwrap_or_default()
                }),
            )
            .layer(middleware::from_fn(run_to_completion))
            .layer(middleware::from_fn(request_id::middleware));
        let request = Request::post("/change").body(Body::empty()).unwrap();
        let response = app.oneshot(request).await.unwrap();
        let header = response.headers()[request_id::HEADER].clone();
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        assert_eq!(body, header.as_bytes(), "the handler sees the request's id");
        let seen = seen.lock().unwrap();
        let (_, scope) = seen
            .iter()
            .find(|(target, _)| target == "handler")
            .expect("the handler logged");
        assert_eq!(scope, &["request"], "inside the request's span");
    }
}
