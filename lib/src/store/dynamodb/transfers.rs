//! Transfers: settlement exactly once, and the sharded `pending` index.

use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::items::{
    balance_update_counting, entry_item, entry_status_update, n, parse_balance, parse_transfer,
    pending_in_update, pending_shard_key, put_new, s, transfer_pk, transfer_settlement, user_pk,
    Action, Attrs, Item, Transaction, PROFILE, TRANSFER, TRANSFER_SHARDS,
};
use super::{backoff, DynamoStore, MONEY_ATTEMPTS};
use crate::domain::{Millis, UserId};
use crate::store::{PendingPage, Settlement, StoreResult, Transfer, TransferStore, TxStatus};

/// Where a walk over the sharded `pending` index continues.
#[derive(serde::Serialize, serde::Deserialize)]
struct PendingCursor {
    shard: u32,
    key: Option<std::collections::BTreeMap<String, KeyValue>>,
}

/// A key attribute of the `pending` index (strings and numbers only), as a cursor holds it.
#[derive(serde::Serialize, serde::Deserialize)]
enum KeyValue {
    S(String),
    N(String),
}

impl KeyValue {
    fn from_attribute(v: &AttributeValue) -> anyhow::Result<Self> {
        match v {
            AttributeValue::S(s) => Ok(Self::S(s.clone())),
            AttributeValue::N(n) => Ok(Self::N(n.clone())),
            other => anyhow::bail!("unexpected key attribute {other:?}"),
        }
    }

    fn into_attribute(self) -> AttributeValue {
        match self {
            Self::S(s) => AttributeValue::S(s),
            Self::N(n) => AttributeValue::N(n),
        }
    }
}

/// How a transfer is settled: as the worker settles it (the recipient credited, or the sender
/// refunded when it can't be), or given up after its settlement kept failing (the sender
/// refunded). Either way the money is held in suspense when nobody can take it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Settle,
    Refund,
}

#[async_trait]
impl TransferStore for DynamoStore {
    #[tracing::instrument(level = "debug", skip_all)]
    async fn settle_transfer(&self, transfer_id: &str, now: Millis) -> StoreResult<Settlement> {
        self.settle(transfer_id, None, now, Mode::Settle).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn give_up_transfer(&self, transfer_id: &str, now: Millis) -> StoreResult<Settlement> {
        // An error (the store unavailable, the accounts too busy) is no reason to hold the
        // money: the message fails, and a later delivery gives it up again.
        self.settle(transfer_id, None, now, Mode::Refund).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn settle_transfer_to(
        &self,
        transfer_id: &str,
        to_user: &str,
        now: Millis,
    ) -> StoreResult<Settlement> {
        match UserId::parse(to_user) {
            Ok(to) => self.settle(transfer_id, Some(to), now, Mode::Settle).await,
            Err(_) => self.settle(transfer_id, None, now, Mode::Settle).await,
        }
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn get_transfer(&self, transfer_id: &str) -> StoreResult<Option<Transfer>> {
        Ok(self
            .get(transfer_pk(transfer_id), TRANSFER)
            .await?
            .as_ref()
            .map(parse_transfer)
            .transpose()?
            .map(|(t, _)| t))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn pending_transfers(
        &self,
        created_before: Millis,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<PendingPage> {
        // The index is sharded: a page is one Query of one shard, the cursor names the shard
        // and the Query's LastEvaluatedKey within it.
        let (shard, start) = match cursor {
            None => (0, None),
            Some(c) => {
                let cursor: PendingCursor =
                    serde_json::from_str(c).context("bad pending cursor")?;
                (cursor.shard, cursor.key)
            }
        };
        if shard >= TRANSFER_SHARDS {
            return Ok(PendingPage::default());
        }
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("pending")
            .key_condition_expression("pending_shard = :shard AND pending_since < :before")
            .expression_attribute_values(":shard", s(pending_shard_key(shard)))
            .expression_attribute_values(":before", n(created_before))
            .set_exclusive_start_key(start.map(|k| {
                k.into_iter()
                    .map(|(name, value)| (name, value.into_attribute()))
                    .collect()
            }))
            .limit(limit.clamp(1, 1000) as i32)
            .send()
            .await
            .context("DynamoDB Query (pending transfers) failed")?;
        let mut ids = Vec::with_capacity(out.items().len());
        for item in out.items() {
            if let Some(id) = Attrs(item).req_s("pk")?.strip_prefix("TRANSFER#") {
                ids.push(id.to_string());
            }
        }
        let next = match out.last_evaluated_key() {
            Some(key) => Some(PendingCursor {
                shard,
                key: Some(
                    key.iter()
                        .map(|(name, value)| Ok((name.clone(), KeyValue::from_attribute(value)?)))
                        .collect::<anyhow::Result<_>>()?,
                ),
            }),
            None if shard + 1 < TRANSFER_SHARDS => Some(PendingCursor {
                shard: shard + 1,
                key: None,
            }),
            None => None,
        };
        Ok(PendingPage {
            ids,
            next: next.map(|c| serde_json::to_string(&c)).transpose()?,
        })
    }
}

impl DynamoStore {
    /// Settles a transfer: one read of the transfer (with its recipient's account when
    /// `recipient` names it), then one transaction; a lost race reads again.
    async fn settle(
        &self,
        transfer_id: &str,
        recipient: Option<UserId>,
        now: Millis,
        mode: Mode,
    ) -> StoreResult<Settlement> {
        let transfer_key = (transfer_pk(transfer_id), TRANSFER.to_string());
        let recipient_key = recipient.map(|to| (user_pk(to), PROFILE.to_string()));
        for attempt in 1..=MONEY_ATTEMPTS {
            let keys: Vec<&(String, String)> = std::iter::once(&transfer_key)
                .chain(&recipient_key)
                .collect();
            let mut found = self.batch_get(&keys).await?;
            let Some(item) = found.remove(&transfer_key) else {
                return Ok(Settlement::Unknown);
            };
            let (t, sender_seq) = parse_transfer(&item)?;
            if t.status != TxStatus::Pending {
                return Ok(Settlement::AlreadySettled);
            }
            let to = t.to_user;
            let from = t.from_user;
            // The recipient's account as read with the transfer, when that was the right one.
            let read_with_transfer = match &recipient_key {
                Some(key) if recipient == Some(to) => Some(found.remove(key)),
                _ => None,
            };
            let transfer = &t;
            let settlement_on = |item: Option<Item>, refund: bool| {
                Ok::<_, anyhow::Error>(match item {
                    Some(item) => {
                        let (balance, version) = parse_balance(&item)?;
                        transfer.settlement_entry(refund, balance, version, now)
                    }
                    None => None,
                })
            };
            let recipient_item = match read_with_transfer {
                Some(read) => read,
                None => self.get(user_pk(to), PROFILE).await?,
            };
            // However the transfer ends, an existing recipient no longer counts it as pending.
            let recipient_exists = recipient_item.is_some();
            let credit = match mode {
                Mode::Settle => settlement_on(recipient_item, false)?,
                Mode::Refund => None,
            };
            let refund = match &credit {
                Some(_) => None,
                None => settlement_on(self.get(user_pk(from), PROFILE).await?, true)?,
            };
            let (entry, outcome) = match (credit, refund) {
                (Some(entry), _) => (Some(entry), Settlement::Credited),
                (None, Some(entry)) => (Some(entry), Settlement::Refunded),
                (None, None) => (None, Settlement::Suspended),
            };
            let uncounted = recipient_exists && outcome != Settlement::Credited;
            let final_status = outcome.final_status();
            let mut tx = Transaction::default();
            tx.push(
                Action::Settlement,
                transfer_settlement(
                    &self.table,
                    transfer_id,
                    final_status,
                    outcome == Settlement::Suspended,
                    now,
                )?,
            );
            tx.push(
                Action::SenderEntry,
                entry_status_update(&self.table, t.from_user, sender_seq, final_status)?,
            );
            // A credited recipient no longer counts the transfer as pending (the sender's
            // entry says it is settled).
            let pending_in = (outcome == Settlement::Credited).then_some(-1);
            if let Some(entry) = &entry {
                tx.push(
                    Action::Balance,
                    balance_update_counting(&self.table, entry, pending_in)?,
                );
                tx.push(Action::Entry, put_new(&self.table, entry_item(entry))?);
            }
            if uncounted {
                tx.push(Action::Recipient, pending_in_update(&self.table, to, -1)?);
            }
            let Err(cancelled) = self.transact(&tx, "settle").await? else {
                return Ok(outcome);
            };
            if cancelled.failed(Action::Settlement) {
                return Ok(Settlement::AlreadySettled);
            }
            if cancelled.failed(Action::SenderEntry) {
                anyhow::bail!("the sender's entry of transfer {transfer_id} is missing");
            }
            backoff(attempt).await;
        }
        anyhow::bail!("settling transfer {transfer_id} kept conflicting")
    }
}
