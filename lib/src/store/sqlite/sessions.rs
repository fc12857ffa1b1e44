//! Refresh families.

use anyhow::Context;
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};

use super::throttle::release;
use super::SqliteStore;
use crate::domain::{Millis, UserId};
use crate::store::{Rotation, Session, SessionInfo, SessionStore, StoreResult};

/// Records a family, forgetting the ones expired at `now_secs` (they are inactive already).
fn insert_session(tx: &Connection, s: &Session, now_secs: i64) -> anyhow::Result<()> {
    tx.prepare_cached(
        "INSERT INTO sessions (session_id, user_id, refresh_jti, revoked, expires_at, \
         created_at, last_used_at, user_agent) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)",
    )?
    .execute(params![
        s.session_id,
        s.user_id.to_string(),
        s.refresh_jti,
        s.revoked,
        s.expires_at,
        s.created_at,
        s.user_agent,
    ])
    .context("Failed to create a session")?;
    tx.prepare_cached("DELETE FROM sessions WHERE expires_at <= ?1")?
        .execute([now_secs])?;
    Ok(())
}

/// True when the family exists, is not revoked and has not expired at `now_secs`.
pub(super) fn session_is_active(
    c: &Connection,
    user: UserId,
    session_id: &str,
    now_secs: i64,
) -> rusqlite::Result<bool> {
    c.prepare_cached(
        "SELECT 1 FROM sessions WHERE session_id = ?1 AND user_id = ?2 \
         AND revoked = 0 AND expires_at > ?3",
    )?
    .query_row(params![session_id, user.to_string(), now_secs], |_| Ok(()))
    .optional()
    .map(|r| r.is_some())
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn create_session(&self, s: &Session, now_secs: i64) -> StoreResult<()> {
        let s = s.clone();
        self.write(move |tx| insert_session(tx, &s, now_secs)).await
    }

    async fn create_session_releasing(
        &self,
        s: &Session,
        throttle_key: &str,
        reserved: u64,
        now: Millis,
    ) -> StoreResult<bool> {
        let (s, key) = (s.clone(), throttle_key.to_string());
        self.write(move |tx| {
            if !release(tx, &key, reserved, now).context("Failed to reset login throttle")? {
                return Ok(false);
            }
            insert_session(tx, &s, now.div_euclid(1000))?;
            Ok::<_, anyhow::Error>(true)
        })
        .await
    }

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

    async fn rotate_session(
        &self,
        user: UserId,
        session_id: &str,
        presented_jti: &str,
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
            let row: Option<(String, bool, i64)> = tx
                .prepare_cached(
                    "SELECT refresh_jti, revoked, expires_at FROM sessions \
                     WHERE session_id = ?1 AND user_id = ?2",
                )?
                .query_row(params![sid, user.to_string()], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()?;
            let Some((current, revoked, expires_at)) = row else {
                return Ok(Rotation::Inactive);
            };
            if revoked || expires_at <= now_secs {
                return Ok(Rotation::Inactive);
            }
            if current != presented {
                tx.prepare_cached("UPDATE sessions SET revoked = 1 WHERE session_id = ?1")?
                    .execute([&sid])?;
                return Ok(Rotation::Reused);
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

    async fn list_sessions(&self, user: UserId, now_secs: i64) -> StoreResult<Vec<SessionInfo>> {
        self.read(move |c| {
            let mut statement = c.prepare_cached(
                "SELECT session_id, created_at, last_used_at, user_agent FROM sessions \
                 WHERE user_id = ?1 AND revoked = 0 AND expires_at > ?2 \
                 ORDER BY created_at DESC, session_id",
            )?;
            let rows = statement.query_map(params![user.to_string(), now_secs], |r| {
                Ok(SessionInfo {
                    session_id: r.get(0)?,
                    created_at: r.get(1)?,
                    last_used_at: r.get(2)?,
                    user_agent: r.get(3)?,
                })
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
                .context("Failed to list sessions")
        })
        .await
    }

    async fn revoke_sessions(
        &self,
        user: UserId,
        sessions: &[String],
        now_secs: i64,
    ) -> StoreResult<usize> {
        let sessions = sessions.to_vec();
        self.write(move |tx| {
            let mut revoked = 0;
            let mut statement = tx.prepare_cached(
                "UPDATE sessions SET revoked = 1 WHERE session_id = ?1 AND user_id = ?2 \
                 AND revoked = 0 AND expires_at > ?3",
            )?;
            for sid in &sessions {
                revoked += statement.execute(params![sid, user.to_string(), now_secs])?;
            }
            Ok::<_, anyhow::Error>(revoked)
        })
        .await
    }
}
