//! Second factors (the `factors` and `recovery_codes` tables).

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};

use super::SqliteStore;
use crate::domain::{Millis, UserId};
use crate::store::{CodeUse, Factor, FactorChange, FactorStore, StoreResult};

pub(super) fn select_factor(c: &Connection, user: UserId) -> rusqlite::Result<Option<Factor>> {
    c.prepare_cached(
        "SELECT sealed_secret, active, last_step, updated_at FROM factors WHERE user_id = ?1",
    )?
    .query_row([user], |r| {
        Ok(Factor {
            sealed_secret: r.get(0)?,
            active: r.get(1)?,
            last_step: r.get::<_, i64>(2)? as u64,
            updated_at: r.get(3)?,
        })
    })
    .optional()
}

pub(super) fn select_recovery_codes(c: &Connection, user: UserId) -> rusqlite::Result<Vec<String>> {
    c.prepare_cached("SELECT hash FROM recovery_codes WHERE user_id = ?1 ORDER BY hash")?
        .query_map([user], |r| r.get(0))?
        .collect()
}

/// Uses `code` up: false (nothing written) when it was used already, or the factor is not
/// active.
pub(super) fn use_code(tx: &Connection, user: UserId, code: &CodeUse) -> rusqlite::Result<bool> {
    let changed = match code {
        CodeUse::Totp { step } => tx
            .prepare_cached(
                "UPDATE factors SET last_step = ?2 WHERE user_id = ?1 AND active = 1 \
                 AND last_step < ?2",
            )?
            .execute(params![user, *step as i64])?,
        CodeUse::Recovery { hash } => tx
            .prepare_cached(
                "DELETE FROM recovery_codes WHERE user_id = ?1 AND hash = ?2 \
                 AND EXISTS (SELECT 1 FROM factors WHERE user_id = ?1 AND active = 1)",
            )?
            .execute(params![user, hash])?,
    };
    Ok(changed == 1)
}

/// Removes the account's factor and recovery codes.
pub(super) fn remove(tx: &Connection, user: UserId) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM factors WHERE user_id = ?1")?
        .execute([user])?;
    tx.prepare_cached("DELETE FROM recovery_codes WHERE user_id = ?1")?
        .execute([user])?;
    Ok(())
}

/// Applies `change`; false (to roll back: some of it may be written) when its code was used,
/// or the factor is not as the change expects.
pub(super) fn apply(
    tx: &Connection,
    user: UserId,
    change: &FactorChange,
    now: Millis,
) -> rusqlite::Result<bool> {
    match change {
        FactorChange::Use(code) => use_code(tx, user, code),
        FactorChange::Activate {
            sealed_secret,
            step,
            recovery,
        } => {
            let activated = tx
                .prepare_cached(
                    "UPDATE factors SET active = 1, last_step = ?3, updated_at = ?4 \
                     WHERE user_id = ?1 AND active = 0 AND sealed_secret = ?2 AND last_step < ?3",
                )?
                .execute(params![user, sealed_secret, *step as i64, now])?;
            if activated != 1 {
                return Ok(false);
            }
            tx.prepare_cached("DELETE FROM recovery_codes WHERE user_id = ?1")?
                .execute([user])?;
            let mut insert =
                tx.prepare_cached("INSERT INTO recovery_codes (user_id, hash) VALUES (?1, ?2)")?;
            for hash in recovery {
                insert.execute(params![user, hash])?;
            }
            Ok(true)
        }
        FactorChange::Remove(code) => {
            if let Some(code) = code {
                if !use_code(tx, user, code)? {
                    return Ok(false);
                }
            }
            remove(tx, user)?;
            Ok(true)
        }
    }
}

#[async_trait]
impl FactorStore for SqliteStore {
    #[tracing::instrument(level = "debug", skip_all)]
    async fn put_pending_factor(
        &self,
        user: UserId,
        sealed_secret: &str,
        now: Millis,
    ) -> StoreResult<bool> {
        let sealed = sealed_secret.to_string();
        self.write(move |tx| {
            let written = tx
                .prepare_cached(
                    "INSERT INTO factors (user_id, sealed_secret, active, last_step, updated_at) \
                     SELECT ?1, ?2, 0, 0, ?3 WHERE EXISTS (SELECT 1 FROM users WHERE user_id = ?1) \
                     ON CONFLICT (user_id) DO UPDATE SET sealed_secret = excluded.sealed_secret, \
                     last_step = 0, updated_at = excluded.updated_at WHERE factors.active = 0",
                )?
                .execute(params![user, sealed, now])?;
            Ok::<_, anyhow::Error>(written == 1)
        })
        .await
    }
}
