//! Black-box tests of changing a secret (api.md, Account lifecycle) over HTTP, on both stores:
//! `PUT /account/secret`.

use dompet_tests::{Backend, Reply, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

async fn put_secret(app: &TestApp, token: &str, body: Value) -> Reply {
    app.send(
        app.request(Method::PUT, "/account/secret")
            .bearer_auth(token)
            .json(&body),
    )
    .await
}

async fn refresh(app: &TestApp, refresh_token: &str) -> Reply {
    app.post_json("/token/refresh", &json!({"refresh_token": refresh_token}))
        .await
}

async fn a_new_password_logs_in_and_every_other_login_ends(store: Backend) {
    let app = TestApp::spawn(store).await;
    let (_, token, refresh_token) = app.signed_up("guntur", "rahasia-sekali").await;
    let (other, other_refresh) = app
        .tokens(json!({"username": "guntur", "password": "rahasia-sekali"}))
        .await;
    let reply = put_secret(
        &app,
        &token,
        json!({"current_password": "rahasia-sekali", "password": "rahasia-baru-sekali"}),
    )
    .await;
    assert_eq!(reply.assert_success(200), &Value::Null);
    // This login stays, with its refresh token; the other one has ended, both its tokens.
    app.get_with_token("/account", &token)
        .await
        .assert_success(200);
    refresh(&app, &refresh_token).await.assert_success(200);
    app.get_with_token("/account", &other)
        .await
        .assert_error(401, "UNAUTHENTICATED");
    refresh(&app, &other_refresh)
        .await
        .assert_error(401, "UNAUTHENTICATED");
    // The old password no longer logs in; the new one does.
    app.login(json!({"username": "guntur", "password": "rahasia-sekali"}))
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    app.tokens(json!({"username": "guntur", "password": "rahasia-baru-sekali"}))
        .await;
}

async fn the_family_may_switch_from_password_to_pin_and_back(store: Backend) {
    let app = TestApp::spawn(store).await;
    app.register(json!({"phone_number": "081234567890", "password": "rahasia-sekali"}))
        .await
        .assert_success(201);
    let (token, _) = app
        .tokens(json!({"phone_number": "081234567890", "password": "rahasia-sekali"}))
        .await;
    put_secret(
        &app,
        &token,
        json!({"current_password": "rahasia-sekali", "pin": "246810"}),
    )
    .await
    .assert_success(200);
    app.login(json!({"phone_number": "081234567890", "password": "rahasia-sekali"}))
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    let (token, _) = app
        .tokens(json!({"phone_number": "081234567890", "pin": "246810"}))
        .await;
    // The current secret must be given as the kind the account has now.
    put_secret(
        &app,
        &token,
        json!({"current_password": "246810", "password": "rahasia-lagi-ya"}),
    )
    .await
    .assert_error(401, "INVALID_CREDENTIALS");
    put_secret(
        &app,
        &token,
        json!({"current_pin": "246810", "password": "rahasia-lagi-ya"}),
    )
    .await
    .assert_success(200);
    app.tokens(json!({"phone_number": "081234567890", "password": "rahasia-lagi-ya"}))
        .await;
}

async fn wrong_current_secrets_count_toward_the_lockout_and_change_nothing(store: Backend) {
    let app = TestApp::spawn(store).await; // lock 1 s, doubling, capped at 4 s
    let (_, token, _) = app.signed_up("guntur", "rahasia-sekali").await;
    let wrong = json!({"current_password": "bukan-rahasia", "password": "rahasia-baru-sekali"});
    // Two failed logins and three wrong current secrets: the fifth failure locks the account.
    for _ in 0..2 {
        app.login(json!({"username": "guntur", "password": "salah-sekali"}))
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    for _ in 0..3 {
        put_secret(&app, &token, wrong.clone())
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    // Locked: even the right current secret is refused unverified, and so is a login.
    let right = json!({"current_password": "rahasia-sekali", "password": "rahasia-baru-sekali"});
    let refused = put_secret(&app, &token, right.clone()).await;
    refused.assert_error(429, "TOO_MANY_ATTEMPTS");
    assert!(refused.headers.contains_key("retry-after"));
    app.login(json!({"username": "guntur", "password": "rahasia-sekali"}))
        .await
        .assert_error(429, "TOO_MANY_ATTEMPTS");
    // Nothing changed: once the lock ends the old password logs in.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    app.tokens(json!({"username": "guntur", "password": "rahasia-sekali"}))
        .await;
    // The successful login reset the count; the right secret now changes it, and a success
    // resets the count too: four more wrong ones don't lock.
    put_secret(&app, &token, right).await.assert_success(200);
    let wrong = json!({"current_password": "bukan-rahasia", "password": "rahasia-lain-lagi"});
    for _ in 0..4 {
        put_secret(&app, &token, wrong.clone())
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    app.tokens(json!({"username": "guntur", "password": "rahasia-baru-sekali"}))
        .await;
}

async fn bad_requests_are_refused_before_anything_changes(store: Backend) {
    let app = TestApp::spawn(store).await;
    let (_, token, _) = app.signed_up("guntur", "rahasia-sekali").await;
    let cases: [(Value, &str); 7] = [
        (json!({"password": "rahasia-baru-sekali"}), "_"),
        (json!({"current_password": "rahasia-sekali"}), "_"),
        (
            json!({"current_password": "rahasia-sekali", "password": "pendek"}),
            "password",
        ),
        (
            json!({"current_password": "rahasia-sekali", "pin": "12345"}),
            "pin",
        ),
        (
            json!({"current_password": "rahasia-sekali", "current_pin": "123456", "password": "rahasia-baru-sekali"}),
            "_",
        ),
        (
            json!({"current_password": "", "password": "rahasia-baru-sekali"}),
            "current_password",
        ),
        (
            json!({"current_password": "rahasia-sekali", "password": "rahasia-baru-sekali", "role": "admin"}),
            "role",
        ),
    ];
    for (body, field) in cases {
        let reply = put_secret(&app, &token, body.clone()).await;
        assert!(
            reply.field_errors().contains_key(field),
            "{body}: {}",
            reply.body
        );
    }
    // Unauthenticated before anything else.
    app.send(
        app.request(Method::PUT, "/account/secret").json(
            &json!({"current_password": "rahasia-sekali", "password": "rahasia-baru-sekali"}),
        ),
    )
    .await
    .assert_error(401, "UNAUTHENTICATED");
    // None of these counted toward the lockout or changed the secret.
    for _ in 0..4 {
        app.login(json!({"username": "guntur", "password": "salah-sekali"}))
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    app.tokens(json!({"username": "guntur", "password": "rahasia-sekali"}))
        .await;
}

async fn a_login_ended_elsewhere_cannot_change_the_secret(store: Backend) {
    let app = TestApp::spawn(store).await;
    let (_, token, _) = app.signed_up("guntur", "rahasia-sekali").await;
    app.post_with_token("/logout", &token)
        .await
        .assert_success(200);
    put_secret(
        &app,
        &token,
        json!({"current_password": "rahasia-sekali", "password": "rahasia-baru-sekali"}),
    )
    .await
    .assert_error(401, "UNAUTHENTICATED");
    app.tokens(json!({"username": "guntur", "password": "rahasia-sekali"}))
        .await;
}

async fn two_changes_at_once_leave_one_secret(store: Backend) {
    let app = TestApp::spawn(store).await;
    let (_, token, _) = app.signed_up("guntur", "rahasia-sekali").await;
    let (a, b) = tokio::join!(
        put_secret(
            &app,
            &token,
            json!({"current_password": "rahasia-sekali", "password": "rahasia-pertama"}),
        ),
        put_secret(
            &app,
            &token,
            json!({"current_password": "rahasia-sekali", "password": "rahasia-kedua-ya"}),
        ),
    );
    // Both may verify the same current secret: the second write finds it changed (409); or
    // the second verifies after the first wrote, against the new secret (401). Never both.
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort();
    assert!(
        statuses == [200, 401] || statuses == [200, 409],
        "{statuses:?}: {} {}",
        a.body,
        b.body
    );
    let mut logins = Vec::new();
    for password in ["rahasia-sekali", "rahasia-pertama", "rahasia-kedua-ya"] {
        let reply = app
            .login(json!({"username": "guntur", "password": password}))
            .await;
        logins.push(reply.status.as_u16());
    }
    logins.sort();
    assert_eq!(logins, [200, 401, 401], "exactly one new password logs in");
}

dompet_tests::both_stores!(
    a_new_password_logs_in_and_every_other_login_ends,
    the_family_may_switch_from_password_to_pin_and_back,
    wrong_current_secrets_count_toward_the_lockout_and_change_nothing,
    bad_requests_are_refused_before_anything_changes,
    a_login_ended_elsewhere_cannot_change_the_secret,
    two_changes_at_once_leave_one_secret,
);
