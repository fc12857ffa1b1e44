//! Token families: start one at login, rotate on refresh (reuse revokes the family), end at
//! logout, and check on every authenticated request that the family is still live.

use crate::auth::{TokenKind, TokenPair};
use crate::domain::UserId;
use crate::state::AppState;
use crate::store::{Rotation, Session};

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Who an authenticated request comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub session_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Missing, malformed, expired, revoked, reused or of the wrong kind.
    #[error("Unauthenticated")]
    Unauthenticated,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Starts a new family and issues its first pair.
pub async fn start(state: &AppState, user: UserId) -> anyhow::Result<TokenPair> {
    let session_id = uuid::Uuid::new_v4().to_string();
    let now = now_secs();
    let issued = state.issuer()?.issue(user, &session_id, now)?;
    state
        .store()
        .create_session(
            &Session {
                session_id,
                user_id: user,
                refresh_jti: issued.refresh_jti,
                revoked: false,
                expires_at: issued.refresh_expires_at,
            },
            now,
        )
        .await?;
    Ok(issued.pair)
}

/// Verifies an access token and that its family is live.
pub async fn authenticate(state: &AppState, access_token: &str) -> Result<Principal, SessionError> {
    let now = now_secs();
    let claims = state
        .verifier()
        .verify(access_token, TokenKind::Access, now)
        .map_err(|_| SessionError::Unauthenticated)?;
    let user_id = claims
        .user_id()
        .map_err(|_| SessionError::Unauthenticated)?;
    if !state
        .store()
        .session_active(user_id, &claims.sid, now)
        .await?
    {
        return Err(SessionError::Unauthenticated);
    }
    Ok(Principal {
        user_id,
        session_id: claims.sid,
    })
}

/// Exchanges a refresh token for a new pair; each refresh token is good once.
pub async fn refresh(state: &AppState, refresh_token: &str) -> Result<TokenPair, SessionError> {
    let now = now_secs();
    let claims = state
        .verifier()
        .verify(refresh_token, TokenKind::Refresh, now)
        .map_err(|_| SessionError::Unauthenticated)?;
    let user_id = claims
        .user_id()
        .map_err(|_| SessionError::Unauthenticated)?;
    let auth_time = claims.auth_time.unwrap_or(claims.iat);
    // Past its absolute lifetime a login is over, however active it has been.
    let Some(issued) = state
        .issuer()?
        .issue_for_login(user_id, &claims.sid, auth_time, now)?
    else {
        return Err(SessionError::Unauthenticated);
    };
    let rotation = state
        .store()
        .rotate_session(
            user_id,
            &claims.sid,
            &claims.jti,
            &issued.refresh_jti,
            issued.refresh_expires_at,
            now,
        )
        .await?;
    match rotation {
        Rotation::Rotated => Ok(issued.pair),
        Rotation::Reused => {
            tracing::warn!(user = %user_id, session = %claims.sid, "refresh token reused: family revoked");
            Err(SessionError::Unauthenticated)
        }
        Rotation::Inactive => Err(SessionError::Unauthenticated),
    }
}

/// Revokes the caller's family.
pub async fn logout(state: &AppState, principal: &Principal) -> Result<(), SessionError> {
    if state
        .store()
        .revoke_session(principal.user_id, &principal.session_id, now_secs())
        .await?
    {
        Ok(())
    } else {
        Err(SessionError::Unauthenticated)
    }
}
