//! The store contract: what every adapter of `dompet::store::Store` must do. Each case takes a
//! fresh store; `all_store_contract_tests!` runs them all on one adapter.
//!
//! One file per port, as in `lib/src/store/`; the helpers here are shared by several of them
//! (`account` and `op` by other suites too).

mod entities;
mod identity;
mod operators;
mod resets;
mod sessions;
mod throttle;
mod transfers;
mod wallet;

pub use entities::*;
pub use identity::*;
pub use operators::*;
pub use resets::*;
pub use sessions::*;
pub use throttle::*;
pub use transfers::*;
pub use wallet::*;

use dompet::domain::{now_millis, IdentifierKind, LoginIdentifier, SecretKind, UserId};
use dompet::store::{Entity, IdempotencyClaim, MoneyOp, MoneyOpKind, Role, Store, UserRecord};

pub(crate) fn user(username: Option<&str>, email: Option<&str>, phone: Option<&str>) -> UserRecord {
    let now = now_millis();
    UserRecord {
        user_id: UserId::new(),
        username: username.map(String::from),
        email: email.map(String::from),
        phone_number: phone.map(String::from),
        first_name: Some("Guntur".into()),
        last_name: None,
        address: Some("Jl. Kebon Sirih No. 1".into()),
        secret_kind: SecretKind::Password,
        secret_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
        role: Role::User,
        balance: 0,
        version: 0,
        auth_epoch: 0,
        created_at: now,
        updated_at: now,
    }
}

pub(crate) fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

pub(crate) fn id(kind: IdentifierKind, v: &str) -> LoginIdentifier {
    LoginIdentifier::new(kind, v)
}

pub(crate) fn now_secs() -> i64 {
    now_millis() / 1000
}

/// A new account with a unique username starting with `name` (for other suites too).
pub async fn account(store: &dyn Store, name: &str) -> UserRecord {
    let u = user(Some(&unique(name)), None, None);
    store.create_user(&u).await.unwrap();
    u
}

/// A money operation of `user` now, with a new reference id.
pub fn op(user: &UserRecord, kind: MoneyOpKind, amount: i64) -> MoneyOp {
    MoneyOp {
        user: user.user_id,
        kind,
        reference_id: uuid::Uuid::new_v4().to_string(),
        amount,
        remarks: "contract".into(),
        now: now_millis(),
        seen: None,
        code: None,
    }
}

pub(crate) fn claim(key: &str, hash: &str) -> IdempotencyClaim {
    IdempotencyClaim {
        scope: "topup",
        key: key.into(),
        request_hash: hash.into(),
        expires_at: now_millis() + 60_000,
    }
}

pub(crate) async fn balance(store: &dyn Store, u: &UserRecord) -> i64 {
    store.get_user(u.user_id).await.unwrap().unwrap().balance
}

/// Every entry's `balance_after` is the next newer entry's `balance_before`, the newest ends
/// at the balance, and the sequence has no gaps.
pub(crate) async fn assert_chain(store: &dyn Store, u: &UserRecord) {
    let entries = store.list_entries(u.user_id, None, 1000).await.unwrap();
    let stored = store.get_user(u.user_id).await.unwrap().unwrap();
    assert_eq!(
        entries.first().map_or(0, |e| e.balance_after),
        stored.balance
    );
    assert_eq!(entries.len() as u64, stored.version);
    for pair in entries.windows(2) {
        assert_eq!(pair[0].balance_before, pair[1].balance_after, "{pair:?}");
        assert_eq!(pair[0].seq, pair[1].seq + 1);
    }
    for e in &entries {
        let delta = if e.kind.is_credit() {
            e.amount
        } else {
            -e.amount
        };
        assert_eq!(e.balance_after - e.balance_before, delta, "{e:?}");
    }
}

pub(crate) fn entity(owner: &UserRecord, code: &str, kind: &str, quantity: i64) -> Entity {
    let now = now_millis();
    Entity {
        entity_id: dompet::domain::EntityId::new(),
        user_id: owner.user_id,
        code: code.into(),
        kind: kind.into(),
        quantity,
        name: Some(format!("{kind} {code}")),
        description: None,
        version: 1,
        created_at: now,
        updated_at: now,
    }
}
