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
    let store = dompet_tests::dynamodb_local::fresh_store().await;
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
    let mut movers = Vec::new();
    for w in 0..4usize {
        let (store, users, stop, moved) =
            (store.clone(), users.clone(), stop.clone(), moved.clone());
        movers.push(tokio::spawn(async move {
            let mut i = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let from = &users[(w + i) % 4];
                let to = &users[(w + i + 1) % 4];
                match i % 3 {
                    // Four movers on four accounts: a write may lose its condition every time
                    // it is retried, which the API answers 409 CONCURRENT_UPDATE (nothing moved).
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
        }));
    }
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
