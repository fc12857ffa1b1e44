//! Refresh families.

use anyhow::Context;
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};

use super::throttle;
use super::SqliteStore;
use crate::domain::{Millis, UserId};
use crate::store::{
    CodeUse, LoginWrite, Rotation, Session, SessionInfo, SessionStore, StoreResult, ThrottleRelease,
};

/// Records a family, forgetting the ones expired at `now_secs` (they are inactive already).
fn insert_session(tx: &Connection, s: &Session, now_secs: i64) -> anyhow::Result<()> {
    tx.prepare_cached(
        "INSERT INTO sessions (session_id, user_id, refresh_jti, revoked, expires_at, \
         created_at, last_used_at, user_agent, auth_epoch, mfa) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        s.session_id,
        s.user_id.to_string(),
        s.refresh_jti,
        s.revoked,
        s.expires_at,
        s.created_at,
        s.user_agent,
        s.auth_epoch as i64,
        s.mfa,
    ])
    .context("Failed to create a session")?;
    tx.prepare_cached("DELETE FROM sessions WHERE expires_at <= ?1")?
        .execute([now_secs])?;
    Ok(())
}

/// A login write refused after part of it was written: the error rolls that part back.
#[derive(Debug, thiserror::Error)]
#[error("login refused: {0:?}")]
struct Refused(LoginWrite);

/// Revokes the families `sessions` of `user` still active at `now_secs`; returns how many.
fn revoke_listed(
    tx: &Connection,
    user: UserId,
    sessions: &[String],
    now_secs: i64,
) -> rusqlite::Result<usize> {
    let mut statement = tx.prepare_cached(
        "UPDATE sessions SET revoked = 1 WHERE session_id = ?1 AND user_id = ?2 \
         AND revoked = 0 AND expires_at > ?3",
    )?;
    let mut revoked = 0;
    for sid in sessions {
        revoked += statement.execute(params![sid, user.to_string(), now_secs])?;
    }
    Ok(revoked)
}

/// The auth epoch of account `user`, `None` when there is no such account.
fn account_epoch(c: &Connection, user: UserId) -> rusqlite::Result<Option<u64>> {
    c.prepare_cached("SELECT auth_epoch FROM users WHERE user_id = ?1")?
        .query_row([user.to_string()], |r| r.get::<_, i64>(0))
        .optional()
        .map(|e| e.map(|e| e as u64))
}

/// True when the family exists, is not revoked, has not expired at `now_secs` and is bound to
/// its account's current auth epoch.
pub(super) fn session_is_active(
    c: &Connection,
    user: UserId,
    session_id: &str,
    now_secs: i64,
) -> rusqlite::Result<bool> {
    c.prepare_cached(
        "SELECT 1 FROM sessions JOIN users USING (user_id) WHERE session_id = ?1 \
         AND user_id = ?2 AND revoked = 0 AND expires_at > ?3 \
         AND sessions.auth_epoch = users.auth_epoch",
    )?
    .query_row(params![session_id, user.to_string(), now_secs], |_| Ok(()))
    .optional()
    .map(|r| r.is_some())
}

#[async_trait]
impl SessionStore for SqliteStore {
    #[tracing::instrument(level = "debug", skip_all)]
    async fn create_session(&self, s: &Session, now_secs: i64) -> StoreResult<()> {
        let s = s.clone();
        self.write(move |tx| insert_session(tx, &s, now_secs)).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn create_session_releasing(
        &self,
        s: &Session,
        release: &ThrottleRelease,
        code: Option<&CodeUse>,
        now: Millis,
    ) -> StoreResult<LoginWrite> {
        let (s, r, code) = (s.clone(), release.clone(), code.cloned());
        self.write(move |tx| {
            // Only while the account is at the epoch its secret was verified at: a secret
            // change, a reset, logging out everywhere or closing that committed first leaves
            // nothing behind.
            if account_epoch(tx, s.user_id)? != Some(s.auth_epoch) {
                return Ok(LoginWrite::EpochMoved);
            }
            if !throttle::release(tx, &r, now).context("Failed to reset login throttle")? {
                return Ok(LoginWrite::Locked);
            }
            let exists = tx
                .prepare_cached("SELECT 1 FROM sessions WHERE session_id = ?1")?
                .query_row([&s.session_id], |_| Ok(()))
                .optional()?
                .is_some();
            if exists {
                anyhow::bail!(Refused(LoginWrite::Duplicate));
            }
            if let Some(code) = &code {
                if !super::factors::use_code(tx, s.user_id, code)? {
                    // Rolls the throttle's reset back.
                    anyhow::bail!(Refused(LoginWrite::CodeUsed));
                }
            }
            insert_session(tx, &s, now.div_euclid(1000))?;
            Ok::<_, anyhow::Error>(LoginWrite::Started)
        })
        .await
        .or_else(|e| match e.downcast::<Refused>() {
            Ok(Refused(refused)) => Ok(refused),
            Err(e) => Err(e),
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn session_active(
        &self,
        user: UserId,
        session_id: &str,
        now_secs: i64,
    ) -> StoreResult<bool> {
        let sid = session_id.to_string();
        self.read(move |c| {
            session_is_active(c, user, &sid, now_secs).context("Failed to read a session")
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn rotate_session(
        &self,
        user: UserId,
        session_id: &str,
        presented_jti: &str,
        epoch: u64,
        new_jti: &str,
        new_expires_at: i64,
        now_secs: i64,
    ) -> StoreResult<Rotation> {
        let (sid, presented, new) = (
            session_id.to_string(),
            presented_jti.to_string(),
            new_jti.to_string(),
        );
        self.write(move |tx| {
            let row: Option<(String, bool, i64, i64, i64)> = tx
                .prepare_cached(
                    "SELECT refresh_jti, revoked, expires_at, sessions.auth_epoch, \
                     users.auth_epoch FROM sessions JOIN users USING (user_id) \
                     WHERE session_id = ?1 AND user_id = ?2",
                )?
                .query_row(params![sid, user.to_string()], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })
                .optional()?;
            let Some((current, revoked, expires_at, session_epoch, account_epoch)) = row else {
                return Ok(Rotation::Inactive);
            };
            if revoked || expires_at <= now_secs || session_epoch != account_epoch {
                return Ok(Rotation::Inactive);
            }
            if current != presented {
                tx.prepare_cached("UPDATE sessions SET revoked = 1 WHERE session_id = ?1")?
                    .execute([&sid])?;
                return Ok(Rotation::Reused);
            }
            if session_epoch as u64 != epoch {
                return Ok(Rotation::Moved {
                    auth_epoch: session_epoch as u64,
                });
            }
            tx.prepare_cached(
                "UPDATE sessions SET refresh_jti = ?2, expires_at = ?3, last_used_at = ?4 \
                 WHERE session_id = ?1",
            )?
            .execute(params![sid, new, new_expires_at, now_secs])?;
            Ok::<_, anyhow::Error>(Rotation::Rotated)
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn revoke_session(
        &self,
        user: UserId,
        session_id: &str,
        now_secs: i64,
    ) -> StoreResult<bool> {
        let sid = session_id.to_string();
        self.write(move |tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE sessions SET revoked = 1 WHERE session_id = ?1 AND user_id = ?2 \
                 AND revoked = 0 AND expires_at > ?3",
                )?
                .execute(params![sid, user.to_string(), now_secs])?;
            Ok::<_, anyhow::Error>(n == 1)
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn list_sessions(&self, user: UserId, now_secs: i64) -> StoreResult<Vec<SessionInfo>> {
        self.read(move |c| {
            let mut statement = c.prepare_cached(
                "SELECT session_id, sessions.created_at, last_used_at, user_agent, mfa \
                 FROM sessions JOIN users USING (user_id) \
                 WHERE user_id = ?1 AND revoked = 0 AND expires_at > ?2 \
                 AND sessions.auth_epoch = users.auth_epoch \
                 ORDER BY sessions.created_at DESC, session_id",
            )?;
            let rows = statement.query_map(params![user.to_string(), now_secs], |r| {
                Ok(SessionInfo {
                    session_id: r.get(0)?,
                    created_at: r.get(1)?,
                    last_used_at: r.get(2)?,
                    user_agent: r.get(3)?,
                    mfa: r.get(4)?,
                })
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
                .context("Failed to list sessions")
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn end_every_login(
        &self,
        user: UserId,
        sessions: &[String],
        now_secs: i64,
    ) -> StoreResult<bool> {
        let sessions = sessions.to_vec();
        self.write(move |tx| {
            let moved = tx
                .prepare_cached("UPDATE users SET auth_epoch = auth_epoch + 1 WHERE user_id = ?1")?
                .execute([user.to_string()])?;
            if moved == 0 {
                return Ok(false);
            }
            revoke_listed(tx, user, &sessions, now_secs)?;
            Ok::<_, anyhow::Error>(true)
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn revoke_sessions(
        &self,
        user: UserId,
        sessions: &[String],
        now_secs: i64,
    ) -> StoreResult<usize> {
        let sessions = sessions.to_vec();
        self.write(move |tx| Ok::<_, anyhow::Error>(revoke_listed(tx, user, &sessions, now_secs)?))
            .await
    }
}
