//! axum routers, one per Lambda function, merged by the standalone server.
//!
//! Every response, including what axum would answer by itself (unknown path, wrong method,
//! oversized body, extractor rejections), is in the contract's envelope. Checks run in the
//! contract's order: route (404/405) → body size (413) → authentication (401) → content type
//! (415) → body (400) → resource → business rules.

mod auth;
pub mod client;
pub mod cursor;
mod docs;
mod entities;
mod error;
mod identity;
mod input;
mod operators;
mod pictures;
pub mod request_id;
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
pub use docs::OPENAPI_YAML;
pub use error::{ApiError, FieldErrors};
pub use input::{Fields, JsonObject, JsonOrForm};
pub use web::CONTENT_SECURITY_POLICY_VALUE;

use crate::state::AppState;

/// Bodies larger than this are refused with 413.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Every HTTP function and the paths it serves: the one list the routers below, the
/// template's `HttpApi` events and the watch router in `Cargo.toml` must agree with (a test
/// compares them). Path parameters are written `{name}`; `web` also gets every path no other
/// function serves (`$default` on API Gateway, `/{*rest}` under `cargo lambda watch`).
pub const FUNCTION_ROUTES: &[(&str, &[&str])] = &[
    ("register", &["/register"]),
    (
        "login",
        &[
            "/login",
            "/token",
            "/token/refresh",
            "/logout",
            "/logout/all",
            "/sessions",
            "/sessions/{session_id}",
        ],
    ),
    (
        "account",
        &[
            "/account",
            "/account/username",
            "/account/email",
            "/account/phone_number",
            "/account/secret",
            "/account/picture",
            "/users/lookup",
            "/users/{user_id}/picture",
        ],
    ),
    (
        "web",
        &[
            "/",
            "/dashboard",
            "/assets/{file}",
            "/.well-known/jwks.json",
            "/openapi.yaml",
        ],
    ),
    ("password", &["/password/forgot", "/password/reset"]),
    ("topup", &["/topup"]),
    ("pay", &["/pay"]),
    ("transfer", &["/transfer", "/transfer/{transfer_id}"]),
    ("transactions", &["/transactions"]),
    ("profile", &["/profile"]),
    ("entities", &["/entities", "/entities/{entity_id}"]),
    ("admin", &["/admin/stats", "/admin/transfers"]),
];

/// The router of the HTTP function `name`.
pub fn function_router(name: &str, state: AppState) -> Option<Router> {
    Some(match name {
        "register" => register_router(state),
        "login" => login_router(state),
        "account" => account_router(state),
        "web" => web_router(state),
        "password" => password_router(state),
        "topup" => topup_router(state),
        "pay" => pay_router(state),
        "transfer" => transfer_router(state),
        "transactions" => transactions_router(state),
        "profile" => profile_router(state),
        "entities" => entities_router(state),
        "admin" => admin_router(state),
        _ => return None,
    })
}

/// `POST /register` (function `register`).
pub fn register_router(state: AppState) -> Router {
    finish(identity::register_routes(), state)
}

/// `POST /login`, `/token`, `/token/refresh`, `/logout`, `/logout/all`, `GET /sessions`,
/// `DELETE /sessions/{id}` (function `login`).
pub fn login_router(state: AppState) -> Router {
    finish(identity::login_routes(), state)
}

/// `GET|DELETE /account`, `PUT /account/{username,email,phone_number,secret}`,
/// `PUT|DELETE /account/picture`, `GET /users/lookup`, `GET /users/{user_id}/picture`
/// (function `account`).
pub fn account_router(state: AppState) -> Router {
    finish(
        identity::account_routes().merge(pictures::picture_routes()),
        state,
    )
}

/// The web app (`GET /`), the dashboard (`GET /dashboard`) and their files (`/assets/…`),
/// `GET /.well-known/jwks.json`, `GET /openapi.yaml`, and every path no other function serves
/// (function `web`).
pub fn web_router(state: AppState) -> Router {
    let routes = web::web_routes()
        .merge(identity::jwks_routes())
        .merge(docs::openapi_routes());
    finish(routes, state)
}

/// `POST /password/forgot`, `/password/reset` (function `password`: the one that delivers
/// codes, so only it links the SNS client).
pub fn password_router(state: AppState) -> Router {
    finish(identity::password_routes(), state)
}

/// `POST /topup` (function `topup`).
pub fn topup_router(state: AppState) -> Router {
    finish(wallet::topup_routes(), state)
}

/// `POST /pay` (function `pay`).
pub fn pay_router(state: AppState) -> Router {
    finish(wallet::pay_routes(), state)
}

/// `POST /transfer`, `GET /transfer/{id}` (function `transfer`).
pub fn transfer_router(state: AppState) -> Router {
    finish(wallet::transfer_routes(), state)
}

/// `GET /transactions` (function `transactions`).
pub fn transactions_router(state: AppState) -> Router {
    finish(wallet::transactions_routes(), state)
}

/// `PUT /profile` (function `profile`).
pub fn profile_router(state: AppState) -> Router {
    finish(wallet::profile_routes(), state)
}

/// `POST|GET /entities`, `GET|PUT|DELETE /entities/{id}` (function `entities`).
pub fn entities_router(state: AppState) -> Router {
    finish(entities::entities_routes(), state)
}

/// `GET /admin/stats`, `GET /admin/transfers` (function `admin`).
pub fn admin_router(state: AppState) -> Router {
    finish(operators::admin_routes(), state)
}

/// Every route, for the standalone server.
pub fn app(state: AppState) -> Router {
    let routes = identity::register_routes()
        .merge(identity::login_routes())
        .merge(identity::account_routes())
        .merge(pictures::picture_routes())
        .merge(identity::password_routes())
        .merge(identity::jwks_routes())
        .merge(docs::openapi_routes())
        .merge(wallet::topup_routes())
        .merge(wallet::pay_routes())
        .merge(wallet::transfer_routes())
        .merge(wallet::transactions_routes())
        .merge(wallet::profile_routes())
        .merge(entities::entities_routes())
        .merge(operators::admin_routes())
        .merge(web::web_routes());
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
