//! Login throttle records.

use anyhow::Context;
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};

use super::SqliteStore;
use crate::auth::Throttle;
use crate::domain::Millis;
use crate::store::{StoreResult, ThrottleStore, Versioned};

/// The throttle record of `key`, unless absent or expired at `now`.
pub(super) fn select_throttle(
    c: &Connection,
    key: &str,
    now: Millis,
) -> rusqlite::Result<Option<Versioned<Throttle>>> {
    c.prepare_cached(
        "SELECT failures, locked_until, last_lock_ms, version FROM login_throttle \
         WHERE key = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
    )?
    .query_row(params![key, now], |r| {
        Ok(Versioned {
            value: Throttle {
                failures: r.get(0)?,
                locked_until: r.get(1)?,
                last_lock_ms: r.get(2)?,
            },
            version: r.get::<_, i64>(3)? as u64,
        })
    })
    .optional()
}

/// Resets the throttle `key` reserved at version `reserved`, unless another attempt locked it
/// since; true when it is clear.
pub(super) fn release(
    tx: &Connection,
    key: &str,
    reserved: u64,
    now: Millis,
) -> rusqlite::Result<bool> {
    tx.prepare_cached(
        "DELETE FROM login_throttle WHERE key = ?1 AND (version = ?2 OR locked_until <= ?3)",
    )?
    .execute(params![key, reserved as i64, now])?;
    let locked_by_another: bool = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM login_throttle WHERE key = ?1)")?
        .query_row([key], |r| r.get(0))?;
    Ok(!locked_by_another)
}

#[async_trait]
impl ThrottleStore for SqliteStore {
    async fn get_throttle(
        &self,
        key: &str,
        now: Millis,
    ) -> StoreResult<Option<Versioned<Throttle>>> {
        let key = key.to_string();
        self.read(move |c| select_throttle(c, &key, now).context("Failed to read login throttle"))
            .await
    }

    async fn put_throttle(
        &self,
        key: &str,
        expected: Option<u64>,
        state: &Throttle,
        expires_at: Option<Millis>,
        now: Millis,
    ) -> StoreResult<bool> {
        let (key, s) = (key.to_string(), *state);
        self.write(move |tx| {
            let current: Option<(i64, Option<i64>)> = tx
                .prepare_cached("SELECT version, expires_at FROM login_throttle WHERE key = ?1")?.query_row([&key],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let live = current.filter(|(_, exp)| exp.is_none_or(|e| e > now));
            let next = match (live, expected) {
                (None, None) => 1,
                (Some((v, _)), Some(e)) if v as u64 == e => v + 1,
                _ => return Ok(false),
            };
            tx.prepare_cached("INSERT INTO login_throttle (key, failures, locked_until, last_lock_ms, version, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (key) DO UPDATE SET \
                 failures = excluded.failures, locked_until = excluded.locked_until, \
                 last_lock_ms = excluded.last_lock_ms, version = excluded.version, \
                 expires_at = excluded.expires_at")?.execute(params![key, s.failures, s.locked_until, s.last_lock_ms, next, expires_at],
            )?;
            // Forget unknown-identifier records nobody has tried for a long time.
            tx.prepare_cached("DELETE FROM login_throttle WHERE expires_at IS NOT NULL AND expires_at <= ?1")?.execute([now],
            )?;
            Ok::<_, anyhow::Error>(true)
        })
        .await
    }

    async fn release_throttle(&self, key: &str, reserved: u64, now: Millis) -> StoreResult<bool> {
        let key = key.to_string();
        self.write(move |tx| {
            release(tx, &key, reserved, now).context("Failed to reset login throttle")
        })
        .await
    }
}
