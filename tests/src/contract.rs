//! The store contract: what every adapter of `dompet::store::Store` must do. Each case takes a
//! fresh store; `all_store_contract_tests!` runs them all on one adapter.

use dompet::auth::Throttle;
use dompet::domain::{now_millis, IdentifierKind, LoginIdentifier, SecretKind, UserId};
use dompet::store::{
    CreateUserError, Role, Rotation, Session, SessionInfo, Store, ThrottleRelease, ThrottleWrite,
    UserRecord, Versioned,
};

fn user(username: Option<&str>, email: Option<&str>, phone: Option<&str>) -> UserRecord {
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

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

fn id(kind: IdentifierKind, v: &str) -> LoginIdentifier {
    LoginIdentifier::new(kind, v)
}

fn now_secs() -> i64 {
    now_millis() / 1000
}

pub async fn created_users_are_found_by_id_and_every_identifier(store: &dyn Store) {
    let name = unique("Guntur");
    let email = format!("{}@example.com", unique("g"));
    let u = user(Some(&name), Some(&email), Some("+628112555011"));
    store.create_user(&u).await.unwrap();

    assert_eq!(store.get_user(u.user_id).await.unwrap(), Some(u.clone()));
    for identifier in [
        id(IdentifierKind::Username, &name),
        id(IdentifierKind::Email, &email),
        id(IdentifierKind::Phone, "+628112555011"),
    ] {
        assert_eq!(
            store.find_user(&identifier).await.unwrap(),
            Some(u.clone()),
            "{identifier:?}"
        );
    }
    assert_eq!(store.get_user(UserId::new()).await.unwrap(), None);
    assert_eq!(
        store
            .find_user(&id(IdentifierKind::Phone, "628112555011"))
            .await
            .unwrap(),
        None,
        "+ is part of the identity"
    );
    assert_eq!(
        store
            .find_user(&id(IdentifierKind::Username, "nobody"))
            .await
            .unwrap(),
        None
    );
}

pub async fn usernames_and_emails_match_case_insensitively(store: &dyn Store) {
    let name = unique("MiXeD");
    let email = format!("{}@example.com", unique("m"));
    let u = user(Some(&name), Some(&email), None);
    store.create_user(&u).await.unwrap();
    let found = store
        .find_user(&id(IdentifierKind::Username, &name.to_uppercase()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        found.username.as_deref(),
        Some(name.as_str()),
        "kept as given"
    );
    assert!(store
        .find_user(&id(IdentifierKind::Email, &email.to_uppercase()))
        .await
        .unwrap()
        .is_some());
}

pub async fn each_taken_identifier_is_reported(store: &dyn Store) {
    let name = unique("taken");
    let email = format!("{}@example.com", unique("t"));
    store
        .create_user(&user(Some(&name), Some(&email), Some("081100000001")))
        .await
        .unwrap();
    let cases = [
        (
            user(Some(&name.to_uppercase()), None, None),
            IdentifierKind::Username,
        ),
        (user(None, Some(&email), None), IdentifierKind::Email),
        (
            user(None, None, Some("081100000001")),
            IdentifierKind::Phone,
        ),
    ];
    for (attempt, expected) in cases {
        match store.create_user(&attempt).await {
            Err(CreateUserError::Taken(kind)) => assert_eq!(kind, expected),
            other => panic!("expected Taken({expected:?}), got {other:?}"),
        }
        assert_eq!(
            store.get_user(attempt.user_id).await.unwrap(),
            None,
            "nothing written"
        );
    }
}

pub async fn the_first_taken_identifier_is_reported(store: &dyn Store) {
    let email = format!("{}@example.com", unique("f"));
    store
        .create_user(&user(None, Some(&email), Some("081100000002")))
        .await
        .unwrap();
    let fresh_name = unique("fresh");
    let attempt = user(Some(&fresh_name), Some(&email), Some("081100000002"));
    match store.create_user(&attempt).await {
        Err(CreateUserError::Taken(kind)) => assert_eq!(kind, IdentifierKind::Email),
        other => panic!("expected Taken(Email), got {other:?}"),
    }
    // The free username was not claimed by the failed attempt.
    store
        .create_user(&user(Some(&fresh_name), None, None))
        .await
        .unwrap();
}

pub async fn a_phone_only_account_is_stored_with_absent_fields(store: &dyn Store) {
    let mut u = user(None, None, Some("0811255501"));
    u.secret_kind = SecretKind::Pin;
    u.first_name = None;
    u.address = None;
    store.create_user(&u).await.unwrap();
    let found = store
        .find_user(&id(IdentifierKind::Phone, "0811255501"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, u);
    assert_eq!(found.username, None);
    assert_eq!(found.secret_kind, SecretKind::Pin);
}

pub async fn concurrent_registrations_of_one_username_create_exactly_one(store: &dyn Store) {
    let name = unique("race");
    let attempts: Vec<UserRecord> = (0..12).map(|_| user(Some(&name), None, None)).collect();
    let results = futures::future::join_all(attempts.iter().map(|u| store.create_user(u))).await;
    let created = results.iter().filter(|r| r.is_ok()).count();
    let taken = results
        .iter()
        .filter(|r| matches!(r, Err(CreateUserError::Taken(IdentifierKind::Username))))
        .count();
    assert_eq!((created, taken), (1, 11), "{results:?}");
    let winner = store
        .find_user(&id(IdentifierKind::Username, &name))
        .await
        .unwrap()
        .unwrap();
    for (u, r) in attempts.iter().zip(&results) {
        assert_eq!(r.is_ok(), u.user_id == winner.user_id);
    }
}

pub async fn throttle_writes_are_conditional_on_the_version(store: &dyn Store) {
    let key = unique("user:");
    let now = now_millis();
    assert_eq!(store.get_throttle(&key, now).await.unwrap(), None);
    let one = Throttle {
        failures: 1,
        ..Throttle::default()
    };
    assert!(store
        .put_throttle(&key, None, &one, None, now)
        .await
        .unwrap());
    assert!(
        !store
            .put_throttle(&key, None, &one, None, now)
            .await
            .unwrap(),
        "already exists"
    );
    let read = store.get_throttle(&key, now).await.unwrap().unwrap();
    assert_eq!(read.value, one);
    let locked = Throttle {
        failures: 5,
        locked_until: now + 30_000,
        last_lock_ms: 30_000,
        gen: 9,
        trusted_until: now + 1_000,
    };
    assert!(store
        .put_throttle(&key, Some(read.version), &locked, None, now)
        .await
        .unwrap());
    assert!(
        !store
            .put_throttle(&key, Some(read.version), &one, None, now)
            .await
            .unwrap(),
        "stale version"
    );
    assert_eq!(
        store.get_throttle(&key, now).await.unwrap().unwrap().value,
        locked
    );
    assert_eq!(read.version, 1, "a new record is version 1");
    let release = |reserved: u64| ThrottleRelease {
        key: key.clone(),
        reserved,
        state: locked.released(Some(now + 60_000)),
        expires_at: now + 60_000,
    };
    assert!(
        !store.release_throttle(&release(1), now).await.unwrap(),
        "locked by the attempt that wrote version 2"
    );
    assert_eq!(
        store.get_throttle(&key, now).await.unwrap().unwrap(),
        Versioned {
            value: locked,
            version: 2
        },
        "a refused release changes nothing"
    );
    assert!(
        store
            .release_throttle(&release(1), now + 30_000)
            .await
            .unwrap(),
        "a lock that has ended does not hold a login back"
    );
    let reset = store.get_throttle(&key, now).await.unwrap().unwrap();
    assert_eq!(
        (reset.value, reset.version),
        (locked.released(Some(now + 60_000)), 3),
        "reset, trusted, and at a version never used before"
    );
    assert_eq!(
        (
            reset.value.failures,
            reset.value.locked_until,
            reset.value.gen
        ),
        (0, 0, 9)
    );
    let gone = unique("user:");
    assert!(
        store
            .release_throttle(
                &ThrottleRelease {
                    key: gone.clone(),
                    ..release(7)
                },
                now
            )
            .await
            .unwrap(),
        "no record: nothing holds it back"
    );
    assert!(store
        .put_throttle(&key, Some(3), &locked, None, now)
        .await
        .unwrap());
    assert!(
        store.release_throttle(&release(4), now).await.unwrap(),
        "the attempt whose reservation locked it may reset it"
    );
    assert_eq!(
        store
            .get_throttle(&key, now)
            .await
            .unwrap()
            .unwrap()
            .version,
        5
    );
}

/// Two throttle records written as one: both, or neither when either moved.
pub async fn throttle_records_are_written_together_or_not_at_all(store: &dyn Store) {
    let (a, b) = (unique("user:"), unique("ceiling:user:"));
    let now = now_millis();
    let one = Throttle {
        failures: 1,
        ..Throttle::default()
    };
    let write = |key: &str, expected: Option<u64>, failures: u32| ThrottleWrite {
        key: key.to_string(),
        expected,
        state: Throttle { failures, ..one },
        expires_at: now + 60_000,
    };
    assert!(store
        .put_throttles(&[write(&a, None, 1), write(&b, None, 1)], now)
        .await
        .unwrap());
    let read = |key: String| async move { store.get_throttle(&key, now).await.unwrap().unwrap() };
    let (va, vb) = (read(a.clone()).await.version, read(b.clone()).await.version);
    // `b` moves on under another attempt: a pair expecting its old version writes nothing.
    assert!(store
        .put_throttle(
            &b,
            Some(vb),
            &Throttle { failures: 7, ..one },
            Some(now + 60_000),
            now
        )
        .await
        .unwrap());
    assert!(!store
        .put_throttles(&[write(&a, Some(va), 2), write(&b, Some(vb), 2)], now)
        .await
        .unwrap());
    assert_eq!(
        (
            read(a.clone()).await.value.failures,
            read(a.clone()).await.version
        ),
        (1, va)
    );
    assert_eq!(
        (
            read(b.clone()).await.value.failures,
            read(b.clone()).await.version
        ),
        (7, vb + 1)
    );
    assert!(store
        .put_throttles(&[write(&a, Some(va), 2), write(&b, Some(vb + 1), 8)], now)
        .await
        .unwrap());
    assert_eq!(read(a).await.value.failures, 2);
    assert_eq!(read(b).await.value.failures, 8);
}

pub async fn expired_throttle_records_read_as_absent(store: &dyn Store) {
    let key = unique("username:");
    let now = now_millis();
    let t = Throttle {
        failures: 3,
        ..Throttle::default()
    };
    assert!(store
        .put_throttle(&key, None, &t, Some(now + 2_000), now)
        .await
        .unwrap());
    let old = store
        .get_throttle(&key, now)
        .await
        .unwrap()
        .unwrap()
        .version;
    let later = now + 10_000;
    assert_eq!(store.get_throttle(&key, later).await.unwrap(), None);
    let fresh = Throttle {
        failures: 1,
        ..Throttle::default()
    };
    assert!(store
        .put_throttle(&key, None, &fresh, Some(later + 2_000), later)
        .await
        .unwrap());
    let new = store.get_throttle(&key, later).await.unwrap().unwrap();
    assert_eq!(new.value, fresh);
    // A write still holding a version of the expired record can't land on the new one,
    // however many writes the new one has had: its versions start above every old one.
    assert!(new.version > old, "{new:?} after {old}");
    for version in new.version..new.version + 3 {
        assert!(store
            .put_throttle(&key, Some(version), &fresh, Some(later + 2_000), later)
            .await
            .unwrap());
        for stale in [old, old + 1, old + 2] {
            assert!(!store
                .put_throttle(&key, Some(stale), &t, Some(later + 2_000), later)
                .await
                .unwrap());
        }
    }
}

async fn session_of(store: &dyn Store) -> Session {
    let u = user(Some(&unique("sess")), None, None);
    store.create_user(&u).await.unwrap();
    let s = Session {
        session_id: uuid::Uuid::new_v4().to_string(),
        user_id: u.user_id,
        refresh_jti: "jti-1".into(),
        revoked: false,
        expires_at: now_secs() + 3_600,
        created_at: now_secs(),
        user_agent: None,
        auth_epoch: 0,
    };
    store.create_session(&s, now_secs()).await.unwrap();
    s
}

pub async fn long_lived_sessions_survive_later_logins(store: &dyn Store) {
    let now = now_secs();
    let u = user(Some(&unique("longlived")), None, None);
    store.create_user(&u).await.unwrap();
    let session = |expires_at: i64| Session {
        session_id: uuid::Uuid::new_v4().to_string(),
        user_id: u.user_id,
        refresh_jti: "jti".into(),
        revoked: false,
        expires_at,
        created_at: now,
        user_agent: None,
        auth_epoch: 0,
    };
    // Refresh lifetimes may be configured over a month.
    let long = session(now + 90 * 86_400);
    store.create_session(&long, now).await.unwrap();
    store
        .create_session(&session(now + 90 * 86_400), now + 60 * 86_400)
        .await
        .unwrap();
    assert!(store
        .session_active(u.user_id, &long.session_id, now + 60 * 86_400)
        .await
        .unwrap());
}

pub async fn refresh_rotation_accepts_the_current_token_once(store: &dyn Store) {
    let s = session_of(store).await;
    let (uid, sid, now) = (s.user_id, s.session_id.as_str(), now_secs());
    assert!(store.session_active(uid, sid, now).await.unwrap());
    assert_eq!(
        store
            .rotate_session(uid, sid, "jti-1", 0, "jti-2", now + 7_200, now)
            .await
            .unwrap(),
        Rotation::Rotated
    );
    assert_eq!(
        store
            .rotate_session(uid, sid, "jti-2", 0, "jti-3", now + 7_200, now)
            .await
            .unwrap(),
        Rotation::Rotated
    );
    assert!(
        store.session_active(uid, sid, now + 5_000).await.unwrap(),
        "expiry extended by rotation"
    );
    assert_eq!(
        store
            .rotate_session(uid, "no-such-session", "jti-3", 0, "x", now + 1, now)
            .await
            .unwrap(),
        Rotation::Inactive
    );
}

pub async fn a_reused_refresh_token_revokes_the_family(store: &dyn Store) {
    let s = session_of(store).await;
    let (uid, sid, now) = (s.user_id, s.session_id.as_str(), now_secs());
    assert_eq!(
        store
            .rotate_session(uid, sid, "jti-1", 0, "jti-2", now + 60, now)
            .await
            .unwrap(),
        Rotation::Rotated
    );
    assert_eq!(
        store
            .rotate_session(uid, sid, "jti-1", 0, "jti-x", now + 60, now)
            .await
            .unwrap(),
        Rotation::Reused
    );
    assert!(!store.session_active(uid, sid, now).await.unwrap());
    assert_eq!(
        store
            .rotate_session(uid, sid, "jti-2", 0, "jti-3", now + 60, now)
            .await
            .unwrap(),
        Rotation::Inactive,
        "the current token of a revoked family is dead too"
    );
}

pub async fn concurrent_rotations_of_one_token_succeed_at_most_once(store: &dyn Store) {
    let s = session_of(store).await;
    let (uid, now) = (s.user_id, now_secs());
    let news: Vec<String> = (0..8).map(|i| format!("next-{i}")).collect();
    let results = futures::future::join_all(
        news.iter()
            .map(|n| store.rotate_session(uid, &s.session_id, "jti-1", 0, n, now + 60, now)),
    )
    .await;
    let rotated = results
        .iter()
        .filter(|r| matches!(r, Ok(Rotation::Rotated)))
        .count();
    assert_eq!(rotated, 1, "{results:?}");
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
}

pub async fn revoked_and_expired_sessions_are_inactive(store: &dyn Store) {
    let s = session_of(store).await;
    let (uid, sid, now) = (s.user_id, s.session_id.as_str(), now_secs());
    assert!(
        !store.session_active(uid, sid, now + 3_600).await.unwrap(),
        "expired"
    );
    assert!(
        !store.revoke_session(uid, sid, now + 3_600).await.unwrap(),
        "expired: nothing to revoke"
    );
    assert!(store.revoke_session(uid, sid, now).await.unwrap());
    assert!(!store.session_active(uid, sid, now).await.unwrap());
    assert!(
        !store.revoke_session(uid, sid, now).await.unwrap(),
        "second revoke"
    );
    assert_eq!(
        store
            .rotate_session(uid, sid, "jti-1", 0, "jti-2", now + 60, now)
            .await
            .unwrap(),
        Rotation::Inactive
    );
}

pub async fn sessions_belong_to_their_user(store: &dyn Store) {
    let s = session_of(store).await;
    let stranger = UserId::new();
    let now = now_secs();
    assert!(!store
        .session_active(stranger, &s.session_id, now)
        .await
        .unwrap());
    assert!(!store
        .revoke_session(stranger, &s.session_id, now)
        .await
        .unwrap());
    assert!(store
        .session_active(s.user_id, &s.session_id, now)
        .await
        .unwrap());
}

// ------------------------------------------------------------------ money

use dompet::store::{
    EntryKind, IdempotencyClaim, MoneyError, MoneyOp, MoneyOpKind, PendingPage, ProfileChanges,
    Settlement, TxStatus,
};

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
    }
}

fn claim(key: &str, hash: &str) -> IdempotencyClaim {
    IdempotencyClaim {
        scope: "topup",
        key: key.into(),
        request_hash: hash.into(),
        expires_at: now_millis() + 60_000,
    }
}

async fn balance(store: &dyn Store, u: &UserRecord) -> i64 {
    store.get_user(u.user_id).await.unwrap().unwrap().balance
}

/// Every entry's `balance_after` is the next newer entry's `balance_before`, the newest ends
/// at the balance, and the sequence has no gaps.
async fn assert_chain(store: &dyn Store, u: &UserRecord) {
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
    assert_eq!(pending.to_user, to.user_id.to_string());
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

pub async fn profile_changes_set_clear_and_keep_fields(store: &dyn Store) {
    let u = account(store, "profiled").await;
    let changes = ProfileChanges {
        first_name: Some(Some("Tom".into())),
        last_name: None,
        address: Some(None),
    };
    let later = now_millis() + 1_000;
    let updated = store
        .update_profile(u.user_id, &changes, later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.first_name.as_deref(), Some("Tom"));
    assert_eq!(updated.address, None, "cleared");
    assert_eq!(updated.last_name, u.last_name, "kept");
    assert_eq!(updated.updated_at, later);
    assert_eq!(updated.balance, u.balance);
    assert_eq!(store.get_user(u.user_id).await.unwrap().unwrap(), updated);
    assert_eq!(
        store
            .update_profile(UserId::new(), &changes, later)
            .await
            .unwrap(),
        None
    );
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

pub async fn a_deleted_accounts_ledger_is_kept(store: &dyn Store) {
    let u = account(store, "leaving").await;
    store
        .apply(&op(&u, MoneyOpKind::TopUp, 700), None)
        .await
        .unwrap();
    store
        .apply(&op(&u, MoneyOpKind::Payment, 700), None)
        .await
        .unwrap();
    assert!(store.delete_user(u.user_id).await.unwrap());
    let entries = store.list_entries(u.user_id, None, 10).await.unwrap();
    assert_eq!(
        entries.iter().map(|e| e.kind).collect::<Vec<_>>(),
        [EntryKind::Payment, EntryKind::TopUp]
    );
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

// Entities.

use dompet::store::{Entity, EntityError, EntityFilter};

fn entity(owner: &UserRecord, code: &str, kind: &str, quantity: i64) -> Entity {
    let now = now_millis();
    Entity {
        entity_id: uuid::Uuid::new_v4().to_string(),
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

/// The next version of `e` with `change` applied.
fn changed(e: &Entity, change: impl FnOnce(&mut Entity)) -> Entity {
    let mut next = e.clone();
    change(&mut next);
    next.version = e.version + 1;
    next.updated_at = now_millis();
    next
}

fn codes(list: &[Entity]) -> Vec<&str> {
    list.iter().map(|e| e.code.as_str()).collect()
}

pub async fn entities_are_stored_read_and_owned_by_their_user(store: &dyn Store) {
    let (a, b) = (account(store, "ent-a").await, account(store, "ent-b").await);
    let e = entity(&a, "SKU-1", "book", 3);
    store.create_entity(&e).await.unwrap();
    assert_eq!(
        store.get_entity(a.user_id, &e.entity_id).await.unwrap(),
        Some(e.clone())
    );
    assert_eq!(
        store.get_entity(b.user_id, &e.entity_id).await.unwrap(),
        None,
        "another user's entity does not exist for them"
    );
    let mut bare = entity(&a, "SKU-2", "pen", 0);
    bare.name = None;
    store.create_entity(&bare).await.unwrap();
    assert_eq!(
        store.get_entity(a.user_id, &bare.entity_id).await.unwrap(),
        Some(bare)
    );
    // The same code for another user is fine.
    store
        .create_entity(&entity(&b, "SKU-1", "book", 1))
        .await
        .unwrap();
}

pub async fn an_entity_code_is_unique_per_user(store: &dyn Store) {
    let a = account(store, "ent-code").await;
    store
        .create_entity(&entity(&a, "SKU-1", "book", 1))
        .await
        .unwrap();
    let again = entity(&a, "SKU-1", "pen", 2);
    assert!(matches!(
        store.create_entity(&again).await,
        Err(EntityError::CodeTaken)
    ));
    assert_eq!(
        store.get_entity(a.user_id, &again.entity_id).await.unwrap(),
        None,
        "nothing written"
    );
}

pub async fn concurrent_creations_of_one_code_store_exactly_one(store: &dyn Store) {
    let a = account(store, "ent-race").await;
    let attempts: Vec<Entity> = (0..6).map(|i| entity(&a, "HOT", "book", i)).collect();
    let results = futures::future::join_all(attempts.iter().map(|e| store.create_entity(e))).await;
    let created = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(created, 1, "{results:?}");
    assert!(results
        .iter()
        .all(|r| matches!(r, Ok(()) | Err(EntityError::CodeTaken))));
    let listed = store
        .list_entities(a.user_id, &EntityFilter::default(), None, 10)
        .await
        .unwrap();
    assert_eq!(codes(&listed), ["HOT"]);
}

pub async fn entity_updates_check_the_version_and_move_the_code(store: &dyn Store) {
    let a = account(store, "ent-update").await;
    let e = entity(&a, "OLD", "book", 1);
    store.create_entity(&e).await.unwrap();
    let other = entity(&a, "TAKEN", "book", 1);
    store.create_entity(&other).await.unwrap();

    let renamed = changed(&e, |n| {
        n.code = "NEW".into();
        n.quantity = 9;
        n.description = Some("moved".into());
    });
    store.update_entity(&e, &renamed).await.unwrap();
    assert_eq!(
        store.get_entity(a.user_id, &e.entity_id).await.unwrap(),
        Some(renamed.clone())
    );
    // The old code is free again, the new one is taken.
    store
        .create_entity(&entity(&a, "OLD", "pen", 1))
        .await
        .unwrap();
    assert!(matches!(
        store.create_entity(&entity(&a, "NEW", "pen", 1)).await,
        Err(EntityError::CodeTaken)
    ));
    // A stale version changes nothing.
    let stale = changed(&e, |n| n.quantity = 100);
    assert!(matches!(
        store.update_entity(&e, &stale).await,
        Err(EntityError::VersionConflict)
    ));
    // Renaming onto another entity's code changes nothing.
    let clash = changed(&renamed, |n| n.code = "TAKEN".into());
    assert!(matches!(
        store.update_entity(&renamed, &clash).await,
        Err(EntityError::CodeTaken)
    ));
    assert_eq!(
        store.get_entity(a.user_id, &e.entity_id).await.unwrap(),
        Some(renamed.clone())
    );
    // Gone: NotFound.
    store.delete_entity(&renamed).await.unwrap();
    assert!(matches!(
        store
            .update_entity(&renamed, &changed(&renamed, |n| n.quantity = 1))
            .await,
        Err(EntityError::NotFound)
    ));
}

pub async fn concurrent_updates_of_one_version_succeed_once(store: &dyn Store) {
    let a = account(store, "ent-cas").await;
    let e = entity(&a, "CAS", "book", 0);
    store.create_entity(&e).await.unwrap();
    let nexts: Vec<Entity> = (1..=6).map(|q| changed(&e, |n| n.quantity = q)).collect();
    let results = futures::future::join_all(nexts.iter().map(|n| store.update_entity(&e, n))).await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(results
        .iter()
        .all(|r| matches!(r, Ok(()) | Err(EntityError::VersionConflict))));
    let stored = store
        .get_entity(a.user_id, &e.entity_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.version, 2);
}

pub async fn deleting_an_entity_frees_its_code_and_checks_the_version(store: &dyn Store) {
    let a = account(store, "ent-delete").await;
    let e = entity(&a, "GONE", "book", 1);
    store.create_entity(&e).await.unwrap();
    let newer = changed(&e, |n| n.quantity = 2);
    store.update_entity(&e, &newer).await.unwrap();
    assert!(matches!(
        store.delete_entity(&e).await,
        Err(EntityError::VersionConflict)
    ));
    store.delete_entity(&newer).await.unwrap();
    assert_eq!(
        store.get_entity(a.user_id, &e.entity_id).await.unwrap(),
        None
    );
    assert!(matches!(
        store.delete_entity(&newer).await,
        Err(EntityError::NotFound)
    ));
    store
        .create_entity(&entity(&a, "GONE", "pen", 1))
        .await
        .unwrap();
}

pub async fn entity_listings_filter_and_page_in_code_order(store: &dyn Store) {
    let (a, b) = (
        account(store, "ent-list").await,
        account(store, "ent-list-b").await,
    );
    for (code, kind) in [
        ("C", "book"),
        ("A", "book"),
        ("E", "pen"),
        ("B", "pen"),
        ("D", "book"),
    ] {
        store
            .create_entity(&entity(&a, code, kind, 1))
            .await
            .unwrap();
    }
    store
        .create_entity(&entity(&b, "AA", "book", 1))
        .await
        .unwrap();
    let all = EntityFilter::default();
    let list = |filter: EntityFilter, after: Option<&'static str>, limit| async move {
        store
            .list_entities(a.user_id, &filter, after, limit)
            .await
            .unwrap()
    };
    assert_eq!(
        codes(&list(all.clone(), None, 10).await),
        ["A", "B", "C", "D", "E"]
    );
    assert_eq!(codes(&list(all.clone(), None, 2).await), ["A", "B"]);
    assert_eq!(codes(&list(all.clone(), Some("B"), 2).await), ["C", "D"]);
    assert_eq!(
        codes(&list(all.clone(), Some("E"), 2).await),
        Vec::<&str>::new()
    );
    let books = EntityFilter {
        kind: Some("book".into()),
        code: None,
    };
    assert_eq!(codes(&list(books.clone(), None, 10).await), ["A", "C", "D"]);
    assert_eq!(codes(&list(books.clone(), Some("A"), 1).await), ["C"]);
    let by_code = |code: &str, kind: Option<&str>| EntityFilter {
        kind: kind.map(String::from),
        code: Some(code.into()),
    };
    assert_eq!(codes(&list(by_code("D", None), None, 10).await), ["D"]);
    assert_eq!(
        codes(&list(by_code("D", Some("book")), None, 10).await),
        ["D"]
    );
    assert!(list(by_code("D", Some("pen")), None, 10).await.is_empty());
    assert!(list(by_code("D", None), Some("D"), 10).await.is_empty());
    assert!(
        list(by_code("AA", None), None, 10).await.is_empty(),
        "b's code"
    );
}

// Operators.

use dompet::store::TransferPosition;

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

pub async fn sessions_are_listed_newest_first_and_revoked_together(store: &dyn Store) {
    let now = now_secs();
    let u = user(Some(&unique("lister")), None, None);
    let other = user(Some(&unique("other")), None, None);
    store.create_user(&u).await.unwrap();
    store.create_user(&other).await.unwrap();
    let login = |owner: UserId, created_at: i64, agent: Option<&str>| Session {
        session_id: uuid::Uuid::new_v4().to_string(),
        user_id: owner,
        refresh_jti: "jti-1".into(),
        revoked: false,
        expires_at: now + 3_600,
        created_at,
        user_agent: agent.map(str::to_string),
        auth_epoch: 0,
    };
    let oldest = login(u.user_id, now - 300, Some("curl/8.5.0"));
    let middle = login(u.user_id, now - 200, None);
    let newest = login(u.user_id, now - 100, Some("Mozilla/5.0"));
    let theirs = login(other.user_id, now - 50, None);
    for s in [&middle, &oldest, &newest, &theirs] {
        store.create_session(s, now).await.unwrap();
    }
    assert!(store
        .revoke_session(u.user_id, &middle.session_id, now)
        .await
        .unwrap());
    // A refresh marks the login used.
    assert_eq!(
        store
            .rotate_session(
                u.user_id,
                &oldest.session_id,
                "jti-1",
                0,
                "jti-2",
                now + 3_600,
                now
            )
            .await
            .unwrap(),
        Rotation::Rotated
    );
    let listed = store.list_sessions(u.user_id, now).await.unwrap();
    assert_eq!(
        listed,
        vec![
            SessionInfo {
                session_id: newest.session_id.clone(),
                created_at: now - 100,
                last_used_at: now - 100,
                user_agent: Some("Mozilla/5.0".into()),
            },
            SessionInfo {
                session_id: oldest.session_id.clone(),
                created_at: now - 300,
                last_used_at: now,
                user_agent: Some("curl/8.5.0".into()),
            },
        ]
    );
    // Expired logins are not listed.
    assert_eq!(
        store.list_sessions(u.user_id, now + 3_600).await.unwrap(),
        vec![]
    );

    let ids: Vec<String> = listed.into_iter().map(|s| s.session_id).collect();
    assert_eq!(
        store.revoke_sessions(u.user_id, &ids, now).await.unwrap(),
        2
    );
    assert_eq!(store.list_sessions(u.user_id, now).await.unwrap(), vec![]);
    for s in [&oldest, &newest] {
        assert!(!store
            .session_active(u.user_id, &s.session_id, now)
            .await
            .unwrap());
    }
    // Another user's login is untouched, and can't be revoked in this user's name.
    assert_eq!(
        store
            .revoke_sessions(u.user_id, std::slice::from_ref(&theirs.session_id), now)
            .await
            .unwrap(),
        0
    );
    assert!(store
        .session_active(other.user_id, &theirs.session_id, now)
        .await
        .unwrap());
    assert_eq!(
        store.list_sessions(other.user_id, now).await.unwrap().len(),
        1
    );
}

pub async fn identifier_changes_move_the_claim_atomically(store: &dyn Store) {
    use dompet::store::ChangeIdentifierError;
    let name = unique("mover");
    let u = user(Some(&name), None, None);
    let other = user(Some(&unique("holder")), None, None);
    store.create_user(&u).await.unwrap();
    store.create_user(&other).await.unwrap();
    let moved = format!("{name}x");
    let changed = store
        .change_identifier(
            &u,
            IdentifierKind::Username,
            Some(&moved),
            None,
            now_millis(),
        )
        .await
        .unwrap();
    assert_eq!(changed.username.as_deref(), Some(moved.as_str()));
    let by_new = LoginIdentifier::new(IdentifierKind::Username, &moved.to_uppercase());
    assert_eq!(
        store.find_user(&by_new).await.unwrap().unwrap().user_id,
        u.user_id
    );
    let by_old = LoginIdentifier::new(IdentifierKind::Username, &name);
    assert!(store.find_user(&by_old).await.unwrap().is_none());
    // A change made from the account as it was before is refused and changes nothing.
    let stale = store
        .change_identifier(
            &u,
            IdentifierKind::Username,
            Some(&format!("{name}y")),
            None,
            now_millis(),
        )
        .await;
    assert!(
        matches!(stale, Err(ChangeIdentifierError::Changed)),
        "{stale:?}"
    );
    assert!(store
        .find_user(&LoginIdentifier::new(
            IdentifierKind::Username,
            &format!("{name}y")
        ))
        .await
        .unwrap()
        .is_none());
    // Another account's name is taken; nothing changes.
    let taken = store
        .change_identifier(
            &changed,
            IdentifierKind::Username,
            other.username.as_deref(),
            None,
            now_millis(),
        )
        .await;
    assert!(
        matches!(
            taken,
            Err(ChangeIdentifierError::Taken(IdentifierKind::Username))
        ),
        "{taken:?}"
    );
    let now = store.get_user(u.user_id).await.unwrap().unwrap();
    assert_eq!(now.username.as_deref(), Some(moved.as_str()));
    // An email added, then removed: its claim goes with it.
    let email = format!("{name}@example.com");
    let with_email = store
        .change_identifier(
            &now,
            IdentifierKind::Email,
            Some(&email),
            None,
            now_millis(),
        )
        .await
        .unwrap();
    let by_email = LoginIdentifier::new(IdentifierKind::Email, &email);
    assert_eq!(
        store.find_user(&by_email).await.unwrap().unwrap().user_id,
        u.user_id
    );
    let without = store
        .change_identifier(&with_email, IdentifierKind::Email, None, None, now_millis())
        .await
        .unwrap();
    assert_eq!(without.email, None);
    assert!(store.find_user(&by_email).await.unwrap().is_none());
    assert_eq!(
        store.get_user(u.user_id).await.unwrap().unwrap().email,
        None
    );
}

pub async fn secret_changes_check_the_secret_reset_the_throttle_and_revoke_other_logins(
    store: &dyn Store,
) {
    use dompet::store::{ChangeSecretError, SecretChange};
    let now = now_secs();
    let u = user(Some(&unique("secret")), None, None);
    let other = user(Some(&unique("other")), None, None);
    store.create_user(&u).await.unwrap();
    store.create_user(&other).await.unwrap();
    let login = |owner: UserId| Session {
        session_id: uuid::Uuid::new_v4().to_string(),
        user_id: owner,
        refresh_jti: "jti-1".into(),
        revoked: false,
        expires_at: now + 3_600,
        created_at: now,
        user_agent: None,
        auth_epoch: 0,
    };
    // More logins than one DynamoDB transaction holds.
    let mine: Vec<Session> = (0..130).map(|_| login(u.user_id)).collect();
    let theirs = login(other.user_id);
    for s in mine.iter().chain([&theirs]) {
        store.create_session(s, now).await.unwrap();
    }
    let key = format!("user:{}", u.user_id);
    let reserved = Throttle {
        failures: 1,
        ..Throttle::default()
    };
    assert!(store
        .put_throttle(&key, None, &reserved, None, now_millis())
        .await
        .unwrap());
    // Another attempt locked the throttle after this one reserved version 1: nothing changes.
    let locked = Throttle {
        failures: 5,
        locked_until: now_millis() + 60_000,
        last_lock_ms: 60_000,
        ..Throttle::default()
    };
    assert!(store
        .put_throttle(&key, Some(1), &locked, None, now_millis())
        .await
        .unwrap());
    let change = SecretChange {
        kind: SecretKind::Pin,
        hash: "$argon2id$new",
        keep_session: Some(&mine[0].session_id),
        release: Some(&ThrottleRelease {
            key: key.clone(),
            reserved: 1,
            state: Throttle::default(),
            expires_at: now_millis() + 60_000,
        }),
    };
    let refused = store.change_secret(&u, &change, now_millis()).await;
    assert!(
        matches!(refused, Err(ChangeSecretError::Locked)),
        "{refused:?}"
    );
    assert_eq!(store.get_user(u.user_id).await.unwrap().unwrap(), u);
    assert_eq!(
        store.list_sessions(u.user_id, now).await.unwrap().len(),
        130
    );
    // Released by its own reservation (version 3 now), the change goes through.
    assert!(store
        .put_throttle(&key, Some(2), &reserved, None, now_millis())
        .await
        .unwrap());
    let release = ThrottleRelease {
        key: key.clone(),
        reserved: 3,
        state: Throttle::default(),
        expires_at: now_millis() + 60_000,
    };
    let change = SecretChange {
        release: Some(&release),
        ..change
    };
    let changed = store
        .change_secret(&u, &change, now_millis())
        .await
        .unwrap();
    assert_eq!(
        (changed.secret_kind, changed.secret_hash.as_str()),
        (SecretKind::Pin, "$argon2id$new")
    );
    assert_eq!(store.get_user(u.user_id).await.unwrap().unwrap(), changed);
    let reset = store
        .get_throttle(&key, now_millis())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((reset.value, reset.version), (Throttle::default(), 4));
    let left: Vec<String> = store
        .list_sessions(u.user_id, now)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.session_id)
        .collect();
    assert_eq!(left, [mine[0].session_id.clone()]);
    assert!(store
        .session_active(other.user_id, &theirs.session_id, now)
        .await
        .unwrap());
    // A change made from the secret as it was before is refused and changes nothing.
    let stale = store
        .change_secret(
            &u,
            &SecretChange {
                kind: SecretKind::Password,
                hash: "$argon2id$stale",
                keep_session: None,
                release: None,
            },
            now_millis(),
        )
        .await;
    assert!(
        matches!(stale, Err(ChangeSecretError::Changed)),
        "{stale:?}"
    );
    assert_eq!(store.get_user(u.user_id).await.unwrap().unwrap(), changed);
    assert_eq!(store.list_sessions(u.user_id, now).await.unwrap().len(), 1);
    // Without a login to keep, every one ends.
    let all = store
        .change_secret(
            &changed,
            &SecretChange {
                kind: SecretKind::Password,
                hash: "$argon2id$third",
                keep_session: None,
                release: None,
            },
            now_millis(),
        )
        .await
        .unwrap();
    assert_eq!(all.secret_hash, "$argon2id$third");
    assert!(store
        .list_sessions(u.user_id, now)
        .await
        .unwrap()
        .is_empty());
}

pub async fn closing_an_account_keeps_its_ledger_and_frees_everything_else(store: &dyn Store) {
    use dompet::store::CloseAccountError;
    let now = now_secs();
    let name = unique("closing");
    let u = user(Some(&name), Some(&format!("{name}@example.com")), None);
    store.create_user(&u).await.unwrap();
    let other = account(store, "staying").await;
    let keys = [
        format!("user:{}", u.user_id),
        format!("lookup:{}", u.user_id),
    ];
    // Money: in, out to the other account (settled), back (pending for now), paid out.
    store
        .apply(
            &op(&u, MoneyOpKind::TopUp, 9_000),
            Some(&claim("close-1", "h")),
        )
        .await
        .unwrap();
    let sent = store
        .apply(
            &op(&u, MoneyOpKind::Transfer { to: other.user_id }, 4_000),
            None,
        )
        .await
        .unwrap();
    store
        .apply(&op(&other, MoneyOpKind::TopUp, 1_000), None)
        .await
        .unwrap();
    let back = store
        .apply(
            &op(&other, MoneyOpKind::Transfer { to: u.user_id }, 1_000),
            None,
        )
        .await
        .unwrap();
    store
        .apply(&op(&u, MoneyOpKind::Payment, 5_000), None)
        .await
        .unwrap();
    store
        .create_entity(&entity(&u, "SKU-1", "book", 1))
        .await
        .unwrap();
    for key in &keys {
        assert!(store
            .put_throttle(key, None, &Throttle::default(), None, now_millis())
            .await
            .unwrap());
    }
    // More logins than one DynamoDB transaction holds.
    for _ in 0..120 {
        store
            .create_session(
                &Session {
                    session_id: uuid::Uuid::new_v4().to_string(),
                    user_id: u.user_id,
                    refresh_jti: "jti-1".into(),
                    revoked: false,
                    expires_at: now + 3_600,
                    created_at: now,
                    user_agent: None,
                    auth_epoch: 0,
                },
                now,
            )
            .await
            .unwrap();
    }
    // A transfer still pending either way refuses; so does a stale version, and money left.
    let seen = store.get_user(u.user_id).await.unwrap().unwrap();
    assert_eq!(seen.balance, 0);
    let refused = store.close_account(&seen, &keys).await;
    assert!(
        matches!(refused, Err(CloseAccountError::TransferPending)),
        "{refused:?}"
    );
    store
        .settle_transfer(&sent.reference_id, now_millis())
        .await
        .unwrap();
    let refused = store.close_account(&seen, &keys).await;
    assert!(
        matches!(refused, Err(CloseAccountError::TransferPending)),
        "the incoming one: {refused:?}"
    );
    store
        .settle_transfer(&back.reference_id, now_millis())
        .await
        .unwrap();
    let refused = store.close_account(&seen, &keys).await;
    assert!(
        matches!(refused, Err(CloseAccountError::BalanceNotZero)),
        "credited since it was read: {refused:?}"
    );
    store
        .apply(&op(&u, MoneyOpKind::Payment, 1_000), None)
        .await
        .unwrap();
    let refused = store.close_account(&seen, &keys).await;
    assert!(
        matches!(refused, Err(CloseAccountError::Changed)),
        "a stale version: {refused:?}"
    );
    assert_eq!(
        store.list_sessions(u.user_id, now).await.unwrap().len(),
        120
    );

    let seen = store.get_user(u.user_id).await.unwrap().unwrap();
    store.close_account(&seen, &keys).await.unwrap();
    assert!(store.get_user(u.user_id).await.unwrap().is_none());
    for identifier in u.identifiers() {
        assert!(store.find_user(&identifier).await.unwrap().is_none());
    }
    assert!(store
        .list_sessions(u.user_id, now)
        .await
        .unwrap()
        .is_empty());
    for key in &keys {
        assert!(store
            .get_throttle(key, now_millis())
            .await
            .unwrap()
            .is_none());
    }
    assert!(store
        .list_entities(u.user_id, &Default::default(), None, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .idempotency_record(u.user_id, "topup", "close-1", now_millis())
        .await
        .unwrap()
        .is_none());
    // The ledger stays whole, without remarks; the transfer it sent loses its remarks, the
    // one it received keeps the sender's.
    let entries = store.list_entries(u.user_id, None, 10).await.unwrap();
    assert_eq!(entries.len(), 5);
    assert!(entries.iter().all(|e| e.remarks.is_empty()), "{entries:?}");
    let sent = store
        .get_transfer(&sent.reference_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((sent.amount, sent.remarks.as_str()), (4_000, ""));
    let back = store
        .get_transfer(&back.reference_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back.remarks, "contract");
    assert_chain(store, &other).await;
    // Its identifiers can be registered again.
    let again = user(Some(&name), Some(&format!("{name}@example.com")), None);
    store.create_user(&again).await.unwrap();
}

pub async fn reset_records_are_written_on_the_version_read_and_expire(store: &dyn Store) {
    use dompet::store::ResetCode;
    let u = account(store, "forgetful").await;
    let now = now_millis();
    assert!(store.get_reset(u.user_id, now).await.unwrap().is_none());
    let code = ResetCode {
        code_hash: Some("$argon2id$code".into()),
        code_expires_at: now + 900_000,
        failures: 0,
        window_start: now,
        deliveries: 1,
    };
    assert!(store
        .put_reset(u.user_id, None, &code, now + 3_600_000, now)
        .await
        .unwrap());
    // A second first write loses.
    assert!(!store
        .put_reset(u.user_id, None, &code, now + 3_600_000, now)
        .await
        .unwrap());
    let read = store.get_reset(u.user_id, now).await.unwrap().unwrap();
    assert_eq!((read.value.clone(), read.version), (code.clone(), 1));
    let used = ResetCode {
        code_hash: None,
        failures: 2,
        ..code.clone()
    };
    assert!(store
        .put_reset(u.user_id, Some(1), &used, now + 3_600_000, now)
        .await
        .unwrap());
    assert!(!store
        .put_reset(u.user_id, Some(1), &code, now + 3_600_000, now)
        .await
        .unwrap());
    let read = store.get_reset(u.user_id, now).await.unwrap().unwrap();
    assert_eq!((read.value, read.version), (used.clone(), 2));
    // Another account's record is its own.
    let other = account(store, "other").await;
    assert!(store.get_reset(other.user_id, now).await.unwrap().is_none());
    // Past its end (to the second: DynamoDB's TTL attribute is seconds) it reads as absent,
    // and a first write may replace it.
    let later = now + 3_601_000;
    assert!(store.get_reset(u.user_id, later).await.unwrap().is_none());
    assert!(store
        .put_reset(u.user_id, None, &code, later + 3_600_000, later)
        .await
        .unwrap());
    assert_eq!(
        store
            .get_reset(u.user_id, later)
            .await
            .unwrap()
            .unwrap()
            .version,
        1
    );
}
