//! Token families: start one at login, rotate on refresh (reuse revokes the family), end at
//! logout, and check on every authenticated request that the family is still live.

use crate::auth::{TokenKind, TokenPair};
use crate::domain::{now_millis, UserId};
use crate::state::AppState;
use crate::store::{
    CodeUse, LoginWrite, Reads, Rotation, Session, SessionInfo, Snapshot, StoreResult,
    ThrottleRelease, UserRecord, USER_AGENT_MAX,
};

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

/// Keeps at most [`USER_AGENT_MAX`] characters of a login's `User-Agent`, without control
/// characters.
pub fn user_agent(raw: Option<&str>) -> Option<String> {
    let agent: String = raw?
        .chars()
        .filter(|c| !c.is_control())
        .take(USER_AGENT_MAX)
        .collect();
    let agent = agent.trim();
    (!agent.is_empty()).then(|| agent.to_string())
}

/// Starts a new family of `user` (as read: bound to its auth epoch) and issues its first pair.
#[tracing::instrument(skip_all)]
pub async fn start(state: &AppState, user: &UserRecord) -> anyhow::Result<TokenPair> {
    let session_id = uuid::Uuid::new_v4().to_string();
    let now = now_secs();
    let issued = state
        .issuer()?
        .issue(user.user_id, &session_id, user.auth_epoch, now, false)?;
    state
        .store()
        .create_session(
            &Session {
                session_id,
                user_id: user.user_id,
                refresh_jti: issued.refresh_jti,
                revoked: false,
                expires_at: issued.refresh_expires_at,
                created_at: now,
                user_agent: None,
                auth_epoch: user.auth_epoch,
                mfa: false,
            },
            now,
        )
        .await?;
    Ok(issued.pair)
}

/// A caller whose access token verified. Whether its family is still live is checked with the
/// request's first read ([`Caller::load`]), or alone ([`Caller::check`]): a use case gets its
/// [`Principal`] only from one of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    user_id: UserId,
    session_id: String,
}

impl Caller {
    /// Verifies an access token (signature, audience, expiry, kind); no store read.
    pub fn from_token(state: &AppState, access_token: &str) -> Result<Self, SessionError> {
        let claims = state
            .verifier()
            .verify(access_token, TokenKind::Access, now_secs())
            .map_err(|_| SessionError::Unauthenticated)?;
        let user_id = claims
            .user_id()
            .map_err(|_| SessionError::Unauthenticated)?;
        Ok(Self {
            user_id,
            session_id: claims.sid,
        })
    }

    /// The account the token names (not yet known to be live).
    pub fn user_id(&self) -> UserId {
        self.user_id
    }

    /// Reads `reads` and the caller's family in one round trip; `Unauthenticated` unless the
    /// family is live.
    pub(crate) async fn load(
        &self,
        state: &AppState,
        mut reads: Reads,
    ) -> Result<(Principal, Snapshot), SessionError> {
        reads.session = Some((self.user_id, self.session_id.clone()));
        let snap = state.store().read(&reads, now_millis()).await?;
        if !snap.session_active {
            return Err(SessionError::Unauthenticated);
        }
        Ok((
            Principal {
                user_id: self.user_id,
                session_id: self.session_id.clone(),
            },
            snap,
        ))
    }

    /// The caller's account, read with the family check.
    pub(crate) async fn load_account(
        &self,
        state: &AppState,
    ) -> Result<Option<UserRecord>, SessionError> {
        let reads = Reads {
            account: Some(self.user_id),
            ..Reads::default()
        };
        Ok(self.load(state, reads).await?.1.account)
    }

    /// `read` (of the caller's own data, keyed by [`user_id`](Self::user_id)) and the family
    /// check at once: one round trip of latency; `read`'s result only if the family is live.
    pub(crate) async fn alongside<T, E: From<SessionError>>(
        &self,
        state: &AppState,
        read: impl std::future::Future<Output = StoreResult<T>>,
    ) -> Result<T, E> {
        let (checked, read) = tokio::join!(self.check(state), read);
        checked?;
        Ok(read.map_err(SessionError::Unexpected)?)
    }

    /// Checks the family alone.
    pub(crate) async fn check(&self, state: &AppState) -> Result<Principal, SessionError> {
        Ok(self.load(state, Reads::default()).await?.0)
    }
}

/// The second factor a login passed: the id the login takes (its `mfa_token`'s, so a token
/// starts one login) and the code to use up with it.
pub struct SecondFactor<'a> {
    pub session_id: &'a str,
    pub code: &'a CodeUse,
}

/// Starts a new family for a login whose secret was just verified against `user` as read,
/// bound to the auth epoch read with the secret, and resets the throttle the attempt reserved
/// in the same write (`release`). Nothing is written, and no pair is usable, when another
/// attempt locked the throttle meanwhile or the account left that epoch (its secret changed,
/// every login was ended, or it closed).
#[tracing::instrument(skip_all)]
pub async fn start_after_login(
    state: &AppState,
    user: &UserRecord,
    user_agent: Option<String>,
    release: &ThrottleRelease,
    second: Option<SecondFactor<'_>>,
) -> anyhow::Result<(LoginWrite, TokenPair)> {
    let session_id = match &second {
        Some(second) => second.session_id.to_string(),
        None => uuid::Uuid::new_v4().to_string(),
    };
    let now = now_millis();
    let issued = state.issuer()?.issue(
        user.user_id,
        &session_id,
        user.auth_epoch,
        now.div_euclid(1000),
        second.is_some(),
    )?;
    let session = Session {
        session_id,
        user_id: user.user_id,
        refresh_jti: issued.refresh_jti,
        revoked: false,
        expires_at: issued.refresh_expires_at,
        created_at: now.div_euclid(1000),
        user_agent,
        auth_epoch: user.auth_epoch,
        mfa: second.is_some(),
    };
    state.login_write_pause().await;
    let written = state
        .store()
        .create_session_releasing(&session, release, second.map(|s| s.code), now)
        .await?;
    Ok((written, issued.pair))
}

/// Verifies an access token and that its family is live.
#[tracing::instrument(skip_all)]
pub async fn authenticate(state: &AppState, access_token: &str) -> Result<Principal, SessionError> {
    Caller::from_token(state, access_token)?.check(state).await
}

/// Exchanges a refresh token for a new pair; each refresh token is good once.
#[tracing::instrument(skip_all)]
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
    let mut epoch = claims.auth_epoch;
    // A family moves to another epoch at most once between two refreshes (the secret change
    // that kept it): the second try is at the epoch the store reported.
    for _ in 0..2 {
        // Past its absolute lifetime a login is over, however active it has been.
        let Some(issued) = state.issuer()?.issue_for_login(
            user_id,
            &claims.sid,
            auth_time,
            epoch,
            now,
            claims.mfa(),
        )?
        else {
            return Err(SessionError::Unauthenticated);
        };
        let rotation = state
            .store()
            .rotate_session(
                user_id,
                &claims.sid,
                &claims.jti,
                epoch,
                &issued.refresh_jti,
                issued.refresh_expires_at,
                now,
            )
            .await?;
        match rotation {
            Rotation::Rotated => return Ok(issued.pair),
            Rotation::Reused => {
                tracing::warn!(user = %user_id, session = %claims.sid, "refresh token reused: family revoked");
                return Err(SessionError::Unauthenticated);
            }
            Rotation::Inactive => return Err(SessionError::Unauthenticated),
            Rotation::Moved { auth_epoch } if auth_epoch != epoch => epoch = auth_epoch,
            Rotation::Moved { .. } => break,
        }
    }
    Err(SessionError::Unauthenticated)
}

/// Revokes the caller's family.
#[tracing::instrument(skip_all)]
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

/// The caller's active logins, newest first, with the caller's own: one read, which is also
/// the check that the caller's family is live.
#[tracing::instrument(skip_all)]
pub async fn list(
    state: &AppState,
    caller: &Caller,
) -> Result<(Principal, Vec<SessionInfo>), SessionError> {
    let sessions = state
        .store()
        .list_sessions(caller.user_id, now_secs())
        .await?;
    if !sessions.iter().any(|s| s.session_id == caller.session_id) {
        return Err(SessionError::Unauthenticated);
    }
    let principal = Principal {
        user_id: caller.user_id,
        session_id: caller.session_id.clone(),
    };
    Ok((principal, sessions))
}

/// Ends one of the caller's logins (the caller's own too); false when the caller has no
/// active login by that id (`session_id` as the path gives it: anything but a UUID is none).
#[tracing::instrument(skip_all)]
pub async fn end(
    state: &AppState,
    caller: &Caller,
    session_id: Option<&str>,
) -> Result<bool, SessionError> {
    let principal = caller.check(state).await?;
    let Some(session_id) = session_id
        .and_then(|id| uuid::Uuid::parse_str(id).ok())
        .map(|id| id.to_string())
    else {
        return Ok(false);
    };
    Ok(state
        .store()
        .revoke_session(principal.user_id, &session_id, now_secs())
        .await?)
}

/// Ends every login of the caller, this one included, and those still being made: the
/// account moves to its next auth epoch in the write that revokes the listed logins.
#[tracing::instrument(skip_all)]
pub async fn logout_all(state: &AppState, caller: &Caller) -> Result<(), SessionError> {
    let (principal, sessions) = list(state, caller).await?;
    let ids: Vec<String> = sessions.into_iter().map(|s| s.session_id).collect();
    if state
        .store()
        .end_every_login(principal.user_id, &ids, now_secs())
        .await?
    {
        Ok(())
    } else {
        Err(SessionError::Unauthenticated)
    }
}
