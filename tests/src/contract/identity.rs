//! `IdentityStore`: accounts, their identifiers, profiles, secrets, and closing them.

use dompet::auth::Throttle;
use dompet::domain::{now_millis, IdentifierKind, LoginIdentifier, SecretKind, UserId};
use dompet::store::{
    CreateUserError, EntryKind, MoneyOpKind, ProfileChanges, Session, Store, ThrottleRelease,
    UserRecord,
};

use super::{account, assert_chain, claim, entity, id, now_secs, op, unique, user};

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
        .change_identifier(
            &with_email,
            IdentifierKind::Email,
            None,
            None,
            None,
            now_millis(),
        )
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
        mfa: false,
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
        factor: None,
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
                factor: None,
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
                factor: None,
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
                    mfa: false,
                },
                now,
            )
            .await
            .unwrap();
    }
    // A transfer still pending either way refuses; so does a stale version, and money left.
    let seen = store.get_user(u.user_id).await.unwrap().unwrap();
    assert_eq!(seen.balance, 0);
    let refused = store.close_account(&seen, &keys, None).await;
    assert!(
        matches!(refused, Err(CloseAccountError::TransferPending)),
        "{refused:?}"
    );
    store
        .settle_transfer(&sent.reference_id, now_millis())
        .await
        .unwrap();
    let refused = store.close_account(&seen, &keys, None).await;
    assert!(
        matches!(refused, Err(CloseAccountError::TransferPending)),
        "the incoming one: {refused:?}"
    );
    store
        .settle_transfer(&back.reference_id, now_millis())
        .await
        .unwrap();
    let refused = store.close_account(&seen, &keys, None).await;
    assert!(
        matches!(refused, Err(CloseAccountError::BalanceNotZero)),
        "credited since it was read: {refused:?}"
    );
    store
        .apply(&op(&u, MoneyOpKind::Payment, 1_000), None)
        .await
        .unwrap();
    let refused = store.close_account(&seen, &keys, None).await;
    assert!(
        matches!(refused, Err(CloseAccountError::Changed)),
        "a stale version: {refused:?}"
    );
    assert_eq!(
        store.list_sessions(u.user_id, now).await.unwrap().len(),
        120
    );

    let seen = store.get_user(u.user_id).await.unwrap().unwrap();
    store.close_account(&seen, &keys, None).await.unwrap();
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
