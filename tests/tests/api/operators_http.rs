//! Black-box tests of the operator routes of api.md over HTTP, on both stores.

use dompet::domain::{IdentifierKind, LoginIdentifier};
use dompet::store::{MoneyCheck, Role};
use dompet_tests::{Backend, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

/// Registers `name` and makes it an operator, as `dompet create-admin` does.
async fn operator(app: &TestApp, name: &str) -> String {
    let (_, access, _) = app.signed_up(name, "rahasia-sekali").await;
    let id = LoginIdentifier::new(IdentifierKind::Username, name);
    assert!(app.state.store().set_role(&id, Role::Admin).await.unwrap());
    access
}

async fn get(app: &TestApp, path: &str, token: &str) -> dompet_tests::Reply {
    app.get_with_token(path, token).await
}

async fn only_operators_see_the_admin_routes(store: Backend) {
    let app = TestApp::spawn(store).await;
    let (_, user, _) = app.signed_up("guntur", "rahasia-sekali").await;
    for path in ["/admin/stats", "/admin/transfers?status=PENDING"] {
        app.send(app.request(Method::GET, path))
            .await
            .assert_error(401, "UNAUTHENTICATED");
        get(&app, path, &user).await.assert_error(403, "FORBIDDEN");
    }
    // A role can't be set through the API.
    app.send(
        app.request(Method::PUT, "/profile")
            .bearer_auth(&user)
            .json(&json!({"role": "admin"})),
    )
    .await
    .assert_error(400, "VALIDATION_ERROR");
    let reply = app
        .register(json!({"username": "sneaky", "password": "rahasia-sekali", "role": "admin"}))
        .await;
    assert!(reply.field_errors().contains_key("role"));
    get(&app, "/admin/stats", &user)
        .await
        .assert_error(403, "FORBIDDEN");
    let admin = operator(&app, "operator").await;
    get(&app, "/admin/stats", &admin).await.assert_success(200);
}

/// Two users, a settled transfer and one left pending (no worker on that host).
async fn transfers_by_status_newest_first_with_cursors(store: Backend) {
    let app = TestApp::spawn(store).await;
    let admin = operator(&app, "operator").await;
    let sender = sender_and_tom(&app).await;
    // Seven transfers: on DynamoDB they fall in different shards of the status list, which a
    // page merges.
    let ids = send_transfers(&app, &sender, 7).await;
    app.settled().await;
    let page = get(&app, "/admin/transfers?status=SUCCESS&limit=3", &admin).await;
    let first: Vec<&str> = page
        .assert_success(200)
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["transfer_id"].as_str().unwrap())
        .collect();
    assert_eq!(first, [ids[6].as_str(), ids[5].as_str(), ids[4].as_str()]);
    let row = &page.body["result"][0];
    assert_eq!(
        (&row["amount"], &row["transfer_status"]),
        (&json!(7_000), &json!("SUCCESS"))
    );
    assert!(row["settled_date"].is_string());
    let cursor = page.body["next_cursor"].as_str().unwrap();
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(all_pages(&app, "SUCCESS", 3, &admin).await, newest_first);
    // The cursor is bound to its status.
    get(
        &app,
        &format!("/admin/transfers?status=FAILED&cursor={cursor}"),
        &admin,
    )
    .await
    .assert_error(400, "INVALID_CURSOR");
    let pending = get(&app, "/admin/transfers?status=PENDING", &admin).await;
    assert_eq!(pending.assert_success(200), &json!([]));
    for bad in [
        "/admin/transfers",
        "/admin/transfers?status=DONE",
        "/admin/transfers?status=SUCCESS&limit=0",
    ] {
        get(&app, bad, &admin)
            .await
            .assert_error(400, "VALIDATION_ERROR");
    }
}

/// Registers guntur (with Rp 100.000, his token returned) and tom, whom he pays.
async fn sender_and_tom(app: &TestApp) -> String {
    let (_, sender, _) = app.signed_up("guntur", "rahasia-sekali").await;
    app.signed_up("tom", "rahasia-sekali").await;
    app.topup(&sender, 100_000).await.assert_success(200);
    sender
}

/// Sends `count` transfers of 1,000, 2,000, … from `sender` to tom, a few ms apart; their ids,
/// oldest first.
async fn send_transfers(app: &TestApp, sender: &str, count: i64) -> Vec<String> {
    let mut ids = Vec::new();
    for n in 1..=count {
        let reply = app
            .post_authed(
                "/transfer",
                sender,
                &json!({"target_user": "tom", "amount": n * 1_000}),
                None,
            )
            .await;
        ids.push(
            reply.assert_success(202)["transfer_id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
        // Distinct creation times make "newest first" observable.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    ids
}

/// Every transfer of `status`, following the cursors `limit` at a time.
async fn all_pages(app: &TestApp, status: &str, limit: usize, admin: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/admin/transfers?status={status}&limit={limit}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = get(app, &path, admin).await;
        let rows = page.assert_success(200).as_array().unwrap().clone();
        assert!(rows.len() <= limit);
        seen.extend(
            rows.iter()
                .map(|t| t["transfer_id"].as_str().unwrap().to_string()),
        );
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return seen,
        }
    }
}

/// Transfers listed before the status lists were sharded (`transfer_status` = the status
/// alone) are still listed, in order, among the sharded ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_listed_before_the_status_lists_were_sharded_are_still_listed() {
    let table = dompet_tests::dynamodb_local::fresh_store().await;
    let app = TestApp::spawn_on(std::sync::Arc::new(table.clone()), &[]).await;
    let admin = operator(&app, "operator").await;
    let sender = sender_and_tom(&app).await;
    let ids = send_transfers(&app, &sender, 6).await;
    app.settled().await;
    let client = dompet_tests::dynamodb_local::client().await;
    for id in ids.iter().step_by(2) {
        client
            .update_item()
            .table_name(table.table())
            .key(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S(format!("TRANSFER#{id}")),
            )
            .key(
                "sk",
                aws_sdk_dynamodb::types::AttributeValue::S("TRANSFER".into()),
            )
            .update_expression("SET transfer_status = :legacy")
            .expression_attribute_values(
                ":legacy",
                aws_sdk_dynamodb::types::AttributeValue::S("SUCCESS".into()),
            )
            .send()
            .await
            .unwrap();
    }
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    for limit in [1, 2, 4, 10] {
        assert_eq!(
            all_pages(&app, "SUCCESS", limit, &admin).await,
            newest_first,
            "limit {limit}"
        );
    }
}

async fn stats_show_counts_the_queue_and_the_money_check(store: Backend) {
    let app = TestApp::spawn(store).await;
    let admin = operator(&app, "operator").await;
    let sender = sender_and_tom(&app).await;
    app.post_authed("/pay", &sender, &json!({"amount": 10_000}), None)
        .await
        .assert_success(200);
    app.post_authed(
        "/transfer",
        &sender,
        &json!({"target_user": "tom", "amount": 5_000}),
        None,
    )
    .await
    .assert_success(202);
    app.settled().await;
    let reply = get(&app, "/admin/stats", &admin).await;
    let stats = reply.assert_success(200).clone();
    assert_eq!(stats["oldest_pending_age_seconds"], Value::Null, "{stats}");
    assert_eq!(stats["queue"]["waiting"], 0, "{stats}");
    match store {
        Backend::Sqlite => {
            // Computed on the spot, in one read transaction.
            let money = &stats["money_check"];
            assert_eq!(money["verdict"], "holds", "{stats}");
            assert_eq!(
                (
                    money["held"].as_i64(),
                    money["entered"].as_i64(),
                    money["payments"].as_i64()
                ),
                (Some(90_000), Some(90_000), Some(10_000))
            );
            assert_eq!(money["accounts_checked"], 3);
            assert_eq!(stats["transfers"]["SUCCESS"], 1);
        }
        Backend::DynamoDb => {
            // No Scan on a request: the audit's latest verdict, none yet.
            assert_eq!(
                stats["money_check"],
                json!({"verdict": "unknown"}),
                "{stats}"
            );
            assert_eq!(stats["transfers"], Value::Null);
        }
    }
}

async fn a_broken_ledger_is_reported_broken(store: Backend) {
    match store {
        Backend::Sqlite => {
            let sqlite = dompet::store::SqliteStore::temporary().unwrap();
            let app = TestApp::spawn_on(std::sync::Arc::new(sqlite.clone()), &[]).await;
            let admin = operator(&app, "operator").await;
            let (_, sender, _) = app.signed_up("guntur", "rahasia-sekali").await;
            app.topup(&sender, 100_000).await.assert_success(200);
            let stats = get(&app, "/admin/stats", &admin).await;
            assert_eq!(stats.assert_success(200)["money_check"]["verdict"], "holds");
            // Money from nowhere: a balance no entry explains, written behind the API's back.
            let conn = rusqlite::Connection::open(sqlite.path()).unwrap();
            conn.execute(
                "UPDATE users SET balance = balance + 1 WHERE username = 'guntur'",
                [],
            )
            .unwrap();
            let stats = get(&app, "/admin/stats", &admin).await;
            let money = &stats.assert_success(200)["money_check"];
            assert_eq!(money["verdict"], "broken", "{money}");
            assert_eq!(money["held"].as_i64(), Some(100_001), "{money}");
            assert_eq!(
                money["broken_accounts"].as_array().map(Vec::len),
                Some(1),
                "{money}"
            );
        }
        Backend::DynamoDb => {
            let dynamo = dompet_tests::dynamodb_local::fresh_store().await;
            let app = TestApp::spawn_on(std::sync::Arc::new(dynamo.clone()), &[]).await;
            let admin = operator(&app, "operator").await;
            // Operators see whatever verdict the audit stored last.
            let broken = MoneyCheck {
                balances: 100_001,
                top_ups: 100_000,
                accounts_checked: 2,
                broken_accounts: vec!["someone".into()],
                checked_at: 1_795_000_000_000,
                ..MoneyCheck::default()
            };
            dynamo.store_verdict(&broken).await.unwrap();
            let stats = get(&app, "/admin/stats", &admin).await;
            let money = &stats.assert_success(200)["money_check"];
            assert_eq!(money["verdict"], "broken", "{money}");
            assert_eq!(
                (money["held"].as_i64(), money["entered"].as_i64()),
                (Some(100_001), Some(100_000))
            );
            assert_eq!(stats.body["result"]["transfers"]["PENDING"], 0);
        }
    }
}

dompet_tests::both_stores!(
    only_operators_see_the_admin_routes,
    transfers_by_status_newest_first_with_cursors,
    stats_show_counts_the_queue_and_the_money_check,
    a_broken_ledger_is_reported_broken,
);
