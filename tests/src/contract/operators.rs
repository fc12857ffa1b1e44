//! `OperatorStore`: transfer listings by status, the oldest pending transfer, roles.

use dompet::domain::{now_millis, IdentifierKind};
use dompet::store::{MoneyOpKind, Role, Settlement, Store, TransferPosition, TxStatus, UserRecord};

use super::{account, id, op};

/// A transfer of `amount` from `from` to `to` made at `at` (ms); returns its id.
async fn transfer_at(
    store: &dyn Store,
    from: &UserRecord,
    to: &UserRecord,
    amount: i64,
    at: i64,
) -> String {
    let mut o = op(from, MoneyOpKind::Transfer { to: to.user_id }, amount);
    o.now = at;
    store.apply(&o, None).await.unwrap().reference_id
}

pub async fn transfers_are_listed_by_status_newest_first(store: &dyn Store) {
    let (a, b) = (account(store, "ops-a").await, account(store, "ops-b").await);
    store
        .apply(&op(&a, MoneyOpKind::TopUp, 1_000), None)
        .await
        .unwrap();
    let base = now_millis();
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(transfer_at(store, &a, &b, 10, base + i).await);
    }
    // The two oldest settle.
    for id in &ids[..2] {
        assert_eq!(
            store.settle_transfer(id, now_millis()).await.unwrap(),
            Settlement::Credited
        );
    }
    let listed = |status, before: Option<TransferPosition>, limit| async move {
        store
            .list_transfers(status, before.as_ref(), limit)
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.transfer_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        listed(TxStatus::Pending, None, 10).await,
        [ids[3].clone(), ids[2].clone()]
    );
    assert_eq!(
        listed(TxStatus::Success, None, 10).await,
        [ids[1].clone(), ids[0].clone()]
    );
    assert_eq!(listed(TxStatus::Success, None, 1).await, [ids[1].clone()]);
    let after_newest = TransferPosition {
        created_at: base + 1,
        transfer_id: ids[1].clone(),
    };
    assert_eq!(
        listed(TxStatus::Success, Some(after_newest), 10).await,
        [ids[0].clone()]
    );
    assert!(listed(TxStatus::Failed, None, 10).await.is_empty());
    assert_eq!(store.oldest_pending().await.unwrap(), Some(base + 2));
    for id in &ids[2..] {
        store.settle_transfer(id, now_millis()).await.unwrap();
    }
    assert_eq!(store.oldest_pending().await.unwrap(), None);
}

pub async fn roles_are_set_through_an_identifier(store: &dyn Store) {
    let u = account(store, "ops-role").await;
    let name = id(IdentifierKind::Username, u.username.as_deref().unwrap());
    assert!(store.set_role(&name, Role::Admin).await.unwrap());
    assert_eq!(
        store.get_user(u.user_id).await.unwrap().unwrap().role,
        Role::Admin
    );
    assert!(!store
        .set_role(
            &id(IdentifierKind::Username, "nobody-has-this"),
            Role::Admin
        )
        .await
        .unwrap());
}
