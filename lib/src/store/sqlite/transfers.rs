//! Transfers and their settlement.

use anyhow::Context;
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::wallet::{account, post_entry};
use super::SqliteStore;
use crate::domain::Millis;
use crate::store::{PendingPage, Settlement, StoreResult, Transfer, TransferStore, TxStatus};

pub(super) const TRANSFER_COLUMNS: &str =
    "transfer_id, from_user, to_user, amount, remarks, status, created_at, settled_at, suspense";

pub(super) fn transfer_from_row(row: &Row<'_>) -> rusqlite::Result<Transfer> {
    let status: String = row.get(5)?;
    Ok(Transfer {
        transfer_id: row.get(0)?,
        from_user: row.get(1)?,
        to_user: row.get(2)?,
        amount: row.get(3)?,
        remarks: row.get(4)?,
        status: TxStatus::parse(&status).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                5,
                rusqlite::types::Type::Text,
                "bad status".into(),
            )
        })?,
        created_at: row.get(6)?,
        settled_at: row.get(7)?,
        suspense: row.get(8)?,
    })
}

pub(super) fn select_transfer(c: &Connection, id: &str) -> rusqlite::Result<Option<Transfer>> {
    c.prepare_cached(&format!(
        "SELECT {TRANSFER_COLUMNS} FROM transfers WHERE transfer_id = ?1"
    ))?
    .query_row([id], transfer_from_row)
    .optional()
}

/// Records a transfer as it is; `sender_seq` is the sender's debit.
pub(super) fn insert_transfer(
    tx: &Connection,
    t: &Transfer,
    sender_seq: u64,
) -> rusqlite::Result<()> {
    tx.prepare_cached(&format!("INSERT INTO transfers ({TRANSFER_COLUMNS}, sender_seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"))?.execute(params![
            t.transfer_id,
            t.from_user,
            t.to_user,
            t.amount,
            t.remarks,
            t.status.as_str(),
            t.created_at,
            t.settled_at,
            t.suspense,
            sender_seq as i64
        ],
    )?;
    Ok(())
}

/// How a transfer is settled: as the worker settles it (the recipient credited, or the sender
/// refunded when it can't be), or given up after its settlement kept failing (the sender
/// refunded). Either way the money is held in suspense when nobody can take it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Settle,
    Refund,
}

/// Settles the `PENDING` transfer `id` in one write transaction (exactly once: a transfer no
/// longer pending is `AlreadySettled`).
fn settle(tx: &Connection, id: &str, now: Millis, mode: Mode) -> anyhow::Result<Settlement> {
    let row: Option<(Transfer, i64)> = tx
        .prepare_cached(&format!(
            "SELECT {TRANSFER_COLUMNS}, sender_seq FROM transfers WHERE transfer_id = ?1"
        ))?
        .query_row([id], |r| Ok((transfer_from_row(r)?, r.get(9)?)))
        .optional()?;
    let Some((transfer, sender_seq)) = row else {
        return Ok(Settlement::Unknown);
    };
    if transfer.status != TxStatus::Pending {
        return Ok(Settlement::AlreadySettled);
    }
    let credit = match mode {
        Mode::Settle => account(tx, transfer.to_user)?.and_then(|(balance, version)| {
            transfer.settlement_entry(false, balance, version as u64, now)
        }),
        Mode::Refund => None,
    };
    let refund =
        || {
            Ok::<_, rusqlite::Error>(account(tx, transfer.from_user)?.and_then(
                |(balance, version)| transfer.settlement_entry(true, balance, version as u64, now),
            ))
        };
    let (entry, outcome) = match credit {
        Some(entry) => (Some(entry), Settlement::Credited),
        None => match refund()? {
            Some(entry) => (Some(entry), Settlement::Refunded),
            None => (None, Settlement::Suspended),
        },
    };
    if let Some(entry) = &entry {
        post_entry(tx, entry)?;
    }
    let final_status = outcome.final_status();
    let from = &transfer.from_user;
    tx.prepare_cached(
        "UPDATE transfers SET status = ?2, settled_at = ?3, suspense = ?4 WHERE transfer_id = ?1",
    )?
    .execute(params![
        id,
        final_status.as_str(),
        now,
        outcome == Settlement::Suspended
    ])?;
    tx.prepare_cached("UPDATE entries SET status = ?3 WHERE user_id = ?1 AND seq = ?2")?
        .execute(params![from, sender_seq, final_status.as_str()])?;
    Ok(outcome)
}

#[async_trait]
impl TransferStore for SqliteStore {
    #[tracing::instrument(level = "debug", skip_all)]
    async fn settle_transfer(&self, transfer_id: &str, now: Millis) -> StoreResult<Settlement> {
        let id = transfer_id.to_string();
        self.write(move |tx| settle(tx, &id, now, Mode::Settle))
            .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn give_up_transfer(&self, transfer_id: &str, now: Millis) -> StoreResult<Settlement> {
        let id = transfer_id.to_string();
        self.write(move |tx| settle(tx, &id, now, Mode::Refund))
            .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn get_transfer(&self, transfer_id: &str) -> StoreResult<Option<Transfer>> {
        let id = transfer_id.to_string();
        self.read(move |c| select_transfer(c, &id).context("Failed to read a transfer"))
            .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn pending_transfers(
        &self,
        created_before: Millis,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<PendingPage> {
        // Keyset pagination on (created_at, transfer_id): the cursor is the last row seen.
        let after: (i64, String) = match cursor {
            None => (i64::MIN, String::new()),
            Some(c) => {
                let (at, id) = c.split_once('/').context("bad pending cursor")?;
                (at.parse().context("bad pending cursor")?, id.to_string())
            }
        };
        self.read(move |c| {
            let mut stmt = c.prepare(
                "SELECT created_at, transfer_id FROM transfers \
                 WHERE status = 'PENDING' AND created_at < ?1 \
                 AND (created_at > ?2 OR (created_at = ?2 AND transfer_id > ?3)) \
                 ORDER BY created_at, transfer_id LIMIT ?4",
            )?;
            let rows = stmt
                .query_map(
                    params![created_before, after.0, after.1, limit as i64],
                    |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let next = (rows.len() == limit)
                .then(|| rows.last().map(|(at, id)| format!("{at}/{id}")))
                .flatten();
            Ok(PendingPage {
                ids: rows.into_iter().map(|(_, id)| id).collect(),
                next,
            })
        })
        .await
    }
}
