//! Faults of the background transfer path, on both real stores and the in-process queue:
//! duplicate deliveries, a crash between settle and ack, a lost enqueue, a recipient gone.
//! After each, the money invariant holds.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use dompet::queue::InProcessQueue;
use dompet::service::transfers::{self, Received};
use dompet::store::{DynamoStore, PendingPage, Settlement, Store, TxStatus, UserRecord};
use dompet::{testing, AppState, Config, Keys};
use dompet_tests::Backend;

struct World {
    state: AppState,
    queue: dompet::queue::TransferReceiver,
    sender: UserRecord,
    recipient: UserRecord,
}

/// Two accounts; the sender topped up with 1000; nobody reads the queue.
async fn world(store: Backend) -> World {
    let config =
        Config::from_lookup(|k| (k == "DOMPET_SWEEP_AGE_SECS").then(|| "1".into())).unwrap();
    let (state, queue) = testing::state_on(store.fresh_store().await, &config).unwrap();
    let sender = testing::registered(&state, "sender", "rahasia-sekali")
        .await
        .unwrap();
    let recipient = testing::registered(&state, "recipient", "rahasia-sekali")
        .await
        .unwrap();
    testing::topped_up(&state, &sender, 1_000).await.unwrap();
    World {
        state,
        queue,
        sender,
        recipient,
    }
}

async fn balance(store: &dyn Store, u: &UserRecord) -> i64 {
    store
        .get_user(u.user_id)
        .await
        .unwrap()
        .map_or(0, |u| u.balance)
}

/// Sum of balances plus PENDING money equals what was topped up (no payments here).
async fn assert_invariant(store: &dyn Store, users: &[&UserRecord], topped_up: i64) {
    let mut pending = 0;
    for id in PendingPage::all(store, i64::MAX).await.unwrap() {
        pending += store.get_transfer(&id).await.unwrap().unwrap().amount;
    }
    let mut sum = 0;
    for u in users {
        let b = balance(store, u).await;
        assert!(b >= 0);
        sum += b;
    }
    assert_eq!(sum + pending, topped_up);
}

fn message(id: &str, n: usize) -> Received {
    Received {
        id: format!("msg-{n}"),
        body: format!(r#"{{"transfer_id":"{id}"}}"#),
        receives: 1,
        sent_at: None,
    }
}

async fn duplicate_deliveries_in_one_batch_credit_once(store: Backend) {
    let mut w = world(store).await;
    let id = testing::transferred(&w.state, &w.sender, "recipient", 300)
        .await
        .unwrap();
    assert_eq!(w.queue.recv().await.as_deref(), Some(id.as_str()));
    assert_invariant(w.state.store(), &[&w.sender, &w.recipient], 1_000).await;
    let failed = transfers::settle_batch(&w.state, (0..5).map(|n| message(&id, n)).collect()).await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(balance(w.state.store(), &w.recipient).await, 300);
    assert_invariant(w.state.store(), &[&w.sender, &w.recipient], 1_000).await;
}

async fn a_crash_between_settle_and_ack_redelivers_harmlessly(store: Backend) {
    let w = world(store).await;
    let id = testing::transferred(&w.state, &w.sender, "recipient", 250)
        .await
        .unwrap();
    // The worker settled, then died before the message was acknowledged...
    assert_eq!(
        transfers::settle(&w.state, &id).await.unwrap(),
        Settlement::Credited
    );
    // ...so the queue delivers it again after the visibility timeout.
    assert!(transfers::settle_batch(&w.state, vec![message(&id, 1)])
        .await
        .is_empty());
    assert_eq!(
        transfers::settle(&w.state, &id).await.unwrap(),
        Settlement::AlreadySettled
    );
    assert_eq!(balance(w.state.store(), &w.recipient).await, 250);
    assert_eq!(balance(w.state.store(), &w.sender).await, 750);
    assert_invariant(w.state.store(), &[&w.sender, &w.recipient], 1_000).await;
}

/// One store, two hosts: the API host's queue is broken (every enqueue is lost), the other
/// runs the sweep; its deliveries are the test's to read.
struct LostQueue {
    store: Arc<dyn Store>,
    api: AppState,
    background: AppState,
    deliveries: dompet::queue::TransferReceiver,
}

async fn lost_queue(backend: Backend) -> LostQueue {
    let store = backend.fresh_store().await;
    let config =
        Config::from_lookup(|k| (k == "DOMPET_SWEEP_AGE_SECS").then(|| "1".into())).unwrap();
    let keys = dompet::auth::KeyPair::generate();
    let (broken, receiver) = InProcessQueue::new();
    drop(receiver);
    let host = |queue: InProcessQueue| {
        AppState::new(
            store.clone(),
            Arc::new(queue),
            Keys::Signing(keys.clone()),
            &config,
        )
        .unwrap()
    };
    let api = host(broken);
    let (queue, deliveries) = InProcessQueue::new();
    let background = host(queue);
    LostQueue {
        store,
        api,
        background,
        deliveries,
    }
}

async fn a_lost_enqueue_is_recovered_by_the_sweep(backend: Backend) {
    let LostQueue {
        store,
        api,
        background,
        mut deliveries,
    } = lost_queue(backend).await;
    let sender = testing::registered(&api, "sender", "rahasia-sekali")
        .await
        .unwrap();
    let recipient = testing::registered(&api, "recipient", "rahasia-sekali")
        .await
        .unwrap();
    testing::topped_up(&api, &sender, 1_000).await.unwrap();

    let id = testing::transferred(&api, &sender, "recipient", 400)
        .await
        .unwrap();
    assert_eq!(
        store.get_transfer(&id).await.unwrap().unwrap().status,
        TxStatus::Pending,
        "debited, not lost"
    );
    assert_eq!(balance(store.as_ref(), &sender).await, 600);
    assert_invariant(store.as_ref(), &[&sender, &recipient], 1_000).await;

    assert_eq!(
        transfers::sweep(&background, Duration::from_secs(1))
            .await
            .unwrap(),
        0,
        "not stuck yet"
    );
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(
        transfers::sweep(&background, Duration::from_secs(1))
            .await
            .unwrap(),
        1
    );
    let delivered = deliveries.recv().await.unwrap();
    assert_eq!(delivered, id);
    assert_eq!(
        transfers::settle(&background, &delivered).await.unwrap(),
        Settlement::Credited
    );
    assert_eq!(balance(store.as_ref(), &recipient).await, 400);
    assert_eq!(
        transfers::sweep(&background, Duration::from_secs(1))
            .await
            .unwrap(),
        0,
        "nothing left"
    );
    assert_invariant(store.as_ref(), &[&sender, &recipient], 1_000).await;
}

async fn a_recipient_gone_fails_the_transfer_and_refunds_the_sender(store: Backend) {
    let w = world(store).await;
    let id = testing::transferred(&w.state, &w.sender, "recipient", 600)
        .await
        .unwrap();
    assert!(w
        .state
        .store()
        .delete_user(w.recipient.user_id)
        .await
        .unwrap());
    let failed = transfers::settle_batch(&w.state, vec![message(&id, 1), message(&id, 2)]).await;
    assert!(failed.is_empty());
    let t = w.state.store().get_transfer(&id).await.unwrap().unwrap();
    assert_eq!(t.status, TxStatus::Failed);
    assert_eq!(
        balance(w.state.store(), &w.sender).await,
        1_000,
        "refunded once"
    );
    let entries = w
        .state
        .store()
        .list_entries(w.sender.user_id, None, 10)
        .await
        .unwrap();
    assert_eq!(entries.len(), 3, "top-up, transfer (FAILED), refund");
    assert_eq!(entries[1].status, TxStatus::Failed);
    assert_invariant(w.state.store(), &[&w.sender], 1_000).await;
}

async fn poison_messages_are_reported_for_redelivery(store: Backend) {
    let w = world(store).await;
    let failed = transfers::settle_batch(
        &w.state,
        vec![
            Received {
                id: "bad-1".into(),
                body: "{}".into(),
                receives: 5,
                sent_at: None,
            },
            Received {
                id: "bad-2".into(),
                body: "not json".into(),
                receives: 1,
                sent_at: None,
            },
        ],
    )
    .await;
    assert_eq!(failed, ["bad-1", "bad-2"]);
}

async fn each_sweep_sends_every_stale_transfer_exactly_once(backend: Backend) {
    const STALE: usize = 260;
    let LostQueue {
        api,
        background,
        mut deliveries,
        ..
    } = lost_queue(backend).await;
    let sender = testing::registered(&api, "sweeper", "rahasia-sekali")
        .await
        .unwrap();
    testing::registered(&api, "swept", "rahasia-sekali")
        .await
        .unwrap();
    testing::topped_up(&api, &sender, STALE as i64)
        .await
        .unwrap();
    // One after the other: concurrent debits of one account would contend on DynamoDB.
    let mut made = Vec::with_capacity(STALE);
    for _ in 0..STALE {
        made.push(
            testing::transferred(&api, &sender, "swept", 1)
                .await
                .unwrap(),
        );
    }
    made.sort();
    tokio::time::sleep(Duration::from_millis(1_100)).await;

    for run in 1..=2 {
        let count = transfers::sweep(&background, Duration::from_secs(1))
            .await
            .unwrap();
        let mut sent = Vec::new();
        while let Ok(id) = deliveries.try_recv() {
            sent.push(id);
        }
        sent.sort();
        assert_eq!(count, STALE, "run {run}");
        assert_eq!(sent, made, "run {run}: each stale transfer once");
    }
}

async fn a_transfer_that_can_never_settle_ends_failed_and_is_not_retried(store: Backend) {
    let mut w = world(store).await;
    let id = testing::transferred(&w.state, &w.sender, "recipient", 700)
        .await
        .unwrap();
    assert_eq!(w.queue.recv().await.as_deref(), Some(id.as_str()));
    for gone in [&w.recipient, &w.sender] {
        assert!(w.state.store().delete_user(gone.user_id).await.unwrap());
    }
    let failed = transfers::settle_batch(&w.state, vec![message(&id, 1), message(&id, 2)]).await;
    assert!(
        failed.is_empty(),
        "acknowledged, not redelivered: {failed:?}"
    );
    let t = w.state.store().get_transfer(&id).await.unwrap().unwrap();
    assert_eq!((t.status, t.suspense), (TxStatus::Failed, true));
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(
        transfers::sweep(&w.state, Duration::from_secs(1))
            .await
            .unwrap(),
        0,
        "the sweep leaves it alone"
    );
    assert!(w.queue.try_recv().is_err());
}

/// A transfer whose settlement fails on every delivery (the recipient's account is broken: on
/// DynamoDB its item has no balance, on SQLite a ledger entry holds the place of its next
/// one) is delivered again until the queue's last receive, then ended once: `FAILED`, the
/// sender refunded, nothing to send again. Through the server's worker too.
async fn a_transfer_that_fails_on_every_delivery_is_given_up_on_the_last(backend: Backend) {
    let (store, table, file): (Arc<dyn Store>, Option<DynamoStore>, _) = match backend {
        Backend::Sqlite => {
            let sqlite = dompet::store::SqliteStore::temporary().unwrap();
            let file = sqlite.path().to_path_buf();
            (Arc::new(sqlite), None, Some(file))
        }
        Backend::DynamoDb => {
            let table = dompet_tests::dynamodb_local::fresh_store().await;
            (Arc::new(table.clone()), Some(table), None)
        }
    };
    let config =
        Config::from_lookup(|k| (k == "DOMPET_SWEEP_AGE_SECS").then(|| "1".into())).unwrap();
    let (state, mut queue) = testing::state_on(store.clone(), &config).unwrap();
    let sender = testing::registered(&state, "sender", "rahasia-sekali")
        .await
        .unwrap();
    let recipient = testing::registered(&state, "recipient", "rahasia-sekali")
        .await
        .unwrap();
    testing::topped_up(&state, &sender, 1_000).await.unwrap();
    let broken = |id: String| {
        let (table, file, recipient) = (table.clone(), file.clone(), recipient.clone());
        async move {
            match &table {
                Some(table) => {
                    table
                        .client()
                        .update_item()
                        .table_name(table.table())
                        .key(
                            "pk",
                            AttributeValue::S(format!("USER#{}", recipient.user_id)),
                        )
                        .key("sk", AttributeValue::S("PROFILE".into()))
                        .update_expression("REMOVE balance")
                        .send()
                        .await
                        .unwrap();
                }
                None => {
                    let c = rusqlite::Connection::open(file.unwrap()).unwrap();
                    c.execute(
                        "INSERT INTO entries (user_id, seq, kind, reference_id, amount, remarks, \
                         balance_before, balance_after, status, created_at) \
                         VALUES (?1, 1, 'TOP_UP', 'x', 1, '', 0, 1, 'SUCCESS', 0)",
                        [recipient.user_id.to_string()],
                    )
                    .unwrap();
                }
            }
            id
        }
    };
    let id = testing::transferred(&state, &sender, "recipient", 700)
        .await
        .unwrap();
    assert_eq!(queue.recv().await.as_deref(), Some(id.as_str()));
    let id = broken(id).await;
    let delivery = |receives: u32| Received {
        id: format!("msg-{receives}"),
        body: format!(r#"{{"transfer_id":"{id}"}}"#),
        receives,
        sent_at: None,
    };
    for receives in 1..5 {
        let failed = transfers::settle_batch(&state, vec![delivery(receives)]).await;
        assert_eq!(failed, [format!("msg-{receives}")], "delivered again");
        let t = store.get_transfer(&id).await.unwrap().unwrap();
        assert_eq!(t.status, TxStatus::Pending);
    }
    // The last receive: given up, acknowledged (not to the dead-letter queue).
    let failed = transfers::settle_batch(&state, vec![delivery(5)]).await;
    assert!(failed.is_empty(), "{failed:?}");
    let t = store.get_transfer(&id).await.unwrap().unwrap();
    assert_eq!((t.status, t.suspense), (TxStatus::Failed, false));
    assert_eq!(balance(store.as_ref(), &sender).await, 1_000, "refunded");
    // Once: a later delivery (or the sweep) finds nothing to do.
    assert!(transfers::settle_batch(&state, vec![delivery(5)])
        .await
        .is_empty());
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(
        transfers::sweep(&state, Duration::from_secs(1))
            .await
            .unwrap(),
        0
    );
    assert!(queue.try_recv().is_err());

    // The server's worker tries 5 times, then gives up the same way.
    let second = testing::transferred(&state, &sender, "recipient", 300)
        .await
        .unwrap();
    let _ = queue.recv().await;
    dompet::service::transfers::spawn_background(state.clone(), queue);
    state
        .queue()
        .enqueue(&dompet::queue::TransferMessage::new(second.clone()))
        .await
        .unwrap();
    for _ in 0..100 {
        if store.get_transfer(&second).await.unwrap().unwrap().status != TxStatus::Pending {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let t = store.get_transfer(&second).await.unwrap().unwrap();
    assert_eq!(t.status, TxStatus::Failed, "given up after 5 tries");
    assert_eq!(balance(store.as_ref(), &sender).await, 1_000, "refunded");
}

/// A message as the transfer route sends it: naming the recipient.
fn message_to(m: &dompet::queue::TransferMessage, n: usize) -> Received {
    Received {
        id: format!("msg-{n}"),
        body: serde_json::to_string(m).unwrap(),
        receives: 1,
        sent_at: None,
    }
}

/// Transfers to one recipient, credited together: two invocations at once (two hosts on one
/// store) get overlapping batches in which every message comes twice, one transfer already
/// settled, one message naming the wrong recipient and one an unknown transfer. Each transfer
/// is credited once, the recipient's entries follow one another, and nothing is retried.
async fn transfers_to_one_recipient_credited_together_are_each_credited_once(store: Backend) {
    let mut w = world(store).await;
    let mut messages = Vec::new();
    for _ in 0..6 {
        testing::transferred(&w.state, &w.sender, "recipient", 100)
            .await
            .unwrap();
        let m = w.queue.recv_message().await.unwrap();
        assert_eq!(m.to_user, Some(w.recipient.user_id.to_string()));
        messages.push(m);
    }
    assert_eq!(
        transfers::settle_message(&w.state, &messages[0])
            .await
            .unwrap(),
        Settlement::Credited
    );
    let mut wrong = messages[1].clone();
    wrong.to_user = Some(w.sender.user_id.to_string());
    let mut unknown = messages[2].clone();
    unknown.transfer_id = uuid::Uuid::new_v4().to_string();
    let batch: Vec<Received> = messages
        .iter()
        .chain(&messages)
        .chain([&wrong, &unknown])
        .enumerate()
        .map(|(n, m)| message_to(m, n))
        .collect();
    let config = Config::from_lookup(|_| None).unwrap();
    let (other, _queue) = testing::state_on(w.state.store_handle(), &config).unwrap();
    let (one, two) = tokio::join!(
        transfers::settle_batch(&w.state, batch.clone()),
        transfers::settle_batch(&other, batch.into_iter().rev().collect()),
    );
    assert!(one.is_empty() && two.is_empty(), "{one:?} {two:?}");
    let store = w.state.store();
    for m in &messages {
        let t = store.get_transfer(&m.transfer_id).await.unwrap().unwrap();
        assert_eq!(t.status, TxStatus::Success);
    }
    assert_eq!(balance(store, &w.recipient).await, 600);
    assert_eq!(balance(store, &w.sender).await, 400);
    let entries = store
        .list_entries(w.recipient.user_id, None, 100)
        .await
        .unwrap();
    assert_eq!(entries.len(), 6, "one entry per transfer: {entries:?}");
    for pair in entries.windows(2) {
        assert_eq!(pair[0].balance_before, pair[1].balance_after);
        assert_eq!(pair[0].seq, pair[1].seq + 1);
    }
    let mut credited: Vec<&str> = entries.iter().map(|e| e.reference_id.as_str()).collect();
    credited.sort_unstable();
    let mut sent: Vec<&str> = messages.iter().map(|m| m.transfer_id.as_str()).collect();
    sent.sort_unstable();
    assert_eq!(credited, sent);
    assert_invariant(store, &[&w.sender, &w.recipient], 1_000).await;
}

/// Transfers to a recipient gone, in one batch naming it: each refunded once.
async fn transfers_to_a_recipient_gone_in_one_batch_are_each_refunded_once(store: Backend) {
    let mut w = world(store).await;
    let mut batch = Vec::new();
    for n in 0..3 {
        testing::transferred(&w.state, &w.sender, "recipient", 200)
            .await
            .unwrap();
        let m = w.queue.recv_message().await.unwrap();
        batch.push(message_to(&m, n));
        batch.push(message_to(&m, n + 10));
    }
    assert!(w
        .state
        .store()
        .delete_user(w.recipient.user_id)
        .await
        .unwrap());
    assert!(transfers::settle_batch(&w.state, batch).await.is_empty());
    assert_eq!(
        balance(w.state.store(), &w.sender).await,
        1_000,
        "refunded once each"
    );
    let entries = w
        .state
        .store()
        .list_entries(w.sender.user_id, None, 100)
        .await
        .unwrap();
    assert_eq!(entries.len(), 7, "top-up, 3 transfers (FAILED), 3 refunds");
    assert_invariant(w.state.store(), &[&w.sender], 1_000).await;
}

dompet_tests::both_stores!(
    transfers_to_one_recipient_credited_together_are_each_credited_once,
    transfers_to_a_recipient_gone_in_one_batch_are_each_refunded_once,
    a_transfer_that_fails_on_every_delivery_is_given_up_on_the_last,
    a_transfer_that_can_never_settle_ends_failed_and_is_not_retried,
    each_sweep_sends_every_stale_transfer_exactly_once,
    duplicate_deliveries_in_one_batch_credit_once,
    a_crash_between_settle_and_ack_redelivers_harmlessly,
    a_lost_enqueue_is_recovered_by_the_sweep,
    a_recipient_gone_fails_the_transfer_and_refunds_the_sender,
    poison_messages_are_reported_for_redelivery,
);
