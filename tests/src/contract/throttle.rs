//! `ThrottleStore`: versioned login-throttle records.

use dompet::auth::Throttle;
use dompet::domain::now_millis;
use dompet::store::{Store, ThrottleRelease, ThrottleWrite, Versioned};

use super::unique;

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
