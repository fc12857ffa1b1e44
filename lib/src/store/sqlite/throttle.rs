//! Login throttle records.

use anyhow::Context;
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};

use super::SqliteStore;
use crate::auth::Throttle;
use crate::domain::Millis;
use crate::store::{
    first_version, StoreResult, ThrottleRelease, ThrottleStore, ThrottleWrite, Versioned,
};

/// The throttle record of `key`, unless absent or expired at `now`.
pub(super) fn select_throttle(
    c: &Connection,
    key: &str,
    now: Millis,
) -> rusqlite::Result<Option<Versioned<Throttle>>> {
    c.prepare_cached(
        "SELECT failures, locked_until, last_lock_ms, gen, trusted_until, version \
         FROM login_throttle WHERE key = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
    )?
    .query_row(params![key, now], |r| {
        Ok(Versioned {
            value: Throttle {
                failures: r.get(0)?,
                locked_until: r.get(1)?,
                last_lock_ms: r.get(2)?,
                gen: r.get::<_, i64>(3)? as u64,
                trusted_until: r.get(4)?,
            },
            version: r.get::<_, i64>(5)? as u64,
        })
    })
    .optional()
}

/// Writes `w` if the stored record is still at its expected version; false otherwise.
fn put(tx: &Connection, w: &ThrottleWrite, now: Millis) -> rusqlite::Result<bool> {
    let current: Option<(i64, Option<i64>)> = tx
        .prepare_cached("SELECT version, expires_at FROM login_throttle WHERE key = ?1")?
        .query_row([&w.key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let live = current.filter(|(_, exp)| exp.is_none_or(|e| e > now));
    match (live, w.expected) {
        (None, None) => {}
        (Some((v, _)), Some(e)) if v as u64 == e => {}
        _ => return Ok(false),
    }
    write(tx, &w.key, &w.state, w.version(), w.expires_at, None)?;
    Ok(true)
}

/// Inserts the record `key` with `state` at `version`, or replaces the stored one:
/// unconditionally (at a version above both: an expired row may be replaced by a new record),
/// or only `unless_locked` by an attempt other than the one that reserved its version
/// (`(reserved, now)`, at the stored version's next). How many rows changed (0 or 1).
fn write(
    tx: &Connection,
    key: &str,
    state: &Throttle,
    version: u64,
    expires_at: Millis,
    unless_locked: Option<(u64, Millis)>,
) -> rusqlite::Result<usize> {
    let (always, reserved, now) = match unless_locked {
        None => (true, 0, 0),
        Some((reserved, now)) => (false, reserved as i64, now),
    };
    tx.prepare_cached(
        "INSERT INTO login_throttle \
         (key, failures, locked_until, last_lock_ms, gen, trusted_until, version, expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (key) DO UPDATE SET \
         failures = excluded.failures, locked_until = excluded.locked_until, \
         last_lock_ms = excluded.last_lock_ms, gen = excluded.gen, \
         trusted_until = excluded.trusted_until, expires_at = excluded.expires_at, \
         version = CASE WHEN ?9 THEN MAX(excluded.version, login_throttle.version + 1) \
         ELSE login_throttle.version + 1 END \
         WHERE ?9 OR login_throttle.version = ?10 OR login_throttle.locked_until <= ?11 \
         OR login_throttle.expires_at <= ?11",
    )?
    .execute(params![
        key,
        state.failures,
        state.locked_until,
        state.last_lock_ms,
        state.gen as i64,
        state.trusted_until,
        version as i64,
        expires_at,
        always,
        reserved,
        now
    ])
}

/// Resets the record a verified secret's attempt reserved, unless another attempt locked it
/// since; true when it is reset.
pub(super) fn release(tx: &Connection, r: &ThrottleRelease, now: Millis) -> rusqlite::Result<bool> {
    let changed = write(
        tx,
        &r.key,
        &r.state,
        (r.reserved + 1).max(first_version(Some(r.expires_at))),
        r.expires_at,
        Some((r.reserved, now)),
    )?;
    Ok(changed == 1)
}

/// Forgets records nobody has needed for their whole memory.
fn forget_expired(tx: &Connection, now: Millis) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "DELETE FROM login_throttle WHERE expires_at IS NOT NULL AND expires_at <= ?1",
    )?
    .execute([now])?;
    Ok(())
}

#[async_trait]
impl ThrottleStore for SqliteStore {
    #[tracing::instrument(level = "debug", skip_all)]
    async fn get_throttle(
        &self,
        key: &str,
        now: Millis,
    ) -> StoreResult<Option<Versioned<Throttle>>> {
        let key = key.to_string();
        self.read(move |c| select_throttle(c, &key, now).context("Failed to read login throttle"))
            .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn put_throttle(
        &self,
        key: &str,
        expected: Option<u64>,
        state: &Throttle,
        expires_at: Option<Millis>,
        now: Millis,
    ) -> StoreResult<bool> {
        let write = ThrottleWrite {
            key: key.to_string(),
            expected,
            state: *state,
            expires_at: expires_at.unwrap_or(Millis::MAX),
        };
        self.put_throttles(std::slice::from_ref(&write), now).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn put_throttles(&self, writes: &[ThrottleWrite], now: Millis) -> StoreResult<bool> {
        let writes = writes.to_vec();
        self.write(move |tx| {
            for w in &writes {
                if !put(tx, w, now)? {
                    // Nothing of this call is kept: the writer rolls back on an error only,
                    // so the writes are checked before any is made.
                    anyhow::bail!(Conflict);
                }
            }
            forget_expired(tx, now)?;
            Ok::<_, anyhow::Error>(true)
        })
        .await
        .or_else(|e| match e.downcast_ref::<Conflict>() {
            Some(_) => Ok(false),
            None => Err(e),
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn release_throttle(&self, release: &ThrottleRelease, now: Millis) -> StoreResult<bool> {
        let r = release.clone();
        self.write(move |tx| {
            super::throttle::release(tx, &r, now).context("Failed to reset login throttle")
        })
        .await
    }
}

/// A throttle record was not at its expected version: the whole write is undone.
#[derive(Debug, thiserror::Error)]
#[error("a throttle record changed meanwhile")]
struct Conflict;
