//! Faults of the background transfer path, on both real stores and the in-process queue:
//! duplicate deliveries, a crash between settle and ack, a lost enqueue, a recipient gone.
//! After each, the money invariant holds.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use dompet::queue::InProcessQueue;
use dompet::service::transfers;
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

fn message(id: &str, n: usize) -> (String, String) {
    (format!("msg-{n}"), format!(r#"{{"transfer_id":"{id}"}}"#))
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
            ("bad-1".into(), "{}".into()),
            ("bad-2".into(), "not json".into()),
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

/// A transfer whose settlement fails on every delivery (on DynamoDB the recipient's account
/// item is broken: no balance; on SQLite nobody reads the queue) is sent again by the sweep
/// until the give-up age, then ended once: `FAILED`, the sender refunded, never sent again.
async fn a_transfer_pending_past_the_give_up_age_is_refunded_and_never_sent_again(
    backend: Backend,
) {
    let (store, table): (Arc<dyn Store>, Option<DynamoStore>) = match backend {
        Backend::Sqlite => (backend.fresh_store().await, None),
        Backend::DynamoDb => {
            let table = dompet_tests::dynamodb_local::fresh_store().await;
            (Arc::new(table.clone()), Some(table))
        }
    };
    let config = Config::from_lookup(|k| match k {
        "DOMPET_SWEEP_AGE_SECS" => Some("1".into()),
        "DOMPET_TRANSFER_GIVE_UP_SECS" => Some("3".into()),
        _ => None,
    })
    .unwrap();
    let (state, mut queue) = testing::state_on(store.clone(), &config).unwrap();
    let sender = testing::registered(&state, "sender", "rahasia-sekali")
        .await
        .unwrap();
    let recipient = testing::registered(&state, "recipient", "rahasia-sekali")
        .await
        .unwrap();
    testing::topped_up(&state, &sender, 1_000).await.unwrap();
    let id = testing::transferred(&state, &sender, "recipient", 700)
        .await
        .unwrap();
    assert_eq!(queue.recv().await.as_deref(), Some(id.as_str()));
    if let Some(table) = &table {
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
        for _ in 0..2 {
            assert!(transfers::settle(&state, &id).await.is_err(), "poison");
        }
    }
    // Younger than the give-up age: sent again.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(
        transfers::sweep(&state, Duration::from_secs(1))
            .await
            .unwrap(),
        1
    );
    assert_eq!(queue.recv().await.as_deref(), Some(id.as_str()));
    // Past it: ended, and not sent again.
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    for _ in 0..2 {
        let sent = transfers::sweep(&state, Duration::from_secs(1))
            .await
            .unwrap();
        // DynamoDB's pending index may still list it once: its settlement then finds it ended.
        if sent > 0 {
            let again = queue.recv().await.unwrap();
            assert_eq!(
                transfers::settle(&state, &again).await.unwrap(),
                Settlement::AlreadySettled
            );
        }
    }
    let t = store.get_transfer(&id).await.unwrap().unwrap();
    assert_eq!((t.status, t.suspense), (TxStatus::Failed, false));
    assert_eq!(balance(store.as_ref(), &sender).await, 1_000, "refunded");
    if table.is_none() {
        assert_eq!(balance(store.as_ref(), &recipient).await, 0);
        assert_invariant(store.as_ref(), &[&sender, &recipient], 1_000).await;
    }
    assert!(queue.try_recv().is_err());
}

dompet_tests::both_stores!(
    a_transfer_pending_past_the_give_up_age_is_refunded_and_never_sent_again,
    a_transfer_that_can_never_settle_ends_failed_and_is_not_retried,
    each_sweep_sends_every_stale_transfer_exactly_once,
    duplicate_deliveries_in_one_batch_credit_once,
    a_crash_between_settle_and_ack_redelivers_harmlessly,
    a_lost_enqueue_is_recovered_by_the_sweep,
    a_recipient_gone_fails_the_transfer_and_refunds_the_sender,
    poison_messages_are_reported_for_redelivery,
);
