//! Helpers for tests of hosts built on this library: a fresh state on a temporary SQLite
//! database with a new key pair, and calling a router in-process.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use tower::ServiceExt;

use crate::auth::{KeyPair, TokenPair};
use crate::config::Config;
use crate::domain::{Password, Secret, Username};
use crate::service::accounts::{self, Registration};
use crate::service::sessions;
use crate::state::{AppState, Keys};
use crate::store::{SqliteStore, UserRecord};

/// A state on a fresh temporary SQLite database, with a new signing key and `config`.
pub fn ephemeral_state(config: &Config) -> anyhow::Result<AppState> {
    let store = Arc::new(SqliteStore::temporary()?);
    AppState::new(store, Keys::Signing(KeyPair::generate()), config)
}

/// [`ephemeral_state`] with the default configuration.
pub fn ephemeral() -> anyhow::Result<AppState> {
    ephemeral_state(&Config::from_lookup(|_| None)?)
}

/// Registers `username` with `password` directly through the use case.
pub async fn registered(state: &AppState, username: &str, password: &str) -> anyhow::Result<UserRecord> {
    let reg = Registration {
        username: Some(Username::parse(username).map_err(anyhow::Error::msg)?),
        email: None,
        phone_number: None,
        secret: Secret::Password(Password::parse(password).map_err(anyhow::Error::msg)?),
        first_name: None,
        last_name: None,
        address: None,
    };
    Ok(accounts::register(state, reg).await?)
}

/// Starts a login family for `user` and returns its tokens.
pub async fn signed_in(state: &AppState, user: &UserRecord) -> anyhow::Result<TokenPair> {
    sessions::start(state, user.user_id).await
}

/// Sends `request` to `router` and returns the status and the JSON body (`Null` when empty).
pub async fn call<B>(router: Router, request: Request<B>) -> anyhow::Result<(StatusCode, serde_json::Value)>
where
    B: Into<Body>,
{
    let (parts, body) = request.into_parts();
    let response = router
        .oneshot(Request::from_parts(parts, body.into()))
        .await
        .map_err(|e| anyhow::anyhow!("router failed: {e}"))?;
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await?;
    let json = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes)?
    };
    Ok((status, json))
}

/// A request as a Lambda event becomes one, with its body as bytes.
pub type LambdaRequest = Request<Vec<u8>>;
