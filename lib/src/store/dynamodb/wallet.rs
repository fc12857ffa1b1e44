//! Balances, ledger entries and idempotency records.

use anyhow::Context;
use async_trait::async_trait;

use super::items::{
    balance_update, code_use, entry_item, entry_sk, idem_sk, idempotency_item, inbox_made,
    inbox_open, inbox_shard, n, parse_balance, parse_entry, parse_idempotency, pending_in_made,
    put_idempotency, put_new, s, transfer_item, user_pk, Action, Transaction, INBOX_SHARD,
};
use super::{backoff, DynamoStore};
use crate::domain::{Millis, UserId};
use crate::store::{
    IdempotencyClaim, IdempotencyRecord, LedgerEntry, MoneyError, MoneyOp, MoneyOpKind, ReadStore,
    Reads, StoreResult, WalletStore,
};

impl DynamoStore {
    /// Opens shard `shard` of `to`'s inbox; false when there is no such account.
    async fn open_inbox(&self, to: UserId, shard: u32) -> StoreResult<bool> {
        let [check, open] = inbox_open(&self.table, to, shard)?;
        let mut tx = Transaction::default();
        tx.push(Action::Recipient, check).push(Action::Inbox, open);
        match self.transact_through_conflicts(&tx, "open inbox").await? {
            Ok(()) => Ok(true),
            Err(cancelled) if cancelled.failed(Action::Recipient) => Ok(false),
            Err(cancelled) => Err(anyhow::anyhow!(
                "opening an inbox was cancelled: {cancelled}"
            )),
        }
    }
}

#[async_trait]
impl WalletStore for DynamoStore {
    #[tracing::instrument(level = "debug", skip_all)]
    async fn apply(
        &self,
        op: &MoneyOp,
        claim: Option<&IdempotencyClaim>,
    ) -> Result<LedgerEntry, MoneyError> {
        // The account as the caller read it, else one read of the account and the key.
        let mut seen = match op.seen {
            Some(seen) => seen,
            None => {
                let reads = Reads {
                    account: Some(op.user),
                    idempotency: claim.map(|c| (op.user, c.scope, c.key.clone())),
                    ..Reads::default()
                };
                let snap = self.read(&reads, op.now).await?;
                if let Some(record) = snap.idempotency {
                    return Err(MoneyError::KeyUsed(Box::new(record)));
                }
                let account = snap.account.ok_or(MoneyError::UserNotFound)?;
                (account.balance, account.version)
            }
        };
        for attempt in 1..=self.money_attempts {
            let entry = op.entry(seen.0, seen.1)?;
            let mut tx = Transaction::default();
            let transfer = match (op.kind, op.pending_transfer()) {
                (MoneyOpKind::Transfer { to }, Some(transfer)) => Some((to, transfer)),
                _ => None,
            };
            tx.push(Action::Balance, balance_update(&self.table, &entry)?);
            tx.push(Action::Entry, put_new(&self.table, entry_item(&entry))?);
            if let Some((to, transfer)) = &transfer {
                let mut item = transfer_item(transfer, entry.seq);
                // The recipient must exist (its inbox is open), and counts the transfer as
                // pending until it ends: it can't close meanwhile (the sender can't either: its
                // entry is pending). The inbox is not the recipient's item, so making the
                // transfer does not conflict with the recipient's credits.
                let counted = if self.inbox {
                    let shard = inbox_shard(&transfer.transfer_id);
                    item.insert(INBOX_SHARD.into(), n(shard));
                    inbox_made(&self.table, *to, shard)?
                } else {
                    pending_in_made(&self.table, *to)?
                };
                tx.push(Action::Transfer, put_new(&self.table, item)?);
                tx.push(Action::Recipient, counted);
            }
            if let Some(code) = &op.code {
                let (action, write) = code_use(&self.table, op.user, code)?;
                tx.push(action, write);
            }
            if let Some(c) = claim {
                let record = idempotency_item(op.user, c, &entry)?;
                tx.push(
                    Action::Idempotency,
                    put_idempotency(&self.table, record, op.now)?,
                );
            }
            let Err(cancelled) = self.transact(&tx, "money").await? else {
                return Ok(entry);
            };
            // The key was used (possibly concurrently): answer as that request did.
            if let Some(old) = cancelled.old_item(Action::Idempotency) {
                if let Some(record) = parse_idempotency(old, op.now)? {
                    return Err(MoneyError::KeyUsed(Box::new(record)));
                }
            }
            if cancelled.failed(Action::Recipient) {
                // The shard of the recipient's inbox is not open yet: open it if the
                // recipient exists, and try again.
                let Some((to, transfer)) = transfer.as_ref().filter(|_| self.inbox) else {
                    return Err(MoneyError::RecipientNotFound);
                };
                if !self
                    .open_inbox(*to, inbox_shard(&transfer.transfer_id))
                    .await?
                {
                    return Err(MoneyError::RecipientNotFound);
                }
                continue;
            }
            if cancelled.failed(Action::Factor) || cancelled.failed(Action::Recovery) {
                return Err(MoneyError::CodeUsed);
            }
            if cancelled.failed(Action::Balance) {
                // The version moved: the failed condition returned the account as it is now.
                let account = cancelled
                    .old_item(Action::Balance)
                    .ok_or(MoneyError::UserNotFound)?;
                seen = parse_balance(account)?;
            } else if !cancelled.retryable() {
                return Err(anyhow::anyhow!("money write cancelled: {cancelled}").into());
            }
            backoff(attempt).await;
        }
        Err(MoneyError::Contention)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn idempotency_record(
        &self,
        user: UserId,
        scope: &str,
        key: &str,
        now: Millis,
    ) -> StoreResult<Option<IdempotencyRecord>> {
        match self.get(user_pk(user), &idem_sk(scope, key)).await? {
            Some(item) => parse_idempotency(&item, now),
            None => Ok(None),
        }
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn list_entries(
        &self,
        user: UserId,
        before_seq: Option<u64>,
        limit: usize,
    ) -> StoreResult<Vec<LedgerEntry>> {
        let upper = match before_seq {
            Some(0) => return Ok(Vec::new()),
            Some(seq) => entry_sk(seq - 1),
            None => entry_sk(u64::MAX),
        };
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :lo AND :hi")
            .expression_attribute_values(":pk", s(user_pk(user)))
            .expression_attribute_values(":lo", s("TX#"))
            .expression_attribute_values(":hi", s(upper))
            .scan_index_forward(false)
            .consistent_read(true)
            .limit(limit.clamp(1, 1000) as i32)
            .send()
            .await
            .context("DynamoDB Query (entries) failed")?;
        out.items().iter().map(parse_entry).collect()
    }
}
