//! The production store: one DynamoDB table, items keyed `pk`/`sk` (see design.md).
//!
//! | item | pk / sk |
//! |---|---|
//! | user | `USER#id` / `PROFILE` (with `settled_in`: how many transfers made in its inbox have ended) |
//! | inbox shard (a user's count of the transfers made to it) | `INBOX#id#00`…`#07` / `INBOX` (`made`) |
//! | identifier guard | `USERNAME#lower`, `EMAIL#lower`, `PHONE#as-given` / `GUARD` |
//! | refresh family | `USER#id` / `SESSION#sid` (TTL `expires_at`) |
//! | login throttle | `THROTTLE#key` / `THROTTLE` (TTL `expires_at` for unknown identifiers) |
//! | ledger entry | `USER#id` / `TX#<account version, 20 digits>` |
//! | idempotency record | `USER#id` / `IDEM#<route>#<key>` (TTL `expires_at`) |
//! | transfer | `TRANSFER#id` / `TRANSFER`; `inbox_shard`, the shard of its recipient's inbox it was counted in; while `PENDING` also `pending_shard`/`pending_since`, the keys of the sparse index `pending`; `transfer_status` (`SUCCESS#07`: the status and one of 32 shards) and `transfer_order`, the keys of `transfers_by_status` |
//!
//! Throttle state lives in its own item rather than on the user item so that login failures
//! never contend with the balance writes that version the user item.
//!
//! `items` builds and parses every item kind and names the actions of a transaction; the other
//! files implement one part of the port each.

mod audit;
pub mod batch;
mod entities;
mod factors;
mod identity;
mod items;
mod operators;
mod reads;
mod resets;
mod sessions;
pub mod stream_audit;
mod throttle;
mod transfers;
mod wallet;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use aws_sdk_dynamodb::Client;

use crate::store::StoreResult;
use items::{s, Cancelled, Item, Transaction};

/// `on` (the default) or `off`: [`DynamoStore::with_inbox`].
pub const TRANSFER_INBOX: &str = "DOMPET_TRANSFER_INBOX";

/// How many times a transaction that lost to a concurrent one (`TransactionConflict`) is retried.
const CONFLICT_RETRIES: u32 = 8;

/// How many times a money write whose account version moved is re-read and retried before
/// answering `CONCURRENT_UPDATE`.
const MONEY_ATTEMPTS: u32 = 12;

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    money_attempts: u32,
    inbox: bool,
    cancellations: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            money_attempts: MONEY_ATTEMPTS,
            inbox: true,
            cancellations: Arc::default(),
        }
    }

    /// How many times a money write whose account moved meanwhile is tried before answering
    /// `CONCURRENT_UPDATE` (default 12; tests lower it to provoke contention).
    pub fn with_money_attempts(mut self, attempts: u32) -> Self {
        self.money_attempts = attempts.max(1);
        self
    }

    /// Whether a new transfer is counted in its recipient's inbox (the default), or, with
    /// `false`, on the recipient's account item as versions before inboxes did: the first of
    /// two deploys over a table those versions wrote (README, "Upgrading to inboxes"), while
    /// their workers and closings may still run. Both kinds are settled and closed on alike.
    pub fn with_inbox(mut self, inbox: bool) -> Self {
        self.inbox = inbox;
        self
    }

    /// A client from the SDK's standard environment (region, credentials,
    /// `AWS_ENDPOINT_URL_DYNAMODB`), or at [`crate::ENDPOINT_URL_DYNAMODB`] when that is set.
    pub async fn from_env(table: impl Into<String>) -> anyhow::Result<Self> {
        let mut config = aws_sdk_dynamodb::config::Builder::from(crate::aws_config().await?);
        if let Some(url) = crate::endpoint_override(crate::ENDPOINT_URL_DYNAMODB) {
            config = config.endpoint_url(url);
        }
        let inbox = match std::env::var(TRANSFER_INBOX).as_deref() {
            Err(_) | Ok("on") => true,
            Ok("off") => false,
            Ok(other) => anyhow::bail!("{TRANSFER_INBOX} is `on` or `off`, not `{other}`"),
        };
        Ok(Self::new(Client::from_conf(config.build()), table).with_inbox(inbox))
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// How many transactions were cancelled (a failed condition or a concurrent transaction;
    /// each is then read again and retried, or answered) since this store was made, by what
    /// they wrote (`money`, `settle`, …); clones share the count. For measurements.
    pub fn cancellations(&self) -> BTreeMap<String, u64> {
        self.cancellations
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
    }

    /// A strongly consistent GetItem.
    async fn get(&self, pk: String, sk: &str) -> StoreResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .context("DynamoDB GetItem failed")?;
        Ok(out.item)
    }

    /// Every item of partition `pk` whose sort key is in `keys`, by consistent `Query` pages
    /// (`what` names it in errors).
    async fn query_partition(
        &self,
        pk: String,
        keys: SortKeys<'_>,
        what: &str,
    ) -> StoreResult<Vec<Item>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .expression_attribute_values(":pk", s(pk.clone()));
            query = match keys {
                SortKeys::All => query.key_condition_expression("pk = :pk"),
                SortKeys::Prefix(prefix) => query
                    .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                    .expression_attribute_values(":prefix", s(prefix)),
                SortKeys::Between(low, high) => query
                    .key_condition_expression("pk = :pk AND sk BETWEEN :low AND :high")
                    .expression_attribute_values(":low", s(low))
                    .expression_attribute_values(":high", s(high)),
            };
            let out = query
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .with_context(|| format!("DynamoDB Query ({what}) failed"))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(key) => start = Some(key),
                None => return Ok(items),
            }
        }
    }

    /// [`Self::transact`], tried again (with backoff, a bounded number of times) while a
    /// concurrent transaction on the same items is all that cancelled it; a failed condition
    /// is answered at once.
    async fn transact_through_conflicts(
        &self,
        tx: &Transaction,
        what: &str,
    ) -> anyhow::Result<Result<(), Cancelled>> {
        let mut attempt = 0;
        loop {
            match self.transact(tx, what).await? {
                Err(c)
                    if c.first_failed().is_none()
                        && c.conflicted()
                        && attempt < CONFLICT_RETRIES =>
                {
                    attempt += 1;
                    backoff(attempt).await;
                }
                outcome => return Ok(outcome),
            }
        }
    }

    /// Puts a versioned record (`item` carries version `expected + 1`) if the stored one is
    /// still at `expected`, or, with `None`, if there is none live (absent, or past its TTL
    /// `expires_at` at `now`); false when someone else wrote first.
    async fn put_versioned(
        &self,
        item: Item,
        expected: Option<u64>,
        now: crate::domain::Millis,
        what: &str,
    ) -> StoreResult<bool> {
        let req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        let req = match expected {
            None => req
                .condition_expression("attribute_not_exists(pk) OR expires_at <= :now")
                .expression_attribute_values(":now", items::n(now.div_euclid(1000))),
            Some(v) => req
                .condition_expression("version = :v")
                .expression_attribute_values(":v", items::n(v)),
        };
        match req.send().await {
            Ok(_) => Ok(true),
            Err(e) if items::condition_failed(&e) => Ok(false),
            Err(e) => {
                Err(anyhow::Error::new(e).context(format!("DynamoDB PutItem ({what}) failed")))
            }
        }
    }

    /// Runs one transaction: `Ok(Ok(()))` when it committed, `Ok(Err(cancelled))` with each
    /// action's cancellation reason when a condition or a concurrent transaction cancelled it.
    async fn transact(
        &self,
        tx: &Transaction,
        what: &str,
    ) -> anyhow::Result<Result<(), Cancelled>> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(tx.items()))
            .send()
            .await
        {
            Ok(_) => Ok(Ok(())),
            Err(err) => match tx.cancelled(&err) {
                Some(cancelled) => {
                    if let Ok(mut counts) = self.cancellations.lock() {
                        *counts.entry(what.to_string()).or_default() += 1;
                    }
                    Ok(Err(cancelled))
                }
                None => Err(anyhow::Error::new(err)
                    .context(format!("DynamoDB TransactWriteItems ({what}) failed"))),
            },
        }
    }
}

/// Which sort keys of a partition a query reads.
#[derive(Debug, Clone, Copy)]
pub(super) enum SortKeys<'a> {
    All,
    Prefix(&'a str),
    /// From the first to the second, both included.
    Between(&'a str, &'a str),
}

async fn backoff(attempt: u32) {
    let jitter = rand::random::<u64>() % 20;
    tokio::time::sleep(Duration::from_millis(5 * u64::from(attempt) + jitter)).await;
}
