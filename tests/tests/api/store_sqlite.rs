//! The store contract on the embedded SQLite adapter (a fresh temporary database per case).

async fn fresh() -> dompet::store::SqliteStore {
    dompet::store::SqliteStore::temporary().expect("temporary SQLite store")
}

dompet_tests::all_store_contract_tests!(fresh());

#[tokio::test]
async fn reopening_the_file_keeps_the_data_and_migrations_are_idempotent() {
    use dompet::domain::{IdentifierKind, LoginIdentifier};
    use dompet::store::IdentityStore;

    let dir = std::env::temp_dir().join(format!("dompet-reopen-{}", uuid::Uuid::new_v4()));
    let path = dir.join("nested").join("dompet.db");
    let user = {
        let store = dompet::store::SqliteStore::open(&path).unwrap();
        let state = dompet::AppState::new(
            std::sync::Arc::new(store),
            std::sync::Arc::new(dompet::queue::NoQueue),
            dompet::Keys::Signing(dompet::auth::KeyPair::generate()),
            &dompet::Config::from_lookup(|_| None).unwrap(),
        )
        .unwrap();
        dompet::testing::registered(&state, "persisted", "a-long-password")
            .await
            .unwrap()
    };
    let reopened = dompet::store::SqliteStore::open(&path).unwrap();
    let found = reopened
        .find_user(&LoginIdentifier::new(IdentifierKind::Username, "PERSISTED"))
        .await
        .unwrap();
    assert_eq!(found, Some(user));
    drop(reopened);
    std::fs::remove_dir_all(dir).unwrap();
}
