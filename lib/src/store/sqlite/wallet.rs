//! Balances, ledger entries and idempotency records.

use anyhow::Context;
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::transfers::insert_transfer;
use super::SqliteStore;
use crate::domain::{Millis, UserId};
use crate::store::{
    EntryKind, IdempotencyClaim, IdempotencyRecord, LedgerEntry, MoneyError, MoneyOp, StoreResult,
    TxStatus, WalletStore,
};

pub(super) const ENTRY_COLUMNS: &str =
    "user_id, seq, kind, reference_id, amount, remarks, balance_before, balance_after, status, created_at";

pub(super) fn entry_from_row(row: &Row<'_>) -> rusqlite::Result<LedgerEntry> {
    let bad = |i: usize| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            "bad enum value".into(),
        )
    };
    let kind: String = row.get(2)?;
    let status: String = row.get(8)?;
    Ok(LedgerEntry {
        user_id: row.get(0)?,
        seq: row.get::<_, i64>(1)? as u64,
        kind: EntryKind::parse(&kind).ok_or_else(|| bad(2))?,
        reference_id: row.get(3)?,
        amount: row.get(4)?,
        remarks: row.get(5)?,
        balance_before: row.get(6)?,
        balance_after: row.get(7)?,
        status: TxStatus::parse(&status).ok_or_else(|| bad(8))?,
        created_at: row.get(9)?,
    })
}

pub(super) fn insert_entry(tx: &Connection, e: &LedgerEntry) -> rusqlite::Result<()> {
    tx.prepare_cached(&format!(
        "INSERT INTO entries ({ENTRY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
    ))?
    .execute(params![
        e.user_id,
        e.seq as i64,
        e.kind.as_str(),
        e.reference_id,
        e.amount,
        e.remarks,
        e.balance_before,
        e.balance_after,
        e.status.as_str(),
        e.created_at
    ])?;
    Ok(())
}

/// Balance and version of an account, if it exists.
pub(super) fn account(tx: &Connection, user: UserId) -> rusqlite::Result<Option<(i64, i64)>> {
    tx.prepare_cached("SELECT balance, version FROM users WHERE user_id = ?1")?
        .query_row([user], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
}

/// Moves the entry's account to its `balance_after` and version `seq`, and records the entry.
pub(super) fn post_entry(tx: &Connection, entry: &LedgerEntry) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE users SET balance = ?2, version = ?3, updated_at = ?4 WHERE user_id = ?1",
    )?
    .execute(params![
        entry.user_id,
        entry.balance_after,
        entry.seq as i64,
        entry.created_at
    ])?;
    insert_entry(tx, entry)
}

pub(super) fn read_idempotency(
    c: &Connection,
    user: UserId,
    scope: &str,
    key: &str,
    now: Millis,
) -> anyhow::Result<Option<IdempotencyRecord>> {
    let row: Option<(String, String)> = c
        .prepare_cached(
            "SELECT request_hash, entry FROM idempotency \
             WHERE user_id = ?1 AND scope = ?2 AND key = ?3 AND expires_at > ?4",
        )?
        .query_row(params![user, scope, key, now], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    row.map(|(request_hash, entry)| {
        Ok(IdempotencyRecord {
            request_hash,
            entry: serde_json::from_str(&entry).context("stored idempotent entry is not valid")?,
        })
    })
    .transpose()
}

#[async_trait]
impl WalletStore for SqliteStore {
    #[tracing::instrument(level = "debug", skip_all)]
    async fn apply(
        &self,
        op: &MoneyOp,
        claim: Option<&IdempotencyClaim>,
    ) -> Result<LedgerEntry, MoneyError> {
        let (op, claim) = (op.clone(), claim.cloned());
        self.write(move |tx| {
            if let Some(c) = &claim {
                if let Some(record) = read_idempotency(tx, op.user, c.scope, &c.key, op.now)? {
                    return Err(MoneyError::KeyUsed(Box::new(record)));
                }
            }
            let (balance, version) = account(tx, op.user)
                .context("Failed to read the balance")?
                .ok_or(MoneyError::UserNotFound)?;
            let entry = op.entry(balance, version as u64)?;
            post_entry(tx, &entry).context("Failed to post the entry")?;
            if let Some(transfer) = op.pending_transfer() {
                if account(tx, transfer.to_user)
                    .context("Failed to read the recipient")?
                    .is_none()
                {
                    return Err(MoneyError::RecipientNotFound);
                }
                insert_transfer(tx, &transfer, entry.seq).context("Failed to record the transfer")?;
            }
            if let Some(c) = &claim {
                tx.prepare_cached("INSERT OR REPLACE INTO idempotency (user_id, scope, key, request_hash, entry, expires_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)").context("Failed to prepare the idempotency record")?.execute(params![op.user, c.scope, c.key, c.request_hash, serde_json::to_string(&entry).context("encode entry")?, c.expires_at],
                )
                .context("Failed to record the idempotency key")?;
            }
            if let Some(code) = &op.code {
                if !super::factors::use_code(tx, op.user, code)
                    .context("Failed to use the second-factor code")?
                {
                    return Err(MoneyError::CodeUsed);
                }
            }
            Ok(entry)
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn idempotency_record(
        &self,
        user: UserId,
        scope: &str,
        key: &str,
        now: Millis,
    ) -> StoreResult<Option<IdempotencyRecord>> {
        let (scope, key) = (scope.to_string(), key.to_string());
        self.read(move |c| read_idempotency(c, user, &scope, &key, now))
            .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn list_entries(
        &self,
        user: UserId,
        before_seq: Option<u64>,
        limit: usize,
    ) -> StoreResult<Vec<LedgerEntry>> {
        self.read(move |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {ENTRY_COLUMNS} FROM entries WHERE user_id = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3"
            ))?;
            let before = before_seq.map_or(i64::MAX, |s| s as i64);
            let entries = stmt
                .query_map(params![user, before, limit as i64], entry_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(entries)
        })
        .await
    }
}
