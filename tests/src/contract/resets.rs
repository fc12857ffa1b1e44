//! `ResetStore`: password-reset records.

use dompet::domain::now_millis;
use dompet::store::Store;

use super::account;

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
