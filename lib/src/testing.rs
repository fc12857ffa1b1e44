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
use crate::queue::{InProcessQueue, TransferReceiver};
use crate::service::accounts::{self, Registration};
use crate::service::{sessions, transfers, wallet};
use crate::state::{AppState, Keys};
use crate::store::{SqliteStore, Store, UserRecord};

/// A state on a fresh temporary SQLite database, with a new signing key and `config`; inside
/// a Tokio runtime the transfer worker and sweep run in the background, as in the server.
pub fn ephemeral_state(config: &Config) -> anyhow::Result<AppState> {
    let (state, receiver) = ephemeral_without_worker(config)?;
    if tokio::runtime::Handle::try_current().is_ok() {
        transfers::spawn_background(state.clone(), receiver);
    }
    Ok(state)
}

/// A fresh state whose transfer queue nobody reads: the receiver is the test's.
pub fn ephemeral_without_worker(config: &Config) -> anyhow::Result<(AppState, TransferReceiver)> {
    state_on(Arc::new(SqliteStore::temporary()?), config)
}

/// A state on `store` with a new signing key, an in-process transfer queue whose receiver is
/// returned, and `config`.
pub fn state_on(
    store: Arc<dyn Store>,
    config: &Config,
) -> anyhow::Result<(AppState, TransferReceiver)> {
    let (queue, receiver) = InProcessQueue::new();
    let state = AppState::new(
        store,
        Arc::new(queue),
        Keys::Signing(KeyPair::generate()),
        config,
    )?;
    Ok((state, receiver))
}

/// Tops up `user` through the use case.
pub async fn topped_up(state: &AppState, user: &UserRecord, amount: i64) -> anyhow::Result<()> {
    let amount = crate::domain::Amount::new(amount).ok_or_else(|| anyhow::anyhow!("bad amount"))?;
    wallet::top_up(state, &caller_for(state, user).await?, amount, None)
        .await
        .map_err(|e| anyhow::anyhow!("top up failed: {e}"))?;
    Ok(())
}

/// [`ephemeral_state`] with the default configuration, except that the files the state
/// writes (outbox messages, pictures) go to a new temporary folder of its own, not to
/// `.dompet/` under the current directory, which every test in the process would share; and
/// second-factor secrets are sealed with a key of its own.
pub fn ephemeral() -> anyhow::Result<AppState> {
    let files = std::env::temp_dir().join(format!("dompet-test-{}", uuid::Uuid::new_v4()));
    let dir = |name: &str| files.join(name).to_string_lossy().into_owned();
    let (outbox, pictures) = (dir("outbox"), dir("pictures"));
    let mfa_key = uuid::Uuid::new_v4().to_string();
    ephemeral_state(&Config::from_lookup(|k| match k {
        "DOMPET_OUTBOX_DIR" => Some(outbox.clone()),
        "DOMPET_PICTURES_DIR" => Some(pictures.clone()),
        "DOMPET_MFA_KEY" => Some(mfa_key.clone()),
        _ => None,
    })?)
}

/// Registers `username` with `password` directly through the use case.
pub async fn registered(
    state: &AppState,
    username: &str,
    password: &str,
) -> anyhow::Result<UserRecord> {
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

/// Registers `username` and logs in; returns the account and an access token.
pub async fn user_with_token(
    state: &AppState,
    username: &str,
) -> anyhow::Result<(UserRecord, String)> {
    let user = registered(state, username, "rahasia-sekali").await?;
    let token = signed_in(state, &user).await?.access_token;
    Ok((user, token))
}

/// A new login of `user`, as a request carrying its access token.
pub async fn caller_for(state: &AppState, user: &UserRecord) -> anyhow::Result<sessions::Caller> {
    let pair = signed_in(state, user).await?;
    Ok(sessions::Caller::from_token(state, &pair.access_token)?)
}

/// Starts a login family for `user` and returns its tokens.
pub async fn signed_in(state: &AppState, user: &UserRecord) -> anyhow::Result<TokenPair> {
    sessions::start(state, user).await
}

/// Sends `request` to `router` and returns the status and the JSON body (`Null` when empty).
pub async fn call<B>(
    router: Router,
    request: Request<B>,
) -> anyhow::Result<(StatusCode, serde_json::Value)>
where
    B: Into<Body>,
{
    let (status, _, bytes) = call_raw(router, request).await?;
    let json = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes)?
    };
    Ok((status, json))
}

/// Sends `request` to `router` and returns the status, the headers and the body as it is.
pub async fn call_raw<B>(
    router: Router,
    request: Request<B>,
) -> anyhow::Result<(StatusCode, axum::http::HeaderMap, Vec<u8>)>
where
    B: Into<Body>,
{
    let (parts, body) = request.into_parts();
    let response = router
        .oneshot(Request::from_parts(parts, body.into()))
        .await
        .map_err(|e| anyhow::anyhow!("router failed: {e}"))?;
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await?;
    Ok((parts.status, parts.headers, bytes.to_vec()))
}

/// A request as a Lambda event becomes one, with its body as bytes.
pub type LambdaRequest = Request<Vec<u8>>;

/// Transfers `amount` from `sender` to the user named `recipient`; returns the transfer id.
pub async fn transferred(
    state: &AppState,
    sender: &UserRecord,
    recipient: &str,
    amount: i64,
) -> anyhow::Result<String> {
    let amount = crate::domain::Amount::new(amount).ok_or_else(|| anyhow::anyhow!("bad amount"))?;
    let to = wallet::Recipient::parse(recipient).map_err(anyhow::Error::msg)?;
    let caller = caller_for(state, sender).await?;
    let step_up = wallet::StepUp {
        presented: None,
        from: crate::domain::ClientAddress::unknown(),
    };
    let applied = wallet::transfer(state, &caller, &to, amount, String::new(), None, &step_up)
        .await
        .map_err(|e| anyhow::anyhow!("transfer failed: {e}"))?;
    Ok(applied.entry.reference_id)
}
