//! Black-box tests of changing identifiers (api.md, Account lifecycle) over HTTP, on both
//! stores: `PUT /account/username`, `/account/email`, `/account/phone_number`.

use dompet_tests::{Backend, Reply, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

/// `PUT /account/{field}` with the account's current password added to `body`.
async fn put(app: &TestApp, token: &str, field: &str, mut body: Value) -> Reply {
    if let Some(fields) = body.as_object_mut() {
        fields.insert("current_password".into(), json!("rahasia-sekali"));
    }
    put_raw(app, token, field, body).await
}

/// `PUT /account/{field}` with `body` as it is.
async fn put_raw(app: &TestApp, token: &str, field: &str, body: Value) -> Reply {
    app.send(
        app.request(Method::PUT, &format!("/account/{field}"))
            .bearer_auth(token)
            .json(&body),
    )
    .await
}

async fn a_new_username_logs_in_and_the_old_one_is_free(store: Backend) {
    let app = TestApp::spawn(store).await;
    let (user_id, token, _) = app.signed_up("guntur", "rahasia-sekali").await;
    let reply = put(&app, &token, "username", json!({"username": "Guntur_S"})).await;
    let account = reply.assert_success(200);
    assert_eq!(reply.body["message"], "akses sukses");
    assert_eq!(account["username"], "Guntur_S");
    assert_eq!(account["user_id"], user_id.as_str());
    app.get_with_token("/account", &token)
        .await
        .assert_success(200);
    // Logs in by the new name, in any case; not by the old one.
    app.tokens(json!({"username": "guntur_s", "password": "rahasia-sekali"}))
        .await;
    app.login(json!({"username": "guntur", "password": "rahasia-sekali"}))
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    // The old name is free for someone else.
    app.register(json!({"username": "guntur", "password": "rahasia-lain"}))
        .await
        .assert_success(201);
    // A change of case only keeps the claim.
    let reply = put(&app, &token, "username", json!({"username": "GUNTUR_S"})).await;
    assert_eq!(reply.assert_success(200)["username"], "GUNTUR_S");
    app.tokens(json!({"username": "Guntur_s", "password": "rahasia-sekali"}))
        .await;
    app.register(json!({"username": "guntur_s", "password": "rahasia-lain"}))
        .await
        .assert_error(409, "ALREADY_REGISTERED");
}

async fn a_taken_identifier_is_409_and_changes_nothing(store: Backend) {
    let app = TestApp::spawn(store).await;
    let (_, token, _) = app.signed_up("guntur", "rahasia-sekali").await;
    app.register(json!({"username": "tom", "email": "tom@example.com", "phone_number": "0811255501", "password": "rahasia-sekali"}))
        .await
        .assert_success(201);
    let before = app.get_with_token("/account", &token).await;
    for (field, value, message) in [
        ("username", "TOM", "Username already registered"),
        ("email", "Tom@Example.com", "Email already registered"),
        (
            "phone_number",
            "0811255501",
            "Phone Number already registered",
        ),
    ] {
        let reply = put(&app, &token, field, json!({field: value})).await;
        assert_eq!(
            reply.assert_error(409, "ALREADY_REGISTERED")["message"],
            message
        );
    }
    let after = app.get_with_token("/account", &token).await;
    assert_eq!(after.body, before.body);
    app.tokens(json!({"username": "tom", "password": "rahasia-sekali"}))
        .await;
}

async fn identifiers_are_set_and_removed_but_one_remains(store: Backend) {
    let app = TestApp::spawn(store).await;
    let (_, token, _) = app.signed_up("guntur", "rahasia-sekali").await;
    let reply = put(
        &app,
        &token,
        "email",
        json!({"email": "Guntur@Example.COM"}),
    )
    .await;
    assert_eq!(reply.assert_success(200)["email"], "guntur@example.com");
    let reply = put(
        &app,
        &token,
        "phone_number",
        json!({"phone_number": "+62811255501"}),
    )
    .await;
    assert_eq!(reply.assert_success(200)["phone_number"], "+62811255501");
    app.tokens(json!({"phone_number": "+62811255501", "password": "rahasia-sekali"}))
        .await;
    // Remove the username and the phone: the email remains and logs in.
    for field in ["username", "phone_number"] {
        let reply = put(&app, &token, field, json!({field: null})).await;
        assert_eq!(reply.assert_success(200)[field], Value::Null);
    }
    app.tokens(json!({"email": "guntur@example.com", "password": "rahasia-sekali"}))
        .await;
    // The removed ones are free again.
    app.register(json!({"username": "guntur", "phone_number": "+62811255501", "pin": "123456"}))
        .await
        .assert_success(201);
    // The last one can't go.
    let reply = put(&app, &token, "email", json!({"email": null})).await;
    assert!(reply.field_errors().contains_key("email"), "{}", reply.body);
    let account = app.get_with_token("/account", &token).await;
    assert_eq!(account.assert_success(200)["email"], "guntur@example.com");
}

async fn bad_requests_are_refused_before_anything_changes(store: Backend) {
    let app = TestApp::spawn(store).await;
    let (_, token, _) = app.signed_up("guntur", "rahasia-sekali").await;
    for (field, body) in [
        ("username", json!({"username": "ab"})),
        ("username", json!({"username": "12345"})),
        ("username", json!({"username": 7})),
        ("email", json!({"email": "not-an-email"})),
        ("phone_number", json!({"phone_number": "0811-255"})),
        ("username", json!({})),
        ("username", json!({"username": "guntur2", "role": "admin"})),
        ("email", json!({"username": "guntur2"})),
    ] {
        let reply = put(&app, &token, field, body.clone()).await;
        reply.assert_error(400, "VALIDATION_ERROR");
        assert!(!reply.field_errors().is_empty(), "{body}: {}", reply.body);
    }
    app.send(
        app.request(Method::PUT, "/account/username")
            .bearer_auth(&token)
            .header("content-type", "text/plain")
            .body("guntur2"),
    )
    .await
    .assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
    app.send(
        app.request(Method::PUT, "/account/username")
            .json(&json!({"username": "guntur2"})),
    )
    .await
    .assert_error(401, "UNAUTHENTICATED");
    app.send(
        app.request(Method::POST, "/account/username")
            .bearer_auth(&token)
            .json(&json!({"username": "guntur2"})),
    )
    .await
    .assert_error(405, "METHOD_NOT_ALLOWED");
    let account = app.get_with_token("/account", &token).await;
    assert_eq!(account.assert_success(200)["username"], "guntur");
}

/// Two accounts claim one new name at once: exactly one gets it.
async fn concurrent_claims_of_one_name_give_it_to_one(store: Backend) {
    let app = TestApp::spawn(store).await;
    let (_, a, _) = app.signed_up("guntur", "rahasia-sekali").await;
    let (_, b, _) = app.signed_up("tom", "rahasia-sekali").await;
    for round in 0..5 {
        let name = format!("wanted{round}");
        let (x, y) = tokio::join!(
            put(&app, &a, "username", json!({"username": name})),
            put(&app, &b, "username", json!({"username": name})),
        );
        let mut statuses = [x.status.as_u16(), y.status.as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409], "{} / {}", x.body, y.body);
        let winner = if x.status == 200 { &a } else { &b };
        let account = app.get_with_token("/account", winner).await;
        assert_eq!(account.assert_success(200)["username"], name.as_str());
        // The loser kept its own name.
        let loser = if x.status == 200 { &b } else { &a };
        let kept = app.get_with_token("/account", loser).await;
        assert_ne!(kept.assert_success(200)["username"], name.as_str());
    }
}

async fn lookup(app: &TestApp, token: &str, query: &str) -> Reply {
    app.get_with_token(&format!("/users/lookup?{query}"), token)
        .await
}

async fn a_recipient_is_found_by_id_username_or_phone(store: Backend) {
    let app = TestApp::spawn(store).await;
    let (_, me, _) = app.signed_up("guntur", "rahasia-sekali").await;
    let reply = app
        .register(
            json!({"username": "Sari", "phone_number": "+62811255501", "first_name": "Sari",
                         "last_name": "Dewi", "password": "rahasia-sekali"}),
        )
        .await;
    let sari = reply.assert_success(201)["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    let want = json!({"user_id": sari, "username": "Sari", "display_name": "Sari Dewi"});
    for target in [sari.as_str(), "sari", "SARI", "%2B62811255501"] {
        let reply = lookup(&app, &me, &format!("target={target}")).await;
        assert_eq!(reply.assert_success(200), &want, "{target}");
    }
    let reply = app
        .register(json!({"phone_number": "0811255502", "pin": "123456"}))
        .await;
    let budi = reply.assert_success(201)["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    let reply = lookup(&app, &me, "target=0811255502").await;
    assert_eq!(
        reply.assert_success(200),
        &json!({"user_id": budi, "username": null, "display_name": null})
    );
    for target in [
        "nobody",
        "0899999999",
        "0b6f5c1e-8d2a-4f3b-9c4d-5e6f7a8b9c0d",
    ] {
        lookup(&app, &me, &format!("target={target}"))
            .await
            .assert_error(404, "USER_NOT_FOUND");
    }
    for query in [
        "",
        "target=",
        "target=a%20b",
        "target=sari&target=sari",
        "target=sari&x=1",
    ] {
        let reply = lookup(&app, &me, query).await;
        assert!(!reply.field_errors().is_empty(), "{query}: {}", reply.body);
    }
    app.send(app.request(Method::GET, "/users/lookup?target=sari"))
        .await
        .assert_error(401, "UNAUTHENTICATED");
}

async fn lookups_are_limited_per_user(store: Backend) {
    let app = TestApp::spawn(store).await;
    let (_, me, _) = app.signed_up("guntur", "rahasia-sekali").await;
    let (_, other, _) = app.signed_up("tom", "rahasia-sekali").await;
    // Found or not, every lookup counts.
    for i in 0..30 {
        let target = if i % 2 == 0 { "tom" } else { "nobody" };
        let reply = lookup(&app, &me, &format!("target={target}")).await;
        assert!(
            matches!(reply.status.as_u16(), 200 | 404),
            "{i}: {}",
            reply.body
        );
    }
    let refused = lookup(&app, &me, "target=tom").await;
    refused.assert_error(429, "TOO_MANY_ATTEMPTS");
    let retry: u64 = refused.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    // Another user's limit is their own.
    lookup(&app, &other, "target=guntur")
        .await
        .assert_success(200);
}

/// The messages in `outbox`, oldest first.
fn messages(outbox: &std::path::Path) -> Vec<Value> {
    let Ok(dir) = std::fs::read_dir(outbox) else {
        return Vec::new();
    };
    let mut files: Vec<_> = dir.map(|e| e.unwrap().path()).collect();
    files.sort();
    files
        .iter()
        .map(|f| serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap())
        .collect()
}

/// A stolen access token alone can't point the account's reset codes elsewhere: the current
/// secret is required (400 without), a wrong one is 401 before the new identifier's
/// uniqueness is looked at, and wrong ones count toward the lockout.
async fn a_stolen_access_token_cannot_redirect_the_account(store: Backend) {
    let app = TestApp::spawn(store).await;
    app.register(json!({"username": "guntur", "email": "guntur@example.com",
        "phone_number": "0811255501", "password": "rahasia-sekali"}))
        .await
        .assert_success(201);
    let (token, _) = app
        .tokens(json!({"username": "guntur", "password": "rahasia-sekali"}))
        .await;
    app.register(
        json!({"username": "tom", "email": "tom@example.com", "password": "rahasia-sekali"}),
    )
    .await
    .assert_success(201);
    let before = app.get_with_token("/account", &token).await;

    for (field, value) in [
        ("email", "attacker@example.com"),
        ("phone_number", "0899999999"),
        ("username", "attacker"),
    ] {
        let reply = put_raw(&app, &token, field, json!({field: value})).await;
        reply.assert_error(400, "VALIDATION_ERROR");
        assert!(reply.field_errors().contains_key("_"), "{}", reply.body);
    }
    // A wrong secret is 401 even for an identifier that is taken: no 409 without the secret.
    let reply = put_raw(
        &app,
        &token,
        "email",
        json!({"email": "tom@example.com", "current_password": "tebakan-1"}),
    )
    .await;
    reply.assert_error(401, "INVALID_CREDENTIALS");
    // A PIN for a password account is just wrong.
    put_raw(
        &app,
        &token,
        "email",
        json!({"email": "attacker@example.com", "current_pin": "123456"}),
    )
    .await
    .assert_error(401, "INVALID_CREDENTIALS");
    // Five wrong in all lock the account: the sixth is 429, even with the right secret.
    for guess in 3..=5 {
        put_raw(
            &app,
            &token,
            "email",
            json!({"email": "attacker@example.com", "current_password": format!("tebakan-{guess}")}),
        )
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    }
    let reply = put_raw(
        &app,
        &token,
        "email",
        json!({"email": "attacker@example.com", "current_password": "rahasia-sekali"}),
    )
    .await;
    reply.assert_error(429, "TOO_MANY_ATTEMPTS");
    assert!(reply.headers.contains_key("retry-after"));
    app.login(json!({"username": "guntur", "password": "rahasia-sekali"}))
        .await
        .assert_error(429, "TOO_MANY_ATTEMPTS");
    let after = app.get_with_token("/account", &token).await;
    assert_eq!(after.body, before.body, "nothing changed");
}

/// A changed or removed email or phone number is told at its old address, a secret change and
/// a reset at the account's email; a username change tells nobody. No message carries a
/// secret.
async fn changes_are_told_at_the_old_address(store: Backend) {
    let outbox = std::env::temp_dir().join(format!("dompet-outbox-{}", uuid::Uuid::new_v4()));
    let dir = outbox.to_string_lossy().into_owned();
    let app = TestApp::spawn_with(
        store,
        &[
            ("DOMPET_LOCKOUT_SECS", "1"),
            ("DOMPET_LOCKOUT_MAX_SECS", "4"),
            ("DOMPET_OUTBOX_DIR", &dir),
        ],
    )
    .await;
    let user_id = app
        .register(json!({"username": "guntur", "email": "guntur@example.com",
            "phone_number": "0811255501", "password": "rahasia-sekali"}))
        .await
        .assert_success(201)["user_id"]
        .clone();
    let (token, _) = app
        .tokens(json!({"username": "guntur", "password": "rahasia-sekali"}))
        .await;
    put(&app, &token, "username", json!({"username": "guntur_s"}))
        .await
        .assert_success(200);
    assert!(messages(&outbox).is_empty(), "{:?}", messages(&outbox));
    put(
        &app,
        &token,
        "email",
        json!({"email": "guntur.s@example.com"}),
    )
    .await
    .assert_success(200);
    put(&app, &token, "phone_number", json!({"phone_number": null}))
        .await
        .assert_success(200);
    app.send(
        app.request(Method::PUT, "/account/secret")
            .bearer_auth(&token)
            .json(
                &json!({"current_password": "rahasia-sekali", "password": "rahasia-baru-sekali"}),
            ),
    )
    .await
    .assert_success(200);
    app.post_json("/password/forgot", &json!({"username": "guntur_s"}))
        .await
        .assert_success(202);
    let code = messages(&outbox).last().unwrap()["code"].clone();
    app.post_json(
        "/password/reset",
        &json!({"username": "guntur_s", "code": code, "password": "rahasia-lagi-sekali"}),
    )
    .await
    .assert_success(200);

    let told: Vec<Value> = messages(&outbox)
        .into_iter()
        .filter(|m| m["kind"] != "password_reset")
        .map(|mut m| {
            let date = m.as_object_mut().unwrap().remove("created_date").unwrap();
            assert!(date.as_str().unwrap().len() == 19, "{date}");
            m
        })
        .collect();
    assert_eq!(
        told,
        vec![
            json!({"kind": "identifier_changed", "user_id": user_id, "channel": "email",
                "to": "guntur@example.com", "field": "email"}),
            json!({"kind": "identifier_changed", "user_id": user_id, "channel": "sms",
                "to": "0811255501", "field": "phone_number"}),
            json!({"kind": "secret_changed", "user_id": user_id, "channel": "email",
                "to": "guntur.s@example.com"}),
            json!({"kind": "secret_changed", "user_id": user_id, "channel": "email",
                "to": "guntur.s@example.com"}),
        ]
    );
    let _ = std::fs::remove_dir_all(&outbox);
}

dompet_tests::both_stores!(
    a_recipient_is_found_by_id_username_or_phone,
    lookups_are_limited_per_user,
    a_new_username_logs_in_and_the_old_one_is_free,
    a_taken_identifier_is_409_and_changes_nothing,
    identifiers_are_set_and_removed_but_one_remains,
    bad_requests_are_refused_before_anything_changes,
    concurrent_claims_of_one_name_give_it_to_one,
    a_stolen_access_token_cannot_redirect_the_account,
    changes_are_told_at_the_old_address,
);
