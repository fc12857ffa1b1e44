//! Faults of the background transfer path, on the real SQLite store and in-process queue:
//! duplicate deliveries, a crash between settle and ack, a lost enqueue, a recipient gone.
//! After each, the money invariant holds.

use std::sync::Arc;
use std::time::Duration;

use dompet::queue::InProcessQueue;
use dompet::service::transfers;
use dompet::store::{Settlement, SqliteStore, Store, TxStatus, UserRecord};
use dompet::{testing, AppState, Config, Keys};

struct World {
    state: AppState,
    queue: dompet::queue::TransferReceiver,
    sender: UserRecord,
    recipient: UserRecord,
}

/// Two accounts; the sender topped up with 1000; nobody reads the queue.
async fn world() -> World {
    let config =
        Config::from_lookup(|k| (k == "DOMPET_SWEEP_AGE_SECS").then(|| "1".into())).unwrap();
    let (state, queue) = testing::ephemeral_without_worker(&config).unwrap();
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
    for id in store.pending_transfers(i64::MAX, 1000).await.unwrap() {
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

#[tokio::test]
async fn duplicate_deliveries_in_one_batch_credit_once() {
    let mut w = world().await;
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

#[tokio::test]
async fn a_crash_between_settle_and_ack_redelivers_harmlessly() {
    let w = world().await;
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

#[tokio::test]
async fn a_lost_enqueue_is_recovered_by_the_sweep() {
    // One store, two hosts: the API host's queue is broken (its worker is gone), another
    // host runs the sweep and the worker.
    let store: Arc<dyn Store> = Arc::new(SqliteStore::temporary().unwrap());
    let config =
        Config::from_lookup(|k| (k == "DOMPET_SWEEP_AGE_SECS").then(|| "1".into())).unwrap();
    let keys = dompet::auth::KeyPair::generate();
    let (broken, receiver) = InProcessQueue::new();
    drop(receiver);
    let api = AppState::new(
        store.clone(),
        Arc::new(broken),
        Keys::Signing(keys.clone()),
        &config,
    )
    .unwrap();
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

    let (queue, mut deliveries) = InProcessQueue::new();
    let background =
        AppState::new(store.clone(), Arc::new(queue), Keys::Signing(keys), &config).unwrap();
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

#[tokio::test]
async fn a_recipient_gone_fails_the_transfer_and_refunds_the_sender() {
    let w = world().await;
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

#[tokio::test]
async fn poison_messages_are_reported_for_redelivery() {
    let w = world().await;
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
