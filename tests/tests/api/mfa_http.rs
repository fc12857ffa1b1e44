//! Black-box tests of the second factor (api.md, "Second factor and step-up") over HTTP, on
//! both stores: enrolling and confirming a TOTP authenticator, logging in in two steps,
//! recovery codes, the bounds of an `mfa_token`, wrong codes counted toward the lockout, step-up
//! before money moves and before sensitive changes, and removing the factor. Codes of later
//! time steps come from moving the host's code clock, not from waiting.

use std::path::PathBuf;

use base64::Engine;
use dompet::auth::totp::Authenticator;
use dompet_tests::{Backend, Reply, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

/// One account with an active factor on a host whose outbox the test reads.
struct Enrolled {
    app: TestApp,
    outbox: PathBuf,
    /// The login that enrolled.
    token: String,
    secret: String,
    recovery: Vec<String>,
}

const PASSWORD: &str = "rahasia-sekali";

fn outbox_vars(outbox: &std::path::Path) -> Vec<(&'static str, String)> {
    vec![
        ("DOMPET_LOCKOUT_SECS", "1".to_string()),
        ("DOMPET_LOCKOUT_MAX_SECS", "4".to_string()),
        ("DOMPET_OUTBOX_DIR", outbox.to_str().unwrap().to_string()),
    ]
}

async fn spawn(store: Backend, extra: &[(&str, &str)]) -> (TestApp, PathBuf) {
    let outbox = std::env::temp_dir().join(format!("dompet-outbox-{}", uuid::Uuid::new_v4()));
    let mut vars: Vec<(&str, String)> = outbox_vars(&outbox);
    vars.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    (TestApp::spawn_with(store, &vars).await, outbox)
}

/// The code of the host's current step for `secret`.
fn code(app: &TestApp, secret: &str) -> String {
    Authenticator::from_base32(secret, "test")
        .unwrap()
        .code_at(app.state.code_clock())
}

/// The next step's code: the host's clock moves on 30 s first (each code is accepted once).
fn next_code(app: &TestApp, secret: &str) -> String {
    app.state.advance_code_clock(30);
    code(app, secret)
}

async fn send(app: &TestApp, method: Method, path: &str, token: &str, body: Value) -> Reply {
    app.send(app.request(method, path).bearer_auth(token).json(&body))
        .await
}

fn messages(outbox: &std::path::Path) -> Vec<Value> {
    let Ok(dir) = std::fs::read_dir(outbox) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = dir.map(|e| e.unwrap().path()).collect();
    files.sort();
    files
        .iter()
        .map(|f| serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap())
        .collect()
}

fn kinds(outbox: &std::path::Path) -> Vec<String> {
    messages(outbox)
        .iter()
        .map(|m| m["kind"].as_str().unwrap().to_string())
        .collect()
}

/// The payload of a JWT, unverified.
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

async fn enrolled_on(app: TestApp, outbox: PathBuf, username: &str) -> Enrolled {
    // With an email: the security notifications go there.
    app.register(json!({"username": username, "email": format!("{username}@example.com"), "password": PASSWORD}))
        .await
        .assert_success(201);
    let (token, _) = app
        .tokens(json!({"username": username, "password": PASSWORD}))
        .await;
    let reply = send(
        &app,
        Method::POST,
        "/mfa/totp",
        &token,
        json!({"password": PASSWORD}),
    )
    .await;
    let secret = reply.assert_success(200)["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let reply = send(
        &app,
        Method::POST,
        "/mfa/totp/confirm",
        &token,
        json!({"code": code(&app, &secret)}),
    )
    .await;
    let recovery = reply.assert_success(200)["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    Enrolled {
        app,
        outbox,
        token,
        secret,
        recovery,
    }
}

async fn enrolled(store: Backend) -> Enrolled {
    let (app, outbox) = spawn(store, &[]).await;
    enrolled_on(app, outbox, "guntur").await
}

/// `POST /login` with the password: the `mfa_token` of the 401 `MFA_REQUIRED`.
async fn first_step(app: &TestApp, from: &str) -> String {
    let reply = app
        .login_from(from, json!({"username": "guntur", "password": PASSWORD}))
        .await;
    let body = reply.assert_error(401, "MFA_REQUIRED");
    assert!(body.get("access_token").is_none(), "{body}");
    body["mfa_token"]
        .as_str()
        .expect("an mfa_token")
        .to_string()
}

async fn second_step(app: &TestApp, from: &str, body: Value) -> Reply {
    app.send(
        app.request(Method::POST, "/login/mfa")
            .header("x-forwarded-for", from)
            .json(&body),
    )
    .await
}

const HOME: &str = "198.51.100.7";

async fn enrol_confirm_and_log_in_in_two_steps(store: Backend) {
    let (app, outbox) = spawn(store, &[]).await;
    app.register(
        json!({"username": "guntur", "email": "guntur@example.com", "password": PASSWORD}),
    )
    .await
    .assert_success(201);
    let (token, _) = app
        .tokens(json!({"username": "guntur", "password": PASSWORD}))
        .await;
    let (other, _) = app
        .tokens(json!({"username": "guntur", "password": PASSWORD}))
        .await;
    let account = app.get_with_token("/account", &token).await;
    assert_eq!(account.assert_success(200)["mfa"], false);
    // The current secret is required, and counted when wrong.
    send(
        &app,
        Method::POST,
        "/mfa/totp",
        &token,
        json!({"password": "salah-sekali"}),
    )
    .await
    .assert_error(401, "INVALID_CREDENTIALS");
    send(&app, Method::POST, "/mfa/totp", &token, json!({}))
        .await
        .assert_error(400, "VALIDATION_ERROR");
    let reply = send(
        &app,
        Method::POST,
        "/mfa/totp",
        &token,
        json!({"password": PASSWORD}),
    )
    .await;
    let enrolment = reply.assert_success(200);
    let secret = enrolment["secret"].as_str().unwrap().to_string();
    // 160 bits: 32 base32 characters.
    assert_eq!(secret.len(), 32, "{secret}");
    let uri = enrolment["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/dompet:guntur?"), "{uri}");
    for part in [
        format!("secret={secret}"),
        "issuer=dompet".to_string(),
        "algorithm=SHA1".to_string(),
        "digits=6".to_string(),
        "period=30".to_string(),
    ] {
        assert!(uri.contains(&part), "{uri} lacks {part}");
    }
    // Pending: not asked for at login yet, and a new call replaces it.
    app.tokens(json!({"username": "guntur", "password": PASSWORD}))
        .await;
    let again = send(
        &app,
        Method::POST,
        "/mfa/totp",
        &token,
        json!({"password": PASSWORD}),
    )
    .await;
    let replaced = again.assert_success(200)["secret"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(replaced, secret);
    // A code of the replaced secret does not confirm; nor does garbage.
    send(
        &app,
        Method::POST,
        "/mfa/totp/confirm",
        &token,
        json!({"code": code(&app, &secret)}),
    )
    .await
    .assert_error(400, "INVALID_CODE");
    send(
        &app,
        Method::POST,
        "/mfa/totp/confirm",
        &token,
        json!({"code": "12345"}),
    )
    .await
    .assert_error(400, "VALIDATION_ERROR");
    let secret = replaced;
    let confirm_code = code(&app, &secret);
    let reply = send(
        &app,
        Method::POST,
        "/mfa/totp/confirm",
        &token,
        json!({"code": confirm_code}),
    )
    .await;
    let recovery = reply.assert_success(200)["recovery_codes"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(recovery.len(), 10);
    // Confirming ends every other login; this one stays.
    app.get_with_token("/account", &other)
        .await
        .assert_error(401, "UNAUTHENTICATED");
    let account = app.get_with_token("/account", &token).await;
    assert_eq!(account.assert_success(200)["mfa"], true);
    send(
        &app,
        Method::POST,
        "/mfa/totp",
        &token,
        json!({"password": PASSWORD}),
    )
    .await
    .assert_error(409, "MFA_ALREADY_ENABLED");
    send(
        &app,
        Method::POST,
        "/mfa/totp/confirm",
        &token,
        json!({"code": next_code(&app, &secret)}),
    )
    .await
    .assert_error(409, "MFA_ALREADY_ENABLED");
    // The secret alone no longer logs in; a wrong secret is still the usual answer.
    app.login(json!({"username": "guntur", "password": "salah-sekali"}))
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    let mfa_token = first_step(&app, HOME).await;
    // The code used to confirm is used.
    second_step(
        &app,
        HOME,
        json!({"mfa_token": mfa_token, "otp": confirm_code}),
    )
    .await
    .assert_error(401, "INVALID_CODE");
    let otp = next_code(&app, &secret);
    let reply = second_step(&app, HOME, json!({"mfa_token": mfa_token, "otp": otp})).await;
    let pair = reply.assert_success(200).clone();
    assert_eq!(reply.headers["cache-control"], "no-store");
    let access = pair["access_token"].as_str().unwrap();
    assert_eq!(claims(access)["amr"], json!(["pwd", "otp"]));
    assert_eq!(claims(&token)["amr"], json!(["pwd"]));
    // The same code again, or the same token with a new code: refused.
    let mfa_again = first_step(&app, HOME).await;
    second_step(&app, HOME, json!({"mfa_token": mfa_again, "otp": otp}))
        .await
        .assert_error(401, "INVALID_CODE");
    second_step(
        &app,
        HOME,
        json!({"mfa_token": mfa_token, "otp": next_code(&app, &secret)}),
    )
    .await
    .assert_error(401, "UNAUTHENTICATED");
    // The sessions say which logins passed the factor; a refresh keeps it.
    let sessions = app.get_with_token("/sessions", access).await;
    let list = sessions.assert_success(200).as_array().unwrap().clone();
    let mine = list.iter().find(|s| s["current"] == true).unwrap();
    assert_eq!(mine["mfa"], true);
    let enrolling = list.iter().find(|s| s["current"] == false).unwrap();
    assert_eq!(enrolling["mfa"], false);
    let refreshed = app
        .post_json(
            "/token/refresh",
            &json!({"refresh_token": pair["refresh_token"]}),
        )
        .await;
    let refreshed = refreshed.assert_success(200)["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(claims(&refreshed)["amr"], json!(["pwd", "otp"]));
    assert!(
        kinds(&outbox).contains(&"mfa_enabled".to_string()),
        "{:?}",
        kinds(&outbox)
    );
    let _ = std::fs::remove_dir_all(&outbox);
}

async fn recovery_codes_stand_in_for_a_code_once_each(store: Backend) {
    let e = enrolled(store).await;
    let app = &e.app;
    let first = e.recovery[0].clone();
    let mfa_token = first_step(app, HOME).await;
    second_step(
        app,
        HOME,
        json!({"mfa_token": mfa_token, "recovery_code": first}),
    )
    .await
    .assert_success(200);
    let mfa_token = first_step(app, HOME).await;
    second_step(
        app,
        HOME,
        json!({"mfa_token": mfa_token, "recovery_code": first}),
    )
    .await
    .assert_error(401, "INVALID_CODE");
    // Typed in capitals and without dashes, it is the same code.
    let typed = e.recovery[1].replace('-', "").to_uppercase();
    second_step(
        app,
        HOME,
        json!({"mfa_token": mfa_token, "recovery_code": typed}),
    )
    .await
    .assert_success(200);
    // Not both at once, and not neither.
    second_step(
        app,
        HOME,
        json!({"mfa_token": mfa_token, "recovery_code": e.recovery[2], "otp": code(app, &e.secret)}),
    )
    .await
    .assert_error(400, "VALIDATION_ERROR");
    second_step(app, HOME, json!({"mfa_token": mfa_token}))
        .await
        .assert_error(400, "VALIDATION_ERROR");
    let _ = std::fs::remove_dir_all(&e.outbox);
}

async fn an_mfa_token_is_bound_to_its_address_epoch_and_five_codes(store: Backend) {
    // A high threshold, so the token's own bound shows before the address's lock.
    let (app, outbox) = spawn(store, &[("DOMPET_LOCKOUT_FAILURES", "50")]).await;
    let e = enrolled_on(app, outbox, "guntur").await;
    let app = &e.app;
    let mfa_token = first_step(app, HOME).await;
    // Another address can't use it, and garbage is no token.
    second_step(
        app,
        "203.0.113.9",
        json!({"mfa_token": mfa_token, "otp": next_code(app, &e.secret)}),
    )
    .await
    .assert_error(401, "UNAUTHENTICATED");
    second_step(
        app,
        HOME,
        json!({"mfa_token": "not-a-token", "otp": "123456"}),
    )
    .await
    .assert_error(401, "UNAUTHENTICATED");
    // An access token is no mfa_token.
    second_step(app, HOME, json!({"mfa_token": e.token, "otp": "123456"}))
        .await
        .assert_error(401, "UNAUTHENTICATED");
    for _ in 0..5 {
        second_step(app, HOME, json!({"mfa_token": mfa_token, "otp": "000000"}))
            .await
            .assert_error(401, "INVALID_CODE");
    }
    // Five codes tried: not even the right one is checked now.
    second_step(
        app,
        HOME,
        json!({"mfa_token": mfa_token, "otp": next_code(app, &e.secret)}),
    )
    .await
    .assert_error(401, "UNAUTHENTICATED");
    // Three wrong codes after the right password told the owner, once.
    let notices = kinds(&e.outbox)
        .into_iter()
        .filter(|k| k == "mfa_code_failures")
        .count();
    assert_eq!(notices, 1, "{:?}", kinds(&e.outbox));
    // A token issued before every login ended is no good after it.
    let mfa_token = first_step(app, HOME).await;
    app.post_with_token("/logout/all", &e.token)
        .await
        .assert_success(200);
    second_step(
        app,
        HOME,
        json!({"mfa_token": mfa_token, "otp": next_code(app, &e.secret)}),
    )
    .await
    .assert_error(401, "UNAUTHENTICATED");
    let _ = std::fs::remove_dir_all(&e.outbox);
}

/// A burst of wrong codes from one address, on two hosts sharing the store: at most the lock
/// threshold's worth of attempts are checked (the right password's steps counted two), the rest
/// are 429, and then the password and even the right code are 429.
async fn a_burst_of_wrong_codes_locks_the_address(store: Backend) {
    let long_lock = [
        ("DOMPET_LOCKOUT_SECS", "60"),
        ("DOMPET_LOCKOUT_MAX_SECS", "120"),
    ];
    let (app, outbox) = spawn(store, &long_lock).await;
    let e = enrolled_on(app, outbox, "guntur").await;
    // Each host verifies the tokens it issued (hosts of a deployment share the signing key;
    // test hosts each have their own): one password step on each, two counted failures.
    let other = e.app.another_host(&long_lock).await;
    let mfa_token = first_step(&e.app, HOME).await;
    let other_token = first_step(&other, HOME).await;
    let attempts = (0..20).map(|i| {
        let (host, token) = match i % 2 {
            0 => (&e.app, mfa_token.clone()),
            _ => (&other, other_token.clone()),
        };
        async move {
            second_step(
                host,
                HOME,
                json!({"mfa_token": token, "otp": format!("{i:06}")}),
            )
            .await
        }
    });
    let replies = futures::future::join_all(attempts).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status.as_u16()).collect();
    let checked = replies.iter().filter(|r| r.status == 401).count();
    let locked = replies.iter().filter(|r| r.status == 429).count();
    assert_eq!(checked + locked, 20, "{statuses:?}");
    assert!(checked <= 3, "{checked} codes were checked: {statuses:?}");
    for r in replies.iter().filter(|r| r.status == 401) {
        r.assert_error(401, "INVALID_CODE");
    }
    for r in replies.iter().filter(|r| r.status == 429) {
        r.assert_error(429, "TOO_MANY_ATTEMPTS");
        assert!(r.headers.contains_key("retry-after"));
    }
    // Locked: the password step, and the right code on the token already issued.
    e.app
        .login_from(HOME, json!({"username": "guntur", "password": PASSWORD}))
        .await
        .assert_error(429, "TOO_MANY_ATTEMPTS");
    second_step(
        &e.app,
        HOME,
        json!({"mfa_token": mfa_token, "otp": next_code(&e.app, &e.secret)}),
    )
    .await
    .assert_error(429, "TOO_MANY_ATTEMPTS");
    // The owner's other address is not locked.
    let elsewhere = first_step(&e.app, "192.0.2.44").await;
    second_step(
        &e.app,
        "192.0.2.44",
        json!({"mfa_token": elsewhere, "otp": next_code(&e.app, &e.secret)}),
    )
    .await
    .assert_success(200);
    let _ = std::fs::remove_dir_all(&e.outbox);
}

async fn money_moves_only_with_a_code_and_a_replay_needs_none(store: Backend) {
    let e = enrolled(store).await;
    let app = &e.app;
    app.topup(&e.token, 100_000).await.assert_success(200);
    let pay = |body: Value, key: Option<&'static str>| {
        let token = e.token.clone();
        async move { app.post_authed("/pay", &token, &body, key).await }
    };
    pay(json!({"amount": 10_000}), None)
        .await
        .assert_error(401, "MFA_REQUIRED");
    pay(json!({"amount": 10_000, "otp": "000000"}), None)
        .await
        .assert_error(401, "INVALID_CODE");
    pay(json!({"amount": 10_000, "otp": "12ab56"}), None)
        .await
        .assert_error(400, "VALIDATION_ERROR");
    assert_eq!(app.balance(&e.token).await, 100_000);
    // A right code refused for the balance stays unused.
    let otp = next_code(app, &e.secret);
    pay(json!({"amount": 500_000, "otp": otp}), None)
        .await
        .assert_error(400, "INSUFFICIENT_BALANCE");
    let paid = pay(json!({"amount": 10_000, "otp": otp}), Some("pay-1")).await;
    let payment_id = paid.assert_success(200)["payment_id"].clone();
    // The retry after a timeout: the recorded answer, without a code, and no second payment.
    let replay = pay(json!({"amount": 10_000}), Some("pay-1")).await;
    assert_eq!(replay.assert_success(200)["payment_id"], payment_id);
    let replay = pay(json!({"amount": 10_000, "otp": "999999"}), Some("pay-1")).await;
    assert_eq!(replay.assert_success(200)["payment_id"], payment_id);
    assert_eq!(app.balance(&e.token).await, 90_000);
    // The code is used.
    pay(json!({"amount": 10_000, "otp": otp}), None)
        .await
        .assert_error(401, "INVALID_CODE");
    // A transfer asks the same, and takes a recovery code.
    app.register(json!({"username": "pratiwi", "password": PASSWORD}))
        .await
        .assert_success(201);
    let transfer = |body: Value| {
        let token = e.token.clone();
        async move { app.post_authed("/transfer", &token, &body, None).await }
    };
    transfer(json!({"target_user": "pratiwi", "amount": 30_000}))
        .await
        .assert_error(401, "MFA_REQUIRED");
    transfer(
        json!({"target_user": "pratiwi", "amount": 30_000, "recovery_code": "aaaa-bbbb-cccc-dddd"}),
    )
    .await
    .assert_error(401, "INVALID_CODE");
    let sent = app
        .post_authed(
            "/transfer",
            &e.token,
            &json!({"target_user": "pratiwi", "amount": 30_000, "recovery_code": e.recovery[0]}),
            Some("transfer-1"),
        )
        .await;
    let transfer_id = sent.assert_success(202)["transfer_id"].clone();
    // Retried after a timeout: the recorded answer without a code, and no second transfer.
    let again = app
        .post_authed(
            "/transfer",
            &e.token,
            &json!({"target_user": "pratiwi", "amount": 30_000}),
            Some("transfer-1"),
        )
        .await;
    assert_eq!(again.assert_success(202)["transfer_id"], transfer_id);
    transfer(json!({"target_user": "pratiwi", "amount": 30_000, "recovery_code": e.recovery[0]}))
        .await
        .assert_error(401, "INVALID_CODE");
    app.settled().await;
    assert_eq!(app.balance(&e.token).await, 60_000);
    // A top-up asks for nothing.
    app.topup(&e.token, 1).await.assert_success(200);
    let _ = std::fs::remove_dir_all(&e.outbox);
}

/// One code sent with many payments at once, from two hosts sharing the store: one payment.
async fn one_code_moves_money_once_however_many_requests_carry_it(store: Backend) {
    let (app, outbox) = spawn(store, &[("DOMPET_LOCKOUT_FAILURES", "50")]).await;
    let e = enrolled_on(app, outbox, "guntur").await;
    let other = e
        .app
        .another_host(&[("DOMPET_LOCKOUT_FAILURES", "50")])
        .await;
    e.app.topup(&e.token, 100_000).await.assert_success(200);
    // A login of the other host's (each test host signs with its own key).
    let mfa_token = first_step(&other, HOME).await;
    let reply = second_step(
        &other,
        HOME,
        json!({"mfa_token": mfa_token, "otp": next_code(&e.app, &e.secret)}),
    )
    .await;
    let other_token = reply.assert_success(200)["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let otp = next_code(&e.app, &e.secret);
    other.state.advance_code_clock(60);
    let mut payments = Vec::new();
    for i in 0..12 {
        let (host, token) = match i % 2 {
            0 => (&e.app, e.token.clone()),
            _ => (&other, other_token.clone()),
        };
        let otp = otp.clone();
        payments.push(async move {
            host.post_authed("/pay", &token, &json!({"amount": 1_000, "otp": otp}), None)
                .await
        });
    }
    let replies = futures::future::join_all(payments).await;
    let paid = replies.iter().filter(|r| r.status == 200).count();
    assert_eq!(
        paid,
        1,
        "{:?}",
        replies
            .iter()
            .map(|r| (r.status, r.body["code"].clone()))
            .collect::<Vec<_>>()
    );
    for r in replies.iter().filter(|r| r.status != 200) {
        r.assert_error(401, "INVALID_CODE");
    }
    assert_eq!(e.app.balance(&e.token).await, 99_000);
    let _ = std::fs::remove_dir_all(&e.outbox);
}

async fn sensitive_changes_need_the_code_after_the_secret(store: Backend) {
    let e = enrolled(store).await;
    let app = &e.app;
    // The secret is checked first: a wrong one is INVALID_CREDENTIALS even without a code.
    send(
        app,
        Method::PUT,
        "/account/email",
        &e.token,
        json!({"email": "g@example.com", "current_password": "salah-sekali"}),
    )
    .await
    .assert_error(401, "INVALID_CREDENTIALS");
    send(
        app,
        Method::PUT,
        "/account/email",
        &e.token,
        json!({"email": "g@example.com", "current_password": PASSWORD}),
    )
    .await
    .assert_error(401, "MFA_REQUIRED");
    send(
        app,
        Method::PUT,
        "/account/email",
        &e.token,
        json!({"email": "g@example.com", "current_password": PASSWORD, "otp": "000000"}),
    )
    .await
    .assert_error(401, "INVALID_CODE");
    let account = app.get_with_token("/account", &e.token).await;
    assert_eq!(account.assert_success(200)["email"], "guntur@example.com");
    let reply = send(app, Method::PUT, "/account/email", &e.token, json!({"email": "g@example.com", "current_password": PASSWORD, "otp": next_code(app, &e.secret)})).await;
    assert_eq!(reply.assert_success(200)["email"], "g@example.com");
    assert_eq!(reply.body["result"]["mfa"], true);
    // The secret change.
    send(
        app,
        Method::PUT,
        "/account/secret",
        &e.token,
        json!({"current_password": PASSWORD, "password": "rahasia-baru-sekali"}),
    )
    .await
    .assert_error(401, "MFA_REQUIRED");
    send(app, Method::PUT, "/account/secret", &e.token, json!({"current_password": PASSWORD, "password": "rahasia-baru-sekali", "recovery_code": e.recovery[3]}))
        .await
        .assert_success(200);
    // Closing.
    send(
        app,
        Method::DELETE,
        "/account",
        &e.token,
        json!({"password": "rahasia-baru-sekali"}),
    )
    .await
    .assert_error(401, "MFA_REQUIRED");
    send(
        app,
        Method::DELETE,
        "/account",
        &e.token,
        json!({"password": "rahasia-baru-sekali", "otp": next_code(app, &e.secret)}),
    )
    .await
    .assert_success(200);
    app.register(json!({"username": "guntur", "password": PASSWORD}))
        .await
        .assert_success(201);
    // A new account of that name has no factor.
    app.tokens(json!({"username": "guntur", "password": PASSWORD}))
        .await;
    let _ = std::fs::remove_dir_all(&e.outbox);
}

async fn removing_the_factor_needs_the_secret_and_a_code_and_ends_other_logins(store: Backend) {
    let e = enrolled(store).await;
    let app = &e.app;
    let mfa_token = first_step(app, HOME).await;
    let reply = second_step(
        app,
        HOME,
        json!({"mfa_token": mfa_token, "otp": next_code(app, &e.secret)}),
    )
    .await;
    let other = reply.assert_success(200)["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    send(
        app,
        Method::DELETE,
        "/mfa/totp",
        &e.token,
        json!({"password": PASSWORD}),
    )
    .await
    .assert_error(401, "MFA_REQUIRED");
    send(
        app,
        Method::DELETE,
        "/mfa/totp",
        &e.token,
        json!({"password": "salah-sekali", "otp": code(app, &e.secret)}),
    )
    .await
    .assert_error(401, "INVALID_CREDENTIALS");
    send(
        app,
        Method::DELETE,
        "/mfa/totp",
        &e.token,
        json!({"password": PASSWORD, "otp": next_code(app, &e.secret)}),
    )
    .await
    .assert_success(200);
    app.get_with_token("/account", &other)
        .await
        .assert_error(401, "UNAUTHENTICATED");
    let account = app.get_with_token("/account", &e.token).await;
    assert_eq!(account.assert_success(200)["mfa"], false);
    send(
        app,
        Method::DELETE,
        "/mfa/totp",
        &e.token,
        json!({"password": PASSWORD, "otp": next_code(app, &e.secret)}),
    )
    .await
    .assert_error(404, "NOT_FOUND");
    // The secret alone logs in again, and money moves without a code; the recovery codes are gone.
    app.tokens(json!({"username": "guntur", "password": PASSWORD}))
        .await;
    app.topup(&e.token, 5_000).await.assert_success(200);
    app.post_authed("/pay", &e.token, &json!({"amount": 1_000}), None)
        .await
        .assert_success(200);
    let kinds = kinds(&e.outbox);
    assert!(
        kinds.contains(&"mfa_enabled".to_string()) && kinds.contains(&"mfa_disabled".to_string()),
        "{kinds:?}"
    );
    for m in messages(&e.outbox) {
        let text = m.to_string();
        assert!(
            !text.contains(&e.secret),
            "a notification carries the secret: {text}"
        );
    }
    let _ = std::fs::remove_dir_all(&e.outbox);
}

async fn a_password_reset_keeps_the_factor_and_an_operator_removes_it(store: Backend) {
    let (app, outbox) = spawn(store, &[]).await;
    app.register(
        json!({"username": "guntur", "email": "guntur@example.com", "password": PASSWORD}),
    )
    .await
    .assert_success(201);
    let (token, _) = app
        .tokens(json!({"username": "guntur", "password": PASSWORD}))
        .await;
    let reply = send(
        &app,
        Method::POST,
        "/mfa/totp",
        &token,
        json!({"password": PASSWORD}),
    )
    .await;
    let secret = reply.assert_success(200)["secret"]
        .as_str()
        .unwrap()
        .to_string();
    send(
        &app,
        Method::POST,
        "/mfa/totp/confirm",
        &token,
        json!({"code": code(&app, &secret)}),
    )
    .await
    .assert_success(200);
    app.post_json("/password/forgot", &json!({"username": "guntur"}))
        .await
        .assert_success(202);
    let reset_code = messages(&outbox)
        .iter()
        .rev()
        .find(|m| m["kind"] == "password_reset")
        .unwrap()["code"]
        .as_str()
        .unwrap()
        .to_string();
    app.post_json(
        "/password/reset",
        &json!({"username": "guntur", "code": reset_code, "password": "rahasia-baru-sekali"}),
    )
    .await
    .assert_success(200);
    app.login(json!({"username": "guntur", "password": "rahasia-baru-sekali"}))
        .await
        .assert_error(401, "MFA_REQUIRED");
    // The operator's removal, for an owner who lost the app and the codes.
    let user = dompet::domain::UserId::parse(claims(&token)["sub"].as_str().unwrap()).unwrap();
    assert!(dompet::service::mfa::remove_by_operator(&app.state, user)
        .await
        .unwrap());
    app.tokens(json!({"username": "guntur", "password": "rahasia-baru-sekali"}))
        .await;
    assert!(kinds(&outbox).contains(&"mfa_disabled".to_string()));
    assert!(!dompet::service::mfa::remove_by_operator(&app.state, user)
        .await
        .unwrap());
    let _ = std::fs::remove_dir_all(&outbox);
}

/// Wrong codes after the right secret tell the owner once, however the guesser spreads them
/// over logins and step-ups; and the right secret alone never resets the count the wrong codes
/// built (a `POST /mfa/totp` while a factor is active answers 409 and stays counted).
async fn wrong_codes_after_the_right_secret_are_told_and_stay_counted(store: Backend) {
    let long_lock = [
        ("DOMPET_LOCKOUT_SECS", "60"),
        ("DOMPET_LOCKOUT_MAX_SECS", "120"),
    ];
    let (app, outbox) = spawn(store, &long_lock).await;
    let e = enrolled_on(app, outbox, "guntur").await;
    let app = &e.app;
    let notices = || {
        kinds(&e.outbox)
            .into_iter()
            .filter(|k| k == "mfa_code_failures")
            .count()
    };
    // Two logins, a wrong code on each: not yet.
    for _ in 0..2 {
        let token = first_step(app, "192.0.2.80").await;
        second_step(
            app,
            "192.0.2.80",
            json!({"mfa_token": token, "otp": "000000"}),
        )
        .await
        .assert_error(401, "INVALID_CODE");
    }
    assert_eq!(notices(), 0);
    // The third, a step-up after the right password: the owner is told, once.
    send(
        app,
        Method::DELETE,
        "/mfa/totp",
        &e.token,
        json!({"password": PASSWORD, "otp": "000000"}),
    )
    .await
    .assert_error(401, "INVALID_CODE");
    assert_eq!(notices(), 1, "{:?}", kinds(&e.outbox));
    send(
        app,
        Method::DELETE,
        "/mfa/totp",
        &e.token,
        json!({"password": PASSWORD, "otp": "000000"}),
    )
    .await
    .assert_error(401, "INVALID_CODE");
    assert_eq!(notices(), 1);
    // From this address (127.0.0.1) two wrong codes are counted; the right password alone
    // (a set-up refused while one is active) is a third, never a reset.
    send(
        app,
        Method::POST,
        "/mfa/totp",
        &e.token,
        json!({"password": PASSWORD}),
    )
    .await
    .assert_error(409, "MFA_ALREADY_ENABLED");
    send(
        app,
        Method::DELETE,
        "/mfa/totp",
        &e.token,
        json!({"password": PASSWORD, "otp": "000000"}),
    )
    .await
    .assert_error(401, "INVALID_CODE");
    // The fifth locks the address: even the right code is refused now.
    send(
        app,
        Method::DELETE,
        "/mfa/totp",
        &e.token,
        json!({"password": PASSWORD, "otp": "111111"}),
    )
    .await
    .assert_error(401, "INVALID_CODE");
    send(
        app,
        Method::DELETE,
        "/mfa/totp",
        &e.token,
        json!({"password": PASSWORD, "otp": next_code(app, &e.secret)}),
    )
    .await
    .assert_error(429, "TOO_MANY_ATTEMPTS");
    let _ = std::fs::remove_dir_all(&e.outbox);
}

dompet_tests::both_stores!(
    wrong_codes_after_the_right_secret_are_told_and_stay_counted,
    enrol_confirm_and_log_in_in_two_steps,
    recovery_codes_stand_in_for_a_code_once_each,
    an_mfa_token_is_bound_to_its_address_epoch_and_five_codes,
    a_burst_of_wrong_codes_locks_the_address,
    money_moves_only_with_a_code_and_a_replay_needs_none,
    one_code_moves_money_once_however_many_requests_carry_it,
    sensitive_changes_need_the_code_after_the_secret,
    removing_the_factor_needs_the_secret_and_a_code_and_ends_other_logins,
    a_password_reset_keeps_the_factor_and_an_operator_removes_it,
);
