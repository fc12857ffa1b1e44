//! Reset codes (the `reset_codes` table).

use anyhow::Context;
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

use super::SqliteStore;
use crate::domain::{Millis, UserId};
use crate::store::{ResetCode, ResetStore, StoreResult, Versioned};

#[async_trait]
impl ResetStore for SqliteStore {
    #[tracing::instrument(level = "debug", skip_all)]
    async fn get_reset(
        &self,
        user: UserId,
        now: Millis,
    ) -> StoreResult<Option<Versioned<ResetCode>>> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT code_hash, code_expires_at, failures, window_start, deliveries, version \
                 FROM reset_codes WHERE user_id = ?1 AND expires_at > ?2",
            )?
            .query_row(params![user.to_string(), now], |r| {
                Ok(Versioned {
                    value: ResetCode {
                        code_hash: r.get(0)?,
                        code_expires_at: r.get(1)?,
                        failures: r.get(2)?,
                        window_start: r.get(3)?,
                        deliveries: r.get(4)?,
                    },
                    version: r.get::<_, i64>(5)? as u64,
                })
            })
            .optional()
            .context("Failed to read a reset code")
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn put_reset(
        &self,
        user: UserId,
        expected: Option<u64>,
        state: &ResetCode,
        expires_at: Millis,
        now: Millis,
    ) -> StoreResult<bool> {
        let state = state.clone();
        self.write(move |tx| {
            let id = user.to_string();
            let current: Option<(i64, Millis)> = tx
                .prepare_cached("SELECT version, expires_at FROM reset_codes WHERE user_id = ?1")?
                .query_row([&id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let live = current.filter(|&(_, exp)| exp > now).map(|(v, _)| v as u64);
            if live != expected {
                return Ok(false);
            }
            tx.prepare_cached(
                "INSERT OR REPLACE INTO reset_codes (user_id, code_hash, code_expires_at, \
                 failures, window_start, deliveries, version, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                id,
                state.code_hash,
                state.code_expires_at,
                state.failures,
                state.window_start,
                state.deliveries,
                expected.map_or(1, |v| v + 1) as i64,
                expires_at,
            ])?;
            Ok::<_, anyhow::Error>(true)
        })
        .await
    }
}
