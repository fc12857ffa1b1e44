//! Operators' reads: transfers by status and the money check in one read transaction.

use anyhow::Context;
use async_trait::async_trait;
use rusqlite::params;

use super::identity::identifier_column;
use super::transfers::{transfer_from_row, TRANSFER_COLUMNS};
use super::SqliteStore;
use crate::domain::{LoginIdentifier, Millis};
use crate::store::{
    chain_holds, MoneyCheck, OperatorStore, Role, StoreResult, Transfer, TransferPosition, TxStatus,
};

#[async_trait]
impl OperatorStore for SqliteStore {
    #[tracing::instrument(level = "debug", skip_all)]
    async fn list_transfers(
        &self,
        status: TxStatus,
        before: Option<&TransferPosition>,
        limit: usize,
    ) -> StoreResult<Vec<Transfer>> {
        let before = before.cloned();
        self.read(move |c| {
            let (at, id) =
                before.map_or((i64::MAX, String::new()), |b| (b.created_at, b.transfer_id));
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {TRANSFER_COLUMNS} FROM transfers WHERE status = ?1 \
                 AND (created_at < ?2 OR (created_at = ?2 AND ?3 <> '' AND transfer_id < ?3)) \
                 ORDER BY created_at DESC, transfer_id DESC LIMIT ?4"
            ))?;
            let rows = stmt.query_map(
                params![status.as_str(), at, id, limit as i64],
                transfer_from_row,
            )?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn oldest_pending(&self) -> StoreResult<Option<Millis>> {
        self.read(|c| {
            Ok(
                c.prepare_cached("SELECT MIN(created_at) FROM transfers WHERE status = 'PENDING'")?
                    .query_row([], |r| r.get::<_, Option<i64>>(0))?,
            )
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn money_check(&self, now: Millis) -> StoreResult<Option<MoneyCheck>> {
        self.scan(move |c| {
            // One read transaction: every sum below sees the same committed state.
            let tx = c.unchecked_transaction()?;
            let sum = |sql: &str| -> rusqlite::Result<i64> {
                tx.prepare_cached(sql)?.query_row([], |r| r.get::<_, Option<i64>>(0))
                    .map(Option::unwrap_or_default)
            };
            let mut check = MoneyCheck {
                balances: sum("SELECT SUM(balance) FROM users")?,
                pending: sum("SELECT SUM(amount) FROM transfers WHERE status = 'PENDING'")?,
                suspense: sum("SELECT SUM(amount) FROM transfers WHERE suspense = 1")?,
                top_ups: sum("SELECT SUM(amount) FROM entries WHERE kind = 'TOP_UP'")?,
                payments: sum("SELECT SUM(amount) FROM entries WHERE kind = 'PAYMENT'")?,
                checked_at: now,
                ..MoneyCheck::default()
            };
            let mut counts = tx.prepare("SELECT status, COUNT(*) FROM transfers GROUP BY status")?;
            let rows = counts.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?)))?;
            for row in rows {
                let (status, n) = row?;
                match TxStatus::parse(&status) {
                    Some(TxStatus::Pending) => check.transfers_pending = n,
                    Some(TxStatus::Success) => check.transfers_success = n,
                    Some(TxStatus::Failed) => check.transfers_failed = n,
                    None => anyhow::bail!("a transfer has the unknown status {status}"),
                }
            }
            // Every account's chain: entries link by balance and sequence, from 0 up to the
            // account's balance and version.
            let mut accounts = tx.prepare("SELECT user_id, balance, version FROM users")?;
            let accounts: Vec<(String, i64, i64)> = accounts
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let mut entries = tx.prepare_cached(
                "SELECT seq, balance_before, balance_after FROM entries WHERE user_id = ?1 ORDER BY seq",
            )?;
            for (user, balance, version) in accounts {
                let chain: Vec<(i64, i64, i64)> = entries
                    .query_map([&user], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect::<rusqlite::Result<_>>()?;
                check.accounts_checked += 1;
                if !chain_holds(&chain, balance, version) {
                    check.broken_accounts.push(user);
                }
            }
            Ok(Some(check))
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn set_role(&self, identifier: &LoginIdentifier, role: Role) -> StoreResult<bool> {
        let (column, key) = (identifier_column(identifier.kind), identifier.key.clone());
        self.write(move |tx| {
            let n = tx
                .prepare_cached(&format!("UPDATE users SET role = ?1 WHERE {column} = ?2"))?
                .execute(params![role.as_str(), key])
                .context("Failed to set a role")?;
            Ok::<_, anyhow::Error>(n == 1)
        })
        .await
    }
}
