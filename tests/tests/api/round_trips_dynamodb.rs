//! What each route costs on DynamoDB, counted: an SDK interceptor records every call the store
//! makes against DynamoDB Local while the route is served over HTTP, and each route's calls are
//! asserted (a count, not a time). `--nocapture` prints the table BENCHMARKS.md records, with
//! the capacity units DynamoDB reported.

use std::sync::Arc;

use dompet_tests::calls::{Call, CallCounter};
use dompet_tests::{Reply, TestApp};
use serde_json::json;

struct Meter {
    calls: CallCounter,
    rows: Vec<String>,
}

impl Meter {
    /// Asserts the calls made since the last look were exactly `expected` (in any order) and
    /// records the row.
    #[track_caller]
    fn expect(&mut self, route: &str, reply: &Reply, status: u16, expected: &[&str]) {
        assert_eq!(reply.status.as_u16(), status, "{route}: {}", reply.body);
        let calls = self.calls.take();
        let mut ops: Vec<&str> = calls.iter().map(|c| c.operation.as_str()).collect();
        ops.sort_unstable();
        let mut want = expected.to_vec();
        want.sort_unstable();
        assert_eq!(ops, want, "{route}");
        self.rows.push(row(route, &calls));
    }
}

fn row(route: &str, calls: &[Call]) -> String {
    let count = |reads: bool| {
        calls
            .iter()
            .filter(|c| {
                let read = matches!(
                    c.operation.as_str(),
                    "GetItem" | "BatchGetItem" | "Query" | "TransactGetItems"
                );
                read == reads
            })
            .count()
    };
    let capacity: f64 = calls.iter().filter_map(|c| c.capacity).sum();
    let mut names: Vec<&str> = calls.iter().map(|c| c.operation.as_str()).collect();
    names.sort_unstable();
    format!(
        "| {route} | {} | {} | {capacity:.1} | {} |",
        count(true),
        count(false),
        names.join(" + ")
    )
}

#[tokio::test]
async fn each_route_costs_one_read_then_at_most_one_write() {
    let (store, calls) = dompet_tests::dynamodb_local::counted_store().await;
    let outbox = std::env::temp_dir()
        .join(format!("dompet-outbox-{}", uuid::Uuid::new_v4()))
        .to_string_lossy()
        .into_owned();
    let (app, mut queue) = TestApp::spawn_without_worker(
        Arc::new(store),
        &[
            ("DOMPET_LOCKOUT_SECS", "1"),
            ("DOMPET_LOCKOUT_MAX_SECS", "4"),
            ("DOMPET_OUTBOX_DIR", &outbox),
        ],
    )
    .await;
    let mut m = Meter {
        calls,
        rows: Vec::new(),
    };

    let reply = app
        .register(json!({"username": "guntur", "password": "rahasia-sekali"}))
        .await;
    m.expect("`POST /register`", &reply, 201, &["TransactWriteItems"]);
    app.register(json!({"phone_number": "081234567890", "pin": "123456"}))
        .await
        .assert_success(201);
    m.calls.take();

    let login = app
        .login(json!({"username": "guntur", "password": "rahasia-sekali"}))
        .await;
    m.expect(
        "`POST /login` (success, from a new address: reserved on its record and the ceiling)",
        &login,
        200,
        &[
            "BatchGetItem",
            "BatchGetItem",
            "TransactWriteItems",
            "TransactWriteItems",
        ],
    );
    let token = login.body["result"]["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let refresh = login.body["result"]["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    let wrong = app
        .login(json!({"username": "guntur", "password": "salah-sekali"}))
        .await;
    m.expect(
        "`POST /login` (wrong password, from the owner's address: no ceiling)",
        &wrong,
        401,
        &["BatchGetItem", "BatchGetItem", "PutItem"],
    );
    let unknown = app
        .login(json!({"username": "nobody", "password": "rahasia-sekali"}))
        .await;
    m.expect(
        "`POST /login` (unknown user)",
        &unknown,
        401,
        &["BatchGetItem", "BatchGetItem", "TransactWriteItems"],
    );
    let refreshed = app
        .post_json("/token/refresh", &json!({"refresh_token": refresh}))
        .await;
    m.expect(
        "`POST /token/refresh`",
        &refreshed,
        200,
        &["TransactWriteItems"],
    );

    let account = app.get_with_token("/account", &token).await;
    m.expect("`GET /account`", &account, 200, &["BatchGetItem"]);
    let found = app
        .get_with_token("/users/lookup?target=081234567890", &token)
        .await;
    m.expect(
        "`GET /users/lookup` (by phone or username)",
        &found,
        200,
        &["BatchGetItem", "GetItem", "PutItem"],
    );
    let id = found.body["result"]["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    let found = app
        .get_with_token(&format!("/users/lookup?target={id}"), &token)
        .await;
    m.expect(
        "`GET /users/lookup` (by id)",
        &found,
        200,
        &["BatchGetItem", "PutItem"],
    );
    let renamed = app
        .send(
            app.request(reqwest::Method::PUT, "/account/email")
                .bearer_auth(&token)
                .json(
                    &json!({"email": "guntur@example.com", "current_password": "rahasia-sekali"}),
                ),
        )
        .await;
    m.expect(
        "`PUT /account/email` (claimed, nothing to free)",
        &renamed,
        200,
        &["BatchGetItem", "PutItem", "TransactWriteItems"],
    );
    let renamed = app
        .send(
            app.request(reqwest::Method::PUT, "/account/email")
                .bearer_auth(&token)
                .json(
                    &json!({"email": "guntur.s@example.com", "current_password": "rahasia-sekali"}),
                ),
        )
        .await;
    m.expect(
        "`PUT /account/email` (claimed, the old one freed)",
        &renamed,
        200,
        &["BatchGetItem", "PutItem", "TransactWriteItems"],
    );

    let body = json!({"amount": 100_000});
    let topup = app.post_authed("/topup", &token, &body, Some("t-1")).await;
    m.expect(
        "`POST /topup` with `Idempotency-Key`",
        &topup,
        200,
        &["BatchGetItem", "TransactWriteItems"],
    );
    let replay = app.post_authed("/topup", &token, &body, Some("t-1")).await;
    m.expect("`POST /topup` replay", &replay, 200, &["BatchGetItem"]);
    let pay = app
        .post_authed("/pay", &token, &json!({"amount": 5_000}), Some("p-1"))
        .await;
    m.expect(
        "`POST /pay` with `Idempotency-Key`",
        &pay,
        200,
        &["BatchGetItem", "TransactWriteItems"],
    );

    let transfer = app
        .post_authed(
            "/transfer",
            &token,
            &json!({"target_user": "081234567890", "amount": 7_000}),
            Some("x-1"),
        )
        .await;
    m.expect(
        "`POST /transfer` (to a phone number, with key)",
        &transfer,
        202,
        &["BatchGetItem", "TransactWriteItems"],
    );
    let id = transfer.body["result"]["transfer_id"]
        .as_str()
        .unwrap()
        .to_string();
    // The message names the recipient: the worker reads it with the transfer.
    let message = queue.recv_message().await.unwrap();
    assert_eq!(message.transfer_id, id);
    let settled = dompet::service::transfers::settle_message(&app.state, &message)
        .await
        .unwrap();
    assert_eq!(settled, dompet::store::Settlement::Credited);
    let calls = m.calls.take();
    let mut ops: Vec<&str> = calls.iter().map(|c| c.operation.as_str()).collect();
    ops.sort_unstable();
    assert_eq!(ops, ["BatchGetItem", "TransactWriteItems"], "settlement");
    m.rows.push(row("its settlement by the worker", &calls));

    let status = app.get_with_token(&format!("/transfer/{id}"), &token).await;
    m.expect("`GET /transfer/{id}`", &status, 200, &["BatchGetItem"]);
    let transactions = app.get_with_token("/transactions", &token).await;
    m.expect(
        "`GET /transactions`",
        &transactions,
        200,
        &["BatchGetItem", "Query"],
    );

    let created = app
        .post_authed(
            "/entities",
            &token,
            &json!({"code": "SKU-1", "type": "book", "quantity": 3}),
            None,
        )
        .await;
    m.expect(
        "`POST /entities`",
        &created,
        201,
        &["BatchGetItem", "TransactWriteItems"],
    );
    let entity = created.body["result"]["entity_id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/entities/{entity}");
    let read = app.get_with_token(&path, &token).await;
    m.expect("`GET /entities/{id}`", &read, 200, &["BatchGetItem"]);
    let replaced = app
        .send(
            app.request(reqwest::Method::PUT, &path)
                .bearer_auth(&token)
                .header("if-match", "1")
                .json(&json!({"code": "SKU-1", "type": "book", "quantity": 5})),
        )
        .await;
    m.expect(
        "`PUT /entities/{id}` with `If-Match`",
        &replaced,
        200,
        &["BatchGetItem", "TransactWriteItems"],
    );
    let listed = app.get_with_token("/entities?type=book", &token).await;
    m.expect(
        "`GET /entities?type=`",
        &listed,
        200,
        &["BatchGetItem", "Query"],
    );
    let deleted = app
        .send(
            app.request(reqwest::Method::DELETE, &path)
                .bearer_auth(&token),
        )
        .await;
    m.expect(
        "`DELETE /entities/{id}`",
        &deleted,
        200,
        &["BatchGetItem", "TransactWriteItems"],
    );
    let logout = app.post_with_token("/logout", &token).await;
    m.expect(
        "`POST /logout`",
        &logout,
        200,
        &["BatchGetItem", "UpdateItem"],
    );

    let (first, _) = app
        .tokens(json!({"username": "guntur", "password": "rahasia-sekali"}))
        .await;
    let (second, _) = app
        .tokens(json!({"username": "guntur", "password": "rahasia-sekali"}))
        .await;
    m.calls.take();
    let sessions = app.get_with_token("/sessions", &first).await;
    m.expect("`GET /sessions`", &sessions, 200, &["Query"]);
    let other = sessions.body["result"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == false)
        .unwrap()["session_id"]
        .as_str()
        .unwrap()
        .to_string();
    let ended = app
        .send(
            app.request(reqwest::Method::DELETE, &format!("/sessions/{other}"))
                .bearer_auth(&first),
        )
        .await;
    m.expect(
        "`DELETE /sessions/{id}`",
        &ended,
        200,
        &["BatchGetItem", "UpdateItem"],
    );
    app.get_with_token("/account", &second)
        .await
        .assert_error(401, "UNAUTHENTICATED");
    m.calls.take();
    let all = app.post_with_token("/logout/all", &first).await;
    m.expect(
        "`POST /logout/all`",
        &all,
        200,
        &["Query", "TransactWriteItems"],
    );

    let (token, _) = app
        .tokens(json!({"username": "guntur", "password": "rahasia-sekali"}))
        .await;
    app.tokens(json!({"username": "guntur", "password": "rahasia-sekali"}))
        .await;
    m.calls.take();
    let changed = app
        .send(
            app.request(reqwest::Method::PUT, "/account/secret")
                .bearer_auth(&token)
                .json(&json!({"current_password": "rahasia-sekali", "pin": "135790"})),
        )
        .await;
    // As a login: the read, the attempt's reservation, then the logins to revoke and one
    // transaction (the secret, the throttle's reset, the revocations).
    m.expect(
        "`PUT /account/secret`",
        &changed,
        200,
        &["BatchGetItem", "PutItem", "Query", "TransactWriteItems"],
    );

    // A forgotten password: the same calls for an account and for nobody (their answers too).
    let reply = app
        .post_json("/password/forgot", &json!({"phone_number": "081234567890"}))
        .await;
    m.expect(
        "`POST /password/forgot` (an account: a code delivered, counted for its address too)",
        &reply,
        202,
        &[
            "BatchGetItem",
            "BatchGetItem",
            "GetItem",
            "PutItem",
            "PutItem",
        ],
    );
    let reply = app
        .post_json("/password/forgot", &json!({"phone_number": "089999999999"}))
        .await;
    m.expect(
        "`POST /password/forgot` (nobody)",
        &reply,
        202,
        &["BatchGetItem", "BatchGetItem", "GetItem"],
    );
    let code = {
        let dir = app.state.config().outbox_dir.clone();
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        let message: serde_json::Value =
            serde_json::from_slice(&std::fs::read(files.last().unwrap()).unwrap()).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        message["code"].as_str().unwrap().to_string()
    };
    let reply = app
        .post_json(
            "/password/reset",
            &json!({"phone_number": "081234567890", "code": code, "pin": "975310"}),
        )
        .await;
    // The reads; the try counted for its address and the account's day (one transaction), and
    // on the code; the code used up; then the secret with every login revoked.
    m.expect(
        "`POST /password/reset` (from an address not the owner's)",
        &reply,
        200,
        &[
            "BatchGetItem",
            "BatchGetItem",
            "GetItem",
            "PutItem",
            "PutItem",
            "Query",
            "TransactWriteItems",
            "TransactWriteItems",
        ],
    );

    // Pictures live outside the table: one read, the login's check.
    let reply = app
        .send(
            app.request(reqwest::Method::PUT, "/account/picture")
                .bearer_auth(&token)
                .header("content-type", "image/png")
                .body(dompet_tests::tiny_png()),
        )
        .await;
    m.expect("`PUT /account/picture`", &reply, 200, &["BatchGetItem"]);
    let url = reply.body["result"]["picture_url"]
        .as_str()
        .unwrap()
        .to_string();
    let served = app
        .request(reqwest::Method::GET, &url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
    let calls = m.calls.take();
    let ops: Vec<&str> = calls.iter().map(|c| c.operation.as_str()).collect();
    assert_eq!(ops, ["BatchGetItem"], "GET /users/{{id}}/picture");
    m.rows.push(row("`GET /users/{id}/picture`", &calls));

    // Closing an account with nothing left in it but its logins.
    app.register(json!({"username": "leaving", "password": "rahasia-sekali"}))
        .await
        .assert_success(201);
    let (leaving, _) = app
        .tokens(json!({"username": "leaving", "password": "rahasia-sekali"}))
        .await;
    m.calls.take();
    let closed = app
        .send(
            app.request(reqwest::Method::DELETE, "/account")
                .bearer_auth(&leaving)
                .json(&json!({"password": "rahasia-sekali"})),
        )
        .await;
    // The read and the reservation, then the account's partition (the transfers it sent and
    // still pending are its own entries: no index is queried) and its inbox's shards (the
    // transfers made to it), and one transaction; more writes only for entities, idempotency
    // records, more logins than the transaction has room for, or remarks to remove.
    m.expect(
        "`DELETE /account` (no entities, no ledger)",
        &closed,
        200,
        &[
            "BatchGetItem",
            "PutItem",
            "Query",
            "BatchGetItem",
            "TransactWriteItems",
        ],
    );

    // The second factor: what a code costs.
    use dompet::auth::totp::Authenticator;
    app.register(json!({"username": "totp", "password": "rahasia-sekali"}))
        .await
        .assert_success(201);
    let (stepped, _) = app
        .tokens(json!({"username": "totp", "password": "rahasia-sekali"}))
        .await;
    m.calls.take();
    let post = |path: &'static str, body: serde_json::Value| {
        let stepped = stepped.clone();
        let app = &app;
        async move { app.post_authed(path, &stepped, &body, None).await }
    };
    let enrolled = post("/mfa/totp", json!({"password": "rahasia-sekali"})).await;
    m.expect(
        "`POST /mfa/totp` (the secret checked, then the pending factor)",
        &enrolled,
        200,
        &["BatchGetItem", "PutItem", "TransactWriteItems", "PutItem"],
    );
    let authenticator =
        Authenticator::from_base32(enrolled.body["result"]["secret"].as_str().unwrap(), "t")
            .unwrap();
    let code = || {
        app.state.advance_code_clock(30);
        authenticator.code_at(app.state.code_clock())
    };
    let confirmed = post("/mfa/totp/confirm", json!({"code": code()})).await;
    // The read, the reservation, the logins to end, then one transaction: the factor active,
    // the recovery codes, the reservation's reset, the epoch and the other logins' ends.
    m.expect(
        "`POST /mfa/totp/confirm`",
        &confirmed,
        200,
        &["BatchGetItem", "PutItem", "Query", "TransactWriteItems"],
    );
    let first = app
        .login(json!({"username": "totp", "password": "rahasia-sekali"}))
        .await;
    m.expect(
        "`POST /login` (the right secret, a second factor to come)",
        &first,
        401,
        &["BatchGetItem", "BatchGetItem", "PutItem"],
    );
    let second = app
        .post_json(
            "/login/mfa",
            &json!({"mfa_token": first.body["mfa_token"], "otp": code()}),
        )
        .await;
    // One read (the account, its factor, the address's records and the token's count), the
    // reservation, the token's count, then the login with the code's use and the reset.
    m.expect(
        "`POST /login/mfa`",
        &second,
        200,
        &["BatchGetItem", "PutItem", "PutItem", "TransactWriteItems"],
    );
    app.topup(&stepped, 10_000).await.assert_success(200);
    m.calls.take();
    let paid = post("/pay", json!({"amount": 1_000, "otp": code()})).await;
    // The usual read (with the factor and the address's records), the reservation, the money
    // transaction with the code's use, then the reservation's reset.
    m.expect(
        "`POST /pay` with a code",
        &paid,
        200,
        &[
            "BatchGetItem",
            "PutItem",
            "TransactWriteItems",
            "TransactWriteItems",
        ],
    );
    let refused = post("/pay", json!({"amount": 1_000})).await;
    m.expect(
        "`POST /pay` without the code a factor asks for",
        &refused,
        401,
        &["BatchGetItem"],
    );

    println!("| route | reads | writes | capacity units | calls |\n|---|---|---|---|---|");
    for r in &m.rows {
        println!("{r}");
    }
}

/// A message naming the wrong recipient costs a read, never a wrong settlement.
#[tokio::test]
async fn a_wrong_recipient_in_the_message_still_credits_the_transfers_own() {
    use dompet::store::{IdentityStore, MoneyOpKind, Settlement, TransferStore, WalletStore};
    use dompet_tests::contract::{account, op};
    let (store, calls) = dompet_tests::dynamodb_local::counted_store().await;
    let (a, b, c) = (
        account(&store, "a").await,
        account(&store, "b").await,
        account(&store, "c").await,
    );
    store
        .apply(&op(&a, MoneyOpKind::TopUp, 10_000), None)
        .await
        .unwrap();
    let id = store
        .apply(
            &op(&a, MoneyOpKind::Transfer { to: b.user_id }, 4_000),
            None,
        )
        .await
        .unwrap()
        .reference_id;
    calls.take();
    let now = dompet::domain::now_millis();
    let outcome = store
        .settle_transfer_to(&id, &c.user_id.to_string(), now)
        .await
        .unwrap();
    assert_eq!(outcome, Settlement::Credited);
    assert_eq!(
        calls.take_operations(),
        ["BatchGetItem", "GetItem", "TransactWriteItems"]
    );
    let balance = |u: dompet::domain::UserId| {
        let store = store.clone();
        async move { store.get_user(u).await.unwrap().unwrap().balance }
    };
    assert_eq!(
        (
            balance(a.user_id).await,
            balance(b.user_id).await,
            balance(c.user_id).await
        ),
        (6_000, 4_000, 0)
    );
}
