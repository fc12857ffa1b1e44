//! Function `login`: `POST /login`, `/login/mfa`, `/token`, `/token/refresh`, `/logout`, `/logout/all`,
//! `GET /sessions`, `DELETE /sessions/{session_id}`.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::header::USER_AGENT;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;

use super::auth::{Authenticated, Verified};
use super::client::Client;
use super::credentials::{parse_one_identifier, parse_presented_secret, parse_second_factor};
use super::error::ApiError;
use super::input::{Fields, JsonObject, JsonOrForm};
use super::layers::limited;
use super::response::Success;
use super::views::SessionView;
use crate::service::accounts::{self, Credentials};
use crate::service::{mfa, sessions};
use crate::state::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", limited(post(login)))
        .route("/login/mfa", limited(post(login_mfa)))
        .route("/token", limited(post(login)))
        .route("/token/refresh", limited(post(refresh)))
        .route("/logout", limited(post(logout)))
        .route("/logout/all", limited(post(logout_all)))
        .route("/sessions", limited(get(list_sessions)))
        .route("/sessions/{session_id}", limited(delete(end_session)))
}

/// Exactly one identifier and exactly one secret, each a non-empty string.
fn parse_credentials(
    body: serde_json::Map<String, serde_json::Value>,
    user_agent: Option<&str>,
) -> Result<Credentials, ApiError> {
    let mut f = Fields::new(body);
    let identifier = parse_one_identifier(&mut f);
    let secret = parse_presented_secret(&mut f, ["password", "pin"]);
    f.finish()?;
    match (identifier, secret) {
        (Some(identifier), Some((secret_kind, secret))) => Ok(Credentials {
            identifier,
            secret_kind,
            secret,
            user_agent: sessions::user_agent(user_agent),
        }),
        _ => Err(ApiError::bad_request(
            "exactly one identifier and one secret are required",
        )),
    }
}

async fn login(
    State(state): State<AppState>,
    Client(from): Client,
    headers: HeaderMap,
    JsonOrForm(body): JsonOrForm,
) -> Result<Response, ApiError> {
    let agent = headers.get(USER_AGENT).and_then(|v| v.to_str().ok());
    let credentials = parse_credentials(body, agent)?;
    let pair = accounts::login(&state, credentials, &from).await?;
    Ok(Success::ok(pair).into_response())
}

/// `POST /login/mfa` `{"mfa_token": …, "otp"|"recovery_code": …}`: the second step of a login
/// whose secret was right; tokens as `POST /login` answers them.
async fn login_mfa(
    State(state): State<AppState>,
    Client(from): Client,
    headers: HeaderMap,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let mut f = Fields::new(body);
    let token = f.required("mfa_token", |s| match s.len() {
        0 => Err("must not be empty".to_string()),
        n if n > 4096 => Err("is not an mfa_token".to_string()),
        _ => Ok(s.to_string()),
    });
    let given = f.given("otp") || f.given("recovery_code");
    let presented = parse_second_factor(&mut f);
    if !given {
        f.error("_", "exactly one of otp, recovery_code is required");
    }
    f.finish()?;
    let (Some(token), Some(presented)) = (token, presented) else {
        return Err(ApiError::bad_request(
            "mfa_token and one of otp, recovery_code are required",
        ));
    };
    let agent = headers.get(USER_AGENT).and_then(|v| v.to_str().ok());
    let pair = mfa::login(
        &state,
        &token,
        &presented,
        sessions::user_agent(agent),
        &from,
    )
    .await?;
    Ok(Success::ok(pair).into_response())
}

async fn refresh(
    State(state): State<AppState>,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let mut f = Fields::new(body);
    let token = f.parse("refresh_token", |s| {
        if s.is_empty() {
            Err("must not be empty".to_string())
        } else {
            Ok(s.to_string())
        }
    });
    if !f.given("refresh_token") {
        f.error("refresh_token", "is required");
    }
    f.finish()?;
    let token = token.ok_or_else(|| ApiError::bad_request("refresh_token is required"))?;
    let pair = sessions::refresh(&state, &token).await?;
    Ok(Success::ok(pair).into_response())
}

async fn logout(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
) -> Result<Response, ApiError> {
    sessions::logout(&state, &who).await?;
    Ok(Success::empty().into_response())
}

/// `GET /sessions`: the caller's active logins, newest first.
async fn list_sessions(
    State(state): State<AppState>,
    Verified(caller): Verified,
) -> Result<Response, ApiError> {
    let (principal, list) = sessions::list(&state, &caller).await?;
    let result: Vec<SessionView> = list
        .iter()
        .map(|s| SessionView::new(s, &principal.session_id))
        .collect();
    Ok(Success::ok(result).into_response())
}

/// `DELETE /sessions/{session_id}`: ends one of the caller's logins; 404 for any other id.
async fn end_session(
    State(state): State<AppState>,
    Verified(caller): Verified,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = id.ok().map(|Path(id)| id);
    if sessions::end(&state, &caller, id.as_deref()).await? {
        Ok(Success::empty().into_response())
    } else {
        Err(ApiError::not_found())
    }
}

/// `POST /logout/all`: ends every login of the caller, this one included.
async fn logout_all(
    State(state): State<AppState>,
    Verified(caller): Verified,
) -> Result<Response, ApiError> {
    sessions::logout_all(&state, &caller).await?;
    Ok(Success::empty().into_response())
}
