//! Registration, login with throttling, and reading one's own account.

use crate::auth::Throttle;
use crate::auth::TokenPair;
use crate::domain::{
    now_millis, Email, IdentifierKind, LoginIdentifier, Millis, Phone, Secret, SecretKind, UserId,
    Username,
};
use crate::service::sessions;
use crate::state::AppState;
use crate::store::{CreateUserError, Role, UserRecord};

/// A validated registration request.
#[derive(Debug, Clone)]
pub struct Registration {
    pub username: Option<Username>,
    pub email: Option<Email>,
    pub phone_number: Option<Phone>,
    pub secret: Secret,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub address: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("{} already registered", .0.label())]
    AlreadyRegistered(IdentifierKind),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

pub async fn register(state: &AppState, reg: Registration) -> Result<UserRecord, RegisterError> {
    let hash = state.hasher().hash(reg.secret.expose()).await?;
    let now = now_millis();
    let user = UserRecord {
        user_id: UserId::new(),
        username: reg.username.map(|u| u.as_str().to_string()),
        email: reg.email.map(|e| e.as_str().to_string()),
        phone_number: reg.phone_number.map(|p| p.as_str().to_string()),
        first_name: reg.first_name,
        last_name: reg.last_name,
        address: reg.address,
        secret_kind: reg.secret.kind(),
        secret_hash: hash,
        role: Role::User,
        balance: 0,
        version: 0,
        created_at: now,
        updated_at: now,
    };
    match state.store().create_user(&user).await {
        Ok(()) => Ok(user),
        Err(CreateUserError::Taken(kind)) => Err(RegisterError::AlreadyRegistered(kind)),
        Err(CreateUserError::Unexpected(e)) => Err(e.context("Failed to store a new user").into()),
    }
}

/// What a login presents.
pub struct Credentials {
    pub identifier: LoginIdentifier,
    pub secret_kind: SecretKind,
    pub secret: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("Invalid credentials")]
    InvalidCredentials,
    #[error("Too many failed attempts")]
    Locked { retry_after: u64 },
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// How long a throttle record for an identifier that names no account is kept after its last
/// failure. Records of real accounts are kept until a successful login.
const UNKNOWN_IDENTIFIER_MEMORY_MS: Millis = 24 * 3_600_000;

/// Bounded retries when concurrent failures race on the same throttle record.
const THROTTLE_WRITE_ATTEMPTS: usize = 16;

pub async fn login(state: &AppState, creds: Credentials) -> Result<TokenPair, LoginError> {
    let user = state
        .store()
        .find_user(&creds.identifier)
        .await
        .map_err(|e| e.context("Failed to look up the login identifier"))?;
    // Failures are counted per account across all its identifiers; identifiers that name no
    // account are counted on their own, so a lock reveals nothing about who exists.
    let (throttle_key, forget_at) = match &user {
        Some(u) => (format!("user:{}", u.user_id), None),
        None => (
            format!("{}:{}", creds.identifier.kind.field(), creds.identifier.key),
            Some(now_millis() + UNKNOWN_IDENTIFIER_MEMORY_MS),
        ),
    };
    let current = state
        .store()
        .get_throttle(&throttle_key, now_millis())
        .await?;
    if let Some(retry_after) = current.and_then(|t| t.value.retry_after(now_millis())) {
        return Err(LoginError::Locked { retry_after });
    }
    // Unknown accounts and the wrong kind of secret still cost one verification.
    let stored = user
        .as_ref()
        .filter(|u| u.secret_kind == creds.secret_kind)
        .map(|u| u.secret_hash.as_str());
    let verified = state.hasher().verify(&creds.secret, stored).await?;
    match user {
        Some(user) if verified => {
            if current.is_some() {
                state.store().clear_throttle(&throttle_key).await?;
            }
            Ok(sessions::start(state, user.user_id).await?)
        }
        _ => Err(record_failure(state, &throttle_key, forget_at).await),
    }
}

async fn record_failure(state: &AppState, key: &str, forget_at: Option<Millis>) -> LoginError {
    for _ in 0..THROTTLE_WRITE_ATTEMPTS {
        let now = now_millis();
        let current = match state.store().get_throttle(key, now).await {
            Ok(c) => c,
            Err(e) => return e.into(),
        };
        let before = current.map(|c| c.value).unwrap_or_default();
        if let Some(retry_after) = before.retry_after(now) {
            // Another attempt locked the account meanwhile: this one is refused, uncounted.
            return LoginError::Locked { retry_after };
        }
        let after: Throttle = before.after_failure(now, state.lockout());
        match state
            .store()
            .put_throttle(key, current.map(|c| c.version), &after, forget_at, now)
            .await
        {
            Ok(true) => return LoginError::InvalidCredentials,
            Ok(false) => continue,
            Err(e) => return e.into(),
        }
    }
    anyhow::anyhow!("login throttle kept changing under concurrent failures").into()
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("account no longer exists")]
    Gone,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

pub async fn account(state: &AppState, user: UserId) -> Result<UserRecord, AccountError> {
    state
        .store()
        .get_user(user)
        .await?
        .ok_or(AccountError::Gone)
}
