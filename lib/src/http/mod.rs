//! axum routers, one per Lambda function, merged by the standalone server.
//!
//! Every response, including what axum would answer by itself (unknown path, wrong method,
//! oversized body, extractor rejections), is in the contract's envelope. Checks run in the
//! contract's order: route (404/405) → body size (413) → authentication (401) → content type
//! (415) → body (400) → resource → business rules.

mod account;
mod auth;
pub mod client;
mod credentials;
mod documents;
mod entities;
mod error;
mod input;
mod login;
mod operators;
mod paging;
mod password;
mod pictures;
mod register;
pub mod request_id;
mod response;
mod views;
mod wallet;
mod web;

use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::CONTENT_LENGTH;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::Router;

pub use auth::{Authenticated, Verified};
pub use documents::OPENAPI_YAML;
pub use error::{ApiError, ErrorCode, FieldErrors};
pub use input::{Fields, JsonObject, JsonOrForm};
pub use web::CONTENT_SECURITY_POLICY_VALUE;

use crate::state::{AppState, Needs};

/// Bodies larger than this are refused with 413.
pub const BODY_LIMIT: usize = 64 * 1024;

/// One HTTP Lambda function: its name (its binary, and its resource in `template.yaml` in
/// PascalCase), the paths it serves, what it needs at init, and its routes. [`FUNCTIONS`] is
/// the one list of them: the standalone server merges their routes, and a test checks the
/// template's `HttpApi` events and the watch router in `Cargo.toml` against their paths.
/// Path parameters are written `{name}`; `web` also gets every path no other function serves
/// (`$default` on API Gateway, `/{*rest}` under `cargo lambda watch`).
///
/// A function's binary names only its own constant, so it links only its own routes.
pub struct Function {
    pub name: &'static str,
    pub paths: &'static [&'static str],
    pub needs: Needs,
    routes: fn() -> Router<AppState>,
}

impl Function {
    /// This function's routes with every layer, ready to serve.
    pub fn router(&self, state: AppState) -> Router {
        finish((self.routes)(), state)
    }
}

pub const REGISTER: Function = Function {
    name: "register",
    paths: &["/register"],
    needs: Needs::VERIFY,
    routes: register::routes,
};

pub const LOGIN: Function = Function {
    name: "login",
    paths: &[
        "/login",
        "/token",
        "/token/refresh",
        "/logout",
        "/logout/all",
        "/sessions",
        "/sessions/{session_id}",
    ],
    needs: Needs::ISSUE,
    routes: login::routes,
};

pub const ACCOUNT: Function = Function {
    name: "account",
    paths: &[
        "/account",
        "/account/username",
        "/account/email",
        "/account/phone_number",
        "/account/secret",
        "/account/picture",
        "/users/lookup",
        "/users/{user_id}/picture",
    ],
    needs: Needs::VERIFY,
    routes: || account::routes().merge(pictures::routes()),
};

pub const WEB: Function = Function {
    name: "web",
    paths: &[
        "/",
        "/dashboard",
        "/assets/{file}",
        "/.well-known/jwks.json",
        "/openapi.yaml",
    ],
    needs: Needs::VERIFY,
    routes: || web::routes().merge(documents::routes()),
};

/// The one function that delivers codes.
pub const PASSWORD: Function = Function {
    name: "password",
    paths: &["/password/forgot", "/password/reset"],
    needs: Needs::VERIFY,
    routes: password::routes,
};

pub const TOPUP: Function = Function {
    name: "topup",
    paths: &["/topup"],
    needs: Needs::VERIFY,
    routes: wallet::topup_routes,
};

pub const PAY: Function = Function {
    name: "pay",
    paths: &["/pay"],
    needs: Needs::VERIFY,
    routes: wallet::pay_routes,
};

pub const TRANSFER: Function = Function {
    name: "transfer",
    paths: &["/transfer", "/transfer/{transfer_id}"],
    needs: Needs::ENQUEUE,
    routes: wallet::transfer_routes,
};

pub const TRANSACTIONS: Function = Function {
    name: "transactions",
    paths: &["/transactions"],
    needs: Needs::VERIFY,
    routes: wallet::transactions_routes,
};

pub const PROFILE: Function = Function {
    name: "profile",
    paths: &["/profile"],
    needs: Needs::VERIFY,
    routes: wallet::profile_routes,
};

pub const ENTITIES: Function = Function {
    name: "entities",
    paths: &["/entities", "/entities/{entity_id}"],
    needs: Needs::VERIFY,
    routes: entities::routes,
};

/// Reports the queue's depth, so it reads the queue.
pub const ADMIN: Function = Function {
    name: "admin",
    paths: &["/admin/stats", "/admin/transfers"],
    needs: Needs::ENQUEUE,
    routes: operators::routes,
};

/// Every HTTP function.
pub const FUNCTIONS: &[Function] = &[
    REGISTER,
    LOGIN,
    ACCOUNT,
    WEB,
    PASSWORD,
    TOPUP,
    PAY,
    TRANSFER,
    TRANSACTIONS,
    PROFILE,
    ENTITIES,
    ADMIN,
];

/// The HTTP function `name`.
pub fn function(name: &str) -> Option<&'static Function> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

/// Every route, for the standalone server.
pub fn app(state: AppState) -> Router {
    let routes = FUNCTIONS
        .iter()
        .fold(Router::new(), |routes, f| routes.merge((f.routes)()));
    finish(routes, state)
}

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

fn finish(routes: Router<AppState>, state: AppState) -> Router {
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
    match tokio::spawn(next.run(req)).await {
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
