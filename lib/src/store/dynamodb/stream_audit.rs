//! The incremental audit on DynamoDB: it follows the table's stream instead of reading the
//! table, so what it reads follows what was written, not how much is kept.
//!
//! - **Each change is checked as it comes.** An account item whose balance moved from version
//!   `v` to `w` must be explained by its entries `v+1..=w`, chained from the old balance to the
//!   new (they are written in the same transaction, so they are in the same batch or, rarely,
//!   read once from the account's partition). An entry rewritten in anything but its status is
//!   broken.
//! - **The totals are kept from the changes, exactly once.** Each stream shard has one item
//!   (`AUDIT#STREAM` / `SHARD#<id>`) with its totals (Σ balances, pending, suspense, top-ups,
//!   payments, transfers by status, accounts) and the sequence number of the last change
//!   applied; a batch is applied by one write conditional on that number, so a batch delivered
//!   again (or twice at once) counts once.
//! - **The verdict is robust to shards read at different moments.** A transfer writes two
//!   partitions, whose changes reach the function through different shards, so the sum over the
//!   shards is off by the transfers in flight at any instant. Each change is therefore counted in
//!   a bucket of time (the time the application wrote in the item, one for all the items of one
//!   transaction), and each shard keeps its totals at the end of its recent buckets. A bucket
//!   closes a grace period after it ends; the identity (held = entered) is read at closed
//!   buckets only, and an offset counts only when the same offset stands at [`PERSISTS`]
//!   consecutive closed buckets.
//!
//! The stream audit alone only ever says the money holds: an offset that stands, or a ledger
//! seen broken, is confirmed by the full check ([`DynamoStore::audit`], which reads the whole
//! table) before it is reported (`service::operators::scheduled_audit`), since a shard stalled
//! with half a transfer applied looks the same as money from nothing. Operators also run the
//! full check on demand.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::Context;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::items::{
    condition_failed, entry_sk, n, parse_balance, parse_entry, parse_transfer, s, user_pk, Attrs,
    Item, PROFILE, TRANSFER,
};
use super::{DynamoStore, SortKeys};
use crate::domain::Millis;
use crate::store::{EntryKind, MoneyCheck, TxStatus};

/// The partition of the stream audit's own items.
const STREAM_PK: &str = "AUDIT#STREAM";
/// The totals of the shards folded away (shards long closed).
const BASE_SK: &str = "BASE";
/// Consecutive closed buckets an offset must stand at to be reported.
pub const PERSISTS: usize = 3;
/// Buckets of marks a shard keeps (beyond the newest one below them).
const KEPT_MARKS: i64 = 10;
/// A shard item not written for this long is folded into the base: DynamoDB Streams keep
/// records 24 hours, so nothing can be delivered to it again.
const FOLD_AFTER: Millis = 25 * 3_600_000;

/// How the stream audit counts time: the width of a bucket, and how long after its end it
/// closes (the stream's delivery lag it tolerates).
#[derive(Debug, Clone, Copy)]
pub struct Buckets {
    pub width: Millis,
    pub grace: Millis,
}

impl Default for Buckets {
    fn default() -> Self {
        Self {
            width: 60_000,
            grace: 60_000,
        }
    }
}

impl Buckets {
    fn of(&self, at: Millis) -> i64 {
        at.div_euclid(self.width.max(1))
    }

    /// The newest bucket closed at `now`.
    fn latest_closed(&self, now: Millis) -> i64 {
        self.of(now - self.grace) - 1
    }
}

/// The money an item holds or records, as the audit's totals count it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub balances: i64,
    pub pending: i64,
    pub suspense: i64,
    pub top_ups: i64,
    pub payments: i64,
    pub transfers_pending: i64,
    pub transfers_success: i64,
    pub transfers_failed: i64,
    pub accounts: i64,
}

impl Totals {
    fn add(&mut self, o: &Totals, sign: i64) {
        self.balances += sign * o.balances;
        self.pending += sign * o.pending;
        self.suspense += sign * o.suspense;
        self.top_ups += sign * o.top_ups;
        self.payments += sign * o.payments;
        self.transfers_pending += sign * o.transfers_pending;
        self.transfers_success += sign * o.transfers_success;
        self.transfers_failed += sign * o.transfers_failed;
        self.accounts += sign * o.accounts;
    }

    /// Money held less money entered: 0 when the money holds.
    pub fn offset(&self) -> i64 {
        self.balances + self.pending + self.suspense - (self.top_ups - self.payments)
    }

    fn check(&self, now: Millis, broken: Vec<String>) -> MoneyCheck {
        MoneyCheck {
            balances: self.balances,
            pending: self.pending,
            suspense: self.suspense,
            top_ups: self.top_ups,
            payments: self.payments,
            transfers_pending: self.transfers_pending.max(0) as u64,
            transfers_success: self.transfers_success.max(0) as u64,
            transfers_failed: self.transfers_failed.max(0) as u64,
            accounts_checked: self.accounts.max(0) as u64,
            broken_accounts: broken,
            checked_at: now,
        }
    }
}

/// One change of the stream: its sequence number, the item before and after, and the stream's
/// own (approximate) time of it.
#[derive(Debug, Clone)]
pub struct Change {
    pub sequence: String,
    pub old: Option<Item>,
    pub new: Option<Item>,
    pub at: Millis,
}

/// A batch of one shard as Lambda hands it over (a `DynamoDB` event source with a tumbling
/// window, which names the shard).
#[derive(Debug, Deserialize)]
pub struct StreamEvent {
    #[serde(rename = "shardId")]
    pub shard_id: Option<String>,
    #[serde(rename = "Records", default)]
    records: Vec<StreamRecord>,
}

#[derive(Debug, Deserialize)]
struct StreamRecord {
    dynamodb: StreamChange,
}

#[derive(Debug, Deserialize)]
struct StreamChange {
    #[serde(rename = "SequenceNumber")]
    sequence_number: String,
    #[serde(rename = "ApproximateCreationDateTime", default)]
    approximate_creation: Option<f64>,
    #[serde(rename = "NewImage", default)]
    new_image: Option<serde_json::Map<String, Value>>,
    #[serde(rename = "OldImage", default)]
    old_image: Option<serde_json::Map<String, Value>>,
}

impl StreamEvent {
    /// The changes of the batch, their images read from DynamoDB's JSON.
    pub fn changes(&self) -> anyhow::Result<Vec<Change>> {
        self.records
            .iter()
            .map(|r| {
                let c = &r.dynamodb;
                Ok(Change {
                    sequence: c.sequence_number.clone(),
                    old: c.old_image.as_ref().map(image).transpose()?,
                    new: c.new_image.as_ref().map(image).transpose()?,
                    // Seconds (a float) since the epoch.
                    at: c.approximate_creation.map_or(0, |t| (t * 1000.0) as Millis),
                })
            })
            .collect()
    }
}

/// An item from DynamoDB's JSON (`{"name": {"S": "…"}}`).
fn image(map: &serde_json::Map<String, Value>) -> anyhow::Result<Item> {
    map.iter()
        .map(|(k, v)| {
            Ok((
                k.clone(),
                attribute(v).with_context(|| format!("attribute {k}"))?,
            ))
        })
        .collect()
}

fn attribute(v: &Value) -> anyhow::Result<AttributeValue> {
    let (kind, value) = v
        .as_object()
        .and_then(|o| o.iter().next())
        .context("not a typed attribute value")?;
    let strings = |v: &Value| -> anyhow::Result<Vec<String>> {
        v.as_array()
            .context("not a set")?
            .iter()
            .map(|s| s.as_str().map(str::to_string).context("not a string"))
            .collect()
    };
    Ok(match kind.as_str() {
        "S" => AttributeValue::S(value.as_str().context("S")?.to_string()),
        "N" => AttributeValue::N(value.as_str().context("N")?.to_string()),
        "BOOL" => AttributeValue::Bool(value.as_bool().context("BOOL")?),
        "NULL" => AttributeValue::Null(true),
        "SS" => AttributeValue::Ss(strings(value)?),
        "NS" => AttributeValue::Ns(strings(value)?),
        "M" => AttributeValue::M(image(value.as_object().context("M")?)?),
        "L" => AttributeValue::L(
            value
                .as_array()
                .context("L")?
                .iter()
                .map(attribute)
                .collect::<anyhow::Result<_>>()?,
        ),
        // Binary values (B, BS) hold nothing the audit reads.
        _ => AttributeValue::Null(true),
    })
}

/// What a money item is, for the checks.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Account {
        user: String,
        balance: i64,
        version: u64,
    },
    Entry {
        user: String,
        seq: u64,
        before: i64,
        after: i64,
    },
    Transfer,
}

/// A money item: what it counts for, when the application wrote it, and what it is. Other
/// items (sessions, guards, inboxes, the audit's own) are `None`.
fn money_item(item: &Item) -> anyhow::Result<Option<(Totals, Millis, Kind)>> {
    let a = Attrs(item);
    let (Some(pk), Some(sk)) = (a.opt_s("pk"), a.opt_s("sk")) else {
        return Ok(None);
    };
    if let Some(user) = pk.strip_prefix("USER#") {
        if sk == PROFILE {
            let (balance, version) = parse_balance(item)?;
            let totals = Totals {
                balances: balance,
                accounts: 1,
                ..Totals::default()
            };
            let at = a.opt_num("updated_at").unwrap_or(0);
            let user = user.to_string();
            return Ok(Some((
                totals,
                at,
                Kind::Account {
                    user,
                    balance,
                    version,
                },
            )));
        }
        if sk.starts_with("TX#") {
            let e = parse_entry(item)?;
            let mut totals = Totals::default();
            match e.kind {
                EntryKind::TopUp => totals.top_ups = e.amount,
                EntryKind::Payment => totals.payments = e.amount,
                _ => {}
            }
            let kind = Kind::Entry {
                user: user.to_string(),
                seq: e.seq,
                before: e.balance_before,
                after: e.balance_after,
            };
            return Ok(Some((totals, e.created_at, kind)));
        }
    }
    if pk.starts_with("TRANSFER#") && sk == TRANSFER {
        let (t, _) = parse_transfer(item)?;
        let mut totals = Totals::default();
        match t.status {
            TxStatus::Pending => {
                totals.pending = t.amount;
                totals.transfers_pending = 1;
            }
            TxStatus::Success => totals.transfers_success = 1,
            TxStatus::Failed => totals.transfers_failed = 1,
        }
        if t.suspense {
            totals.suspense = t.amount;
        }
        return Ok(Some((
            totals,
            t.settled_at.unwrap_or(t.created_at),
            Kind::Transfer,
        )));
    }
    Ok(None)
}

/// One shard's state, kept in its item.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct ShardState {
    /// The sequence number of the last change applied ("" before any).
    last_seq: String,
    /// Everything applied.
    totals: Totals,
    /// The bucket of the newest change applied, and of the first.
    bucket: Option<i64>,
    since: Option<i64>,
    /// The totals at the end of each recent bucket that had changes (the current one aside).
    marks: BTreeMap<i64, Totals>,
    /// Accounts whose ledger was seen broken.
    broken: BTreeSet<String>,
    /// When the last batch was applied, and how far behind the stream it was.
    applied_at: Millis,
    behind: Millis,
}

impl ShardState {
    /// Counts a change's difference in its bucket (a change dated before the shard's newest
    /// bucket counts in that one).
    fn count(&mut self, delta: &Totals, bucket: i64) {
        match self.bucket {
            None => {
                self.bucket = Some(bucket);
                self.since = Some(bucket);
            }
            Some(current) if bucket > current => {
                self.marks.insert(current, self.totals);
                self.bucket = Some(bucket);
                let keep_from = bucket - KEPT_MARKS;
                // The newest mark below what is kept still answers for the buckets after it.
                if let Some(&floor) = self.marks.range(..keep_from).next_back().map(|(k, _)| k) {
                    self.marks = self.marks.split_off(&floor);
                }
            }
            Some(_) => {}
        }
        self.totals.add(delta, 1);
    }

    /// The totals at the end of bucket `m`, as far as this shard has applied; `None` when its
    /// marks no longer reach back to `m`.
    fn at_end_of(&self, m: i64) -> Option<Totals> {
        match (self.bucket, self.since) {
            (None, _) => Some(Totals::default()),
            (Some(current), _) if current <= m => Some(self.totals),
            (_, Some(since)) if m < since => Some(Totals::default()),
            _ => self.marks.range(..=m).next_back().map(|(_, t)| *t),
        }
    }
}

/// A sequence number (a decimal string of any length) as it orders.
fn in_order(sequence: &str) -> (usize, &str) {
    let digits = sequence.trim_start_matches('0');
    (digits.len(), digits)
}

/// True when sequence number `a` comes after `b`.
fn after(a: &str, b: &str) -> bool {
    in_order(a) > in_order(b)
}

/// A change with its item before and after read as money items (`None`: not one).
type Read<'a> = (
    &'a Change,
    Option<(Totals, Millis, Kind)>,
    Option<(Totals, Millis, Kind)>,
);

/// What applying one batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Changes in the batch, and those applied now (not applied before).
    pub changes: usize,
    pub applied: usize,
    /// Items read (the shard's own, and entries not in the batch).
    pub items_read: u64,
    /// Whether the shard's item was written.
    pub written: bool,
    /// Accounts found broken in this batch.
    pub broken: Vec<String>,
}

/// The stream audit's verdict at one moment.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamVerdict {
    /// The identity read at the newest closed bucket (holding or not), with the accounts whose
    /// ledger was seen broken.
    Checked(MoneyCheck),
    /// The identity is off at the newest closed bucket but not by one offset standing: money in
    /// flight across a bucket's edge, or a shard stalled. No verdict this time.
    Unsettled { offsets: Vec<i64> },
    /// Nothing counted yet (no change of money has reached the stream audit).
    Empty,
    /// A shard is catching up: its last batch, applied within the grace period, was further
    /// behind the stream than that.
    Behind { shard: String, behind: Millis },
}

impl DynamoStore {
    /// Applies one batch of stream shard `shard`, exactly once (see the module's doc).
    pub async fn apply_stream(
        &self,
        shard: &str,
        changes: &[Change],
        now: Millis,
        buckets: Buckets,
    ) -> anyhow::Result<Applied> {
        let mut ordered = changes
            .iter()
            .map(|c| {
                let read = |image: &Option<Item>| image.as_ref().map(money_item).transpose();
                Ok((c, read(&c.old)?.flatten(), read(&c.new)?.flatten()))
            })
            .collect::<anyhow::Result<Vec<Read>>>()?;
        ordered.sort_by(|a, b| in_order(&a.0.sequence).cmp(&in_order(&b.0.sequence)));
        let mut applied = Applied {
            changes: changes.len(),
            ..Applied::default()
        };
        if changes.is_empty() {
            return Ok(applied); // a tumbling window's last call
        }
        loop {
            let stored = self.get(STREAM_PK.to_string(), &shard_sk(shard)).await?;
            applied.items_read += 1;
            let (mut state, previous) = match &stored {
                Some(item) => {
                    let state: ShardState = serde_json::from_str(&Attrs(item).req_s("state")?)
                        .context("a stream audit shard item is not valid")?;
                    let seq = state.last_seq.clone();
                    (state, Some(seq))
                }
                None => (ShardState::default(), None),
            };
            let fresh: Vec<&Read> = ordered
                .iter()
                .filter(|(c, _, _)| after(&c.sequence, &state.last_seq))
                .collect();
            let mut changed = false;
            let mut broken = Vec::new();
            // The newest change's time, as the application wrote it (the stream's own is
            // rounded down to the minute).
            let mut newest = Millis::MIN;
            // The entries written in this batch, by account and number.
            let mut entries: HashMap<(String, u64), (i64, i64)> = HashMap::new();
            for (_, _, new) in &fresh {
                if let Some((
                    _,
                    _,
                    Kind::Entry {
                        user,
                        seq,
                        before,
                        after,
                    },
                )) = new
                {
                    entries.insert((user.clone(), *seq), (*before, *after));
                }
            }
            for (c, old, new) in fresh.iter().copied() {
                if old.is_none() && new.is_none() {
                    continue;
                }
                let mut delta = Totals::default();
                if let Some((t, _, _)) = &new {
                    delta.add(t, 1);
                }
                if let Some((t, _, _)) = &old {
                    delta.add(t, -1);
                }
                let at = new.as_ref().map_or(c.at, |(_, at, _)| *at);
                newest = newest.max(at);
                let kind =
                    |item: &Option<(Totals, Millis, Kind)>| item.as_ref().map(|i| i.2.clone());
                match (kind(old), kind(new)) {
                    (
                        old @ (None | Some(Kind::Account { .. })),
                        Some(Kind::Account {
                            user,
                            balance,
                            version,
                        }),
                    ) => {
                        let (from_balance, from_version) = match old {
                            Some(Kind::Account {
                                balance, version, ..
                            }) => (balance, version),
                            _ => (0, 0),
                        };
                        let holds = self
                            .entries_explain(
                                &user,
                                (from_balance, from_version),
                                (balance, version),
                                &entries,
                                &mut applied.items_read,
                            )
                            .await?;
                        if !holds {
                            broken.push(user);
                        }
                    }
                    // An entry is written once; only its status may change after.
                    (Some(Kind::Entry { user, .. }), new)
                        if new.is_none() || !same_entry(c.old.as_ref(), c.new.as_ref())? =>
                    {
                        broken.push(user);
                    }
                    _ => {}
                }
                if delta != Totals::default() {
                    state.count(&delta, buckets.of(at));
                    changed = true;
                }
            }
            for user in &broken {
                changed |= state.broken.insert(user.clone());
            }
            if !changed {
                applied.broken = broken;
                return Ok(applied);
            }
            if let Some((last, _, _)) = fresh.last() {
                state.last_seq = last.sequence.clone();
            }
            state.applied_at = now;
            state.behind = (now - newest).max(0);
            let mut put = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("pk", s(STREAM_PK))
                .item("sk", s(shard_sk(shard)))
                .item("last_seq", s(&state.last_seq))
                .item("applied_at", n(now))
                .item("state", s(serde_json::to_string(&state)?));
            put = match &previous {
                Some(seq) => put
                    .condition_expression("last_seq = :seq")
                    .expression_attribute_values(":seq", s(seq)),
                None => put.condition_expression("attribute_not_exists(pk)"),
            };
            match put.send().await {
                Ok(_) => {
                    applied.applied = fresh.len();
                    applied.written = true;
                    applied.broken = broken;
                    return Ok(applied);
                }
                // Another delivery of this shard applied meanwhile: read it again.
                Err(e) if condition_failed(&e) => continue,
                Err(e) => {
                    return Err(e).context("DynamoDB PutItem (stream audit shard) failed");
                }
            }
        }
    }

    /// Whether the account's entries `from.1 + 1 ..= to.1` chain its balance from `from.0` to
    /// `to.0`: from the batch's entries, else read from its partition.
    async fn entries_explain(
        &self,
        user: &str,
        from: (i64, u64),
        to: (i64, u64),
        batch: &HashMap<(String, u64), (i64, i64)>,
        items_read: &mut u64,
    ) -> anyhow::Result<bool> {
        if to.1 < from.1 {
            return Ok(false);
        }
        if to.1 == from.1 {
            return Ok(to.0 == from.0);
        }
        let wanted = from.1 + 1..=to.1;
        let mut chain: BTreeMap<u64, (i64, i64)> = wanted
            .clone()
            .filter_map(|seq| batch.get(&(user.to_string(), seq)).map(|e| (seq, *e)))
            .collect();
        if chain.len() as u64 != to.1 - from.1 {
            let (low, high) = (entry_sk(from.1 + 1), entry_sk(to.1));
            let read = self
                .query_partition(
                    user_pk(user),
                    SortKeys::Between(&low, &high),
                    "audit entries",
                )
                .await?;
            *items_read += read.len() as u64;
            for item in &read {
                let e = parse_entry(item)?;
                chain.insert(e.seq, (e.balance_before, e.balance_after));
            }
        }
        let mut expected = (from.1 + 1, from.0);
        for (seq, (before, after)) in chain.range(wanted) {
            if (*seq, *before) != expected {
                return Ok(false);
            }
            expected = (seq + 1, *after);
        }
        Ok(expected == (to.1 + 1, to.0))
    }

    /// The stream audit's verdict at `now`, from every shard's item; shards long idle are
    /// folded into one item first. Also returns the items read.
    pub async fn stream_verdict(
        &self,
        now: Millis,
        buckets: Buckets,
    ) -> anyhow::Result<(StreamVerdict, u64)> {
        let items = self
            .query_partition(STREAM_PK.to_string(), SortKeys::All, "stream audit shards")
            .await?;
        let mut read = items.len() as u64;
        let mut base = (Totals::default(), BTreeSet::new(), None);
        let mut shards = Vec::new();
        for item in &items {
            let a = Attrs(item);
            let sk = a.req_s("sk")?;
            if sk == BASE_SK {
                let (totals, broken): (Totals, BTreeSet<String>) =
                    serde_json::from_str(&a.req_s("state")?)?;
                base = (totals, broken, Some(a.num::<u64>("version")?));
            } else if let Some(shard) = sk.strip_prefix("SHARD#") {
                let state: ShardState = serde_json::from_str(&a.req_s("state")?)?;
                shards.push((shard.to_string(), state));
            }
        }
        let (idle, active): (Vec<_>, Vec<_>) = shards
            .into_iter()
            .partition(|(_, state)| state.applied_at + FOLD_AFTER < now);
        if !idle.is_empty() {
            // Folded (or another verdict folded meanwhile): read again.
            self.fold(&base, &idle).await?;
            let (verdict, more) = Box::pin(self.stream_verdict(now, buckets)).await?;
            read += more;
            return Ok((verdict, read));
        }
        Ok((verdict(&base.0, &base.1, &active, now, buckets), read))
    }

    /// Moves the totals of `idle` shards into the base item, in one transaction conditional
    /// on each shard's last change and the base's version (a transaction cancelled by them
    /// did nothing, and the caller reads again).
    async fn fold(
        &self,
        base: &(Totals, BTreeSet<String>, Option<u64>),
        idle: &[(String, ShardState)],
    ) -> anyhow::Result<()> {
        let (mut totals, mut broken, version) = base.clone();
        // A transaction takes up to 100 actions: the base and 99 shards at a time.
        let chunk = &idle[..idle.len().min(99)];
        let mut actions = Vec::new();
        for (shard, state) in chunk {
            totals.add(&state.totals, 1);
            broken.extend(state.broken.iter().cloned());
            actions.push(
                TransactWriteItem::builder()
                    .delete(
                        Delete::builder()
                            .table_name(&self.table)
                            .key("pk", s(STREAM_PK))
                            .key("sk", s(shard_sk(shard)))
                            .condition_expression("last_seq = :seq")
                            .expression_attribute_values(":seq", s(&state.last_seq))
                            .build()?,
                    )
                    .build(),
            );
        }
        let next = version.map_or(1, |v| v + 1);
        let mut put = Put::builder()
            .table_name(&self.table)
            .item("pk", s(STREAM_PK))
            .item("sk", s(BASE_SK))
            .item("version", n(next))
            .item("state", s(serde_json::to_string(&(totals, broken))?));
        put = match version {
            Some(v) => put
                .condition_expression("version = :v")
                .expression_attribute_values(":v", n(v)),
            None => put.condition_expression("attribute_not_exists(pk)"),
        };
        actions.push(TransactWriteItem::builder().put(put.build()?).build());
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(actions))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_transaction_canceled_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(e).context("DynamoDB TransactWriteItems (stream audit fold) failed"),
        }
    }
}

impl DynamoStore {
    /// Forgets the accounts the stream audit saw broken (once a full check holds), each item
    /// rewritten on the condition that it did not move meanwhile (one that did keeps its own
    /// until the next time).
    pub async fn clear_stream_broken(&self) -> anyhow::Result<()> {
        let items = self
            .query_partition(STREAM_PK.to_string(), SortKeys::All, "stream audit shards")
            .await?;
        for item in &items {
            let a = Attrs(item);
            let sk = a.req_s("sk")?;
            let mut put = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item.clone()));
            if sk == BASE_SK {
                let (totals, broken): (Totals, BTreeSet<String>) =
                    serde_json::from_str(&a.req_s("state")?)?;
                if broken.is_empty() {
                    continue;
                }
                let version = a.num::<u64>("version")?;
                put = put
                    .item("version", n(version + 1))
                    .item(
                        "state",
                        s(serde_json::to_string(&(totals, BTreeSet::<String>::new()))?),
                    )
                    .condition_expression("version = :v")
                    .expression_attribute_values(":v", n(version));
            } else {
                let mut state: ShardState = serde_json::from_str(&a.req_s("state")?)?;
                if state.broken.is_empty() {
                    continue;
                }
                state.broken.clear();
                put = put
                    .item("state", s(serde_json::to_string(&state)?))
                    .condition_expression("last_seq = :seq")
                    .expression_attribute_values(":seq", s(&state.last_seq));
            }
            match put.send().await {
                Ok(_) => {}
                Err(e) if condition_failed(&e) => {}
                Err(e) => return Err(e).context("DynamoDB PutItem (stream audit) failed"),
            }
        }
        Ok(())
    }
}

fn shard_sk(shard: &str) -> String {
    format!("SHARD#{shard}")
}

/// Whether an entry's rewrite kept what it records of the money: its status may change (a
/// transfer settled), and its remarks may go (its account closed).
fn same_entry(old: Option<&Item>, new: Option<&Item>) -> anyhow::Result<bool> {
    let (Some(old), Some(new)) = (old, new) else {
        return Ok(false);
    };
    let money = |item: &Item| -> anyhow::Result<_> {
        let e = parse_entry(item)?;
        Ok((
            e.user_id,
            e.seq,
            e.kind,
            e.reference_id,
            e.amount,
            e.balance_before,
            e.balance_after,
            e.created_at,
        ))
    };
    Ok(money(old)? == money(new)?)
}

/// The verdict from the base and the shards (see [`StreamVerdict`]).
fn verdict(
    base: &Totals,
    base_broken: &BTreeSet<String>,
    shards: &[(String, ShardState)],
    now: Millis,
    buckets: Buckets,
) -> StreamVerdict {
    // A shard still applying changes older than the grace period is catching up: what it has
    // not applied yet may belong to the closed buckets.
    let catching_up =
        |s: &ShardState| s.behind > buckets.grace && now - s.applied_at <= buckets.grace;
    if shards.is_empty() && *base == Totals::default() && base_broken.is_empty() {
        return StreamVerdict::Empty;
    }
    if let Some((shard, state)) = shards.iter().find(|(_, s)| catching_up(s)) {
        return StreamVerdict::Behind {
            shard: shard.clone(),
            behind: state.behind,
        };
    }
    let broken: Vec<String> = base_broken
        .iter()
        .chain(shards.iter().flat_map(|(_, s)| s.broken.iter()))
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let latest = buckets.latest_closed(now);
    let at = |m: i64| -> Option<Totals> {
        let mut sum = *base;
        for (_, state) in shards {
            sum.add(&state.at_end_of(m)?, 1);
        }
        Some(sum)
    };
    let closed: Vec<Option<Totals>> = (0..PERSISTS as i64).map(|back| at(latest - back)).collect();
    let Some(newest) = closed[0] else {
        return StreamVerdict::Unsettled { offsets: vec![] };
    };
    let offsets: Vec<i64> = closed.iter().flatten().map(Totals::offset).collect();
    let standing = offsets.len() == PERSISTS && offsets.iter().all(|o| *o == offsets[0]);
    if newest.offset() == 0 || standing || !broken.is_empty() {
        StreamVerdict::Checked(newest.check(now, broken))
    } else {
        StreamVerdict::Unsettled { offsets }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Buckets = Buckets {
        width: 1_000,
        grace: 1_000,
    };

    fn money(balances: i64, pending: i64, top_ups: i64) -> Totals {
        Totals {
            balances,
            pending,
            top_ups,
            ..Totals::default()
        }
    }

    #[test]
    fn sequence_numbers_compare_as_numbers() {
        assert!(after("100", "99"));
        assert!(after("000000000000000000012", "11"));
        assert!(!after("11", "000011"));
        assert!(after("1", ""));
    }

    #[test]
    fn a_shard_answers_for_each_bucket_from_its_marks() {
        let mut s = ShardState::default();
        s.count(&money(100, 0, 100), 10);
        s.count(&money(-30, 30, 0), 12);
        s.count(&money(5, 0, 5), 15);
        assert_eq!(
            s.at_end_of(9),
            Some(Totals::default()),
            "before its first change"
        );
        assert_eq!(s.at_end_of(10), Some(money(100, 0, 100)));
        assert_eq!(s.at_end_of(11), Some(money(100, 0, 100)), "no change in 11");
        assert_eq!(s.at_end_of(14), Some(money(70, 30, 100)));
        assert_eq!(s.at_end_of(15), Some(money(75, 30, 105)));
        assert_eq!(s.at_end_of(99), Some(money(75, 30, 105)));
        // Far ahead, old marks go, but the newest one below them stays.
        s.count(&money(1, 0, 1), 100);
        assert_eq!(s.at_end_of(50), Some(money(75, 30, 105)));
        assert_eq!(s.at_end_of(11), None, "no longer kept");
    }

    /// A transfer's two halves in two shards: the debit applied, the pending not yet.
    #[test]
    fn money_in_flight_is_never_broken_and_a_standing_offset_is() {
        let now = 20_000;
        let latest = B.latest_closed(now);
        let mut a = ShardState::default();
        a.count(&money(100, 0, 100), latest - 5);
        let mut b = ShardState::default();
        // Shard a took the debit in the newest closed bucket, b has not applied its half yet.
        a.count(&money(-40, 0, 0), latest);
        let shards = vec![("a".to_string(), a.clone()), ("b".to_string(), b.clone())];
        let v = verdict(&Totals::default(), &BTreeSet::new(), &shards, now, B);
        assert_eq!(
            v,
            StreamVerdict::Unsettled {
                offsets: vec![-40, 0, 0]
            }
        );
        // b applies it: holds.
        b.count(&money(0, 40, 0), latest);
        let shards = vec![("a".to_string(), a.clone()), ("b".to_string(), b.clone())];
        match verdict(&Totals::default(), &BTreeSet::new(), &shards, now, B) {
            StreamVerdict::Checked(c) => assert!(c.holds(), "{c:?}"),
            v => panic!("{v:?}"),
        }
        // 40 appear in a from nothing, and stand: broken, once it stood PERSISTS buckets.
        a.count(&money(40, 0, 0), latest + 1);
        let shards = vec![("a".to_string(), a), ("b".to_string(), b)];
        let at = |now| verdict(&Totals::default(), &BTreeSet::new(), &shards, now, B);
        assert_eq!(
            at(now + 1_000),
            StreamVerdict::Unsettled {
                offsets: vec![40, 0, 0]
            }
        );
        match at(now + 3_000) {
            StreamVerdict::Checked(c) => {
                assert!(!c.holds());
                assert_eq!(c.held() - c.entered(), 40);
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn a_shard_behind_gives_no_verdict() {
        let s = ShardState {
            behind: 5_000,
            applied_at: 8_500,
            ..ShardState::default()
        };
        let shards = [("x".to_string(), s)];
        let v = verdict(&Totals::default(), &BTreeSet::new(), &shards, 9_000, B);
        assert!(matches!(v, StreamVerdict::Behind { .. }), "{v:?}");
        // Nothing applied since: caught up (or idle).
        let v = verdict(&Totals::default(), &BTreeSet::new(), &shards, 12_000, B);
        assert!(matches!(v, StreamVerdict::Checked(_)), "{v:?}");
    }

    #[test]
    fn lambda_records_are_read() {
        let event: StreamEvent = serde_json::from_value(serde_json::json!({
            "shardId": "shard-1",
            "window": {"start": "2026-12-07T00:00:00Z", "end": "2026-12-07T00:01:00Z"},
            "state": {},
            "isFinalInvokeForWindow": false,
            "Records": [{
                "eventName": "MODIFY",
                "dynamodb": {
                    "ApproximateCreationDateTime": 1765000000.5,
                    "SequenceNumber": "4100000000000012345",
                    "Keys": {"pk": {"S": "USER#x"}, "sk": {"S": "PROFILE"}},
                    "OldImage": {"pk": {"S": "USER#x"}, "balance": {"N": "5"}, "ok": {"BOOL": true}},
                    "NewImage": {"pk": {"S": "USER#x"}, "tags": {"SS": ["a"]}, "m": {"M": {"k": {"L": [{"N": "1"}]}}}}
                }
            }]
        }))
        .unwrap();
        assert_eq!(event.shard_id.as_deref(), Some("shard-1"));
        let changes = event.changes().unwrap();
        assert_eq!(changes[0].at, 1_765_000_000_500);
        assert_eq!(changes[0].sequence, "4100000000000012345");
        let old = changes[0].old.as_ref().unwrap();
        assert_eq!(old["balance"], AttributeValue::N("5".into()));
        assert_eq!(old["ok"], AttributeValue::Bool(true));
        assert!(changes[0].new.as_ref().unwrap().contains_key("m"));
    }
}
