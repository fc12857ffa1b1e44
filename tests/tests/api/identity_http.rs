//! Black-box tests of the identity routes of api.md: the server on port 0 with a fresh SQLite
//! store, over real HTTP.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use dompet_tests::{Backend, TestApp};
use futures::StreamExt;
use reqwest::Method;
use serde_json::{json, Value};

fn jwt_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).expect("JWT has three parts");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
}

fn is_contract_timestamp(v: &Value) -> bool {
    let s = v.as_str().unwrap_or_default();
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").is_ok()
}

// ---------------------------------------------------------------- register

async fn register_with_username_email_password_returns_the_account_without_secrets(store: Backend) {
    let app = TestApp::spawn(store).await;
    let reply = app
        .register(json!({
            "username": "Guntur", "email": "Guntur@Example.com", "password": "rahasia-sekali",
            "phone_number": "0811255501", "first_name": "Guntur", "last_name": "Saputro",
            "address": "Jl. Kebon Sirih No. 1"
        }))
        .await;
    let result = reply.assert_success(201);
    assert_eq!(result["username"], "Guntur");
    assert_eq!(
        result["email"], "guntur@example.com",
        "emails are stored lower-cased"
    );
    assert_eq!(result["phone_number"], "0811255501");
    assert_eq!(result["first_name"], "Guntur");
    assert_eq!(result["last_name"], "Saputro");
    assert_eq!(result["address"], "Jl. Kebon Sirih No. 1");
    assert!(dompet::domain::UserId::parse(result["user_id"].as_str().unwrap()).is_ok());
    assert!(is_contract_timestamp(&result["created_date"]), "{result}");
    let keys: Vec<&String> = result.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 8, "exactly the contract's fields: {keys:?}");
    assert!(
        !reply.body.to_string().contains("rahasia"),
        "the secret is never returned"
    );
}

async fn register_stores_only_an_argon2id_hash(store: Backend) {
    let app = TestApp::spawn(store).await;
    app.register(json!({"username": "hashed", "password": "rahasia-sekali"}))
        .await
        .assert_success(201);
    let stored = app
        .state
        .store()
        .find_user(&dompet::domain::LoginIdentifier::new(
            dompet::domain::IdentifierKind::Username,
            "hashed",
        ))
        .await
        .unwrap()
        .unwrap();
    assert!(
        stored
            .secret_hash
            .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{}",
        stored.secret_hash
    );
    assert!(!stored.secret_hash.contains("rahasia"));
}

async fn register_with_phone_and_pin_as_a_form_leaves_absent_fields_null(store: Backend) {
    let app = TestApp::spawn(store).await;
    let reply = app
        .post_form(
            "/register",
            &[
                ("phone_number", "+628112555011"),
                ("pin", "123456"),
                ("email", ""),
            ],
        )
        .await;
    let result = reply.assert_success(201);
    assert_eq!(result["phone_number"], "+628112555011");
    for absent in ["username", "email", "first_name", "last_name", "address"] {
        assert_eq!(result[absent], Value::Null, "{absent}");
    }
}

async fn json_null_counts_as_absent(store: Backend) {
    let app = TestApp::spawn(store).await;
    let reply = app
        .register(
            json!({"username": "nully", "email": null, "pin": null, "password": "rahasia-sekali"}),
        )
        .await;
    assert_eq!(reply.assert_success(201)["email"], Value::Null);
}

async fn duplicate_identifiers_are_409_naming_which(store: Backend) {
    let app = TestApp::spawn(store).await;
    app.register(json!({"username": "guntur", "email": "g@example.com", "phone_number": "+62811255501", "password": "rahasia-sekali"}))
        .await
        .assert_success(201);
    let cases = [
        (
            json!({"username": "GUNTUR", "password": "rahasia-sekali"}),
            "Username already registered",
        ),
        (
            json!({"email": "G@EXAMPLE.COM", "password": "rahasia-sekali"}),
            "Email already registered",
        ),
        (
            json!({"phone_number": "+62811255501", "pin": "123456"}),
            "Phone Number already registered",
        ),
    ];
    for (body, message) in cases {
        let reply = app.register(body).await;
        reply.assert_error(409, "ALREADY_REGISTERED");
        assert_eq!(reply.body["message"], message);
    }
    // The phone number's identity is as given: without the + it is another number.
    app.register(json!({"phone_number": "62811255501", "pin": "123456"}))
        .await
        .assert_success(201);
}

async fn concurrent_duplicate_registration_gives_exactly_one_201_and_no_500(store: Backend) {
    let app = TestApp::spawn(store).await;
    let replies = futures::future::join_all(
        (0..16).map(|_| app.register(json!({"username": "racer", "password": "rahasia-sekali"}))),
    )
    .await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        15,
        "{statuses:?}"
    );
}

async fn every_validation_failure_is_listed_by_field(store: Backend) {
    let app = TestApp::spawn(store).await;
    let reply = app
        .register(json!({
            "username": "ab", "email": "not-an-email", "phone_number": "0811-2555",
            "password": "short", "first_name": "x".repeat(101), "balance": 1000000, "role": "admin"
        }))
        .await;
    let errors = reply.field_errors();
    for field in [
        "username",
        "email",
        "phone_number",
        "password",
        "first_name",
        "balance",
        "role",
    ] {
        assert!(
            errors.contains_key(field),
            "{field} missing from {errors:?}"
        );
    }
}

async fn each_field_rule_is_enforced(store: Backend) {
    let app = TestApp::spawn(store).await;
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"username": "12345", "password": "rahasia-sekali"}),
            "username",
        ),
        (
            json!({"username": "has space", "password": "rahasia-sekali"}),
            "username",
        ),
        (
            json!({"username": "x".repeat(33), "password": "rahasia-sekali"}),
            "username",
        ),
        (
            json!({"username": 12345, "password": "rahasia-sekali"}),
            "username",
        ),
        (
            json!({"email": "a@b", "password": "rahasia-sekali"}),
            "email",
        ),
        (
            json!({"email": "a@b.c", "password": "rahasia-sekali"}),
            "email",
        ),
        (
            json!({"phone_number": "0811255", "pin": "123456"}),
            "phone_number",
        ),
        (
            json!({"phone_number": "0811 2555 01", "pin": "123456"}),
            "phone_number",
        ),
        (
            json!({"phone_number": 811255501, "pin": "123456"}),
            "phone_number",
        ),
        (
            json!({"username": "okname", "password": "x".repeat(129)}),
            "password",
        ),
        (json!({"username": "okname", "password": true}), "password"),
        (json!({"phone_number": "0811255501", "pin": "12345"}), "pin"),
        (
            json!({"phone_number": "0811255501", "pin": "12345a"}),
            "pin",
        ),
        (json!({"phone_number": "0811255501", "pin": 123456}), "pin"),
        (
            json!({"username": "okname", "password": "rahasia-sekali", "last_name": "y".repeat(101)}),
            "last_name",
        ),
        (
            json!({"username": "okname", "password": "rahasia-sekali", "address": "z".repeat(301)}),
            "address",
        ),
        (json!({"password": "rahasia-sekali"}), "_"),
        (json!({"username": "okname"}), "_"),
        (
            json!({"username": "okname", "password": "rahasia-sekali", "pin": "123456"}),
            "_",
        ),
        (
            json!({"username": "okname", "password": "rahasia-sekali", "user_id": "x"}),
            "user_id",
        ),
    ];
    for (body, field) in cases {
        let reply = app.register(body.clone()).await;
        assert!(
            reply.field_errors().contains_key(field),
            "{body} → {}",
            reply.body
        );
    }
    // Nothing was created by any of them.
    app.register(json!({"username": "okname", "password": "rahasia-sekali"}))
        .await
        .assert_success(201);
}

async fn lengths_count_characters_not_bytes(store: Backend) {
    let app = TestApp::spawn(store).await;
    let reply = app
        .register(json!({"username": "unicode", "password": "ééééééé€", "first_name": "é".repeat(100), "address": "日".repeat(300)}))
        .await;
    reply.assert_success(201);
    app.login(json!({"username": "unicode", "password": "ééééééé€"}))
        .await
        .assert_success(200);
}

async fn bodies_that_are_not_json_objects_are_400(store: Backend) {
    let app = TestApp::spawn(store).await;
    for body in [
        "{",
        "[1,2]",
        "\"text\"",
        "",
        "null",
        "{\"username\": \"a\",}",
    ] {
        let reply = app
            .post_raw("/register", "application/json", body.to_string())
            .await;
        reply.assert_error(400, "VALIDATION_ERROR");
    }
}

async fn other_content_types_are_415(store: Backend) {
    let app = TestApp::spawn(store).await;
    let body = r#"{"username":"typed","password":"rahasia-sekali"}"#;
    for ct in [
        "text/plain",
        "multipart/form-data; boundary=x",
        "application/xml",
    ] {
        app.post_raw("/register", ct, body)
            .await
            .assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
    }
    let reply = app
        .send(app.client.post(app.url("/register")).body(body))
        .await;
    reply.assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
    app.post_raw("/register", "application/json; charset=utf-8", body)
        .await
        .assert_success(201);
    // /token/refresh takes JSON only.
    app.post_raw(
        "/token/refresh",
        "application/x-www-form-urlencoded",
        "refresh_token=x",
    )
    .await
    .assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
}

/// Sends a body that never ends: `chunks`, then nothing more (and, with `declared`, a
/// Content-Length that the sent bytes never reach). The server must answer from what it has
/// read, and the client reads that answer without racing its own body writes against the
/// server's close (a body the server never reads would make the client's writes fail instead).
async fn unfinished_post(
    app: &TestApp,
    path: &str,
    content_type: &str,
    declared: Option<usize>,
    chunks: Vec<String>,
) -> dompet_tests::Reply {
    let stream = futures::stream::iter(chunks.into_iter().map(Ok::<_, std::io::Error>))
        .chain(futures::stream::pending());
    let mut request = app
        .request(Method::POST, path)
        .header("content-type", content_type)
        .body(reqwest::Body::wrap_stream(stream));
    if let Some(n) = declared {
        request = request.header("content-length", n.to_string());
    }
    tokio::time::timeout(std::time::Duration::from_secs(30), app.send(request))
        .await
        .expect("the server answered before the body ended")
}

async fn bodies_over_64_kib_are_413_before_anything_else(store: Backend) {
    let app = TestApp::spawn(store).await;
    let big = 70 * 1024;
    // A declared length over the limit is refused before any of the body is read.
    for (path, content_type) in [
        ("/register", "application/json"),
        ("/register", "text/plain"),
        // Size is checked before authentication.
        ("/logout", "application/json"),
    ] {
        unfinished_post(&app, path, content_type, Some(big), Vec::new())
            .await
            .assert_error(413, "PAYLOAD_TOO_LARGE");
    }
    // Streamed without a length: refused once more than 64 KiB has arrived.
    let chunks: Vec<String> = (0..65).map(|_| "x".repeat(1024) + "x").collect();
    unfinished_post(&app, "/register", "application/json", None, chunks)
        .await
        .assert_error(413, "PAYLOAD_TOO_LARGE");
    // Just under the limit is parsed (and here rejected as invalid, not as too large).
    let fits = format!(
        r#"{{"username":"big","password":"{}"}}"#,
        "x".repeat(60 * 1024)
    );
    assert!(app
        .post_raw("/register", "application/json", fits)
        .await
        .field_errors()
        .contains_key("password"));
}

// ---------------------------------------------------------------- routes

async fn unknown_paths_are_404_and_wrong_methods_405_in_the_envelope(store: Backend) {
    let app = TestApp::spawn(store).await;
    app.send(app.request(Method::GET, "/nope"))
        .await
        .assert_error(404, "NOT_FOUND");
    app.send(app.request(Method::POST, "/account/extra"))
        .await
        .assert_error(404, "NOT_FOUND");
    for (method, path) in [
        (Method::GET, "/register"),
        (Method::DELETE, "/login"),
        (Method::GET, "/token/refresh"),
        (Method::POST, "/account"),
        (Method::PUT, "/logout"),
    ] {
        let reply = app.send(app.request(method.clone(), path)).await;
        reply.assert_error(405, "METHOD_NOT_ALLOWED");
        assert!(reply.headers.contains_key("allow"), "{method} {path}");
    }
    // The route is checked before the body size (a declared 70 KiB body, never sent).
    let big = 70 * 1024;
    let unsent = |method: Method, path: &str| {
        app.request(method, path)
            .header("content-length", big.to_string())
            .body(reqwest::Body::wrap_stream(futures::stream::pending::<
                Result<String, std::io::Error>,
            >()))
    };
    let answer = |request| async {
        tokio::time::timeout(Duration::from_secs(30), app.send(request))
            .await
            .expect("answered without the body")
    };
    answer(unsent(Method::PUT, "/register"))
        .await
        .assert_error(405, "METHOD_NOT_ALLOWED");
    answer(unsent(Method::POST, "/missing"))
        .await
        .assert_error(404, "NOT_FOUND");
}

async fn the_public_key_is_published_as_a_jwks_matching_token_kids(store: Backend) {
    let app = TestApp::spawn(store).await;
    let (_, access, _) = app.signed_up("jwks", "rahasia-sekali").await;
    let reply = app
        .send(app.request(Method::GET, "/.well-known/jwks.json"))
        .await;
    assert_eq!(reply.status, 200);
    let key = &reply.body["keys"][0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["alg"], "EdDSA");
    assert!(key.get("d").is_none(), "no private part");
    assert_eq!(jwt_part(&access, 0)["kid"], key["kid"]);
}

// ---------------------------------------------------------------- login

async fn login_returns_an_ed25519_access_and_refresh_pair(store: Backend) {
    let app = TestApp::spawn(store).await;
    let (user_id, access, refresh) = app.signed_up("guntur", "rahasia-sekali").await;
    let header = jwt_part(&access, 0);
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(jwt_part(&refresh, 0)["typ"], "rt+jwt");
    let claims = jwt_part(&access, 1);
    assert_eq!(claims["sub"], user_id);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );
    let refresh_claims = jwt_part(&refresh, 1);
    assert_eq!(
        refresh_claims["exp"].as_i64().unwrap() - refresh_claims["iat"].as_i64().unwrap(),
        30 * 86_400
    );
    assert_ne!(claims["jti"], refresh_claims["jti"]);
    for claim in ["iss", "aud", "jti"] {
        assert!(claims[claim].is_string(), "{claim}");
    }
    let reply = app
        .login(json!({"username": "guntur", "password": "rahasia-sekali"}))
        .await;
    let result = reply.assert_success(200);
    assert_eq!(result["token_type"], "Bearer");
    assert_eq!(result["expires_in"], 900);
    assert_ne!(
        result["access_token"],
        access.as_str(),
        "every login gets new tokens"
    );
}

async fn login_works_by_every_identifier_on_login_and_token_as_json_or_form(store: Backend) {
    let app = TestApp::spawn(store).await;
    app.register(json!({"username": "Multi", "email": "multi@example.com", "phone_number": "+62811000111", "password": "rahasia-sekali"}))
        .await
        .assert_success(201);
    app.register(json!({"phone_number": "0811000222", "pin": "654321"}))
        .await
        .assert_success(201);
    for body in [
        json!({"username": "mULTI", "password": "rahasia-sekali"}),
        json!({"email": "MULTI@example.COM", "password": "rahasia-sekali"}),
        json!({"phone_number": "+62811000111", "password": "rahasia-sekali"}),
        json!({"phone_number": "0811000222", "pin": "654321"}),
    ] {
        app.login(body.clone()).await.assert_success(200);
        app.post_json("/token", &body).await.assert_success(200);
    }
    app.post_form(
        "/login",
        &[("phone_number", "0811000222"), ("pin", "654321")],
    )
    .await
    .assert_success(200);
    app.post_form(
        "/token",
        &[
            ("username", "multi"),
            ("password", "rahasia-sekali"),
            ("pin", ""),
        ],
    )
    .await
    .assert_success(200);
}

async fn wrong_identifier_and_wrong_secret_get_the_same_401(store: Backend) {
    let app = TestApp::spawn(store).await;
    app.register(json!({"username": "known", "password": "rahasia-sekali"}))
        .await
        .assert_success(201);
    app.register(json!({"phone_number": "0811000333", "pin": "111111"}))
        .await
        .assert_success(201);
    let wrong_secret = app
        .login(json!({"username": "known", "password": "not-the-one"}))
        .await;
    let unknown_user = app
        .login(json!({"username": "unknown", "password": "rahasia-sekali"}))
        .await;
    let pin_for_password = app
        .login(json!({"username": "known", "pin": "111111"}))
        .await;
    let password_for_pin = app
        .login(json!({"phone_number": "0811000333", "password": "111111"}))
        .await;
    for reply in [
        &wrong_secret,
        &unknown_user,
        &pin_for_password,
        &password_for_pin,
    ] {
        reply.assert_error(401, "INVALID_CREDENTIALS");
        assert_eq!(
            reply.envelope(),
            wrong_secret.envelope(),
            "nothing tells them apart"
        );
    }
    assert_eq!(wrong_secret.body["message"], "Invalid credentials");
}

async fn unknown_users_cost_about_as_much_time_as_wrong_passwords(store: Backend) {
    let app = TestApp::spawn(store).await;
    app.register(json!({"username": "timed", "password": "rahasia-sekali"}))
        .await
        .assert_success(201);
    // Warm up (the dummy hash is computed on first use).
    app.login(json!({"username": "warmup", "password": "x"}))
        .await;
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..4 {
        let t = std::time::Instant::now();
        app.login(json!({"username": "timed", "password": format!("wrong-{i}")}))
            .await;
        known.push(t.elapsed());
        let t = std::time::Instant::now();
        app.login(json!({"username": format!("ghost{i}"), "password": "wrong"}))
            .await;
        unknown.push(t.elapsed());
    }
    known.sort();
    unknown.sort();
    let (k, u) = (known[1].as_secs_f64(), unknown[1].as_secs_f64());
    // Both run one argon2id verification; without it an unknown user would answer ~100× faster.
    assert!(u > k / 3.0, "unknown {u:.4}s vs known {k:.4}s");
}

async fn login_bodies_need_exactly_one_identifier_and_one_secret(store: Backend) {
    let app = TestApp::spawn(store).await;
    for body in [
        json!({"password": "rahasia-sekali"}),
        json!({"username": "someone"}),
        json!({"username": "someone", "email": "a@example.com", "password": "rahasia-sekali"}),
        json!({"username": "someone", "password": "rahasia-sekali", "pin": "123456"}),
        json!({"username": "", "password": "rahasia-sekali"}),
        json!({"username": 7, "password": "rahasia-sekali"}),
        json!({"username": "someone", "password": "rahasia-sekali", "remember_me": true}),
        json!({}),
    ] {
        app.login(body.clone())
            .await
            .assert_error(400, "VALIDATION_ERROR");
    }
    app.post_form("/login", &[("username", "someone"), ("password", "")])
        .await
        .assert_error(400, "VALIDATION_ERROR");
}

async fn five_failures_lock_the_account_with_doubling_locks_until_a_success(store: Backend) {
    let app = TestApp::spawn(store).await; // lock 1 s, doubling, capped at 4 s
    app.register(
        json!({"username": "locky", "email": "locky@example.com", "password": "rahasia-sekali"}),
    )
    .await
    .assert_success(201);
    let good = json!({"username": "locky", "password": "rahasia-sekali"});
    let bad = json!({"username": "locky", "password": "wrong-password"});
    for _ in 0..5 {
        app.login(bad.clone())
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    // Locked: even the right password is refused, with Retry-After, and does not count.
    for body in [
        &good,
        &bad,
        &json!({"email": "locky@example.com", "password": "rahasia-sekali"}),
    ] {
        let reply = app.login(body.clone()).await;
        reply.assert_error(429, "TOO_MANY_ATTEMPTS");
        assert_eq!(reply.headers["retry-after"], "1");
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // After a lock, a single failure locks again for double the time.
    app.login(bad.clone())
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    let reply = app.login(good.clone()).await;
    reply.assert_error(429, "TOO_MANY_ATTEMPTS");
    assert_eq!(reply.headers["retry-after"], "2");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    app.login(bad.clone())
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    assert_eq!(app.login(good.clone()).await.headers["retry-after"], "4");
    tokio::time::sleep(Duration::from_millis(4100)).await;
    app.login(bad.clone())
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    assert_eq!(
        app.login(good.clone()).await.headers["retry-after"],
        "4",
        "capped"
    );
    tokio::time::sleep(Duration::from_millis(4100)).await;
    // Success resets: four failures in a row are allowed again.
    app.login(good.clone()).await.assert_success(200);
    for _ in 0..4 {
        app.login(bad.clone())
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    app.login(good).await.assert_success(200);
}

async fn failures_count_across_all_identifiers_of_an_account(store: Backend) {
    let app = TestApp::spawn(store).await;
    app.register(json!({"username": "many", "email": "many@example.com", "phone_number": "0811000444", "password": "rahasia-sekali"}))
        .await
        .assert_success(201);
    for body in [
        json!({"username": "many", "password": "wrong-1"}),
        json!({"email": "many@example.com", "password": "wrong-2"}),
        json!({"phone_number": "0811000444", "password": "wrong-3"}),
        json!({"username": "MANY", "password": "wrong-4"}),
        json!({"email": "MANY@example.com", "password": "wrong-5"}),
    ] {
        app.login(body)
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    app.login(json!({"phone_number": "0811000444", "password": "rahasia-sekali"}))
        .await
        .assert_error(429, "TOO_MANY_ATTEMPTS");
}

async fn unknown_identifiers_lock_the_same_way(store: Backend) {
    let app = TestApp::spawn(store).await;
    for _ in 0..5 {
        app.login(json!({"username": "phantom", "password": "whatever-1"}))
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    let reply = app
        .login(json!({"username": "phantom", "password": "whatever-1"}))
        .await;
    reply.assert_error(429, "TOO_MANY_ATTEMPTS");
    assert!(reply.headers.contains_key("retry-after"));
}

async fn concurrent_failures_are_all_counted(store: Backend) {
    let app = TestApp::spawn(store).await;
    app.register(json!({"username": "parallel", "password": "rahasia-sekali"}))
        .await
        .assert_success(201);
    let replies = futures::future::join_all(
        (0..5)
            .map(|i| app.login(json!({"username": "parallel", "password": format!("wrong-{i}")}))),
    )
    .await;
    assert!(
        replies.iter().all(|r| r.status == 401 || r.status == 429),
        "no 5xx"
    );
    app.login(json!({"username": "parallel", "password": "rahasia-sekali"}))
        .await
        .assert_error(429, "TOO_MANY_ATTEMPTS");
}

/// How many argon2id verifications `hosts` ran in all.
fn verifications(hosts: &[&TestApp]) -> u64 {
    hosts.iter().map(|h| h.state.hasher().verifications()).sum()
}

async fn a_burst_of_guesses_from_two_hosts_gets_at_most_five_verifications(store: Backend) {
    // A long lock, so the whole burst falls inside one lock window.
    let vars = [
        ("DOMPET_LOCKOUT_SECS", "60"),
        ("DOMPET_LOCKOUT_MAX_SECS", "60"),
    ];
    let one = TestApp::spawn_with(store, &vars).await;
    let two = one.another_host(&vars).await;
    one.register(json!({"username": "burst", "password": "rahasia-sekali"}))
        .await
        .assert_success(201);
    let before = verifications(&[&one, &two]);
    const RIGHT: usize = 40;
    let guesses = (0..50).map(|i| {
        let host = if i % 2 == 0 { &one } else { &two };
        let password = if i == RIGHT {
            "rahasia-sekali".to_string()
        } else {
            format!("wrong-guess-{i}")
        };
        host.login(json!({"username": "burst", "password": password}))
    });
    let replies = futures::future::join_all(guesses).await;
    let count = |status: u16| replies.iter().filter(|r| r.status == status).count();
    let (ok, failed, locked) = (count(200), count(401), count(429));
    assert_eq!(ok + failed + locked, 50, "only 200, 401 or 429");
    let verified = verifications(&[&one, &two]) - before;
    if ok == 0 {
        // The right secret was refused with the rest once five failures were counted.
        assert_eq!(replies[RIGHT].status, 429);
        // Five attempts were admitted: five wrong ones (401), or four and the right one,
        // verified but refused because the others locked the account meanwhile.
        assert!(failed == 5 || failed == 4, "{failed} answered 401");
        assert!(verified <= 5, "{verified} verifications in one lock window");
        for host in [&one, &two] {
            host.login(json!({"username": "burst", "password": "rahasia-sekali"}))
                .await
                .assert_error(429, "TOO_MANY_ATTEMPTS");
        }
    } else {
        // The right secret held the fifth reservation: its success reset the count, and
        // anything after it started a new window of five.
        assert_eq!(ok, 1);
        assert_eq!(replies[RIGHT].status, 200);
        assert!(verified <= 10, "{verified} verifications in two windows");
    }
}

async fn once_locked_nothing_gets_tokens_until_the_lock_ends(store: Backend) {
    let vars = [
        ("DOMPET_LOCKOUT_SECS", "2"),
        ("DOMPET_LOCKOUT_MAX_SECS", "2"),
    ];
    let app = TestApp::spawn_with(store, &vars).await;
    app.register(json!({"username": "sealed", "password": "rahasia-sekali"}))
        .await
        .assert_success(201);
    let wrong =
        (0..5).map(|i| app.login(json!({"username": "sealed", "password": format!("nope-{i}")})));
    for reply in futures::future::join_all(wrong).await {
        reply.assert_error(401, "INVALID_CREDENTIALS");
    }
    let before = app.state.hasher().verifications();
    let right =
        (0..20).map(|_| app.login(json!({"username": "sealed", "password": "rahasia-sekali"})));
    for reply in futures::future::join_all(right).await {
        reply.assert_error(429, "TOO_MANY_ATTEMPTS");
    }
    assert_eq!(
        app.state.hasher().verifications(),
        before,
        "refused before hashing"
    );
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    app.login(json!({"username": "sealed", "password": "rahasia-sekali"}))
        .await
        .assert_success(200);
}

async fn a_burst_on_an_unknown_identifier_is_limited_the_same_way(store: Backend) {
    let vars = [
        ("DOMPET_LOCKOUT_SECS", "60"),
        ("DOMPET_LOCKOUT_MAX_SECS", "60"),
    ];
    let app = TestApp::spawn_with(store, &vars).await;
    let before = app.state.hasher().verifications();
    let guesses = (0..50)
        .map(|i| app.login(json!({"username": "nobody-here", "password": format!("guess-{i}")})));
    let replies = futures::future::join_all(guesses).await;
    let failed = replies.iter().filter(|r| r.status == 401).count();
    let locked = replies.iter().filter(|r| r.status == 429).count();
    assert_eq!((failed, locked), (5, 45));
    assert!(app.state.hasher().verifications() - before <= 5);
}

/// A long lock and a long memory, so a test's whole story falls in one window.
const LONG_LOCK: [(&str, &str); 2] = [
    ("DOMPET_LOCKOUT_SECS", "60"),
    ("DOMPET_LOCKOUT_MAX_SECS", "60"),
];

async fn others_failures_never_lock_the_owner_out_of_their_own_address(store: Backend) {
    let app = TestApp::spawn_with(store, &LONG_LOCK).await;
    app.register(json!({"username": "owner", "password": "rahasia-sekali"}))
        .await
        .assert_success(201);
    let good = json!({"username": "owner", "password": "rahasia-sekali"});
    let bad = json!({"username": "owner", "password": "wrong-password"});
    let home = "198.51.100.10";
    app.login_from(home, good.clone()).await.assert_success(200);
    // Someone elsewhere guesses until locked out, and stays locked out.
    let attacker = "203.0.113.66";
    for _ in 0..5 {
        app.login_from(attacker, bad.clone())
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    for body in [&bad, &good] {
        let reply = app.login_from(attacker, body.clone()).await;
        reply.assert_error(429, "TOO_MANY_ATTEMPTS");
        assert_eq!(reply.headers["retry-after"], "60");
    }
    // The owner, at home, is not locked out by it: not even by the ceiling others filled.
    app.login_from(home, good.clone()).await.assert_success(200);
    // An address counts on its own: another one starts with a clean count.
    let elsewhere = "192.0.2.7";
    for _ in 0..4 {
        app.login_from(elsewhere, bad.clone())
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    app.login_from(elsewhere, good.clone())
        .await
        .assert_success(200);
    // The owner's own failures at home still lock home.
    for _ in 0..5 {
        app.login_from(home, bad.clone())
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    app.login_from(home, good)
        .await
        .assert_error(429, "TOO_MANY_ATTEMPTS");
}

async fn ipv6_clients_count_by_their_64_and_forwarded_for_only_from_a_trusted_proxy(
    store: Backend,
) {
    let app = TestApp::spawn_with(store, &LONG_LOCK).await;
    app.register(json!({"username": "six", "password": "rahasia-sekali"}))
        .await
        .assert_success(201);
    let good = json!({"username": "six", "password": "rahasia-sekali"});
    let bad = json!({"username": "six", "password": "wrong-password"});
    // Five addresses of one /64 are one client.
    for i in 1..=5 {
        app.login_from(&format!("2001:db8:aa:1::{i}"), bad.clone())
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    app.login_from("2001:db8:aa:1:ffff::9", good.clone())
        .await
        .assert_error(429, "TOO_MANY_ATTEMPTS");
    app.login_from("2001:db8:aa:2::1", good.clone())
        .await
        .assert_success(200);
    // IPv4-mapped IPv6 is the IPv4 address.
    for _ in 0..5 {
        app.login_from("::ffff:198.51.100.20", bad.clone())
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    app.login_from("198.51.100.20", good.clone())
        .await
        .assert_error(429, "TOO_MANY_ATTEMPTS");

    // Behind no trusted proxy, X-Forwarded-For names nobody: the peer is the client.
    let mut vars = LONG_LOCK.to_vec();
    vars.push(("DOMPET_TRUSTED_PROXIES", "10.9.9.9"));
    let direct = app.another_host(&vars).await;
    direct
        .register(json!({"username": "seven", "password": "rahasia-sekali"}))
        .await
        .assert_success(201);
    for i in 0..5 {
        direct
            .login_from(
                &format!("203.0.113.{i}"),
                json!({"username": "seven", "password": "wrong-password"}),
            )
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    direct
        .login_from(
            "198.51.100.99",
            json!({"username": "seven", "password": "rahasia-sekali"}),
        )
        .await
        .assert_error(429, "TOO_MANY_ATTEMPTS");
}

async fn other_addresses_share_a_ceiling_of_verifications_per_hour(store: Backend) {
    let mut vars = LONG_LOCK.to_vec();
    vars.push(("DOMPET_LOCKOUT_CEILING", "6"));
    let app = TestApp::spawn_with(store, &vars).await;
    app.register(json!({"username": "ceiled", "password": "rahasia-sekali"}))
        .await
        .assert_success(201);
    let good = json!({"username": "ceiled", "password": "rahasia-sekali"});
    let bad = json!({"username": "ceiled", "password": "wrong-password"});
    let home = "198.51.100.10";
    // The owner's first login from home counts toward the ceiling: home was not theirs yet.
    app.login_from(home, good.clone()).await.assert_success(200);
    let before = app.state.hasher().verifications();
    // One guess each from many addresses: five more are verified, then the hour is full.
    for i in 0..5 {
        app.login_from(&format!("203.0.113.{i}"), bad.clone())
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    for i in 5..12 {
        let reply = app
            .login_from(&format!("203.0.113.{i}"), good.clone())
            .await;
        reply.assert_error(429, "TOO_MANY_ATTEMPTS");
        let wait: u64 = reply.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((3590..=3600).contains(&wait), "{wait}");
    }
    assert_eq!(app.state.hasher().verifications() - before, 5);
    // The owner's own address is outside the ceiling.
    app.login_from(home, good).await.assert_success(200);
}

async fn a_burst_from_many_addresses_on_two_hosts_gets_at_most_the_ceiling(store: Backend) {
    let vars = LONG_LOCK.to_vec();
    let one = TestApp::spawn_with(store, &vars).await;
    let two = one.another_host(&vars).await;
    one.register(json!({"username": "swarm", "password": "rahasia-sekali"}))
        .await
        .assert_success(201);
    let before = verifications(&[&one, &two]);
    let addresses: Vec<String> = (0..60).map(|i| format!("203.0.113.{i}")).collect();
    let guesses = addresses.iter().enumerate().map(|(i, from)| {
        let host = if i % 2 == 0 { &one } else { &two };
        host.login_from(
            from,
            json!({"username": "swarm", "password": format!("wrong-guess-{i}")}),
        )
    });
    let replies = futures::future::join_all(guesses).await;
    let count = |status: u16| replies.iter().filter(|r| r.status == status).count();
    let (failed, locked) = (count(401), count(429));
    assert_eq!(failed + locked, 60, "only 401 or 429");
    let verified = verifications(&[&one, &two]) - before;
    eprintln!("a burst of 60 from 60 addresses: {failed} answered 401, {verified} verified");
    assert_eq!(failed, 20, "the ceiling, and all of it");
    assert!(verified <= 20, "{verified} verifications");
    one.login_from(
        "198.51.100.1",
        json!({"username": "swarm", "password": "rahasia-sekali"}),
    )
    .await
    .assert_error(429, "TOO_MANY_ATTEMPTS");
}

async fn a_secret_change_clears_every_count_of_the_account(store: Backend) {
    let mut vars = LONG_LOCK.to_vec();
    vars.push(("DOMPET_LOCKOUT_CEILING", "8"));
    let app = TestApp::spawn_with(store, &vars).await;
    app.register(json!({"username": "mover", "password": "rahasia-sekali"}))
        .await
        .assert_success(201);
    let home = "198.51.100.10";
    let (token, _) = app
        .tokens(json!({"username": "mover", "password": "rahasia-sekali"}))
        .await;
    let _ = app
        .login_from(
            home,
            json!({"username": "mover", "password": "rahasia-sekali"}),
        )
        .await;
    // Locked at one address (the two logins above and these five count toward the ceiling:
    // neither address was the owner's yet), the hour's ceiling full from others.
    for _ in 0..5 {
        app.login_from(
            "192.0.2.1",
            json!({"username": "mover", "password": "wrong-1"}),
        )
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    }
    for i in 0..5 {
        let _ = app
            .login_from(
                &format!("203.0.113.{i}"),
                json!({"username": "mover", "password": "wrong-2"}),
            )
            .await;
    }
    app.login_from(
        "192.0.2.1",
        json!({"username": "mover", "password": "rahasia-sekali"}),
    )
    .await
    .assert_error(429, "TOO_MANY_ATTEMPTS");
    app.login_from(
        "203.0.113.99",
        json!({"username": "mover", "password": "rahasia-sekali"}),
    )
    .await
    .assert_error(429, "TOO_MANY_ATTEMPTS");
    let reply = app
        .send(
            app.request(Method::PUT, "/account/secret")
                .bearer_auth(&token)
                .json(&json!({"current_password": "rahasia-sekali", "password": "rahasia-baru-sekali"})),
        )
        .await;
    reply.assert_success(200);
    // Every count of the account starts again with the new secret.
    for from in ["192.0.2.1", "203.0.113.99"] {
        app.login_from(
            from,
            json!({"username": "mover", "password": "rahasia-baru-sekali"}),
        )
        .await
        .assert_success(200);
    }
}

async fn unknown_identifiers_are_remembered_exactly_as_long_as_accounts(store: Backend) {
    let vars = [
        ("DOMPET_LOCKOUT_SECS", "1"),
        ("DOMPET_LOCKOUT_MAX_SECS", "8"),
        ("DOMPET_LOCKOUT_MEMORY_SECS", "2"),
    ];
    let app = TestApp::spawn_with(store, &vars).await;
    app.register(json!({"username": "known", "password": "rahasia-sekali"}))
        .await
        .assert_success(201);
    let from = "203.0.113.5";
    for name in ["known", "unknown-one"] {
        for _ in 0..5 {
            app.login_from(from, json!({"username": name, "password": "wrong"}))
                .await
                .assert_error(401, "INVALID_CREDENTIALS");
        }
    }
    // Past the memory of the last failure (DynamoDB keeps expiry times in whole seconds), both
    // are forgotten alike: one failure each is just a first failure, not a doubled lock.
    tokio::time::sleep(Duration::from_millis(3_200)).await;
    for name in ["known", "unknown-one"] {
        app.login_from(from, json!({"username": name, "password": "wrong"}))
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
        app.login_from(from, json!({"username": name, "password": "wrong"}))
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    app.login_from(
        from,
        json!({"username": "known", "password": "rahasia-sekali"}),
    )
    .await
    .assert_success(200);
}

async fn identifiers_longer_than_any_account_can_have_are_400(store: Backend) {
    let app = TestApp::spawn(store).await;
    let long = "a".repeat(5_000);
    for (field, value) in [
        ("username", long.clone()),
        ("email", format!("{long}@example.com")),
        ("phone_number", "1".repeat(5_000)),
    ] {
        let reply = app
            .login(json!({field: value, "password": "rahasia-sekali"}))
            .await;
        let errors = reply.field_errors();
        assert!(errors.contains_key(field), "{}", reply.body);
    }
    // The longest valid forms are still just wrong credentials.
    for (field, value) in [
        ("username", "u".repeat(32)),
        ("email", format!("{}@example.com", "e".repeat(64))),
        ("phone_number", format!("+{}", "9".repeat(15))),
    ] {
        app.login(json!({field: value, "password": "rahasia-sekali"}))
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
}

async fn a_login_ends_at_its_absolute_lifetime_however_active(store: Backend) {
    // Times are whole seconds: the login ends 3 to 4 s after it began.
    let app = TestApp::spawn_with(store, &[("DOMPET_SESSION_MAX_AGE_SECS", "4")]).await;
    let (_, _, mut refresh) = app.signed_up("mayfly", "rahasia-sekali").await;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let reply = app
            .post_json("/token/refresh", &json!({"refresh_token": refresh}))
            .await;
        let result = reply.assert_success(200);
        refresh = result["refresh_token"].as_str().unwrap().to_string();
        let exp = jwt_part(&refresh, 1)["exp"].as_i64().unwrap();
        let auth_time = jwt_part(&refresh, 1)["auth_time"].as_i64().unwrap();
        assert_eq!(exp, auth_time + 4, "never past the login's end");
    }
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    app.post_json("/token/refresh", &json!({"refresh_token": refresh}))
        .await
        .assert_error(401, "UNAUTHENTICATED");
}

async fn cors_answers_only_the_configured_origins(store: Backend) {
    let preflight = |app: &TestApp, origin: &str| {
        app.request(Method::OPTIONS, "/login")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
    };
    let closed = TestApp::spawn(store).await;
    let reply = closed
        .send(preflight(&closed, "https://app.example.com"))
        .await;
    reply.assert_error(405, "METHOD_NOT_ALLOWED");
    assert!(!reply.headers.contains_key("access-control-allow-origin"));

    let open =
        TestApp::spawn_with(store, &[("DOMPET_CORS_ORIGINS", "https://app.example.com")]).await;
    let reply = open.send(preflight(&open, "https://app.example.com")).await;
    assert!(reply.status.is_success(), "{:?}", reply.status);
    assert_eq!(
        reply.headers["access-control-allow-origin"],
        "https://app.example.com"
    );
    let reply = open
        .send(preflight(&open, "https://evil.example.com"))
        .await;
    assert!(!reply.headers.contains_key("access-control-allow-origin"));
    let reply = open
        .send(
            open.request(Method::GET, "/.well-known/jwks.json")
                .header("origin", "https://app.example.com"),
        )
        .await;
    assert_eq!(
        reply.headers["access-control-allow-origin"],
        "https://app.example.com"
    );
}

async fn every_response_carries_a_request_id_and_errors_name_it(store: Backend) {
    let app = TestApp::spawn(store).await;
    let ok = app
        .send(app.request(Method::GET, "/.well-known/jwks.json"))
        .await;
    let missing = app.send(app.request(Method::GET, "/no/such/route")).await;
    let spoofed = app
        .send(
            app.request(Method::GET, "/account")
                .header("x-request-id", "chosen-by-client"),
        )
        .await;
    let ids: Vec<&str> = [&ok, &missing, &spoofed]
        .iter()
        .map(|r| r.headers["x-request-id"].to_str().unwrap())
        .collect();
    for id in &ids {
        assert!(uuid::Uuid::parse_str(id).is_ok(), "generated: {id}");
    }
    assert!(ids[0] != ids[1] && ids[1] != ids[2], "one per request");
    assert_eq!(missing.body["request_id"], ids[1]);
    assert_eq!(spoofed.body["request_id"], ids[2]);
    assert!(
        ok.body.get("request_id").is_none(),
        "successes keep their shape"
    );
    // A request that changes data runs on a task of its own, still as part of its request.
    let refused = app
        .post_json("/login", &json!({"username": "nobody"}))
        .await;
    assert_eq!(refused.status, 400);
    assert_eq!(
        refused.body["request_id"],
        refused.headers["x-request-id"].to_str().unwrap(),
        "{}",
        refused.body
    );
}

// ---------------------------------------------------------------- refresh and logout

async fn refresh_rotates_and_each_refresh_token_is_good_once(store: Backend) {
    let app = TestApp::spawn(store).await;
    let (_, _, refresh1) = app.signed_up("rotor", "rahasia-sekali").await;
    let reply = app
        .post_json("/token/refresh", &json!({"refresh_token": refresh1}))
        .await;
    let result = reply.assert_success(200).clone();
    assert_eq!(result["token_type"], "Bearer");
    assert_eq!(result["expires_in"], 900);
    let refresh2 = result["refresh_token"].as_str().unwrap().to_string();
    let access2 = result["access_token"].as_str().unwrap().to_string();
    assert_ne!(refresh2, refresh1);
    app.get_with_token("/account", &access2)
        .await
        .assert_success(200);
    let refresh3 = app
        .post_json("/token/refresh", &json!({"refresh_token": refresh2}))
        .await
        .assert_success(200)["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(refresh3, refresh2);
}

async fn reusing_a_refresh_token_revokes_the_whole_family_only(store: Backend) {
    let app = TestApp::spawn(store).await;
    let (_, access1, refresh1) = app.signed_up("reuser", "rahasia-sekali").await;
    let (other_access, other_refresh) = app
        .tokens(json!({"username": "reuser", "password": "rahasia-sekali"}))
        .await;
    let rotated = app
        .post_json("/token/refresh", &json!({"refresh_token": refresh1}))
        .await;
    let result = rotated.assert_success(200).clone();
    let (access2, refresh2) = (
        result["access_token"].as_str().unwrap().to_string(),
        result["refresh_token"].as_str().unwrap().to_string(),
    );
    // The old refresh token again: 401, and every token of that login is revoked.
    app.post_json("/token/refresh", &json!({"refresh_token": refresh1}))
        .await
        .assert_error(401, "UNAUTHENTICATED");
    app.post_json("/token/refresh", &json!({"refresh_token": refresh2}))
        .await
        .assert_error(401, "UNAUTHENTICATED");
    for access in [&access1, &access2] {
        app.get_with_token("/account", access)
            .await
            .assert_error(401, "UNAUTHENTICATED");
    }
    // Another login of the same user is untouched.
    app.get_with_token("/account", &other_access)
        .await
        .assert_success(200);
    app.post_json("/token/refresh", &json!({"refresh_token": other_refresh}))
        .await
        .assert_success(200);
}

async fn bad_refresh_requests_are_400_or_401(store: Backend) {
    let app = TestApp::spawn(store).await;
    let (_, access, _) = app.signed_up("refresher", "rahasia-sekali").await;
    for body in [
        json!({}),
        json!({"refresh_token": null}),
        json!({"refresh_token": ""}),
        json!({"refresh_token": 5}),
        json!({"refresh_token": "x", "extra": 1}),
    ] {
        app.post_json("/token/refresh", &body)
            .await
            .assert_error(400, "VALIDATION_ERROR");
    }
    for token in ["garbage", "a.b.c", access.as_str()] {
        app.post_json("/token/refresh", &json!({"refresh_token": token}))
            .await
            .assert_error(401, "UNAUTHENTICATED");
    }
}

async fn logout_revokes_that_login_only(store: Backend) {
    let app = TestApp::spawn(store).await;
    let (_, access, refresh) = app.signed_up("leaver", "rahasia-sekali").await;
    let (other_access, _) = app
        .tokens(json!({"username": "leaver", "password": "rahasia-sekali"}))
        .await;
    let reply = app.post_with_token("/logout", &access).await;
    reply.assert_success(200);
    assert_eq!(reply.body, json!({"status": "SUCCESS", "result": null}));
    app.get_with_token("/account", &access)
        .await
        .assert_error(401, "UNAUTHENTICATED");
    app.post_json("/token/refresh", &json!({"refresh_token": refresh}))
        .await
        .assert_error(401, "UNAUTHENTICATED");
    app.post_with_token("/logout", &access)
        .await
        .assert_error(401, "UNAUTHENTICATED");
    app.get_with_token("/account", &other_access)
        .await
        .assert_success(200);
    app.send(app.request(Method::POST, "/logout"))
        .await
        .assert_error(401, "UNAUTHENTICATED");
}

// ---------------------------------------------------------------- account and tokens

async fn account_answers_akses_sukses_with_the_profile_and_balance(store: Backend) {
    let app = TestApp::spawn(store).await;
    app.register(json!({"username": "viewer", "email": "viewer@example.com", "password": "rahasia-sekali", "address": "Jl. Merdeka"}))
        .await
        .assert_success(201);
    let (access, _) = app
        .tokens(json!({"username": "viewer", "password": "rahasia-sekali"}))
        .await;
    let reply = app.get_with_token("/account", &access).await;
    let result = reply.assert_success(200);
    assert_eq!(reply.body["message"], "akses sukses");
    assert_eq!(result["username"], "viewer");
    assert_eq!(result["email"], "viewer@example.com");
    assert_eq!(result["address"], "Jl. Merdeka");
    assert_eq!(result["phone_number"], Value::Null);
    assert_eq!(result["balance"], 0);
    assert!(is_contract_timestamp(&result["created_date"]));
    assert!(is_contract_timestamp(&result["updated_date"]));
    assert_eq!(jwt_part(&access, 1)["sub"], result["user_id"]);
}

async fn the_authorization_header_must_be_a_bearer_access_token(store: Backend) {
    let app = TestApp::spawn(store).await;
    let (_, access, refresh) = app.signed_up("header", "rahasia-sekali").await;
    let get = |value: String| {
        app.send(
            app.client
                .get(app.url("/account"))
                .header("authorization", value),
        )
    };
    get(format!("bearer {access}")).await.assert_success(200);
    get(format!("BEARER {access}")).await.assert_success(200);
    for value in [
        format!("Basic {access}"),
        format!("Bearer{access}"),
        format!("Bearer  {access}"),
        "Bearer".to_string(),
        "Bearer ".to_string(),
        access.clone(),
        format!("Bearer {refresh}"),
        "Bearer not.a.jwt".to_string(),
    ] {
        let reply = get(value.clone()).await;
        reply.assert_error(401, "UNAUTHENTICATED");
        assert_eq!(reply.body["message"], "Unauthenticated", "{value}");
    }
    app.send(app.request(Method::GET, "/account"))
        .await
        .assert_error(401, "UNAUTHENTICATED");
}

async fn forged_and_tampered_tokens_are_401(store: Backend) {
    let app = TestApp::spawn(store).await;
    let (_, access, _) = app.signed_up("victim", "rahasia-sekali").await;
    let (_, other, _) = app.signed_up("attacker", "rahasia-sekali").await;
    let parts: Vec<&str> = access.split('.').collect();
    let mut claims = jwt_part(&access, 1);

    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"at+jwt"}"#);
    let alg_none = format!("{none_header}.{}.", parts[1]);
    let hs256_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"at+jwt"}"#);
    let hs256 = format!("{hs256_header}.{}.{}", parts[1], parts[2]);
    let other_sub = jwt_part(&other, 1)["sub"].clone();
    claims["sub"] = other_sub;
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    let mut sig = parts[2].to_string();
    sig.replace_range(0..2, if sig.starts_with("AA") { "BB" } else { "AA" });
    let bad_signature = format!("{}.{}.{sig}", parts[0], parts[1]);
    let typ_swapped = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(jwt_part(&access, 0).to_string().replace("at+jwt", "rt+jwt")),
        parts[1],
        parts[2]
    );
    for token in [alg_none, hs256, tampered, bad_signature, typ_swapped] {
        app.get_with_token("/account", &token)
            .await
            .assert_error(401, "UNAUTHENTICATED");
    }
}

async fn expired_tokens_and_tokens_from_another_key_are_401(store: Backend) {
    let app = TestApp::spawn(store).await;
    let (user_id, access, _) = app.signed_up("expiring", "rahasia-sekali").await;
    let sid = jwt_part(&access, 1)["sid"].as_str().unwrap().to_string();
    let user = dompet::domain::UserId::parse(&user_id).unwrap();
    let long_ago = chrono::Utc::now().timestamp() - 3_600;
    let expired = app
        .state
        .issuer()
        .unwrap()
        .issue(user, &sid, 0, long_ago, false)
        .unwrap()
        .pair
        .access_token;
    app.get_with_token("/account", &expired)
        .await
        .assert_error(401, "UNAUTHENTICATED");

    let stranger = dompet::testing::ephemeral().unwrap();
    let foreign = stranger
        .issuer()
        .unwrap()
        .issue(user, &sid, 0, chrono::Utc::now().timestamp(), false)
        .unwrap()
        .pair
        .access_token;
    app.get_with_token("/account", &foreign)
        .await
        .assert_error(401, "UNAUTHENTICATED");
}

async fn no_input_makes_the_identity_routes_answer_500(store: Backend) {
    let app = TestApp::spawn(store).await;
    app.signed_up("sturdy", "rahasia-sekali").await;
    let bodies = [
        "{\"username\": {\"$gt\": \"\"}, \"password\": [1]}",
        "{\"username\": \"sturdy\", \"password\": \"\\u0000\\u0000\\u0000\\u0000\\u0000\\u0000\\u0000\\u0000\"}",
        "{\"username\": \"a\u{301}bc\", \"password\": \"rahasia-sekali\"}",
        "{\"email\": \"\\ud800@example.com\", \"password\": \"rahasia-sekali\"}",
        "{\"phone_number\": \"+\", \"pin\": \"000000\"}",
        "{\"username\": 1e309, \"password\": -0}",
        "{\"username\": \"sturdy\", \"password\": \"rahasia-sekali\", \"first_name\": \"\\u0007\"}",
        "\u{feff}{\"username\": \"x\"}",
        "{\"refresh_token\": \"eyJhbGciOiJub25lIn0.e30.\"}",
        "{\"refresh_token\": \"....\"}",
    ];
    for path in ["/register", "/login", "/token", "/token/refresh"] {
        for body in bodies {
            let reply = app
                .post_raw(path, "application/json", body.to_string())
                .await;
            assert!(
                reply.status.as_u16() < 500,
                "{path} {body} → {}",
                reply.status
            );
            assert!(
                reply.body["status"].is_string(),
                "{path} {body} → {}",
                reply.body
            );
        }
        for form in [
            "%zz=1",
            "a=%ff%fe",
            "&&&",
            "username=%00&password=%00%00%00%00%00%00%00%00",
        ] {
            let reply = app
                .post_raw(path, "application/x-www-form-urlencoded", form)
                .await;
            assert!(
                reply.status.as_u16() < 500,
                "{path} {form} → {}",
                reply.status
            );
        }
    }
}

dompet_tests::both_stores!(
    register_with_username_email_password_returns_the_account_without_secrets,
    register_stores_only_an_argon2id_hash,
    register_with_phone_and_pin_as_a_form_leaves_absent_fields_null,
    json_null_counts_as_absent,
    duplicate_identifiers_are_409_naming_which,
    concurrent_duplicate_registration_gives_exactly_one_201_and_no_500,
    every_validation_failure_is_listed_by_field,
    each_field_rule_is_enforced,
    lengths_count_characters_not_bytes,
    bodies_that_are_not_json_objects_are_400,
    other_content_types_are_415,
    bodies_over_64_kib_are_413_before_anything_else,
    unknown_paths_are_404_and_wrong_methods_405_in_the_envelope,
    the_public_key_is_published_as_a_jwks_matching_token_kids,
    login_returns_an_ed25519_access_and_refresh_pair,
    login_works_by_every_identifier_on_login_and_token_as_json_or_form,
    wrong_identifier_and_wrong_secret_get_the_same_401,
    unknown_users_cost_about_as_much_time_as_wrong_passwords,
    login_bodies_need_exactly_one_identifier_and_one_secret,
    five_failures_lock_the_account_with_doubling_locks_until_a_success,
    failures_count_across_all_identifiers_of_an_account,
    unknown_identifiers_lock_the_same_way,
    concurrent_failures_are_all_counted,
    a_burst_of_guesses_from_two_hosts_gets_at_most_five_verifications,
    once_locked_nothing_gets_tokens_until_the_lock_ends,
    a_burst_on_an_unknown_identifier_is_limited_the_same_way,
    others_failures_never_lock_the_owner_out_of_their_own_address,
    ipv6_clients_count_by_their_64_and_forwarded_for_only_from_a_trusted_proxy,
    other_addresses_share_a_ceiling_of_verifications_per_hour,
    a_burst_from_many_addresses_on_two_hosts_gets_at_most_the_ceiling,
    a_secret_change_clears_every_count_of_the_account,
    unknown_identifiers_are_remembered_exactly_as_long_as_accounts,
    identifiers_longer_than_any_account_can_have_are_400,
    a_login_ends_at_its_absolute_lifetime_however_active,
    cors_answers_only_the_configured_origins,
    every_response_carries_a_request_id_and_errors_name_it,
    refresh_rotates_and_each_refresh_token_is_good_once,
    reusing_a_refresh_token_revokes_the_whole_family_only,
    bad_refresh_requests_are_400_or_401,
    logout_revokes_that_login_only,
    account_answers_akses_sukses_with_the_profile_and_balance,
    the_authorization_header_must_be_a_bearer_access_token,
    forged_and_tampered_tokens_are_401,
    expired_tokens_and_tokens_from_another_key_are_401,
    no_input_makes_the_identity_routes_answer_500,
);
