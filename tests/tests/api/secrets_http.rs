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
    let renewed = refresh(&app, &refresh_token).await;
    let renewed = renewed.assert_success(200)["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    // Its refresh tokens keep rotating at the account's new epoch.
    refresh(&app, &renewed).await.assert_success(200);
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

// api.md "Logins end with the secret": a login whose secret was verified before a secret
// change, a reset, logging out everywhere or closing, and that finishes after it, gets no
// usable tokens.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    SecretChange,
    Reset,
    LogoutAll,
    Close,
}

const OWNER: &str = "guntur";
const OLD: &str = "rahasia-sekali";
const NEW: &str = "rahasia-baru-sekali";

/// A fresh folder for a host's outbox.
fn outbox_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("dompet-outbox-{}", uuid::Uuid::new_v4()))
}

/// The code of the newest reset message in `outbox`.
fn newest_code(outbox: &std::path::Path) -> String {
    let mut files: Vec<_> = std::fs::read_dir(outbox)
        .expect("the outbox")
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .rev()
        .map(|f| serde_json::from_slice::<Value>(&std::fs::read(f).unwrap()).unwrap())
        .find(|m| m["kind"] == "password_reset")
        .expect("a reset code in the outbox")["code"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Ends the owner's logins as `ending` does, through `app`; `token` is a login of the owner.
async fn end_logins(app: &TestApp, ending: Ending, token: &str, outbox: &std::path::Path) {
    match ending {
        Ending::SecretChange => {
            put_secret(
                app,
                token,
                json!({"current_password": OLD, "password": NEW}),
            )
            .await
            .assert_success(200);
        }
        Ending::Reset => {
            app.post_json("/password/forgot", &json!({"username": OWNER}))
                .await
                .assert_success(202);
            let code = newest_code(outbox);
            app.post_json(
                "/password/reset",
                &json!({"username": OWNER, "code": code, "password": NEW}),
            )
            .await
            .assert_success(200);
        }
        Ending::LogoutAll => {
            app.post_with_token("/logout/all", token)
                .await
                .assert_success(200);
        }
        Ending::Close => {
            app.send(
                app.request(Method::DELETE, "/account")
                    .bearer_auth(token)
                    .json(&json!({"password": OLD})),
            )
            .await
            .assert_success(200);
        }
    }
}

/// Whether a login's tokens still open anything on `hosts`: its access token on `/account`,
/// its refresh token on `/token/refresh`.
async fn still_works(hosts: &[&TestApp], access: &str, refresh_token: &str) -> bool {
    for host in hosts {
        if host.get_with_token("/account", access).await.status == 200 {
            return true;
        }
    }
    refresh(hosts[0], refresh_token).await.status == 200
}

fn host_vars(outbox: &std::path::Path) -> Vec<(&'static str, String)> {
    vec![
        ("DOMPET_LOCKOUT_SECS", "1".to_string()),
        ("DOMPET_LOCKOUT_MAX_SECS", "2".to_string()),
        ("DOMPET_OUTBOX_DIR", outbox.to_string_lossy().into_owned()),
    ]
}

fn borrowed<'a>(vars: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    vars.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// The race made deterministic: a login verifies the old secret and is held before writing its
/// family while the owner ends every login; let go, it gets 401 and nothing it could use.
async fn a_login_verified_before_the_logins_end_gets_no_tokens(store: Backend) {
    for ending in [
        Ending::SecretChange,
        Ending::Reset,
        Ending::LogoutAll,
        Ending::Close,
    ] {
        let outbox = outbox_dir();
        let vars = host_vars(&outbox);
        let (app, gate) = TestApp::spawn_gated(store.fresh_store().await, &borrowed(&vars)).await;
        app.register(json!({"username": OWNER, "email": "guntur@example.com", "password": OLD}))
            .await
            .assert_success(201);
        let (owner, _) = app
            .tokens(json!({"username": OWNER, "password": OLD}))
            .await;

        gate.hold_next();
        let attacker = {
            let (client, url) = (app.client.clone(), app.url("/login"));
            tokio::spawn(async move {
                let r = client
                    .post(url)
                    .json(&json!({"username": OWNER, "password": OLD}))
                    .send()
                    .await
                    .unwrap();
                (r.status().as_u16(), r.json::<Value>().await.unwrap())
            })
        };
        gate.held().await;
        end_logins(&app, ending, &owner, &outbox).await;
        gate.release();
        let (status, body) = attacker.await.unwrap();
        if status == 200 {
            let (access, refresh_token) = (
                body["result"]["access_token"].as_str().unwrap(),
                body["result"]["refresh_token"].as_str().unwrap(),
            );
            let works = still_works(&[&app], access, refresh_token).await;
            panic!("{ending:?}: the held login got tokens (still usable: {works})");
        }
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("INVALID_CREDENTIALS")),
            "{ending:?}: {body}"
        );
        let _ = std::fs::remove_dir_all(&outbox);
    }
}

/// The auth epoch a login is bound to, as its (signed, readable) refresh token says: the one
/// read with the secret's hash.
fn bound_epoch(refresh_token: &str) -> u64 {
    use base64::Engine;
    let payload = refresh_token.split('.').nth(1).expect("a JWT");
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url"),
    )
    .expect("JSON claims");
    claims["aep"].as_u64().unwrap_or(0)
}

/// The attack over HTTP: four clients log in with the old password again and again, through
/// two hosts (two processes' connections to one store), while the owner ends every login. No
/// login verified before the ending committed keeps working: after a secret change or a reset
/// no login with the old password at all; after logging out everywhere none bound to the epoch
/// the account had before (a login whose verification read the account after the commit is a
/// new, rightful one, however early its request was sent).
async fn logins_racing_the_end_of_logins_from_two_hosts_all_end(store: Backend) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    for ending in [Ending::SecretChange, Ending::Reset, Ending::LogoutAll] {
        let outbox = outbox_dir();
        let mut vars = host_vars(&outbox);
        // Each login in flight holds a reserved attempt (the lockout's burst guarantee), so
        // five at once may lock the account — the owner's own change included. The lockout is
        // not what this test is about.
        vars.push(("DOMPET_LOCKOUT_FAILURES", "1000".to_string()));
        let (store_one, store_two) = store.fresh_store_pair().await;
        let one = Arc::new(TestApp::spawn_on(store_one, &borrowed(&vars)).await);
        let two = Arc::new(TestApp::spawn_on(store_two, &borrowed(&vars)).await);
        one.register(json!({"username": OWNER, "email": "guntur@example.com", "password": OLD}))
            .await
            .assert_success(201);
        let (owner, owner_refresh) = one
            .tokens(json!({"username": OWNER, "password": OLD}))
            .await;
        let epoch_before = bound_epoch(&owner_refresh);

        let started = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..4)
            .map(|i| {
                let (one, two, stop) = (one.clone(), two.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut logins = Vec::new();
                    while !stop.load(Ordering::SeqCst) {
                        let host = if i % 2 == 0 { &one } else { &two };
                        let sent = started.elapsed();
                        let reply = host
                            .login(json!({"username": OWNER, "password": OLD}))
                            .await;
                        logins.push((sent, reply));
                    }
                    logins
                })
            })
            .collect();
        // Let the clients get going, so that logins are in flight when the ending commits.
        tokio::time::sleep(Duration::from_millis(600)).await;
        let ending_began = started.elapsed();
        end_logins(&one, ending, &owner, &outbox).await;
        // Logins sent until now may still be on their way; let them land.
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.store(true, Ordering::SeqCst);
        let mut logins = Vec::new();
        for c in clients {
            logins.extend(c.await.unwrap());
        }

        let (mut raced, mut issued, mut survived) = (0, 0, 0);
        for (sent, reply) in &logins {
            assert!(
                [200, 401, 429].contains(&reply.status.as_u16()),
                "{ending:?}: {:?}",
                reply.body
            );
            if *sent < ending_began {
                raced += 1;
            }
            if reply.status != 200 {
                continue;
            }
            let result = &reply.body["result"];
            let (access, refresh_token) = (
                result["access_token"].as_str().unwrap(),
                result["refresh_token"].as_str().unwrap(),
            );
            if ending == Ending::LogoutAll && bound_epoch(refresh_token) != epoch_before {
                continue;
            }
            issued += 1;
            if still_works(&[&one, &two], access, refresh_token).await {
                survived += 1;
            }
        }
        eprintln!(
            "{store:?} {ending:?}: {raced} logins sent before it began, {issued} got tokens bound to the old epoch, {survived} survived"
        );
        assert!(
            issued > 0,
            "{ending:?}: no login got tokens before the ending"
        );
        assert_eq!(
            survived, 0,
            "{ending:?}: {survived} of {issued} logins survived"
        );
        let _ = std::fs::remove_dir_all(&outbox);
    }
}

dompet_tests::both_stores!(
    a_new_password_logs_in_and_every_other_login_ends,
    the_family_may_switch_from_password_to_pin_and_back,
    wrong_current_secrets_count_toward_the_lockout_and_change_nothing,
    bad_requests_are_refused_before_anything_changes,
    a_login_ended_elsewhere_cannot_change_the_secret,
    two_changes_at_once_leave_one_secret,
    a_login_verified_before_the_logins_end_gets_no_tokens,
    logins_racing_the_end_of_logins_from_two_hosts_all_end,
);
