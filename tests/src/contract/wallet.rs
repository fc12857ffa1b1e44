//! `WalletStore`: money operations, their ledger entries and idempotency keys.

use dompet::domain::{now_millis, UserId};
use dompet::store::{EntryKind, MoneyError, MoneyOp, MoneyOpKind, Store, TxStatus, UserRecord};

use super::{account, assert_chain, balance, claim, op};

pub async fn top_ups_and_payments_move_the_balance_with_exact_entries(store: &dyn Store) {
    let u = account(store, "payer").await;
    let top = store
        .apply(&op(&u, MoneyOpKind::TopUp, 500_000), None)
        .await
        .unwrap();
    assert_eq!(
        (top.seq, top.balance_before, top.balance_after),
        (1, 0, 500_000)
    );
    assert_eq!(
        (top.kind, top.status),
        (EntryKind::TopUp, TxStatus::Success)
    );
    let pay = store
        .apply(&op(&u, MoneyOpKind::Payment, 100_000), None)
        .await
        .unwrap();
    assert_eq!(
        (pay.seq, pay.balance_before, pay.balance_after),
        (2, 500_000, 400_000)
    );
    assert_eq!(pay.remarks, "contract");
    let entries = store.list_entries(u.user_id, None, 10).await.unwrap();
    assert_eq!(entries, vec![pay.clone(), top.clone()], "newest first");
    assert_eq!(
        store.list_entries(u.user_id, Some(2), 10).await.unwrap(),
        vec![top]
    );
    assert_eq!(
        store.list_entries(u.user_id, None, 1).await.unwrap(),
        vec![pay]
    );
    assert_eq!(balance(store, &u).await, 400_000);
    assert_chain(store, &u).await;
}

pub async fn a_payment_beyond_the_balance_changes_nothing(store: &dyn Store) {
    let u = account(store, "broke").await;
    store
        .apply(&op(&u, MoneyOpKind::TopUp, 100), None)
        .await
        .unwrap();
    let err = store
        .apply(&op(&u, MoneyOpKind::Payment, 101), None)
        .await
        .unwrap_err();
    assert!(matches!(err, MoneyError::InsufficientBalance), "{err:?}");
    let stored = store.get_user(u.user_id).await.unwrap().unwrap();
    assert_eq!((stored.balance, stored.version), (100, 1));
    store
        .apply(&op(&u, MoneyOpKind::Payment, 100), None)
        .await
        .unwrap();
    assert_eq!(
        balance(store, &u).await,
        0,
        "exactly the balance can be spent"
    );
    let missing = UserRecord {
        user_id: UserId::new(),
        ..u.clone()
    };
    assert!(matches!(
        store
            .apply(&op(&missing, MoneyOpKind::TopUp, 1), None)
            .await,
        Err(MoneyError::UserNotFound)
    ));
}

pub async fn an_idempotency_key_records_the_first_entry_and_moves_money_once(store: &dyn Store) {
    let u = account(store, "idem").await;
    let c = claim("key-1", "hash-a");
    let first = store
        .apply(&op(&u, MoneyOpKind::TopUp, 700), Some(&c))
        .await
        .unwrap();
    match store
        .apply(&op(&u, MoneyOpKind::TopUp, 700), Some(&c))
        .await
    {
        Err(MoneyError::KeyUsed(record)) => {
            assert_eq!(record.request_hash, "hash-a");
            assert_eq!(record.entry, first);
        }
        other => panic!("expected KeyUsed, got {other:?}"),
    }
    assert_eq!(balance(store, &u).await, 700);
    let now = now_millis();
    let record = store
        .idempotency_record(u.user_id, "topup", "key-1", now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.entry, first);
    assert_eq!(
        store
            .idempotency_record(u.user_id, "pay", "key-1", now)
            .await
            .unwrap(),
        None,
        "scoped by route"
    );
    assert_eq!(
        store
            .idempotency_record(u.user_id, "topup", "key-1", now + 120_000)
            .await
            .unwrap(),
        None,
        "expired"
    );
    let other = account(store, "idem2").await;
    store
        .apply(&op(&other, MoneyOpKind::TopUp, 5), Some(&c))
        .await
        .unwrap();
    assert_eq!(balance(store, &other).await, 5, "scoped by user");
}

pub async fn concurrent_uses_of_one_key_move_money_once(store: &dyn Store) {
    let u = account(store, "idemrace").await;
    let c = claim("race-key", "hash");
    let ops: Vec<MoneyOp> = (0..8).map(|_| op(&u, MoneyOpKind::TopUp, 1_000)).collect();
    let results = futures::future::join_all(ops.iter().map(|o| store.apply(o, Some(&c)))).await;
    let applied = results.iter().filter(|r| r.is_ok()).count();
    let replayed = results
        .iter()
        .filter(|r| matches!(r, Err(MoneyError::KeyUsed(_))))
        .count();
    assert_eq!((applied, replayed), (1, 7), "{results:?}");
    assert_eq!(balance(store, &u).await, 1_000);
}

pub async fn concurrent_money_writes_on_one_account_are_exact(store: &dyn Store) {
    let u = account(store, "hot").await;
    store
        .apply(&op(&u, MoneyOpKind::TopUp, 1_000), None)
        .await
        .unwrap();
    let ops: Vec<MoneyOp> = (1..=10)
        .map(|i| {
            op(
                &u,
                if i % 2 == 0 {
                    MoneyOpKind::Payment
                } else {
                    MoneyOpKind::TopUp
                },
                i * 10,
            )
        })
        .collect();
    let results = futures::future::join_all(ops.iter().map(|o| store.apply(o, None))).await;
    let mut expected = 1_000;
    for (o, r) in ops.iter().zip(&results) {
        match (r, o.kind) {
            (Ok(_), MoneyOpKind::TopUp) => expected += o.amount,
            (Ok(_), _) => expected -= o.amount,
            (Err(MoneyError::Contention), _) => {}
            (Err(e), _) => panic!("{e:?}"),
        }
    }
    assert!(
        results.iter().filter(|r| r.is_ok()).count() >= 5,
        "{results:?}"
    );
    assert_eq!(balance(store, &u).await, expected);
    assert_chain(store, &u).await;
}
