//! Black-box tests of resetting a forgotten secret (api.md, Account lifecycle) over HTTP, on
//! both stores, end to end through the server's outbox: `POST /password/forgot`,
//! `POST /password/reset`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use dompet::domain::{now_millis, UserId};
use dompet_tests::{Backend, Reply, TestApp};
use serde_json::{json, Value};

struct World {
    app: TestApp,
    outbox: PathBuf,
}

impl World {
    async fn new(backend: Backend) -> Self {
        let outbox = std::env::temp_dir().join(format!("dompet-outbox-{}", uuid::Uuid::new_v4()));
        let dir = outbox.to_str().unwrap().to_string();
        let app = TestApp::spawn_with(
            backend,
            &[
                ("DOMPET_LOCKOUT_SECS", "1"),
                ("DOMPET_LOCKOUT_MAX_SECS", "4"),
                ("DOMPET_OUTBOX_DIR", &dir),
            ],
        )
        .await;
        Self { app, outbox }
    }

    /// The messages in the outbox, oldest first.
    fn messages(&self) -> Vec<Value> {
        let Ok(dir) = std::fs::read_dir(&self.outbox) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = dir.map(|e| e.unwrap().path()).collect();
        files.sort();
        files
            .iter()
            .map(|f| {
                assert_eq!(f.extension().unwrap(), "json", "{f:?}");
                serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap()
            })
            .collect()
    }

    fn last_code(&self) -> String {
        let messages = self.messages();
        let code = messages.last().expect("a message")["code"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()),
            "{code}"
        );
        code
    }

    async fn forgot(&self, body: Value) -> Reply {
        self.app.post_json("/password/forgot", &body).await
    }

    async fn reset(&self, body: Value) -> Reply {
        self.app.post_json("/password/reset", &body).await
    }

    /// `POST /password/forgot` or `/password/reset` from the client address `from`.
    async fn post_from(&self, path: &str, from: &str, body: Value) -> Reply {
        self.app
            .send(
                self.app
                    .request(reqwest::Method::POST, path)
                    .header("x-forwarded-for", from)
                    .json(&body),
            )
            .await
    }

    /// A code for `username`, asked for from `from`.
    async fn code_from(&self, from: &str, username: &str) -> String {
        self.post_from("/password/forgot", from, json!({ "username": username }))
            .await
            .assert_success(202);
        self.last_code()
    }

    /// A wrong code for the last one delivered.
    fn wrong_code(&self, offset: u32) -> String {
        let code: u32 = self.last_code().parse().unwrap();
        format!("{:06}", (code + 1 + offset) % 1_000_000)
    }
}

/// An account whose owner logged in from `HOME` (the address is theirs).
const HOME: &str = "198.51.100.10";

async fn owner_at_home(w: &World, username: &str) -> String {
    let reply = w
        .app
        .register(json!({"username": username, "email": format!("{username}@example.com"), "password": "rahasia-sekali"}))
        .await;
    let user_id = reply.assert_success(201)["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    w.app
        .login_from(
            HOME,
            json!({"username": username, "password": "rahasia-sekali"}),
        )
        .await
        .assert_success(200);
    user_id
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.outbox);
    }
}

async fn a_code_from_the_outbox_sets_a_new_password_and_ends_every_login(store: Backend) {
    let w = World::new(store).await;
    let app = &w.app;
    let reply = app
        .register(json!({"username": "guntur", "email": "Guntur@Example.com", "password": "rahasia-sekali"}))
        .await;
    let user_id = reply.assert_success(201)["user_id"].clone();
    let login = json!({"username": "guntur", "password": "rahasia-sekali"});
    let (access, refresh) = app.tokens(login.clone()).await;

    let reply = w.forgot(json!({"email": "guntur@example.com"})).await;
    assert_eq!(reply.assert_success(202), &Value::Null);
    let messages = w.messages();
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert_eq!(m["kind"], "password_reset");
    assert_eq!(m["user_id"], user_id);
    assert_eq!(
        (&m["channel"], &m["to"]),
        (&json!("email"), &json!("guntur@example.com"))
    );
    assert!(m["created_date"].is_string());
    let code = w.last_code();
    // The code is in no answer.
    assert!(!reply.body.to_string().contains(&code));

    let reset = json!({"username": "GUNTUR", "code": code, "password": "rahasia-baru-sekali"});
    let reply = w.reset(reset.clone()).await;
    assert_eq!(reply.assert_success(200), &Value::Null);
    assert!(!reply.body.to_string().contains(&code));
    // Every login ended, access and refresh.
    app.get_with_token("/account", &access)
        .await
        .assert_error(401, "UNAUTHENTICATED");
    app.post_json("/token/refresh", &json!({"refresh_token": refresh}))
        .await
        .assert_error(401, "UNAUTHENTICATED");
    app.login(login)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    app.tokens(json!({"email": "guntur@example.com", "password": "rahasia-baru-sekali"}))
        .await;
    // Single use.
    w.reset(json!({"username": "guntur", "code": code, "password": "rahasia-lain-lagi"}))
        .await
        .assert_error(400, "INVALID_CODE");
    app.tokens(json!({"username": "guntur", "password": "rahasia-baru-sekali"}))
        .await;
}

async fn a_phone_account_gets_its_code_by_sms_and_may_switch_to_a_pin(store: Backend) {
    let w = World::new(store).await;
    w.app
        .register(json!({"username": "sari", "email": "sari@example.com", "phone_number": "081234567890", "password": "rahasia-sekali"}))
        .await
        .assert_success(201);
    w.forgot(json!({"phone_number": "081234567890"}))
        .await
        .assert_success(202);
    let m = w.messages().pop().unwrap();
    assert_eq!(
        (&m["channel"], &m["to"]),
        (&json!("sms"), &json!("081234567890"))
    );
    // Asked by username: the email.
    w.forgot(json!({"username": "sari"}))
        .await
        .assert_success(202);
    let m = w.messages().pop().unwrap();
    assert_eq!(
        (&m["channel"], &m["to"]),
        (&json!("email"), &json!("sari@example.com"))
    );
    let code = w.last_code();
    w.reset(json!({"phone_number": "081234567890", "code": code, "pin": "135790"}))
        .await
        .assert_success(200);
    w.app
        .tokens(json!({"username": "sari", "pin": "135790"}))
        .await;
}

async fn unknown_identifiers_get_the_same_answer_in_the_same_time(store: Backend) {
    let w = World::new(store).await;
    w.app
        .register(json!({"username": "guntur", "email": "guntur@example.com", "password": "rahasia-sekali"}))
        .await
        .assert_success(201);
    let known = json!({"email": "guntur@example.com"});
    let unknown = json!({"email": "nobody@example.com"});
    let mut times: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
    let mut bodies = Vec::new();
    // Alternating, one at a time: the known account's first 3 deliver a code, the rest hit the
    // hourly limit.
    for _ in 0..6 {
        for (i, body) in [&known, &unknown].into_iter().enumerate() {
            let started = Instant::now();
            let reply = w.forgot(body.clone()).await;
            times[i].push(started.elapsed());
            assert_eq!(reply.status, 202);
            bodies.push(reply.body.clone());
        }
    }
    assert!(bodies.windows(2).all(|p| p[0] == p[1]), "{bodies:?}");
    assert_eq!(w.messages().len(), 3, "3 deliveries an hour");
    let median = |t: &mut Vec<Duration>| {
        t.sort();
        t[t.len() / 2]
    };
    let (k, u) = (median(&mut times[0]), median(&mut times[1]));
    println!("POST /password/forgot, median of 6: known {k:?}, unknown {u:?}");
    for t in times.iter().flatten() {
        assert!(*t >= Duration::from_millis(300), "{t:?}");
    }
    let gap = k.abs_diff(u);
    assert!(
        gap < Duration::from_millis(50),
        "known {k:?} vs unknown {u:?}"
    );
}

async fn codes_expire_are_replaced_and_three_an_hour_are_sent(store: Backend) {
    let w = World::new(store).await;
    let reply = w
        .app
        .register(json!({"username": "guntur", "email": "guntur@example.com", "password": "rahasia-sekali"}))
        .await;
    let user = UserId::parse(reply.assert_success(201)["user_id"].as_str().unwrap()).unwrap();
    let ask = json!({"username": "guntur"});
    w.forgot(ask.clone()).await.assert_success(202);
    let first = w.last_code();
    w.forgot(ask.clone()).await.assert_success(202);
    let second = w.last_code();
    w.forgot(ask.clone()).await.assert_success(202);
    let third = w.last_code();
    w.forgot(ask.clone()).await.assert_success(202);
    assert_eq!(w.messages().len(), 3, "the fourth in the hour is not sent");
    // Only the newest code works.
    for old in [&first, &second] {
        if *old != third {
            w.reset(json!({"username": "guntur", "code": old, "password": "rahasia-baru-sekali"}))
                .await
                .assert_error(400, "INVALID_CODE");
        }
    }
    // Past its 15 minutes it is refused (the record's clock moved back behind the API).
    let store = w.app.state.store();
    let live = store.get_reset(user, now_millis()).await.unwrap().unwrap();
    let mut expired = live.value.clone();
    expired.code_expires_at = now_millis() - 1;
    assert!(store
        .put_reset(
            user,
            Some(live.version),
            &expired,
            now_millis() + 3_600_000,
            now_millis()
        )
        .await
        .unwrap());
    w.reset(json!({"username": "guntur", "code": third, "password": "rahasia-baru-sekali"}))
        .await
        .assert_error(400, "INVALID_CODE");
    w.app
        .tokens(json!({"username": "guntur", "password": "rahasia-sekali"}))
        .await;
}

async fn five_wrong_codes_void_it_even_all_at_once(store: Backend) {
    let w = World::new(store).await;
    w.app
        .register(json!({"username": "guntur", "email": "guntur@example.com", "password": "rahasia-sekali"}))
        .await
        .assert_success(201);
    w.forgot(json!({"username": "guntur"}))
        .await
        .assert_success(202);
    let code = w.last_code();
    let wrong: Vec<String> = (0..20)
        .map(|i| format!("{:06}", (code.parse::<u32>().unwrap() + 1 + i) % 1_000_000))
        .collect();
    let replies = futures::future::join_all(wrong.iter().map(|c| {
        w.reset(json!({"username": "guntur", "code": c, "password": "rahasia-baru-sekali"}))
    }))
    .await;
    for r in &replies {
        r.assert_error(400, "INVALID_CODE");
    }
    // However many arrived at once, at most 5 were tried: the code is void now.
    w.reset(json!({"username": "guntur", "code": code, "password": "rahasia-baru-sekali"}))
        .await
        .assert_error(400, "INVALID_CODE");
    w.app
        .tokens(json!({"username": "guntur", "password": "rahasia-sekali"}))
        .await;
    // Four wrong ones leave a new code working (from another address: this one has had its
    // five tries for the day, across codes).
    w.forgot(json!({"username": "guntur"}))
        .await
        .assert_success(202);
    let code = w.last_code();
    let elsewhere = "192.0.2.44";
    for c in &wrong[..4] {
        if *c != code {
            w.post_from(
                "/password/reset",
                elsewhere,
                json!({"username": "guntur", "code": c, "password": "rahasia-baru-sekali"}),
            )
            .await
            .assert_error(400, "INVALID_CODE");
        }
    }
    w.reset(json!({"username": "guntur", "code": code.clone(), "password": "rahasia-baru-sekali"}))
        .await
        .assert_error(400, "INVALID_CODE");
    w.post_from(
        "/password/reset",
        elsewhere,
        json!({"username": "guntur", "code": code, "password": "rahasia-baru-sekali"}),
    )
    .await
    .assert_success(200);
}

async fn new_codes_buy_no_more_guesses_from_one_address(store: Backend) {
    let w = World::new(store).await;
    owner_at_home(&w, "guntur").await;
    let there = "203.0.113.7";
    let reset = |code: String| json!({"username": "guntur", "code": code, "password": "rahasia-baru-sekali"});
    // Four wrong tries at one code, one at the next: five from this address.
    w.code_from(there, "guntur").await;
    for i in 0..4 {
        w.post_from("/password/reset", there, reset(w.wrong_code(i)))
            .await
            .assert_error(400, "INVALID_CODE");
    }
    let code = w.code_from(there, "guntur").await;
    w.post_from("/password/reset", there, reset(w.wrong_code(0)))
        .await
        .assert_error(400, "INVALID_CODE");
    // The second code's right value is refused from there: every code is, for a day.
    w.post_from("/password/reset", there, reset(code.clone()))
        .await
        .assert_error(400, "INVALID_CODE");
    // Nobody's guesses block the owner's own reset from home.
    w.post_from("/password/reset", HOME, reset(code))
        .await
        .assert_success(200);
    w.app
        .tokens(json!({"username": "guntur", "password": "rahasia-baru-sekali"}))
        .await;
}

async fn a_burst_of_tries_from_many_addresses_on_two_hosts_gets_at_most_the_day_s_twenty(
    store: Backend,
) {
    let w = World::new(store).await;
    let user_id = owner_at_home(&w, "sasaran").await;
    let two = w.app.another_host(&[]).await;
    let addresses: Vec<String> = (0..40).map(|i| format!("203.0.113.{i}")).collect();
    let tries = addresses.iter().enumerate().map(|(i, from)| {
        let host = if i % 2 == 0 { &w.app } else { &two };
        let body = json!({"username": "sasaran", "code": format!("{:06}", 100_000 + i), "password": "rahasia-baru-sekali"});
        host.send(
            host.request(reqwest::Method::POST, "/password/reset")
                .header("x-forwarded-for", from)
                .json(&body),
        )
    });
    for reply in futures::future::join_all(tries).await {
        reply.assert_error(400, "INVALID_CODE");
    }
    let counted = w
        .app
        .state
        .store()
        .get_throttle(&format!("reset-ceiling:user:{user_id}"), now_millis())
        .await
        .unwrap()
        .expect("tries were counted")
        .value
        .failures;
    eprintln!("a burst of 40 code tries from 40 addresses: {counted} counted");
    assert_eq!(counted, 20, "the day's ceiling, and all of it");
    // A code asked for now is refused from any other address for the rest of the day...
    let code = w.code_from("192.0.2.1", "sasaran").await;
    let reset = json!({"username": "sasaran", "code": code, "password": "rahasia-baru-sekali"});
    w.post_from("/password/reset", "192.0.2.99", reset.clone())
        .await
        .assert_error(400, "INVALID_CODE");
    // ...but not from the owner's own address.
    w.post_from("/password/reset", HOME, reset)
        .await
        .assert_success(200);
}

async fn a_reset_ends_the_lockout_of_every_address(store: Backend) {
    let w = World::new(store).await;
    owner_at_home(&w, "lupa").await;
    for from in [HOME, "203.0.113.3"] {
        for _ in 0..5 {
            w.app
                .login_from(from, json!({"username": "lupa", "password": "salah-lagi"}))
                .await
                .assert_error(401, "INVALID_CREDENTIALS");
        }
    }
    let code = w.code_from(HOME, "lupa").await;
    w.post_from(
        "/password/reset",
        HOME,
        json!({"username": "lupa", "code": code, "password": "rahasia-baru-sekali"}),
    )
    .await
    .assert_success(200);
    for from in [HOME, "203.0.113.3"] {
        w.app
            .login_from(
                from,
                json!({"username": "lupa", "password": "rahasia-baru-sekali"}),
            )
            .await
            .assert_success(200);
    }
}

async fn one_address_gets_at_most_ten_codes_an_hour_across_accounts(store: Backend) {
    let w = World::new(store).await;
    for i in 0..6 {
        w.app
            .register(json!({"username": format!("pumped{i}"), "phone_number": format!("08123400000{i}"), "pin": "123456"}))
            .await
            .assert_success(201);
    }
    let pump = "203.0.113.250";
    for round in 0..2 {
        for i in 0..6 {
            w.post_from(
                "/password/forgot",
                pump,
                json!({"username": format!("pumped{i}")}),
            )
            .await
            .assert_success(202);
        }
        let _ = round;
    }
    assert_eq!(w.messages().len(), 10, "the address's hour is used up");
    // Another address is not held back by it.
    w.post_from(
        "/password/forgot",
        "192.0.2.50",
        json!({"username": "pumped0"}),
    )
    .await
    .assert_success(202);
    assert_eq!(w.messages().len(), 11);
}

async fn bad_requests_are_400_and_use_nothing_up(store: Backend) {
    let w = World::new(store).await;
    w.app
        .register(json!({"username": "guntur", "email": "guntur@example.com", "password": "rahasia-sekali"}))
        .await
        .assert_success(201);
    for (body, field) in [
        (json!({}), "_"),
        (
            json!({"username": "guntur", "email": "guntur@example.com"}),
            "_",
        ),
        (json!({"username": ""}), "username"),
        (json!({"username": "guntur", "extra": 1}), "extra"),
    ] {
        let reply = w.forgot(body.clone()).await;
        assert!(
            reply.field_errors().contains_key(field),
            "{body}: {}",
            reply.body
        );
    }
    assert!(w.messages().is_empty());
    // A request for an account that doesn't exist (or a malformed email) is not a bad request.
    w.forgot(json!({"email": "not an email"}))
        .await
        .assert_success(202);
    w.forgot(json!({"username": "guntur"}))
        .await
        .assert_success(202);
    let code = w.last_code();
    for (body, field) in [
        (
            json!({"code": code, "password": "rahasia-baru-sekali"}),
            "_",
        ),
        (
            json!({"username": "guntur", "password": "rahasia-baru-sekali"}),
            "code",
        ),
        (
            json!({"username": "guntur", "code": "12345", "password": "rahasia-baru-sekali"}),
            "code",
        ),
        (
            json!({"username": "guntur", "code": "12345a", "password": "rahasia-baru-sekali"}),
            "code",
        ),
        (
            json!({"username": "guntur", "code": 123456, "password": "rahasia-baru-sekali"}),
            "code",
        ),
        (
            json!({"username": "guntur", "code": code, "password": "pendek"}),
            "password",
        ),
        (json!({"username": "guntur", "code": code}), "_"),
        (
            json!({"username": "guntur", "code": code, "password": "rahasia-baru-sekali", "pin": "123456"}),
            "_",
        ),
    ] {
        let reply = w.reset(body.clone()).await;
        assert!(
            reply.field_errors().contains_key(field),
            "{body}: {}",
            reply.body
        );
    }
    // Unknown accounts are INVALID_CODE, like a wrong code.
    w.reset(json!({"username": "nobody", "code": code, "password": "rahasia-baru-sekali"}))
        .await
        .assert_error(400, "INVALID_CODE");
    // None of that used the code up or counted against it.
    w.reset(json!({"username": "guntur", "code": code, "password": "rahasia-baru-sekali"}))
        .await
        .assert_success(200);
}

dompet_tests::both_stores!(
    a_code_from_the_outbox_sets_a_new_password_and_ends_every_login,
    a_phone_account_gets_its_code_by_sms_and_may_switch_to_a_pin,
    unknown_identifiers_get_the_same_answer_in_the_same_time,
    codes_expire_are_replaced_and_three_an_hour_are_sent,
    five_wrong_codes_void_it_even_all_at_once,
    bad_requests_are_400_and_use_nothing_up,
    new_codes_buy_no_more_guesses_from_one_address,
    a_burst_of_tries_from_many_addresses_on_two_hosts_gets_at_most_the_day_s_twenty,
    a_reset_ends_the_lockout_of_every_address,
    one_address_gets_at_most_ten_codes_an_hour_across_accounts,
);
