//! `example_data/`: the files are what the generator writes, they load into SQLite and into
//! DynamoDB Local (and refuse a store that has accounts), every example login works over
//! HTTP, and the money check and every ledger chain hold on the loaded data.
//!
//! `UPDATE_EXAMPLE_DATA=1 cargo test -p dompet-tests --test api
//! example_data::the_files_are_what_the_generator_writes` writes the files again.

use std::path::PathBuf;
use std::sync::Arc;

use dompet::auth::PasswordHasher;
use dompet::domain::now_millis;
use dompet::example_data::{self, Dataset, ACCOUNTS, MAX_ITEMS_PER_REQUEST, TABLE_KEY};
use dompet::store::dynamodb::batch;
use dompet::store::{MoneyCheck, OperatorStore, Role, SqliteStore, TxStatus};
use dompet_tests::TestApp;
use serde_json::Value;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../example_data")
}

fn files() -> Vec<example_data::BatchFile> {
    example_data::read_dir(&dir()).expect("read example_data/")
}

#[tokio::test]
async fn the_files_are_what_the_generator_writes() {
    let generated = batch::files(
        &example_data::generate(&PasswordHasher::new(2))
            .await
            .expect("generate"),
    );
    if std::env::var_os("UPDATE_EXAMPLE_DATA").is_some() {
        example_data::write_dir(&dir(), &generated).unwrap();
    }
    let committed = files();
    let names = |files: &[example_data::BatchFile]| -> Vec<String> {
        files.iter().map(|f| f.name.clone()).collect()
    };
    assert_eq!(names(&committed), names(&generated));
    for (c, g) in committed.iter().zip(&generated) {
        assert_eq!(
            c.json, g.json,
            "{} differs from what the generator writes",
            c.name
        );
        let items = c.items().unwrap();
        assert!(
            (1..=MAX_ITEMS_PER_REQUEST).contains(&items.len()),
            "{}: {} items",
            c.name,
            items.len()
        );
        assert!(
            c.json.get(TABLE_KEY).is_some(),
            "{} is keyed by another table",
            c.name
        );
    }
}

/// Every identifier of every example account logs in with its secret, and the account it
/// reaches is the one the dataset holds.
async fn every_login_works(app: &TestApp, dataset: &Dataset) {
    for account in ACCOUNTS {
        let user = dataset
            .users
            .iter()
            .find(|u| u.user_id == account.user_id())
            .expect("the account is in the dataset");
        for body in account.logins() {
            let (access, _) = app.tokens(body.clone()).await;
            let me = app.get_with_token("/account", &access).await;
            let me = me.assert_success(200);
            assert_eq!(me["user_id"], user.user_id.to_string(), "{body}");
            assert_eq!(me["first_name"], account.first_name, "{body}");
        }
    }
}

async fn admin_token(app: &TestApp) -> String {
    let admin = ACCOUNTS.iter().find(|a| a.role == Role::Admin).unwrap();
    app.tokens(admin.logins()[0].clone()).await.0
}

/// The money check on the loaded data: holds, every chain verified, transfers in every status.
#[track_caller]
fn assert_holds_as_loaded(check: &MoneyCheck, dataset: &Dataset) {
    assert!(check.holds(), "{check:?}");
    assert_eq!(check.accounts_checked, dataset.users.len() as u64);
    assert_eq!(
        (check.held(), check.entered()),
        (945_000, 945_000),
        "{check:?}"
    );
    assert_eq!(
        (
            check.transfers_pending,
            check.transfers_success,
            check.transfers_failed
        ),
        (1, 2, 1),
        "{check:?}"
    );
}

#[tokio::test]
async fn the_files_load_into_sqlite_and_every_login_works() {
    let dataset = batch::dataset(&files()).expect("the files parse");
    let store = SqliteStore::temporary().unwrap();
    store.load_dataset(dataset.clone()).await.expect("load");

    // A second load is refused and changes nothing.
    let err = store.load_dataset(dataset.clone()).await.unwrap_err();
    assert!(err.to_string().contains("already has accounts"), "{err:#}");
    let check = store.money_check(now_millis()).await.unwrap().unwrap();
    assert_holds_as_loaded(&check, &dataset);

    let app = TestApp::spawn_on(Arc::new(store.clone()), &[]).await;
    every_login_works(&app, &dataset).await;
    let admin = admin_token(&app).await;
    let guntur = app.tokens(ACCOUNTS[1].logins()[0].clone()).await.0;
    let entities = app.get_with_token("/entities", &guntur).await;
    assert_eq!(
        entities.assert_success(200).as_array().map(Vec::len),
        Some(3)
    );

    // The pending transfer settles like any other, and the money still adds up.
    app.settled().await;
    let stats = app.get_with_token("/admin/stats", &admin).await;
    let stats = stats.assert_success(200);
    assert_eq!(stats["money_check"]["verdict"], "holds", "{stats}");
    assert_eq!(stats["transfers"]["PENDING"], 0, "{stats}");
    assert_eq!(stats["transfers"]["SUCCESS"], 3, "{stats}");
}

#[tokio::test]
async fn the_files_load_into_dynamodb_local_and_every_login_works() {
    let files = files();
    let dataset = batch::dataset(&files).expect("the files parse");
    let store = dompet_tests::dynamodb_local::fresh_store().await;
    let written = store.load_example_data(&files).await.expect("load");
    let items: usize = files.iter().map(|f| f.items().unwrap().len()).sum();
    assert_eq!(written, items);
    let err = store.load_example_data(&files).await.unwrap_err();
    assert!(err.to_string().contains("already has accounts"), "{err:#}");

    // The audit (a full Scan, every chain, every transfer's entries) holds on what was loaded.
    let check = store.audit(now_millis()).await.expect("audit");
    assert_holds_as_loaded(&check, &dataset);
    // The items carry the index keys: listings by status find every transfer.
    for (status, count) in [
        (TxStatus::Pending, 1),
        (TxStatus::Success, 2),
        (TxStatus::Failed, 1),
    ] {
        let listed = store.list_transfers(status, None, 10).await.unwrap();
        assert_eq!(listed.len(), count, "{status:?}");
    }

    let app = TestApp::spawn_on(Arc::new(store.clone()), &[]).await;
    every_login_works(&app, &dataset).await;
    let sari = app.tokens(ACCOUNTS[2].logins()[0].clone()).await.0;
    let coffee = app.get_with_token("/entities?type=coffee", &sari).await;
    let codes: Vec<Value> = coffee
        .assert_success(200)
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].clone())
        .collect();
    assert_eq!(codes, ["KP-01", "KP-02"]);

    app.settled().await;
    store
        .store_verdict(&store.audit(now_millis()).await.unwrap())
        .await
        .unwrap();
    let admin = admin_token(&app).await;
    let stats = app.get_with_token("/admin/stats", &admin).await;
    let stats = stats.assert_success(200);
    assert_eq!(stats["money_check"]["verdict"], "holds", "{stats}");
    assert_eq!(stats["transfers"]["SUCCESS"], 3, "{stats}");
}
