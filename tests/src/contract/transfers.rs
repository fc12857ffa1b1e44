//! `TransferStore`: settling reserved transfers and paging the pending ones.

use dompet::domain::now_millis;
use dompet::store::{EntryKind, MoneyOpKind, PendingPage, Settlement, Store, TxStatus};

use super::{account, assert_chain, balance, op};

pub async fn a_transfer_is_reserved_then_settled_exactly_once(store: &dyn Store) {
    let (from, to) = (
        account(store, "sender").await,
        account(store, "recipient").await,
    );
    store
        .apply(&op(&from, MoneyOpKind::TopUp, 400_000), None)
        .await
        .unwrap();
    let reserve = op(&from, MoneyOpKind::Transfer { to: to.user_id }, 30_000);
    let out = store.apply(&reserve, None).await.unwrap();
    assert_eq!(
        (out.kind, out.status, out.balance_after),
        (EntryKind::TransferOut, TxStatus::Pending, 370_000)
    );
    let id = out.reference_id.clone();
    let pending = store.get_transfer(&id).await.unwrap().unwrap();
    assert_eq!(
        (pending.status, pending.settled_at),
        (TxStatus::Pending, None)
    );
    assert_eq!(pending.to_user, to.user_id);
    assert!(PendingPage::all(store, now_millis() + 1)
        .await
        .unwrap()
        .contains(&id));
    assert!(
        !PendingPage::all(store, reserve.now)
            .await
            .unwrap()
            .contains(&id),
        "not older than itself"
    );

    assert_eq!(
        store.settle_transfer(&id, now_millis()).await.unwrap(),
        Settlement::Credited
    );
    assert_eq!(
        store.settle_transfer(&id, now_millis()).await.unwrap(),
        Settlement::AlreadySettled
    );
    assert_eq!(
        store
            .settle_transfer("no-such-transfer", now_millis())
            .await
            .unwrap(),
        Settlement::Unknown
    );
    assert_eq!(balance(store, &to).await, 30_000);
    assert_eq!(balance(store, &from).await, 370_000);
    let settled = store.get_transfer(&id).await.unwrap().unwrap();
    assert_eq!(settled.status, TxStatus::Success);
    assert!(settled.settled_at.is_some());
    assert!(!PendingPage::all(store, now_millis() + 1)
        .await
        .unwrap()
        .contains(&id));
    let sender_entry = &store.list_entries(from.user_id, None, 1).await.unwrap()[0];
    assert_eq!(
        (sender_entry.reference_id.as_str(), sender_entry.status),
        (id.as_str(), TxStatus::Success)
    );
    let incoming = &store.list_entries(to.user_id, None, 1).await.unwrap()[0];
    assert_eq!(
        (
            incoming.kind,
            incoming.amount,
            incoming.reference_id.as_str()
        ),
        (EntryKind::TransferIn, 30_000, id.as_str())
    );
    assert_chain(store, &from).await;
    assert_chain(store, &to).await;
}

pub async fn concurrent_settlements_credit_once(store: &dyn Store) {
    let (from, to) = (
        account(store, "csender").await,
        account(store, "crecipient").await,
    );
    store
        .apply(&op(&from, MoneyOpKind::TopUp, 100), None)
        .await
        .unwrap();
    let id = store
        .apply(
            &op(&from, MoneyOpKind::Transfer { to: to.user_id }, 60),
            None,
        )
        .await
        .unwrap()
        .reference_id;
    let results =
        futures::future::join_all((0..6).map(|_| store.settle_transfer(&id, now_millis()))).await;
    let credited = results
        .iter()
        .filter(|r| matches!(r, Ok(Settlement::Credited)))
        .count();
    assert_eq!(credited, 1, "{results:?}");
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(Settlement::Credited | Settlement::AlreadySettled))),
        "{results:?}"
    );
    assert_eq!(balance(store, &to).await, 60);
    assert_chain(store, &to).await;
}

pub async fn a_transfer_to_a_vanished_recipient_fails_and_refunds(store: &dyn Store) {
    let (from, to) = (
        account(store, "rsender").await,
        account(store, "gone").await,
    );
    store
        .apply(&op(&from, MoneyOpKind::TopUp, 1_000), None)
        .await
        .unwrap();
    let id = store
        .apply(
            &op(&from, MoneyOpKind::Transfer { to: to.user_id }, 400),
            None,
        )
        .await
        .unwrap()
        .reference_id;
    assert!(store.delete_user(to.user_id).await.unwrap());
    assert_eq!(
        store.settle_transfer(&id, now_millis()).await.unwrap(),
        Settlement::Refunded
    );
    assert_eq!(
        store.settle_transfer(&id, now_millis()).await.unwrap(),
        Settlement::AlreadySettled
    );
    assert_eq!(balance(store, &from).await, 1_000);
    let failed = store.get_transfer(&id).await.unwrap().unwrap();
    assert_eq!((failed.status, failed.suspense), (TxStatus::Failed, false));
    let entries = store.list_entries(from.user_id, None, 10).await.unwrap();
    assert_eq!(
        (
            entries[0].kind,
            entries[0].amount,
            entries[0].reference_id.as_str()
        ),
        (EntryKind::Refund, 400, id.as_str())
    );
    assert_eq!(
        (entries[1].kind, entries[1].status),
        (EntryKind::TransferOut, TxStatus::Failed)
    );
    assert_chain(store, &from).await;
}

pub async fn pending_pages_visit_each_pending_transfer_once(store: &dyn Store) {
    let (from, to) = (account(store, "pager").await, account(store, "paged").await);
    store
        .apply(&op(&from, MoneyOpKind::TopUp, 1_000_000), None)
        .await
        .unwrap();
    let mut made = Vec::new();
    for _ in 0..23 {
        let t = op(&from, MoneyOpKind::Transfer { to: to.user_id }, 10);
        made.push(store.apply(&t, None).await.unwrap().reference_id);
    }
    let before = now_millis() + 1;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = store
            .pending_transfers(before, cursor.as_deref(), 5)
            .await
            .unwrap();
        assert!(page.ids.len() <= 5);
        seen.extend(page.ids);
        pages += 1;
        assert!(pages < 100, "the walk ends");
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no transfer twice");
    made.sort();
    assert_eq!(unique, made);
    assert!(PendingPage::all(store, 0).await.unwrap().is_empty());
}

pub async fn a_transfer_between_two_vanished_accounts_is_held_in_suspense(store: &dyn Store) {
    let (from, to) = (
        account(store, "vanish-a").await,
        account(store, "vanish-b").await,
    );
    store
        .apply(&op(&from, MoneyOpKind::TopUp, 500), None)
        .await
        .unwrap();
    let id = store
        .apply(
            &op(&from, MoneyOpKind::Transfer { to: to.user_id }, 500),
            None,
        )
        .await
        .unwrap()
        .reference_id;
    assert!(store.delete_user(to.user_id).await.unwrap());
    assert!(store.delete_user(from.user_id).await.unwrap());
    assert_eq!(
        store.settle_transfer(&id, now_millis()).await.unwrap(),
        Settlement::Suspended
    );
    assert_eq!(
        store.settle_transfer(&id, now_millis()).await.unwrap(),
        Settlement::AlreadySettled,
        "terminal: never retried"
    );
    let t = store.get_transfer(&id).await.unwrap().unwrap();
    assert_eq!((t.status, t.suspense), (TxStatus::Failed, true));
    assert!(!PendingPage::all(store, now_millis() + 1)
        .await
        .unwrap()
        .contains(&id));
    let entries = store.list_entries(from.user_id, None, 10).await.unwrap();
    assert_eq!(
        (entries[0].kind, entries[0].status),
        (EntryKind::TransferOut, TxStatus::Failed),
        "the sender's entry is kept and marked"
    );
}
