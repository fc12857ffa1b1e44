//! `SessionStore`: logins, refresh rotation, revocation and listing.

use dompet::domain::UserId;
use dompet::store::{Rotation, Session, SessionInfo, Store};

use super::{now_secs, unique, user};

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
        mfa: false,
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
        mfa: false,
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
        mfa: false,
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
                mfa: false,
            },
            SessionInfo {
                session_id: oldest.session_id.clone(),
                created_at: now - 300,
                last_used_at: now,
                user_agent: Some("curl/8.5.0".into()),
                mfa: false,
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
