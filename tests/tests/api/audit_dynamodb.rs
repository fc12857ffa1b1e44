//! The scheduled audit on DynamoDB Local: it holds on consistent data (transfers in every
//! status, a deleted account's ledger), it never reports broken because money moved while it
//! ran, and it reports broken when an entry, a balance or a transfer is tampered with.

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use dompet::domain::now_millis;
use dompet::store::{
    DynamoStore, IdentityStore, MoneyOpKind, TransferStore, UserRecord, WalletStore,
};
use dompet_tests::contract::{account, op};

async fn top_up(store: &DynamoStore, u: &UserRecord, amount: i64) {
    store
        .apply(&op(u, MoneyOpKind::TopUp, amount), None)
        .await
        .unwrap();
}

async fn send(store: &DynamoStore, from: &UserRecord, to: &UserRecord, amount: i64) -> String {
    store
        .apply(
            &op(from, MoneyOpKind::Transfer { to: to.user_id }, amount),
            None,
        )
        .await
        .unwrap()
        .reference_id
}

/// Three accounts with top-ups, a payment, transfers settled, pending, refunded (recipient
/// deleted) and in suspense (both deleted).
async fn a_busy_table() -> (DynamoStore, Vec<UserRecord>) {
    let store = dompet_tests::dynamodb_local::fresh_store_with_stream().await;
    let (a, b, c) = (
        account(&store, "a").await,
        account(&store, "b").await,
        account(&store, "c").await,
    );
    top_up(&store, &a, 100_000).await;
    top_up(&store, &b, 50_000).await;
    store
        .apply(&op(&a, MoneyOpKind::Payment, 5_000), None)
        .await
        .unwrap();
    let settled = send(&store, &a, &b, 10_000).await;
    store.settle_transfer(&settled, now_millis()).await.unwrap();
    send(&store, &b, &a, 7_000).await; // stays pending
    let refunded = send(&store, &a, &c, 3_000).await;
    let (d, e) = (account(&store, "d").await, account(&store, "e").await);
    top_up(&store, &d, 2_000).await;
    let suspended = send(&store, &d, &e, 2_000).await;
    store.delete_user(c.user_id).await.unwrap();
    store
        .settle_transfer(&refunded, now_millis())
        .await
        .unwrap();
    store.delete_user(e.user_id).await.unwrap();
    store.delete_user(d.user_id).await.unwrap();
    store
        .settle_transfer(&suspended, now_millis())
        .await
        .unwrap();
    (store, vec![a, b])
}

#[tokio::test]
async fn the_audit_holds_on_consistent_data_and_counts_everything() {
    let (store, _) = a_busy_table().await;
    let check = dompet::service::operators::audit(&store).await.unwrap();
    assert!(check.holds(), "{check:?}");
    assert_eq!(check.top_ups, 152_000);
    assert_eq!(check.payments, 5_000);
    assert_eq!((check.pending, check.suspense), (7_000, 2_000));
    assert_eq!(check.balances, 152_000 - 5_000 - 7_000 - 2_000);
    assert_eq!(
        (
            check.transfers_pending,
            check.transfers_success,
            check.transfers_failed
        ),
        (1, 1, 2)
    );
    assert_eq!(
        check.accounts_checked, 2,
        "deleted accounts are not accounts"
    );
    // Operators read the stored verdict.
    let stored = dompet::store::OperatorStore::money_check(&store, 0)
        .await
        .unwrap();
    assert_eq!(stored, Some(check));
}

/// Overwrites one attribute of one item behind the application's back.
async fn tamper(store: &DynamoStore, pk: String, sk: &str, attribute: &str, value: i64) {
    store
        .client()
        .update_item()
        .table_name(store.table())
        .key("pk", AttributeValue::S(pk))
        .key("sk", AttributeValue::S(sk.into()))
        .update_expression("SET #a = :v")
        .expression_attribute_names("#a", attribute)
        .expression_attribute_values(":v", AttributeValue::N(value.to_string()))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_tampered_entry_is_reported_broken() {
    let (store, users) = a_busy_table().await;
    let a = &users[0];
    // The top-up entry (seq 1) claims more than was topped up.
    tamper(
        &store,
        format!("USER#{}", a.user_id),
        &format!("TX#{:020}", 1),
        "balance_after",
        100_500,
    )
    .await;
    let check = dompet::service::operators::audit(&store).await.unwrap();
    assert!(!check.holds());
    assert_eq!(check.broken_accounts, [a.user_id.to_string()]);
}

#[tokio::test]
async fn a_tampered_balance_or_transfer_is_reported_broken() {
    let (store, users) = a_busy_table().await;
    let b = &users[1];
    tamper(
        &store,
        format!("USER#{}", b.user_id),
        "PROFILE",
        "balance",
        1_000_000,
    )
    .await;
    let check = dompet::service::operators::audit(&store).await.unwrap();
    assert!(!check.holds());
    assert!(
        check.broken_accounts.contains(&b.user_id.to_string()),
        "{check:?}"
    );

    // On a fresh table: a settled transfer whose recorded amount differs from its entries.
    let (store, users) = a_busy_table().await;
    let (a, b) = (&users[0], &users[1]);
    let id = send(&store, a, b, 1_000).await;
    store.settle_transfer(&id, now_millis()).await.unwrap();
    tamper(&store, format!("TRANSFER#{id}"), "TRANSFER", "amount", 999).await;
    let check = dompet::service::operators::audit(&store).await.unwrap();
    assert!(!check.holds(), "{check:?}");
    assert!(
        check.broken_accounts.contains(&a.user_id.to_string()),
        "{check:?}"
    );
}

/// Four movers on four accounts until `stop`: top-ups, and transfers each settled at once;
/// each counts its operations in `moved` and returns how many it made.
fn movers(
    store: &Arc<DynamoStore>,
    users: &Arc<Vec<UserRecord>>,
    stop: &Arc<std::sync::atomic::AtomicBool>,
    moved: &Arc<std::sync::atomic::AtomicUsize>,
) -> Vec<tokio::task::JoinHandle<usize>> {
    (0..4usize)
        .map(|w| {
            let (store, users, stop, moved) =
                (store.clone(), users.clone(), stop.clone(), moved.clone());
            tokio::spawn(async move {
                let mut i = 0usize;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let from = &users[(w + i) % 4];
                    let to = &users[(w + i + 1) % 4];
                    match i % 3 {
                        // Four movers on four accounts: a write may lose its condition every
                        // time it is retried, which the API answers 409 CONCURRENT_UPDATE
                        // (nothing moved).
                        0 => match store.apply(&op(from, MoneyOpKind::TopUp, 100), None).await {
                            Ok(_) | Err(dompet::store::MoneyError::Contention) => {}
                            Err(e) => panic!("{e:?}"),
                        },
                        _ => {
                            if let Ok(e) = store
                                .apply(
                                    &op(from, MoneyOpKind::Transfer { to: to.user_id }, 50),
                                    None,
                                )
                                .await
                            {
                                store
                                    .settle_transfer(&e.reference_id, now_millis())
                                    .await
                                    .unwrap();
                            }
                        }
                    }
                    i += 1;
                    moved.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                i
            })
        })
        .collect()
}

#[tokio::test]
async fn money_moving_during_the_audit_is_never_reported_broken() {
    let store = Arc::new(dompet_tests::dynamodb_local::fresh_store().await);
    let mut users = Vec::new();
    for i in 0..4 {
        let u = account(store.as_ref(), &format!("busy{i}")).await;
        top_up(&store, &u, 1_000_000).await;
        users.push(u);
    }
    let users = Arc::new(users);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let moved = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let movers = movers(&store, &users, &stop, &moved);
    let (mut verdicts, mut audits) = (0, 0);
    // Audit over and over while at least 100 operations move money (and until one verdict).
    while (moved.load(std::sync::atomic::Ordering::Relaxed) < 100 || verdicts == 0) && audits < 500
    {
        audits += 1;
        // An audit that can't settle on a view says so (no verdict); it never says broken.
        if let Ok(check) = store.audit(now_millis()).await {
            assert!(check.holds(), "{check:?}");
            verdicts += 1;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut operations = 0;
    for m in movers {
        operations += m.await.unwrap();
    }
    assert!(
        operations >= 100,
        "money moved during the audits ({operations} operations)"
    );
    eprintln!(
        "{audits} audits, {verdicts} verdicts, all holding, while {operations} operations ran"
    );
    assert!(verdicts >= 1, "at least one audit reached a verdict");
    let quiet = store.audit(now_millis()).await.unwrap();
    assert!(quiet.holds(), "{quiet:?}");
}

/// The stream audit's own items (its shards' and the folded totals).
async fn stream_audit_items(
    store: &DynamoStore,
) -> Vec<std::collections::HashMap<String, AttributeValue>> {
    store
        .client()
        .query()
        .table_name(store.table())
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S("AUDIT#STREAM".into()))
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default()
}

// The stream audit: the same checks from the table's stream, as the `audit-stream` function
// runs them, each batch handed over as Lambda's event source does (tests/src/stream_pump.rs).

mod stream {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;

    use dompet::domain::now_millis;
    use dompet::service::operators::AuditRun;
    use dompet::store::dynamodb::stream_audit::{Applied, Buckets, StreamEvent, StreamVerdict};
    use dompet::store::{
        DynamoStore, IdentityStore, MoneyCheck, MoneyOpKind, TransferStore, WalletStore,
    };
    use dompet_tests::contract::{account, op};
    use dompet_tests::stream_pump::StreamPump;
    use serde_json::Value;

    use super::{a_busy_table, tamper, top_up};

    /// One-second buckets, closed a second after they end.
    const FAST: Buckets = Buckets {
        width: 1_000,
        grace: 1_000,
    };

    async fn apply(store: &DynamoStore, event: &Value) -> Applied {
        let event: StreamEvent = serde_json::from_value(event.clone()).unwrap();
        let shard = event.shard_id.clone().unwrap();
        store
            .apply_stream(&shard, &event.changes().unwrap(), now_millis(), FAST)
            .await
            .unwrap()
    }

    /// Applies every event once, in each shard's order; returns what was applied.
    async fn apply_all(store: &DynamoStore, events: &BTreeMap<String, Vec<Value>>) -> Vec<Applied> {
        let mut applied = Vec::new();
        for shard in events.values() {
            for event in shard {
                applied.push(apply(store, event).await);
            }
        }
        applied
    }

    /// Applies what the stream has had since the last call; the accounts found broken.
    async fn broken_in_new_changes(store: &DynamoStore, pump: &mut StreamPump) -> Vec<String> {
        let applied = apply_all(store, &pump.events(100).await).await;
        applied.into_iter().flat_map(|a| a.broken).collect()
    }

    /// The verdict once every bucket written so far has closed.
    async fn settled_verdict(store: &DynamoStore) -> StreamVerdict {
        store
            .stream_verdict(now_millis() + 3_600_000, FAST)
            .await
            .unwrap()
            .0
    }

    fn checked(v: StreamVerdict) -> MoneyCheck {
        match v {
            StreamVerdict::Checked(c) => c,
            other => panic!("no verdict: {other:?}"),
        }
    }

    /// Everything but when it was made.
    fn same_money(a: &MoneyCheck, b: &MoneyCheck) {
        let strip = |c: &MoneyCheck| MoneyCheck {
            checked_at: 0,
            ..c.clone()
        };
        assert_eq!(strip(a), strip(b));
    }

    #[tokio::test]
    async fn each_change_counts_once_however_often_it_is_delivered() {
        let (store, _) = a_busy_table().await;
        let mut pump = StreamPump::new(store.table(), 4).await;
        let events = pump.events(5).await;
        assert!(events.len() > 1, "the changes fall in several shards");
        let first = apply_all(&store, &events).await;
        assert!(first.iter().all(|a| a.broken.is_empty()), "{first:?}");
        let total: usize = first.iter().map(|a| a.applied).sum();
        assert!(total > 20, "{total} changes applied");
        // Every batch again; then each shard's batches again from its first, two deliveries
        // at once, as a retried batch racing its first delivery would.
        let again = apply_all(&store, &events).await;
        assert!(again.iter().all(|a| a.applied == 0), "{again:?}");
        for shard in events.values() {
            for event in shard {
                let (x, y) = tokio::join!(apply(&store, event), apply(&store, event));
                assert_eq!(x.applied + y.applied, 0);
            }
        }
        let full = dompet::service::operators::audit(&store).await.unwrap();
        assert!(full.holds(), "{full:?}");
        let incremental = checked(settled_verdict(&store).await);
        same_money(&incremental, &full);
        assert_eq!(incremental.top_ups, 152_000);

        // Two deliveries of new changes at once, from two hosts: each counted once.
        let (a, b) = (
            account(&store, "late-a").await,
            account(&store, "late-b").await,
        );
        top_up(&store, &a, 9_000).await;
        let id = super::send(&store, &a, &b, 4_000).await;
        store.settle_transfer(&id, now_millis()).await.unwrap();
        let events = pump.events(3).await;
        let (x, y) = tokio::join!(apply_all(&store, &events), apply_all(&store, &events));
        // Each batch with money in it was written by one of the two only.
        for (x, y) in x.iter().zip(&y) {
            assert!(!(x.written && y.written), "{x:?} {y:?}");
        }
        assert!(x.iter().chain(&y).any(|a| a.written));
        let full = dompet::service::operators::audit(&store).await.unwrap();
        let incremental = checked(settled_verdict(&store).await);
        assert!(incremental.holds(), "{incremental:?}");
        same_money(&incremental, &full);

        // A day later the shards are folded into one item, and the totals stay.
        let (folded, _) = store
            .stream_verdict(now_millis() + 26 * 3_600_000, FAST)
            .await
            .unwrap();
        same_money(&checked(folded), &full);
        let items = super::stream_audit_items(&store).await;
        assert_eq!(items.len(), 1, "one item left: the folded totals");
    }

    #[tokio::test]
    async fn tampering_is_caught_as_the_change_arrives() {
        let (store, users) = a_busy_table().await;
        let (a, b) = (&users[0], &users[1]);
        let mut pump = StreamPump::new(store.table(), 4).await;
        apply_all(&store, &pump.events(100).await).await;
        assert!(checked(settled_verdict(&store).await).holds());

        // A balance changed without an entry.
        tamper(
            &store,
            format!("USER#{}", b.user_id),
            "PROFILE",
            "balance",
            1_000_000,
        )
        .await;
        let broken = broken_in_new_changes(&store, &mut pump).await;
        assert_eq!(broken, [b.user_id.to_string()]);
        // An entry rewritten.
        tamper(
            &store,
            format!("USER#{}", a.user_id),
            &format!("TX#{:020}", 1),
            "balance_after",
            100_500,
        )
        .await;
        let broken = broken_in_new_changes(&store, &mut pump).await;
        assert_eq!(broken, [a.user_id.to_string()]);
        let verdict = checked(settled_verdict(&store).await);
        assert!(!verdict.holds());
        let mut expected = vec![a.user_id.to_string(), b.user_id.to_string()];
        expected.sort();
        assert_eq!(verdict.broken_accounts, expected);
    }

    #[tokio::test]
    async fn money_from_nothing_is_reported_once_it_stands() {
        let (store, users) = a_busy_table().await;
        let (a, b) = (&users[0], &users[1]);
        let mut pump = StreamPump::new(store.table(), 4).await;
        // A pending transfer whose amount grows by 1 behind the application's back: no ledger
        // changes, only the totals.
        let id = super::send(&store, a, b, 1_000).await;
        tamper(
            &store,
            format!("TRANSFER#{id}"),
            "TRANSFER",
            "amount",
            1_001,
        )
        .await;
        let applied = apply_all(&store, &pump.events(100).await).await;
        assert!(applied.iter().all(|a| a.broken.is_empty()));
        let now = now_millis();
        // Right away its bucket is not closed: no verdict, or the verdict before it.
        let (early, _) = store.stream_verdict(now, FAST).await.unwrap();
        if let StreamVerdict::Checked(c) = &early {
            assert!(c.holds(), "{early:?}");
        }
        // Once it stood through consecutive closed buckets, it is reported.
        let verdict = checked(settled_verdict(&store).await);
        assert!(!verdict.holds(), "{verdict:?}");
        assert_eq!(verdict.held() - verdict.entered(), 1);
        assert!(verdict.broken_accounts.is_empty());
    }

    /// Closing an account removes the remarks of its entries: not a rewrite of its ledger.
    #[tokio::test]
    async fn closing_an_account_is_not_tampering() {
        let (store, _) = a_busy_table().await;
        let mut pump = StreamPump::new(store.table(), 4).await;
        let leaving = account(&store, "leaving").await;
        top_up(&store, &leaving, 1_000).await;
        store
            .apply(&op(&leaving, MoneyOpKind::Payment, 1_000), None)
            .await
            .unwrap();
        let seen = store.get_user(leaving.user_id).await.unwrap().unwrap();
        store.close_account(&seen, &[], None).await.unwrap();
        let broken = broken_in_new_changes(&store, &mut pump).await;
        assert!(broken.is_empty(), "{broken:?}");
        let verdict = checked(settled_verdict(&store).await);
        assert!(verdict.holds(), "{verdict:?}");
    }

    /// The scheduled audit on a state: one-second buckets closed at once.
    fn scheduled(store: &Arc<DynamoStore>) -> dompet::AppState {
        let config = dompet::config::Config::from_lookup(|name| match name {
            "DOMPET_AUDIT_BUCKET_SECS" => Some("1".into()),
            "DOMPET_AUDIT_GRACE_SECS" => Some("0".into()),
            _ => None,
        })
        .unwrap();
        let store: Arc<dyn dompet::store::Store> = store.clone();
        dompet::testing::state_on(store, &config).unwrap().0
    }

    /// The changes of the stream so far but those of transfer items, as if the shard they are
    /// in had stalled.
    async fn all_but_transfers(store: &DynamoStore, pump: &mut StreamPump) {
        for events in pump.events(100).await.into_values() {
            for mut event in events {
                event["Records"].as_array_mut().unwrap().retain(|r| {
                    !r["dynamodb"]["Keys"]["pk"]["S"]
                        .as_str()
                        .unwrap()
                        .starts_with("TRANSFER#")
                });
                apply(store, &event).await;
            }
        }
    }

    /// A shard stalled with half a transfer applied looks like money gone, standing; the full
    /// check is what decides, so it is not reported. Money really gone is.
    #[tokio::test]
    async fn a_standing_offset_is_reported_only_when_the_full_check_agrees() {
        let (store, users) = a_busy_table().await;
        let store = Arc::new(store);
        let state = scheduled(&store);
        let (a, b) = (&users[0], &users[1]);
        let mut pump = StreamPump::new(store.table(), 4).await;
        super::send(&store, a, b, 1_000).await;
        all_but_transfers(&store, &mut pump).await;
        // The stream audit sees money gone, standing.
        tokio::time::sleep(std::time::Duration::from_millis(4_000)).await;
        let now = now_millis();
        match store
            .stream_verdict(
                now,
                Buckets {
                    width: 1_000,
                    grace: 0,
                },
            )
            .await
            .unwrap()
            .0
        {
            StreamVerdict::Checked(c) => assert!(!c.holds(), "{c:?}"),
            other => panic!("{other:?}"),
        }
        let run = dompet::service::operators::scheduled_audit(&state, false)
            .await
            .unwrap();
        match run {
            dompet::service::operators::AuditRun::Verdict(c) => assert!(c.holds(), "{c:?}"),
            other => panic!("{other:?}"),
        }

        // The top-up's entry rewritten: a ledger broken, which the full check finds too.
        tamper(
            &store,
            format!("USER#{}", a.user_id),
            &format!("TX#{:020}", 1),
            "balance_after",
            100_500,
        )
        .await;
        all_but_transfers(&store, &mut pump).await;
        let run = dompet::service::operators::scheduled_audit(&state, false)
            .await
            .unwrap();
        match run {
            dompet::service::operators::AuditRun::Verdict(c) => {
                assert!(!c.holds(), "{c:?}");
                assert_eq!(c.broken_accounts, [a.user_id.to_string()]);
            }
            other => panic!("{other:?}"),
        }
    }

    /// Movers transfer, settle and top up on four accounts while the pump hands the stream
    /// over in 4 shards, each shard's batches held back at random (in order), and the scheduled
    /// audit runs after each round: no verdict is ever broken (an offset that stands while a
    /// shard is held back goes to the full check), and once the money stops moving the
    /// scheduled audit holds and the stream audit's totals are the full check's.
    #[tokio::test]
    async fn money_moving_across_shards_is_never_reported_broken() {
        let store = Arc::new(dompet_tests::dynamodb_local::fresh_store_with_stream().await);
        let state = scheduled(&store);
        let mut users = Vec::new();
        for i in 0..4 {
            let u = account(store.as_ref(), &format!("flow{i}")).await;
            top_up(&store, &u, 1_000_000).await;
            users.push(u);
        }
        let users = Arc::new(users);
        let stop = Arc::new(AtomicBool::new(false));
        let moved = Arc::new(AtomicUsize::new(0));
        let movers = super::movers(&store, &users, &stop, &moved);
        let mut pump = StreamPump::new(store.table(), 4).await;
        let mut held: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        let (mut rounds, mut holding, mut none) = (0, 0, 0);
        let started = std::time::Instant::now();
        while started.elapsed().as_secs() < 12 || rounds < 3 {
            rounds += 1;
            for (shard, events) in pump.events(100).await {
                held.entry(shard).or_default().extend(events);
            }
            for events in held.values_mut() {
                // Each shard hands over all it has, or its oldest batches, a random number.
                let take = match rand_below(2) {
                    0 => events.len(),
                    _ => rand_below(events.len() + 1),
                };
                for event in events.drain(..take) {
                    apply(&store, &event).await;
                }
            }
            match dompet::service::operators::scheduled_audit(&state, false)
                .await
                .unwrap()
            {
                AuditRun::Verdict(c) => {
                    assert!(c.holds(), "round {rounds}: {c:?}");
                    holding += 1;
                }
                AuditRun::NoVerdict(_) => none += 1,
            }
        }
        stop.store(true, Ordering::Relaxed);
        for m in movers {
            m.await.unwrap();
        }
        for (shard, events) in pump.events(100).await {
            held.entry(shard).or_default().extend(events);
        }
        for events in held.values() {
            for event in events {
                apply(&store, event).await;
            }
        }
        let operations = moved.load(Ordering::Relaxed);
        eprintln!("{rounds} rounds: {holding} verdicts (all holding), {none} none; {operations} operations");
        assert!(operations >= 100, "{operations} operations");
        // Quiet: once the last change's minute has closed, the scheduled audit holds.
        tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
        match dompet::service::operators::scheduled_audit(&state, false)
            .await
            .unwrap()
        {
            AuditRun::Verdict(c) => assert!(c.holds(), "{c:?}"),
            other => panic!("{other:?}"),
        }
        let full = dompet::service::operators::audit(store.as_ref())
            .await
            .unwrap();
        assert!(full.holds(), "{full:?}");
        same_money(&checked(settled_verdict(&store).await), &full);
    }

    fn rand_below(n: usize) -> usize {
        (uuid::Uuid::new_v4().as_u128() % n as u128) as usize
    }
}

/// What the audits read for the same traffic on a table and on one 10 times bigger: the stream
/// audit's reads follow the changes, the full check's the table. The figures are in
/// BENCHMARKS.md ("The audit").
mod cost {
    use std::sync::Arc;

    use dompet::domain::now_millis;
    use dompet::store::dynamodb::stream_audit::{Buckets, StreamEvent};
    use dompet::store::{DynamoStore, MoneyOpKind, TransferStore, UserRecord, WalletStore};
    use dompet_tests::contract::{account, op};
    use dompet_tests::stream_pump::StreamPump;

    use super::top_up;

    const BUCKETS: Buckets = Buckets {
        width: 60_000,
        grace: 60_000,
    };
    /// The traffic measured on each table: transfers (each settled) and top-ups.
    const TRANSFERS: usize = 100;
    const TOP_UPS: usize = 50;
    /// Shards the stream is handed over in, and Lambda's batch size.
    const SHARDS: u64 = 4;
    const BATCH: usize = 100;

    #[derive(Debug)]
    struct Cost {
        items: u64,
        changes: usize,
        stream_reads: u64,
        /// Batches that wrote their shard's item, and the largest such item (bytes).
        writes: usize,
        largest: usize,
        verdict_reads: u64,
    }

    /// Items read by the stream audit to apply `pump`'s changes so far, and the changes.
    async fn apply_everything(store: &DynamoStore, pump: &mut StreamPump) -> (u64, usize, usize) {
        let (mut read, mut changes, mut writes) = (0, 0, 0);
        for events in pump.events(BATCH).await.into_values() {
            for event in events {
                let event: StreamEvent = serde_json::from_value(event).unwrap();
                let applied = store
                    .apply_stream(
                        event.shard_id.as_deref().unwrap(),
                        &event.changes().unwrap(),
                        now_millis(),
                        BUCKETS,
                    )
                    .await
                    .unwrap();
                read += applied.items_read;
                changes += applied.changes;
                writes += usize::from(applied.written);
            }
        }
        (read, changes, writes)
    }

    async fn measure(accounts: usize) -> Cost {
        let store = Arc::new(dompet_tests::dynamodb_local::fresh_store_with_stream().await);
        let mut pump = StreamPump::new(store.table(), SHARDS).await;
        // The table: `accounts` accounts, each topped up, 16 written at a time.
        let users: Vec<UserRecord> = futures::future::join_all((0..16).map(|w| {
            let store = store.clone();
            async move {
                let mut mine = Vec::new();
                for i in (w..accounts).step_by(16) {
                    let u = account(store.as_ref(), &format!("size{i}")).await;
                    top_up(&store, &u, 100_000).await;
                    mine.push(u);
                }
                mine
            }
        }))
        .await
        .into_iter()
        .flatten()
        .collect();
        // The audit has caught up with it: until the stream has had nothing more twice.
        let mut quiet = 0;
        while quiet < 2 {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            let (_, changes, _) = apply_everything(&store, &mut pump).await;
            quiet = if changes == 0 { quiet + 1 } else { 0 };
        }

        // The same traffic on every table: among the first 20 accounts.
        for i in 0..TRANSFERS {
            let (from, to) = (&users[i % 20], &users[(i * 7 + 1) % 20]);
            if from.user_id == to.user_id {
                continue;
            }
            let sent = store
                .apply(
                    &op(from, MoneyOpKind::Transfer { to: to.user_id }, 10),
                    None,
                )
                .await
                .unwrap();
            store
                .settle_transfer(&sent.reference_id, now_millis())
                .await
                .unwrap();
        }
        for i in 0..TOP_UPS {
            top_up(&store, &users[i % 20], 5).await;
        }
        let (stream_reads, changes, writes) = apply_everything(&store, &mut pump).await;
        let largest = super::stream_audit_items(&store)
            .await
            .iter()
            .map(|i| {
                i.values()
                    .map(|v| v.as_s().map_or(8, String::len))
                    .sum::<usize>()
            })
            .max()
            .unwrap_or(0);
        let (_, verdict_reads) = store
            .stream_verdict(now_millis() + 3_600_000, BUCKETS)
            .await
            .unwrap();
        let items = store
            .client()
            .scan()
            .table_name(store.table())
            .select(aws_sdk_dynamodb::types::Select::Count)
            .send()
            .await
            .unwrap()
            .scanned_count() as u64;
        let full = dompet::service::operators::audit(store.as_ref())
            .await
            .unwrap();
        assert!(full.holds());
        Cost {
            items,
            changes,
            stream_reads,
            writes,
            largest,
            verdict_reads,
        }
    }

    #[tokio::test]
    async fn the_stream_audit_reads_what_changed_not_the_table() {
        let small = measure(100).await;
        let large = measure(1_000).await;
        for (name, c) in [("100 accounts", &small), ("1,000 accounts", &large)] {
            eprintln!(
                "{name}: {} items in the table; the traffic made {} changes; the stream audit \
                 read {} items and wrote {} (up to {} bytes) to apply them, and read {} for a \
                 verdict; a full check reads {}",
                c.items, c.changes, c.stream_reads, c.writes, c.largest, c.verdict_reads, c.items
            );
        }
        assert!(large.items >= 5 * small.items, "{small:?} {large:?}");
        // The same traffic costs the stream audit about the same reads on a table 5 times
        // bigger or more (a cost that followed the table would be 5 times or more).
        assert!(
            large.stream_reads < 2 * small.stream_reads + 4,
            "{small:?} {large:?}"
        );
        assert_eq!(large.verdict_reads, small.verdict_reads);
    }
}
