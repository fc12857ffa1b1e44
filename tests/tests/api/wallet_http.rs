//! Black-box tests of the wallet routes of api.md over HTTP against the server (SQLite).

use dompet_tests::{Backend, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

async fn user(app: &TestApp, name: &str) -> (String, String) {
    let (id, access, _) = app.signed_up(name, "rahasia-sekali").await;
    (id, access)
}

// ---------------------------------------------------------------- top up and pay

async fn top_up_then_pay_report_exact_balances(store: Backend) {
    let app = TestApp::spawn(store).await;
    let (_, token) = user(&app, "guntur").await;
    let reply = app.topup(&token, 500_000).await;
    let r = reply.assert_success(200);
    assert_eq!(
        (
            r["amount_top_up"].as_i64(),
            r["balance_before"].as_i64(),
            r["balance_after"].as_i64()
        ),
        (Some(500_000), Some(0), Some(500_000))
    );
    assert!(r["top_up_id"].is_string() && r["created_date"].is_string());
    let reply = app
        .post_authed(
            "/pay",
            &token,
            &json!({"amount": 100_000, "remarks": "Pulsa Telkomsel 100k"}),
            None,
        )
        .await;
    let r = reply.assert_success(200);
    assert_eq!(r["remarks"], "Pulsa Telkomsel 100k");
    assert_eq!(
        (r["balance_before"].as_i64(), r["balance_after"].as_i64()),
        (Some(500_000), Some(400_000))
    );
    let r = app
        .post_authed("/pay", &token, &json!({"amount": 1}), None)
        .await;
    assert_eq!(
        r.assert_success(200)["remarks"],
        "",
        "absent remarks are empty"
    );
    assert_eq!(app.balance(&token).await, 399_999);
}

async fn amounts_must_be_json_integers_in_range(store: Backend) {
    let app = TestApp::spawn(store).await;
    let (_, token) = user(&app, "amounts").await;
    for raw in [
        "0.1",
        "1.0",
        "1e3",
        "\"100\"",
        "0",
        "-5",
        "true",
        "null",
        "1000000000001",
        "99999999999999999999",
        "[1]",
    ] {
        let body = format!(r#"{{"amount": {raw}}}"#);
        let reply = app
            .send(
                app.client
                    .post(app.url("/topup"))
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(body),
            )
            .await;
        assert!(
            reply.field_errors().contains_key("amount"),
            "{raw}: {}",
            reply.body
        );
        let reply = app
            .send(
                app.client
                    .post(app.url("/pay"))
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(format!(r#"{{"amount": {raw}}}"#)),
            )
            .await;
        assert!(reply.field_errors().contains_key("amount"), "{raw}");
    }
    app.post_authed("/topup", &token, &json!({}), None)
        .await
        .field_errors();
    assert!(app
        .post_authed("/topup", &token, &json!({"amount": 5, "balance": 9}), None)
        .await
        .field_errors()
        .contains_key("balance"));
    app.topup(&token, 1_000_000_000_000)
        .await
        .assert_success(200);
    assert_eq!(
        app.balance(&token).await,
        1_000_000_000_000,
        "nothing else moved"
    );
}

async fn paying_more_than_the_balance_is_refused_and_changes_nothing(store: Backend) {
    let app = TestApp::spawn(store).await;
    let (_, token) = user(&app, "short").await;
    app.topup(&token, 1_000).await.assert_success(200);
    let reply = app
        .post_authed("/pay", &token, &json!({"amount": 1_001}), None)
        .await;
    reply.assert_error(400, "INSUFFICIENT_BALANCE");
    assert_eq!(reply.body["message"], "Balance is not enough");
    assert_eq!(app.balance(&token).await, 1_000);
    assert_eq!(app.all_transactions(&token).await.len(), 1);
    let long = "r".repeat(201);
    assert!(app
        .post_authed("/pay", &token, &json!({"amount": 1, "remarks": long}), None)
        .await
        .field_errors()
        .contains_key("remarks"));
}

async fn wallet_routes_check_auth_before_content_type_and_body(store: Backend) {
    let app = TestApp::spawn(store).await;
    let (_, token) = user(&app, "ordered").await;
    for path in ["/topup", "/pay", "/transfer"] {
        app.post_raw(path, "text/plain", "amount=5")
            .await
            .assert_error(401, "UNAUTHENTICATED");
        app.post_json(path, &json!({"amount": 5}))
            .await
            .assert_error(401, "UNAUTHENTICATED");
        let reply = app
            .send(
                app.client
                    .post(app.url(path))
                    .bearer_auth(&token)
                    .header("content-type", "text/plain")
                    .body("{}"),
            )
            .await;
        reply.assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
        app.send(app.request(Method::GET, path).bearer_auth(&token))
            .await
            .assert_error(405, "METHOD_NOT_ALLOWED");
    }
    app.send(app.request(Method::GET, "/transactions"))
        .await
        .assert_error(401, "UNAUTHENTICATED");
    app.send(
        app.request(Method::PUT, "/profile")
            .json(&json!({"first_name": "x"})),
    )
    .await
    .assert_error(401, "UNAUTHENTICATED");
}

// ---------------------------------------------------------------- idempotency

async fn the_same_key_and_body_replays_the_original_response_and_moves_money_once(store: Backend) {
    let app = TestApp::spawn(store).await;
    let (_, token) = user(&app, "replay").await;
    let first = app
        .post_authed("/topup", &token, &json!({"amount": 700}), Some("key-1"))
        .await;
    first.assert_success(200);
    let again = app
        .post_authed("/topup", &token, &json!({"amount": 700}), Some("key-1"))
        .await;
    assert_eq!((again.status, &again.body), (first.status, &first.body));
    assert_eq!(app.balance(&token).await, 700);
    let reused = app
        .post_authed("/topup", &token, &json!({"amount": 701}), Some("key-1"))
        .await;
    reused.assert_error(409, "IDEMPOTENCY_KEY_REUSED");
    // Scoped per route: the same key on /pay is a new request.
    app.post_authed("/pay", &token, &json!({"amount": 100}), Some("key-1"))
        .await
        .assert_success(200);
    assert_eq!(app.balance(&token).await, 600);
    // Scoped per user.
    let (_, other) = user(&app, "replay2").await;
    app.post_authed("/topup", &other, &json!({"amount": 5}), Some("key-1"))
        .await
        .assert_success(200);
    assert_eq!(app.balance(&other).await, 5);
}

async fn a_failed_request_may_be_retried_with_its_key(store: Backend) {
    let app = TestApp::spawn(store).await;
    let (_, token) = user(&app, "retry").await;
    app.post_authed("/pay", &token, &json!({"amount": 50}), Some("pay-1"))
        .await
        .assert_error(400, "INSUFFICIENT_BALANCE");
    app.topup(&token, 50).await.assert_success(200);
    app.post_authed("/pay", &token, &json!({"amount": 50}), Some("pay-1"))
        .await
        .assert_success(200);
    assert_eq!(app.balance(&token).await, 0);
}

async fn bad_idempotency_keys_are_400(store: Backend) {
    let app = TestApp::spawn(store).await;
    let (_, token) = user(&app, "badkey").await;
    let long = "k".repeat(256);
    for key in ["", long.as_str()] {
        let reply = app
            .post_authed("/topup", &token, &json!({"amount": 5}), Some(key))
            .await;
        assert!(
            reply.field_errors().contains_key("Idempotency-Key"),
            "{key:?}"
        );
    }
    let reply = app
        .send(
            app.client
                .post(app.url("/topup"))
                .bearer_auth(&token)
                .header(
                    "idempotency-key",
                    reqwest::header::HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap(),
                )
                .json(&json!({"amount": 5})),
        )
        .await;
    assert!(reply.field_errors().contains_key("Idempotency-Key"));
    assert_eq!(app.balance(&token).await, 0);
}

async fn concurrent_requests_with_one_key_move_money_once(store: Backend) {
    let app = TestApp::spawn(store).await;
    let (_, token) = user(&app, "concurrentkey").await;
    let body = json!({"amount": 1_000});
    let replies = futures::future::join_all(
        (0..12).map(|_| app.post_authed("/topup", &token, &body, Some("same"))),
    )
    .await;
    let first = &replies[0].body;
    for r in &replies {
        r.assert_success(200);
        assert_eq!(&r.body, first, "every answer is the one recorded");
    }
    assert_eq!(app.balance(&token).await, 1_000);
}

// ---------------------------------------------------------------- transfers

async fn a_transfer_debits_at_once_and_settles_in_the_background(store: Backend) {
    let app = TestApp::spawn(store).await;
    let (sender_id, sender) = user(&app, "sender").await;
    app.register(json!({"username": "Recipient", "phone_number": "+62811000999", "password": "rahasia-sekali"})).await.assert_success(201);
    let (recipient, _) = app
        .tokens(json!({"username": "recipient", "password": "rahasia-sekali"}))
        .await;
    let recipient_id = app
        .get_with_token("/account", &recipient)
        .await
        .assert_success(200)["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    app.topup(&sender, 400_000).await.assert_success(200);
    for target in [recipient_id.as_str(), "RECIPIENT", "+62811000999"] {
        let reply = app
            .post_authed(
                "/transfer",
                &sender,
                &json!({"target_user": target, "amount": 30_000, "remarks": "Hadiah Ultah"}),
                None,
            )
            .await;
        let r = reply.assert_success(202);
        assert_eq!(r["transfer_status"], "PENDING");
        assert_eq!(r["remarks"], "Hadiah Ultah");
        assert_eq!(
            r["balance_before"].as_i64().unwrap() - r["balance_after"].as_i64().unwrap(),
            30_000
        );
    }
    assert_eq!(app.balance(&sender).await, 310_000, "debited at once");
    app.settled().await;
    assert_eq!(app.balance(&recipient).await, 90_000);
    let incoming = app.all_transactions(&recipient).await;
    assert_eq!(incoming.len(), 3);
    for e in &incoming {
        assert_eq!(
            (e["transaction_type"].as_str(), e["status"].as_str()),
            (Some("CREDIT"), Some("SUCCESS"))
        );
        assert_eq!(e["user_id"], recipient_id);
        assert!(e["transfer_id"].is_string());
    }
    let outgoing = app.all_transactions(&sender).await;
    let transfer_id = outgoing[0]["transfer_id"].as_str().unwrap().to_string();
    assert!(outgoing
        .iter()
        .take(3)
        .all(|e| e["status"] == "SUCCESS" && e["transaction_type"] == "DEBIT"));
    for token in [&sender, &recipient] {
        let r = app
            .get_with_token(&format!("/transfer/{transfer_id}"), token)
            .await;
        let t = r.assert_success(200);
        assert_eq!(
            (t["from_user"].as_str(), t["to_user"].as_str()),
            (Some(sender_id.as_str()), Some(recipient_id.as_str()))
        );
        assert_eq!(t["transfer_status"], "SUCCESS");
        assert!(t["settled_date"].is_string());
    }
    let (_, stranger) = user(&app, "stranger").await;
    app.get_with_token(&format!("/transfer/{transfer_id}"), &stranger)
        .await
        .assert_error(404, "NOT_FOUND");
    app.get_with_token("/transfer/not-a-uuid", &sender)
        .await
        .assert_error(404, "NOT_FOUND");
    app.get_with_token(&format!("/transfer/{}", uuid::Uuid::new_v4()), &sender)
        .await
        .assert_error(404, "NOT_FOUND");
}

async fn transfer_errors_change_nothing(store: Backend) {
    let app = TestApp::spawn(store).await;
    app.register(
        json!({"username": "selfish", "phone_number": "0811777000", "password": "rahasia-sekali"}),
    )
    .await
    .assert_success(201);
    let (token, _) = app
        .tokens(json!({"username": "selfish", "password": "rahasia-sekali"}))
        .await;
    let me = app
        .get_with_token("/account", &token)
        .await
        .assert_success(200)["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    user(&app, "other").await;
    app.topup(&token, 100).await.assert_success(200);
    for target in [me.as_str(), "SELFISH", "0811777000"] {
        app.post_authed(
            "/transfer",
            &token,
            &json!({"target_user": target, "amount": 10}),
            None,
        )
        .await
        .assert_error(400, "SELF_TRANSFER");
    }
    let unknown = uuid::Uuid::new_v4().to_string();
    // An unknown recipient is 404 whatever names it, even when the balance would not do.
    for amount in [10, 1_000] {
        for target in [unknown.as_str(), "nobody", "0899999999"] {
            app.post_authed(
                "/transfer",
                &token,
                &json!({"target_user": target, "amount": amount}),
                None,
            )
            .await
            .assert_error(404, "USER_NOT_FOUND");
        }
    }
    for body in [
        json!({"target_user": "no spaces!", "amount": 10}),
        json!({"amount": 10}),
        json!({"target_user": 7, "amount": 10}),
        json!({"target_user": "other"}),
    ] {
        app.post_authed("/transfer", &token, &body, None)
            .await
            .assert_error(400, "VALIDATION_ERROR");
    }
    app.post_authed(
        "/transfer",
        &token,
        &json!({"target_user": "other", "amount": 101}),
        None,
    )
    .await
    .assert_error(400, "INSUFFICIENT_BALANCE");
    assert_eq!(app.balance(&token).await, 100);
    assert_eq!(app.all_transactions(&token).await.len(), 1);
}

// ---------------------------------------------------------------- transactions

async fn transactions_page_newest_first_and_chain_to_the_balance(store: Backend) {
    let app = TestApp::spawn(store).await;
    let (me, token) = user(&app, "pager").await;
    for amount in 1..=5 {
        app.topup(&token, amount * 100).await.assert_success(200);
    }
    app.post_authed(
        "/pay",
        &token,
        &json!({"amount": 50, "remarks": "snack"}),
        None,
    )
    .await
    .assert_success(200);
    let first = app.get_with_token("/transactions?limit=4", &token).await;
    let page1 = first.assert_success(200).as_array().unwrap().clone();
    assert_eq!(page1.len(), 4);
    assert!(page1[0]["payment_id"].is_string());
    assert_eq!(page1[0]["transaction_type"], "DEBIT");
    let cursor = first.body["next_cursor"].as_str().unwrap().to_string();
    let second = app
        .get_with_token(&format!("/transactions?limit=4&cursor={cursor}"), &token)
        .await;
    let page2 = second.assert_success(200).as_array().unwrap().clone();
    assert_eq!(page2.len(), 2);
    assert_eq!(second.body["next_cursor"], Value::Null);
    let all: Vec<Value> = page1.into_iter().chain(page2).collect();
    for pair in all.windows(2) {
        assert_eq!(pair[0]["balance_before"], pair[1]["balance_after"]);
    }
    assert_eq!(
        all[0]["balance_after"].as_i64().unwrap(),
        app.balance(&token).await
    );
    assert!(all.iter().all(|e| e["user_id"] == me));
    assert!(all.last().unwrap()["top_up_id"].is_string());

    let (_, other) = user(&app, "pager2").await;
    app.get_with_token(&format!("/transactions?cursor={cursor}"), &other)
        .await
        .assert_error(400, "INVALID_CURSOR");
    app.get_with_token("/transactions?cursor=garbage", &token)
        .await
        .assert_error(400, "INVALID_CURSOR");
    for q in [
        "limit=0",
        "limit=101",
        "limit=abc",
        "limit=-1",
        "sort=asc",
        "limit=5&limit=6",
    ] {
        app.get_with_token(&format!("/transactions?{q}"), &token)
            .await
            .assert_error(400, "VALIDATION_ERROR");
    }
}

// ---------------------------------------------------------------- profile

async fn profile_updates_only_non_unique_fields(store: Backend) {
    let app = TestApp::spawn(store).await;
    app.register(json!({"username": "profiled", "password": "rahasia-sekali", "last_name": "Old", "address": "Somewhere"})).await.assert_success(201);
    let (token, _) = app
        .tokens(json!({"username": "profiled", "password": "rahasia-sekali"}))
        .await;
    let put = |body: Value| {
        app.send(
            app.client
                .put(app.url("/profile"))
                .bearer_auth(&token)
                .json(&body),
        )
    };
    let r = put(json!({"first_name": "Tom", "address": null})).await;
    let p = r.assert_success(200).clone();
    assert_eq!(
        (
            p["first_name"].as_str(),
            p["last_name"].as_str(),
            p["address"].clone()
        ),
        (Some("Tom"), Some("Old"), Value::Null)
    );
    assert!(p["updated_date"].is_string());
    for body in [
        json!({}),
        json!({"username": "hijack"}),
        json!({"first_name": "Ok", "balance": 1_000_000}),
        json!({"email": "x@example.com"}),
        json!({"password": "new-password"}),
        json!({"user_id": uuid::Uuid::new_v4().to_string()}),
        json!({"first_name": "x".repeat(101)}),
        json!({"first_name": 5}),
        json!({"nickname": "tom"}),
    ] {
        put(body.clone())
            .await
            .assert_error(400, "VALIDATION_ERROR");
    }
    let account = app.get_with_token("/account", &token).await;
    let a = account.assert_success(200);
    assert_eq!(
        (
            a["first_name"].as_str(),
            a["username"].as_str(),
            a["balance"].as_i64()
        ),
        (Some("Tom"), Some("profiled"), Some(0))
    );
}

async fn a_top_up_past_the_largest_balance_is_400_naming_amount(store: Backend) {
    let app = TestApp::spawn(store).await;
    // An account already holding nearly the most a balance can (no top-ups get there in
    // reasonable time: 9 million of the largest), stored directly.
    let now = dompet::domain::now_millis();
    let whale = dompet::store::UserRecord {
        user_id: dompet::domain::UserId::new(),
        username: Some("whale".into()),
        email: None,
        phone_number: None,
        first_name: None,
        last_name: None,
        address: None,
        secret_kind: dompet::domain::SecretKind::Password,
        secret_hash: app.state.hasher().hash("rahasia-sekali").await.unwrap(),
        role: dompet::store::Role::User,
        balance: i64::MAX - 10,
        version: 0,
        auth_epoch: 0,
        created_at: now,
        updated_at: now,
    };
    app.state.store().create_user(&whale).await.unwrap();
    let (token, _) = app
        .tokens(json!({"username": "whale", "password": "rahasia-sekali"}))
        .await;
    let reply = app.topup(&token, 11).await;
    let errors = reply.field_errors();
    assert!(errors.contains_key("amount"), "{}", reply.body);
    assert_eq!(app.balance(&token).await, i64::MAX - 10, "nothing moved");
    app.topup(&token, 10).await.assert_success(200);
    assert_eq!(app.balance(&token).await, i64::MAX);
}

async fn a_replayed_transfer_answers_the_original_after_the_recipient_is_gone(store: Backend) {
    let app = TestApp::spawn(store).await;
    let (_, sender) = user(&app, "loyal").await;
    let (recipient_id, _) = user(&app, "fleeting").await;
    app.topup(&sender, 50_000).await.assert_success(200);
    let body = json!({"target_user": "fleeting", "amount": 20_000});
    let original = app
        .post_authed("/transfer", &sender, &body, Some("gift-1"))
        .await;
    original.assert_success(202);
    app.settled().await;
    let gone = dompet::domain::UserId::parse(&recipient_id).unwrap();
    assert!(app.state.store().delete_user(gone).await.unwrap());

    let replay = app
        .post_authed("/transfer", &sender, &body, Some("gift-1"))
        .await;
    assert_eq!(replay.status, 202, "{}", replay.body);
    assert_eq!(replay.body["result"], original.body["result"]);
    app.post_authed(
        "/transfer",
        &sender,
        &json!({"target_user": "fleeting", "amount": 1}),
        Some("gift-1"),
    )
    .await
    .assert_error(409, "IDEMPOTENCY_KEY_REUSED");
    app.post_authed("/transfer", &sender, &body, Some("gift-2"))
        .await
        .assert_error(404, "USER_NOT_FOUND");
    assert_eq!(app.balance(&sender).await, 30_000, "moved once");
}

dompet_tests::both_stores!(
    a_top_up_past_the_largest_balance_is_400_naming_amount,
    a_replayed_transfer_answers_the_original_after_the_recipient_is_gone,
    top_up_then_pay_report_exact_balances,
    amounts_must_be_json_integers_in_range,
    paying_more_than_the_balance_is_refused_and_changes_nothing,
    wallet_routes_check_auth_before_content_type_and_body,
    the_same_key_and_body_replays_the_original_response_and_moves_money_once,
    a_failed_request_may_be_retried_with_its_key,
    bad_idempotency_keys_are_400,
    concurrent_requests_with_one_key_move_money_once,
    a_transfer_debits_at_once_and_settles_in_the_background,
    transfer_errors_change_nothing,
    transactions_page_newest_first_and_chain_to_the_balance,
    profile_updates_only_non_unique_fields,
);

/// Contention exists only where writers race on a condition: DynamoDB. SQLite has one writer.
mod dynamodb_contention {
    use std::sync::Arc;

    use dompet_tests::{dynamodb_local, TestApp};
    use serde_json::json;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_busy_account_answers_409_concurrent_update_and_the_same_key_then_succeeds_once() {
        // One attempt per write: any concurrent write on the account loses its condition.
        let store = dynamodb_local::fresh_store().await.with_money_attempts(1);
        let app = TestApp::spawn_on(Arc::new(store), &[]).await;
        let (_, token, _) = app.signed_up("busy", "rahasia-sekali").await;
        let mut conflicted = Vec::new();
        let mut credited = 0;
        for round in 0..10 {
            let replies = futures::future::join_all((0..16).map(|i| {
                let key = format!("r{round}-{i}");
                let (app, token) = (&app, &token);
                async move {
                    let reply = app
                        .post_authed("/topup", token, &json!({"amount": 100}), Some(&key))
                        .await;
                    (key, reply)
                }
            }))
            .await;
            for (key, reply) in replies {
                match reply.status.as_u16() {
                    200 => credited += 100,
                    409 => {
                        reply.assert_error(409, "CONCURRENT_UPDATE");
                        conflicted.push(key);
                    }
                    other => panic!("unexpected {other}: {}", reply.body),
                }
            }
            if !conflicted.is_empty() {
                break;
            }
        }
        assert!(
            !conflicted.is_empty(),
            "16 concurrent writes, one attempt each: some lose"
        );
        assert_eq!(app.balance(&token).await, credited, "a 409 moved nothing");
        // Retried one at a time with the same keys, each moves its money exactly once.
        for key in &conflicted {
            app.post_authed("/topup", &token, &json!({"amount": 100}), Some(key))
                .await
                .assert_success(200);
            app.post_authed("/topup", &token, &json!({"amount": 100}), Some(key))
                .await
                .assert_success(200);
        }
        assert_eq!(
            app.balance(&token).await,
            credited + 100 * conflicted.len() as i64
        );
    }
}
