//! The AWS path's capacity model, measured on DynamoDB Local. Transfers are served over HTTP
//! (uniform among users, then many senders into one recipient); every item write the store
//! makes is read back from the table's stream (old and new images) and counted per partition
//! key value of the table and of each index.
//!
//! DynamoDB takes about 1,000 write units a second on one partition key value, of the table or
//! of an index (an index that can't keep up throttles the table's writes), so the key that
//! takes the most write units per transfer sets the deployment's ceiling: 1,000 ÷ those units,
//! in transfers a second. A key of one user's (`USER#…`) bounds that user only: at uniform
//! traffic among U users each takes part in 2 of every U transfers. Units: 2 per table write
//! (the store writes money in transactions, which cost twice) and 1 per index write, each item
//! being under 1 KB (asserted). Two approximations, neither of which moves today's figures: a
//! table write outside a transaction is counted at 2 too, and an update that leaves an index's
//! key as it was counts as a write to that index (a transfer item is only put, then settled
//! with its keys changed). `--nocapture` prints what BENCHMARKS.md records.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodbstreams::types::{AttributeValue, ShardIteratorType};
use dompet::queue::TransferReceiver;
use dompet::service::transfers::{settle_message, settle_messages};
use dompet::store::{PendingPage, Settlement, Store};
use dompet_tests::TestApp;
use serde_json::json;

/// The indexes of the table and the attribute each is partitioned on (template.yaml).
const INDEXES: [(&str, &str); 4] = [
    ("pending", "pending_shard"),
    ("entities_by_code", "entity_owner"),
    ("entities_by_type", "entity_owner_type"),
    ("transfers_by_status", "transfer_status"),
];

const WRITE_UNITS_A_SECOND: f64 = 1_000.0;

/// Writes counted per `(table or index, partition key value)`.
#[derive(Default)]
struct Tally {
    writes: HashMap<(String, String), u64>,
    largest_item: usize,
}

impl Tally {
    fn units(&self, place: &str, writes: u64) -> f64 {
        let per = if place == "table" { 2.0 } else { 1.0 };
        per * writes as f64
    }

    /// The keys with the most write units, most first, as `(place, key, units)`.
    fn hottest(&self, keep: impl Fn(&str, &str) -> bool) -> Vec<(String, String, f64)> {
        let mut rows: Vec<_> = self
            .writes
            .iter()
            .filter(|((place, key), _)| keep(place, key))
            .map(|((place, key), w)| (place.clone(), key.clone(), self.units(place, *w)))
            .collect();
        rows.sort_by(|a, b| b.2.total_cmp(&a.2).then_with(|| a.1.cmp(&b.1)));
        rows
    }
}

fn string(v: Option<&AttributeValue>) -> Option<String> {
    match v {
        Some(AttributeValue::S(s)) => Some(s.clone()),
        Some(AttributeValue::N(n)) => Some(n.clone()),
        _ => None,
    }
}

/// Roughly DynamoDB's item size: names and values.
fn size(image: &HashMap<String, AttributeValue>) -> usize {
    image
        .iter()
        .map(|(k, v)| {
            k.len()
                + match v {
                    AttributeValue::S(s) | AttributeValue::N(s) => s.len(),
                    AttributeValue::Ss(v) | AttributeValue::Ns(v) => {
                        v.iter().map(String::len).sum()
                    }
                    _ => 8,
                }
        })
        .sum()
}

/// Turns the table's stream on (new and old images); returns its ARN.
async fn stream_on(table: &str) -> String {
    use aws_sdk_dynamodb::types::{StreamSpecification, StreamViewType};
    let client = dompet_tests::dynamodb_local::client().await;
    client
        .update_table()
        .table_name(table)
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("turn the stream on");
    dompet_tests::dynamodb_local::stream_arn(table).await
}

/// Every record of the stream so far, counted.
async fn tally(arn: &str) -> Tally {
    let streams = dompet_tests::dynamodb_local::streams_client().await;
    let description = streams
        .describe_stream()
        .stream_arn(arn)
        .send()
        .await
        .unwrap();
    let shards: Vec<String> = description
        .stream_description()
        .unwrap()
        .shards()
        .iter()
        .filter_map(|s| s.shard_id().map(str::to_string))
        .collect();
    let mut tally = Tally::default();
    for shard in shards {
        let mut iterator = streams
            .get_shard_iterator()
            .stream_arn(arn)
            .shard_id(&shard)
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap()
            .shard_iterator()
            .map(str::to_string);
        while let Some(it) = iterator {
            let page = streams
                .get_records()
                .shard_iterator(it)
                .send()
                .await
                .unwrap();
            if page.records().is_empty() {
                break;
            }
            for record in page.records() {
                let change = record.dynamodb().unwrap();
                let pk = string(change.keys().and_then(|k| k.get("pk"))).unwrap();
                *tally.writes.entry(("table".into(), pk)).or_default() += 1;
                let (old, new) = (change.old_image(), change.new_image());
                for image in [old, new].into_iter().flatten() {
                    tally.largest_item = tally.largest_item.max(size(image));
                }
                for (index, attribute) in INDEXES {
                    let before = string(old.and_then(|i| i.get(attribute)));
                    let after = string(new.and_then(|i| i.get(attribute)));
                    // A changed key is a delete under the old value and a put under the new.
                    let touched: Vec<String> = match (before, after) {
                        (Some(b), Some(a)) if a == b => vec![a],
                        (b, a) => b.into_iter().chain(a).collect(),
                    };
                    for key in touched {
                        *tally.writes.entry((index.into(), key)).or_default() += 1;
                    }
                }
            }
            iterator = page.next_shard_iterator().map(str::to_string);
        }
    }
    tally
}

/// The server on a fresh table with its stream on: the app, the stream's ARN, `users` accounts
/// with money, and the store (to read its cancelled transactions).
struct Workload {
    app: Arc<TestApp>,
    arn: String,
    accounts: Arc<Vec<(String, String)>>,
    store: dompet::store::DynamoStore,
}

impl Workload {
    /// Sends `pairs` as [`transfer_all`] does; prints how fast they were accepted and settled
    /// and how many transactions were cancelled (then retried) per transfer, by kind.
    async fn run(&self, title: &str, pairs: Vec<(usize, usize)>) -> f64 {
        let count = pairs.len() as f64;
        let before = self.store.cancellations();
        let started = std::time::Instant::now();
        let accepted = transfer_all(&self.app, &self.accounts, pairs).await;
        let settled = started.elapsed().as_secs_f64();
        let after = self.store.cancellations();
        let per = |what: &str| {
            (after.get(what).copied().unwrap_or(0) - before.get(what).copied().unwrap_or(0)) as f64
                / count
        };
        eprintln!(
            "{title}: {count} transfers accepted at {:.1}/s and settled at {:.1}/s; cancelled transactions per transfer: {:.2} accepting, {:.2} settling",
            count / accepted,
            count / settled,
            per("money"),
            per("settle")
        );
        count / settled
    }
}

async fn workload_app(users: usize) -> Workload {
    let (work, receiver) = workload(users).await;
    dompet::service::transfers::spawn_background(work.app.state.clone(), receiver);
    work
}

/// [`workload_app`] without a worker: transfers stay queued on the receiver.
async fn workload(users: usize) -> (Workload, TransferReceiver) {
    let table = dompet_tests::dynamodb_local::fresh_store().await;
    let name = table.table().to_string();
    let kept = table.clone();
    let store: Arc<dyn Store> = Arc::new(table);
    let (app, mut receiver) = TestApp::spawn_without_worker(store, &[]).await;
    let mut accounts = Vec::new();
    for i in 0..users {
        let (id, token, _) = app.signed_up(&format!("user{i}"), "rahasia-sekali").await;
        app.topup(&token, 1_000_000).await.assert_success(200);
        accounts.push((id, token));
    }
    assert!(receiver.try_recv_message().is_none());
    // Only what the transfers write is counted.
    let arn = stream_on(&name).await;
    let work = Workload {
        app: Arc::new(app),
        arn,
        accounts: Arc::new(accounts),
        store: kept,
    };
    (work, receiver)
}

/// Sends `pairs` from 8 clients at once with no worker running, then settles the queued
/// transfers as the transfer-worker function gets them, in batches of 100 (the template's
/// `BatchSize`), one batch after the other: `together` as the worker settles a batch
/// ([`settle_messages`]: the transfers to one recipient credited together), else each
/// transfer on its own, all of a batch at once (as before). A failed settlement comes back in
/// a later batch, as SQS delivers it again. Prints the rates and the cancelled transactions
/// per transfer; returns the settled/s.
async fn settle_queued(
    title: &str,
    users: usize,
    pairs: Vec<(usize, usize)>,
    together: bool,
) -> (f64, Workload) {
    let (work, mut receiver) = workload(users).await;
    let count = pairs.len();
    accept_all(&work.app, &work.accounts, pairs).await;
    let mut queued = Vec::new();
    while let Some(m) = receiver.try_recv_message() {
        queued.push(m);
    }
    assert_eq!(queued.len(), count);
    let state = &work.app.state;
    let before = work.store.cancellations();
    let started = std::time::Instant::now();
    let mut failures = 0;
    while !queued.is_empty() {
        let rest = queued.split_off(queued.len().min(100));
        let batch = std::mem::replace(&mut queued, rest);
        let outcomes = if together {
            settle_messages(state, &batch).await
        } else {
            futures::future::join_all(batch.iter().map(|m| settle_message(state, m))).await
        };
        for (m, outcome) in batch.into_iter().zip(outcomes) {
            match outcome {
                Ok(Settlement::Credited) => {}
                Ok(other) => panic!("{}: {other:?}", m.transfer_id),
                Err(_) => {
                    failures += 1;
                    queued.push(m);
                }
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let after = work.store.cancellations();
    let cancelled =
        after.get("settle").copied().unwrap_or(0) - before.get("settle").copied().unwrap_or(0);
    eprintln!(
        "{title}: {count} transfers settled at {:.1}/s; {:.2} cancelled transactions per transfer; {failures} settlements failed and were delivered again",
        count as f64 / seconds,
        cancelled as f64 / count as f64,
    );
    assert!(PendingPage::all(state.store(), i64::MAX)
        .await
        .unwrap()
        .is_empty());
    (count as f64 / seconds, work)
}

/// Sends `pairs` (sender, recipient) from 8 clients at once and waits until all settled;
/// returns the seconds until the last was accepted.
async fn transfer_all(
    app: &Arc<TestApp>,
    accounts: &Arc<Vec<(String, String)>>,
    pairs: Vec<(usize, usize)>,
) -> f64 {
    let accepted = accept_all(app, accounts, pairs).await;
    app.settled().await;
    accepted
}

/// Sends `pairs` (sender, recipient) from 8 clients at once; returns the seconds until the
/// last was accepted.
async fn accept_all(
    app: &Arc<TestApp>,
    accounts: &Arc<Vec<(String, String)>>,
    pairs: Vec<(usize, usize)>,
) -> f64 {
    let started = std::time::Instant::now();
    let chunks: Vec<Vec<(usize, usize)>> = pairs
        .chunks(pairs.len().div_ceil(8))
        .map(<[_]>::to_vec)
        .collect();
    let tasks: Vec<_> = chunks
        .into_iter()
        .map(|chunk| {
            let (app, accounts) = (app.clone(), accounts.clone());
            tokio::spawn(async move {
                for (n, (from, to)) in chunk.into_iter().enumerate() {
                    let body = json!({"target_user": accounts[to].0, "amount": 1_000});
                    let key = format!("{from}-{to}-{n}-{}", uuid::Uuid::new_v4());
                    loop {
                        let reply = app
                            .post_authed("/transfer", &accounts[from].1, &body, Some(&key))
                            .await;
                        if reply.status.as_u16() == 202 {
                            break;
                        }
                        // A busy account: the same key again (nothing moved twice).
                        reply.assert_error(409, "CONCURRENT_UPDATE");
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    started.elapsed().as_secs_f64()
}

fn print(title: &str, tally: &Tally, transfers: u64) {
    eprintln!("\n{title}: {transfers} transfers; write units per transfer on the hottest keys");
    eprintln!("| table or index | partition key | units per transfer | ceiling (transfers/s) |");
    eprintln!("|---|---|---|---|");
    for (place, key, units) in tally.hottest(|_, _| true).into_iter().take(8) {
        let per = units / transfers as f64;
        eprintln!(
            "| {place} | `{key}` | {per:.3} | {:.0} |",
            WRITE_UNITS_A_SECOND / per
        );
    }
}

/// A deterministic sequence (xorshift), so the workload is the same every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The workload's size: `DOMPET_CAPACITY_TRANSFERS` (default 160) among
/// `DOMPET_CAPACITY_USERS` (default 16). BENCHMARKS.md's figures are from a larger run.
fn size_from_env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The status list or pending shard a key of `transfers_by_status` or `pending` belongs to:
/// `SUCCESS#07` → `SUCCESS`.
fn family(key: &str) -> &str {
    key.split('#').next().unwrap_or(key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hottest_partition_keys_of_transfers_are_measured() {
    let users = size_from_env("DOMPET_CAPACITY_USERS", 16);
    let transfers = size_from_env("DOMPET_CAPACITY_TRANSFERS", 160);
    // Uniform: random distinct pairs.
    let work = workload_app(users).await;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let pairs: Vec<(usize, usize)> = (0..transfers)
        .map(|_| {
            let from = rng.below(users as u64) as usize;
            let to = (from + 1 + rng.below(users as u64 - 1) as usize) % users;
            (from, to)
        })
        .collect();
    let spread = work.run("Uniform", pairs).await;
    let uniform = tally(&work.arn).await;
    assert!(
        uniform.largest_item < 1_000,
        "an item of {} bytes",
        uniform.largest_item
    );
    print("Uniform", &uniform, transfers as u64);

    // What a transfer writes is on a key of its own (the transfer's), on its users' keys, or
    // on an index key every transfer shares a family of: the status lists and the pending
    // shards. Each family is spread over its 32 shards, with no key outside them.
    let shared = uniform.hottest(|place, key| {
        !(place == "table"
            && (key.starts_with("USER#")
                || key.starts_with("INBOX#")
                || key.starts_with("TRANSFER#")))
    });
    let mut families: HashMap<(String, String), (f64, f64, usize)> = HashMap::new();
    for (place, key, units) in &shared {
        assert!(
            place != "table",
            "a table key every transfer writes: {key} ({units} units)"
        );
        assert!(
            key.contains('#')
                && key
                    .rsplit('#')
                    .next()
                    .unwrap()
                    .parse::<u32>()
                    .is_ok_and(|n| n < 32),
            "{place} `{key}` is not one of 32 shards"
        );
        let f = families
            .entry((place.clone(), family(key).to_string()))
            .or_default();
        f.0 += units;
        f.1 = f.1.max(*units);
        f.2 += 1;
    }
    let mut ceiling = f64::INFINITY;
    for ((place, family), (total, hottest, keys)) in &families {
        let per_transfer = total / transfers as f64;
        // On paper: the family's units per transfer shared evenly by its 32 keys (the hash
        // spreads ids evenly; a small run's hottest shard is noisier than a large run's).
        let paper = WRITE_UNITS_A_SECOND / (per_transfer / 32.0);
        eprintln!(
            "{place} {family}#00..31: {per_transfer:.3} units per transfer over {keys} keys (hottest {:.3}); ceiling on paper {paper:.0} transfers/s",
            hottest / transfers as f64
        );
        // Spread, for the families every transfer writes: most of the 32 keys take writes
        // (with 160 transfers a key may take none by chance), and none takes more than 4
        // times its even share (a hash that sent everything to a few keys fails this; chance
        // alone, about once in 400,000 runs of 160).
        if transfers >= 160 && family != "FAILED" {
            assert!(
                *keys >= 24,
                "{place} {family}: only {keys} of 32 keys written"
            );
            assert!(
                *hottest <= 4.0 * total / 32.0,
                "{place} {family}: the hottest key took {hottest} of {total} units"
            );
        }
        ceiling = ceiling.min(paper);
    }
    // A transfer writes 2 under its pending keys (in, out) and 1 under its final status.
    let per = |place: &str, family: &str| {
        families
            .get(&(place.to_string(), family.to_string()))
            .unwrap_or_else(|| panic!("no writes under {place} {family}#…"))
            .0
            / transfers as f64
    };
    assert!((per("transfers_by_status", "PENDING") - 2.0).abs() < 1e-9);
    assert!((per("pending", "PENDING") - 2.0).abs() < 1e-9);
    // A settlement given up under load ends FAILED instead of SUCCESS: one final status each.
    let failed = families
        .get(&("transfers_by_status".to_string(), "FAILED".to_string()))
        .map_or(0.0, |f| f.0);
    let finals = (families[&("transfers_by_status".to_string(), "SUCCESS".to_string())].0 + failed)
        / transfers as f64;
    assert!((finals - 1.0).abs() < 1e-9, "{finals}");
    eprintln!("deployment ceiling at uniform traffic, on paper: {ceiling:.0} transfers/s");
    // A user's own partition, per transfer the user takes part in.
    let user_units: f64 = uniform
        .hottest(|place, key| place == "table" && key.starts_with("USER#"))
        .iter()
        .map(|r| r.2)
        .sum::<f64>()
        / (2 * transfers) as f64;
    eprintln!(
        "a user's partition: {user_units:.2} units per transfer the user takes part in; at uniform traffic among 1,000 users, {:.0} transfers/s",
        WRITE_UNITS_A_SECOND * 1_000.0 / (2.0 * user_units)
    );

    // One hot recipient over HTTP, the server's worker settling: every other user pays user 0.
    let work = workload_app(users).await;
    let hot: Vec<(usize, usize)> = (0..transfers).map(|n| (1 + n % (users - 1), 0)).collect();
    let into_one = work
        .run("One hot recipient (the server's worker)", hot.clone())
        .await;
    eprintln!(
        "settled into one recipient at {:.2}x the rate of uniform traffic",
        into_one / spread
    );
    let served = tally(&work.arn).await;
    // How they ended: none given up (a credit that kept conflicting with the others was given
    // up, FAILED and refunded, once the worker's retries ran out).
    let ended = |status: &str| -> u64 {
        served
            .writes
            .iter()
            .filter(|((place, key), _)| place == "transfers_by_status" && family(key) == status)
            .map(|(_, w)| w)
            .sum()
    };
    eprintln!(
        "settled into one recipient: {} SUCCESS, {} FAILED of {transfers}",
        ended("SUCCESS"),
        ended("FAILED")
    );
    assert_eq!(ended("FAILED"), 0, "transfers into one recipient given up");

    // The transfer-worker function's way: queued, then settled 100 at a time. The same senders
    // into distinct recipients (each pays the next), then into one, settled each on its own
    // (as before) and credited together.
    let distinct: Vec<(usize, usize)> = hot
        .iter()
        .map(|&(from, _)| (from, 1 + from % (users - 1)))
        .collect();
    let (spread, _) = settle_queued(
        "Distinct recipients, credited together",
        users,
        distinct,
        true,
    )
    .await;
    // The way before, for BENCHMARKS.md (slow: most settlements conflict and come back).
    let alone = match std::env::var_os("DOMPET_CAPACITY_BEFORE") {
        Some(_) => {
            settle_queued(
                "One recipient, each settled on its own",
                users,
                hot.clone(),
                false,
            )
            .await
            .0
        }
        None => f64::NAN,
    };
    let (together, work) =
        settle_queued("One recipient, credited together", users, hot, true).await;
    eprintln!(
        "settled into one recipient: {:.2}x the rate into distinct recipients credited together, {:.2}x settled each on its own",
        together / spread,
        alone / spread
    );
    let hot = tally(&work.arn).await;
    print(
        "One hot recipient, credited together",
        &hot,
        transfers as u64,
    );
    // The recipient's partition takes each credit's entry and, once per transaction, the
    // account; its inbox's shards take the transfers' making, spread.
    let recipient = format!("USER#{}", work.accounts[0].0);
    let credit = hot.units(
        "table",
        hot.writes[&("table".to_string(), recipient.clone())],
    ) / transfers as f64;
    let inbox = hot.hottest(|place, key| {
        place == "table" && key.starts_with(&format!("INBOX#{}#", work.accounts[0].0))
    });
    let shard = inbox[0].2 / transfers as f64;
    eprintln!(
        "one recipient's ceiling: {:.0} credits/s ({credit:.3} units per credit on `{recipient}`); its hottest inbox shard {:.0} transfers/s ({shard:.3} units per transfer over {} shards)",
        WRITE_UNITS_A_SECOND / credit,
        WRITE_UNITS_A_SECOND / shard,
        inbox.len()
    );
    // An entry (2 units) per credit and the account once per 33: at least 450 credits/s.
    assert!(
        WRITE_UNITS_A_SECOND / credit >= 450.0,
        "{credit:.3} units per credit on the recipient's partition"
    );
    assert!(
        shard < credit,
        "{shard:.3} units per transfer on one inbox shard"
    );
}
