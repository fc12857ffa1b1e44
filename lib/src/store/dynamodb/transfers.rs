//! Transfers: settlement exactly once, and the sharded `pending` index.

use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::items::{
    balance_update_ending, entry_item, entry_status_update, n, parse_balance, parse_transfer,
    pending_shard_key, put_new, recipient_ended, s, transfer_pk, transfer_settlement, user_pk,
    Action, Attrs, Counted, Ended, Item, Transaction, PROFILE, TRANSFER, TRANSFER_SHARDS,
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
    async fn settle_transfers_to(
        &self,
        to_user: &str,
        transfer_ids: &[String],
        now: Millis,
    ) -> Vec<StoreResult<Settlement>> {
        let Ok(to) = UserId::parse(to_user) else {
            return futures::future::join_all(
                transfer_ids
                    .iter()
                    .map(|id| self.settle(id, None, now, Mode::Settle)),
            )
            .await;
        };
        // One chunk after the other: together they would only conflict on the account.
        let mut outcomes = Vec::with_capacity(transfer_ids.len());
        for chunk in transfer_ids.chunks(CREDITS_PER_TRANSACTION) {
            outcomes.extend(self.credit_together(to, chunk, now).await);
        }
        outcomes
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

/// How the rounds of crediting transfers together ended.
enum Rounds {
    /// Every transfer has an outcome or is to be settled on its own.
    Done,
    /// The account kept moving or conflicting through every attempt.
    KeptConflicting,
}

/// How many transfers to one account are credited in one transaction: each takes 3 of its
/// 100 actions (the transfer, the sender's entry, the recipient's new entry), the account 1.
const CREDITS_PER_TRANSACTION: usize = 33;

impl DynamoStore {
    /// Credits transfers to `to` in one transaction: their entries on the account in a row,
    /// the account written once (its balance, version and count of ended transfers), each
    /// transfer and its sender's entry marked `SUCCESS`; a lost race reads all again. What
    /// can't be credited with the others (a transfer to another account or twice in the
    /// list, an account that is gone, an amount past the balance's range), or when crediting
    /// them together fails, is settled on its own afterwards.
    async fn credit_together(
        &self,
        to: UserId,
        ids: &[String],
        now: Millis,
    ) -> Vec<StoreResult<Settlement>> {
        let mut outcomes: Vec<Option<StoreResult<Settlement>>> = ids.iter().map(|_| None).collect();
        let mut alone = vec![false; ids.len()];
        match self
            .credit_rounds(to, ids, now, &mut outcomes, &mut alone)
            .await
        {
            Ok(Rounds::Done) => {}
            // Other writers keep winning on the account: settling each on its own would only
            // add to them. What is left fails, and its delivery comes back later.
            Ok(Rounds::KeptConflicting) => {
                for (outcome, alone) in outcomes.iter_mut().zip(&mut alone) {
                    if outcome.is_none() {
                        *alone = false;
                        *outcome = Some(Err(anyhow::anyhow!(
                            "crediting transfers to {to} kept conflicting"
                        )));
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = ?e, recipient = %to, "crediting transfers together failed; settling each on its own");
            }
        }
        let mut settled = Vec::with_capacity(ids.len());
        for (id, outcome) in ids.iter().zip(outcomes) {
            settled.push(match outcome {
                Some(outcome) => outcome,
                None => self.settle(id, Some(to), now, Mode::Settle).await,
            });
        }
        settled
    }

    /// The rounds of [`Self::credit_together`]: fills `outcomes` with what it decided and
    /// marks in `alone` what must be settled on its own.
    async fn credit_rounds(
        &self,
        to: UserId,
        ids: &[String],
        now: Millis,
        outcomes: &mut [Option<StoreResult<Settlement>>],
        alone: &mut [bool],
    ) -> StoreResult<Rounds> {
        let account_key = (user_pk(to), PROFILE.to_string());
        let keys: Vec<(String, String)> = ids
            .iter()
            .map(|id| (transfer_pk(id), TRANSFER.to_string()))
            .collect();
        for attempt in 1..=MONEY_ATTEMPTS {
            let open: Vec<usize> = (0..ids.len())
                .filter(|&i| outcomes[i].is_none() && !alone[i])
                .collect();
            if open.is_empty() {
                return Ok(Rounds::Done);
            }
            let wanted: Vec<&(String, String)> = open
                .iter()
                .map(|&i| &keys[i])
                .chain(std::iter::once(&account_key))
                .collect();
            let mut found = self.batch_get(&wanted).await?;
            let Some(account) = found.remove(&account_key) else {
                // No account to credit: each is refunded on its own.
                open.iter().for_each(|&i| alone[i] = true);
                return Ok(Rounds::Done);
            };
            let (mut balance, seen) = parse_balance(&account)?;
            let mut version = seen;
            let mut tx = Transaction::default();
            let mut ended = Ended::default();
            let mut credited = Vec::new();
            let mut last = None;
            let mut listed = std::collections::HashSet::new();
            for &i in &open {
                // Listed twice: the second is settled on its own, after (it finds it settled).
                if !listed.insert(&ids[i]) {
                    alone[i] = true;
                    continue;
                }
                let Some(item) = found.remove(&keys[i]) else {
                    outcomes[i] = Some(Ok(Settlement::Unknown));
                    continue;
                };
                let (t, sender_seq) = parse_transfer(&item)?;
                if t.status != TxStatus::Pending {
                    outcomes[i] = Some(Ok(Settlement::AlreadySettled));
                    continue;
                }
                let entry = (t.to_user == to)
                    .then(|| t.settlement_entry(false, balance, version, now))
                    .flatten();
                let Some(entry) = entry else {
                    alone[i] = true;
                    continue;
                };
                (balance, version) = (entry.balance_after, entry.seq);
                ended.add(Counted::of(&item));
                self.push_end(&mut tx, &t, sender_seq, TxStatus::Success, false, now)?;
                tx.push(Action::Entry, put_new(&self.table, entry_item(&entry))?);
                credited.push(i);
                last = Some(entry);
            }
            let Some(last) = last else {
                return Ok(Rounds::Done);
            };
            tx.push(
                Action::Balance,
                balance_update_ending(&self.table, seen, &last, ended)?,
            );
            match self.transact(&tx, "settle").await? {
                Ok(()) => {
                    credited
                        .into_iter()
                        .for_each(|i| outcomes[i] = Some(Ok(Settlement::Credited)));
                    return Ok(Rounds::Done);
                }
                Err(cancelled) if cancelled.failed(Action::SenderEntry) => {
                    anyhow::bail!("a sender's entry of the transfers to {to} is missing")
                }
                // The account moved, a transfer was settled meanwhile (read again, it is no
                // longer pending), or a concurrent transaction: read again.
                Err(cancelled) if cancelled.retryable() => backoff(attempt).await,
                Err(cancelled) => {
                    anyhow::bail!("crediting transfers to {to} was cancelled: {cancelled}")
                }
            }
        }
        Ok(Rounds::KeptConflicting)
    }

    /// Adds to `tx` the end of pending transfer `t` in `status` (with `suspense`): the
    /// transfer marked, on the condition that it is still pending, and its sender's entry
    /// (`sender_seq`).
    fn push_end(
        &self,
        tx: &mut Transaction,
        t: &Transfer,
        sender_seq: u64,
        status: TxStatus,
        suspense: bool,
        now: Millis,
    ) -> anyhow::Result<()> {
        tx.push(
            Action::Settlement,
            transfer_settlement(&self.table, &t.transfer_id, status, suspense, now)?,
        );
        tx.push(
            Action::SenderEntry,
            entry_status_update(&self.table, t.from_user, sender_seq, status)?,
        );
        Ok(())
    }

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
            let counted = Counted::of(&item);
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
            let suspended = outcome == Settlement::Suspended;
            self.push_end(&mut tx, &t, sender_seq, final_status, suspended, now)?;
            // A credited recipient no longer counts the transfer as pending (the sender's
            // entry says it is settled).
            let ended = match outcome {
                Settlement::Credited => Ended::one(counted),
                _ => Ended::default(),
            };
            if let Some(entry) = &entry {
                tx.push(
                    Action::Balance,
                    balance_update_ending(&self.table, entry.seq - 1, entry, ended)?,
                );
                tx.push(Action::Entry, put_new(&self.table, entry_item(entry))?);
            }
            if uncounted {
                tx.push(
                    Action::Recipient,
                    recipient_ended(&self.table, to, Ended::one(counted))?,
                );
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
