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
mod layers;
mod login;
mod mfa;
mod operators;
mod paging;
mod password;
mod pictures;
pub mod probe;
mod register;
pub mod request_id;
mod response;
mod views;
mod wallet;
mod web;

use axum::Router;

pub use auth::{Authenticated, Verified};
pub use documents::OPENAPI_YAML;
pub use error::{ApiError, ErrorCode, FieldErrors};
pub use input::{Fields, JsonObject, JsonOrForm};
pub use layers::BODY_LIMIT;
pub use web::CONTENT_SECURITY_POLICY_VALUE;

use crate::state::{AppState, Needs};
use layers::finish;

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
        "/login/mfa",
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
        "/mfa/totp",
        "/mfa/totp/confirm",
    ],
    needs: Needs::VERIFY,
    routes: || {
        account::routes()
            .merge(pictures::routes())
            .merge(mfa::routes())
    },
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
