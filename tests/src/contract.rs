//! The store contract: what every adapter of `dompet::store::Store` must do. Each case takes a
//! fresh store; `all_store_contract_tests!` runs them all on one adapter.

use dompet::auth::Throttle;
use dompet::domain::{now_millis, IdentifierKind, LoginIdentifier, SecretKind, UserId};
use dompet::store::{CreateUserError, Role, Rotation, Session, Store, UserRecord};

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
    store.clear_throttle(&key).await.unwrap();
    assert_eq!(store.get_throttle(&key, now).await.unwrap(), None);
    store.clear_throttle(&key).await.unwrap();
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
    assert!(store.get_throttle(&key, now).await.unwrap().is_some());
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
    assert_eq!(
        store
            .get_throttle(&key, later)
            .await
            .unwrap()
            .unwrap()
            .value,
        fresh
    );
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
    };
    store.create_session(&s).await.unwrap();
    s
}

pub async fn refresh_rotation_accepts_the_current_token_once(store: &dyn Store) {
    let s = session_of(store).await;
    let (uid, sid, now) = (s.user_id, s.session_id.as_str(), now_secs());
    assert!(store.session_active(uid, sid, now).await.unwrap());
    assert_eq!(
        store
            .rotate_session(uid, sid, "jti-1", "jti-2", now + 7_200, now)
            .await
            .unwrap(),
        Rotation::Rotated
    );
    assert_eq!(
        store
            .rotate_session(uid, sid, "jti-2", "jti-3", now + 7_200, now)
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
            .rotate_session(uid, "no-such-session", "jti-3", "x", now + 1, now)
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
            .rotate_session(uid, sid, "jti-1", "jti-2", now + 60, now)
            .await
            .unwrap(),
        Rotation::Rotated
    );
    assert_eq!(
        store
            .rotate_session(uid, sid, "jti-1", "jti-x", now + 60, now)
            .await
            .unwrap(),
        Rotation::Reused
    );
    assert!(!store.session_active(uid, sid, now).await.unwrap());
    assert_eq!(
        store
            .rotate_session(uid, sid, "jti-2", "jti-3", now + 60, now)
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
            .map(|n| store.rotate_session(uid, &s.session_id, "jti-1", n, now + 60, now)),
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
            .rotate_session(uid, sid, "jti-1", "jti-2", now + 60, now)
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
