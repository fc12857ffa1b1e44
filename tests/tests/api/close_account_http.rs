//! Black-box tests of closing an account (api.md, Account lifecycle) over HTTP, on both stores:
//! `DELETE /account`. The money check and every remaining account's ledger chain are checked
//! afterwards (SQLite computes it; on DynamoDB the audit runs, as its schedule would).

use std::sync::Arc;

use dompet::domain::{now_millis, UserId};
use dompet::store::{DynamoStore, EntityFilter, MoneyCheck, SqliteStore, Store};
use dompet_tests::{Backend, Reply, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

struct World {
    app: TestApp,
    table: Option<DynamoStore>,
}

impl World {
    async fn new(
        backend: Backend,
        worker: bool,
    ) -> (Self, Option<dompet::queue::TransferReceiver>) {
        let (store, table): (Arc<dyn Store>, Option<DynamoStore>) = match backend {
            Backend::Sqlite => (Arc::new(SqliteStore::temporary().unwrap()), None),
            Backend::DynamoDb => {
                let table = dompet_tests::dynamodb_local::fresh_store().await;
                (Arc::new(table.clone()), Some(table))
            }
        };
        let vars = [
            ("DOMPET_LOCKOUT_SECS", "1"),
            ("DOMPET_LOCKOUT_MAX_SECS", "4"),
        ];
        if worker {
            (
                Self {
                    app: TestApp::spawn_on(store, &vars).await,
                    table,
                },
                None,
            )
        } else {
            let (app, queue) = TestApp::spawn_without_worker(store, &vars).await;
            (Self { app, table }, Some(queue))
        }
    }

    /// The money check as operators get it, computed now.
    async fn money_check(&self) -> MoneyCheck {
        match &self.table {
            Some(table) => dompet::service::operators::audit(table).await.unwrap(),
            None => self
                .app
                .state
                .store()
                .money_check(now_millis())
                .await
                .unwrap()
                .unwrap(),
        }
    }
}

async fn close(app: &TestApp, token: &str, body: Value) -> Reply {
    app.send(
        app.request(Method::DELETE, "/account")
            .bearer_auth(token)
            .json(&body),
    )
    .await
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> Reply {
    app.send(
        app.request(Method::POST, path)
            .bearer_auth(token)
            .json(&body),
    )
    .await
}

async fn a_closed_account_frees_its_names_ends_its_logins_and_keeps_the_ledger(store: Backend) {
    let (w, _) = World::new(store, true).await;
    let app = &w.app;
    let reply = app
        .register(json!({"username": "guntur", "email": "guntur@example.com", "phone_number": "081234567890", "password": "rahasia-sekali", "first_name": "Guntur"}))
        .await;
    let user_id = reply.assert_success(201)["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    let login = json!({"username": "guntur", "password": "rahasia-sekali"});
    let (token, refresh) = app.tokens(login.clone()).await;
    let (other, _) = app.tokens(login.clone()).await;
    let (_, sari, _) = app.signed_up("sari", "rahasia-sekali").await;
    // Money in and out, a transfer each way, an entity.
    app.topup(&token, 100_000).await.assert_success(200);
    app.topup(&sari, 50_000).await.assert_success(200);
    post(
        app,
        &token,
        "/transfer",
        json!({"target_user": "sari", "amount": 30_000, "remarks": "buat Sari"}),
    )
    .await
    .assert_success(202);
    post(
        app,
        &sari,
        "/transfer",
        json!({"target_user": "guntur", "amount": 5_000, "remarks": "kembalian"}),
    )
    .await
    .assert_success(202);
    app.settled().await;
    post(
        app,
        &token,
        "/pay",
        json!({"amount": 75_000, "remarks": "bayar kos"}),
    )
    .await
    .assert_success(200);
    post(
        app,
        &token,
        "/entities",
        json!({"code": "SKU-1", "type": "book", "quantity": 3}),
    )
    .await
    .assert_success(201);
    assert_eq!(app.balance(&token).await, 0);

    // The wrong secret, and a secret of the other kind, are 401 and change nothing.
    close(app, &token, json!({"password": "bukan-rahasia"}))
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    close(app, &token, json!({"pin": "123456"}))
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    app.get_with_token("/account", &other)
        .await
        .assert_success(200);

    let reply = close(app, &token, json!({"password": "rahasia-sekali"})).await;
    assert_eq!(reply.assert_success(200), &Value::Null);

    // Every login ended; the secret logs in no more.
    for t in [&token, &other] {
        app.get_with_token("/account", t)
            .await
            .assert_error(401, "UNAUTHENTICATED");
    }
    app.post_json("/token/refresh", &json!({"refresh_token": refresh}))
        .await
        .assert_error(401, "UNAUTHENTICATED");
    app.login(login)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    // Nobody is found by its names; a transfer to it is refused.
    app.get_with_token("/users/lookup?target=guntur", &sari)
        .await
        .assert_error(404, "USER_NOT_FOUND");
    post(
        app,
        &sari,
        "/transfer",
        json!({"target_user": "guntur", "amount": 1_000}),
    )
    .await
    .assert_error(404, "USER_NOT_FOUND");
    // Its identifiers are free at once.
    app.register(json!({"username": "Guntur", "email": "GUNTUR@example.com", "phone_number": "081234567890", "password": "rahasia-lain-ya"}))
        .await
        .assert_success(201);

    // Its entities are gone; its ledger stays, without remarks, and so does the transfer it
    // sent, whose remarks were its own; the other party's history is untouched.
    let gone = UserId::parse(&user_id).unwrap();
    let store = app.state.store();
    assert!(store
        .list_entities(gone, &EntityFilter::default(), None, 10)
        .await
        .unwrap()
        .is_empty());
    let entries = store.list_entries(gone, None, 100).await.unwrap();
    assert_eq!(
        entries.len(),
        4,
        "top-up, transfer out, transfer in, payment: {entries:?}"
    );
    assert!(entries.iter().all(|e| e.remarks.is_empty()), "{entries:?}");
    let history = app.all_transactions(&sari).await;
    let remarks: Vec<&str> = history
        .iter()
        .map(|t| t["remarks"].as_str().unwrap_or(""))
        .collect();
    assert!(remarks.contains(&"kembalian"), "{history:?}");
    let sent = history
        .iter()
        .find(|t| t["transaction_type"] == "CREDIT" && t["amount"] == 30_000)
        .expect("the transfer it sent");
    let transfer = store
        .get_transfer(sent["transfer_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((transfer.amount, transfer.remarks.as_str()), (30_000, ""));
    assert_eq!(app.balance(&sari).await, 75_000);

    // The money still adds up, and every remaining account's ledger chain holds.
    let check = w.money_check().await;
    assert!(check.holds(), "{check:?}");
    assert!(check.broken_accounts.is_empty(), "{check:?}");
    assert_eq!((check.top_ups, check.payments), (150_000, 75_000));
    assert_eq!(check.accounts_checked, 2, "sari and the new guntur");
}

async fn money_left_is_409_balance_not_zero_and_changes_nothing(store: Backend) {
    let (w, _) = World::new(store, true).await;
    let app = &w.app;
    let (_, token, _) = app.signed_up("guntur", "rahasia-sekali").await;
    app.topup(&token, 1_000).await.assert_success(200);
    close(app, &token, json!({"password": "rahasia-sekali"}))
        .await
        .assert_error(409, "BALANCE_NOT_ZERO");
    assert_eq!(app.balance(&token).await, 1_000);
    // A right secret refused for the balance is not a failure: four wrong logins after three
    // refusals still don't lock.
    for _ in 0..3 {
        close(app, &token, json!({"password": "rahasia-sekali"}))
            .await
            .assert_error(409, "BALANCE_NOT_ZERO");
    }
    for _ in 0..4 {
        app.login(json!({"username": "guntur", "password": "salah-sekali"}))
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    app.tokens(json!({"username": "guntur", "password": "rahasia-sekali"}))
        .await;
    app.register(json!({"username": "guntur", "password": "rahasia-sekali"}))
        .await
        .assert_error(409, "ALREADY_REGISTERED");
}

async fn a_pending_transfer_either_way_is_409_transfer_pending(store: Backend) {
    let (w, queue) = World::new(store, false).await;
    let mut queue = queue.unwrap();
    let app = &w.app;
    let (_, guntur, _) = app.signed_up("guntur", "rahasia-sekali").await;
    let (_, sari, _) = app.signed_up("sari", "rahasia-sekali").await;
    app.topup(&guntur, 20_000).await.assert_success(200);
    post(
        app,
        &guntur,
        "/transfer",
        json!({"target_user": "sari", "amount": 20_000}),
    )
    .await
    .assert_success(202);
    // Sender at 0 and recipient at 0, the transfer between them still pending.
    assert_eq!(app.balance(&guntur).await, 0);
    close(app, &guntur, json!({"password": "rahasia-sekali"}))
        .await
        .assert_error(409, "TRANSFER_PENDING");
    close(app, &sari, json!({"password": "rahasia-sekali"}))
        .await
        .assert_error(409, "TRANSFER_PENDING");
    let message = queue.recv_message().await.unwrap();
    dompet::service::transfers::settle_message(&app.state, &message)
        .await
        .unwrap();
    // Settled: the sender may go; the recipient now has money.
    close(app, &guntur, json!({"password": "rahasia-sekali"}))
        .await
        .assert_success(200);
    close(app, &sari, json!({"password": "rahasia-sekali"}))
        .await
        .assert_error(409, "BALANCE_NOT_ZERO");
    let check = w.money_check().await;
    assert!(check.holds(), "{check:?}");
    assert_eq!((check.balances, check.pending), (20_000, 0));
}

/// Closing races an identifier change, through two hosts: whichever commits first, no
/// identifier stays claimed by a closed account (the other answers 409 or 401).
async fn no_identifier_stays_claimed_when_a_change_races_the_closing(store: Backend) {
    let (w, _) = World::new(store, true).await;
    let one = &w.app;
    let two = one
        .another_host(&[
            ("DOMPET_LOCKOUT_SECS", "1"),
            ("DOMPET_LOCKOUT_MAX_SECS", "4"),
        ])
        .await;
    const RACES: usize = 30;
    let (mut closed, mut changed_first, mut claimed) = (0, 0, 0);
    let mut outcomes = std::collections::BTreeMap::new();
    for i in 0..RACES {
        let name = format!("racer{i}");
        let email = format!("racer{i}@example.com");
        let (_, token, _) = one.signed_up(&name, "rahasia-sekali").await;
        // Each host signs its own tokens: the owner is logged in on both.
        let (elsewhere, _) = two
            .tokens(json!({"username": name, "password": "rahasia-sekali"}))
            .await;
        let (changing, closing) = tokio::join!(
            two.send(
                two.request(Method::PUT, "/account/email")
                    .bearer_auth(&elsewhere)
                    .json(&json!({"email": email, "current_password": "rahasia-sekali"})),
            ),
            close(one, &token, json!({"password": "rahasia-sekali"})),
        );
        assert!(
            matches!(closing.status.as_u16(), 200 | 409),
            "closing: {} {}",
            closing.status,
            closing.body
        );
        assert!(
            matches!(changing.status.as_u16(), 200 | 401 | 409),
            "changing: {} {}",
            changing.status,
            changing.body
        );
        outcomes
            .entry((
                closing.status.as_u16(),
                changing.status.as_u16(),
                changing.body["code"].as_str().unwrap_or("").to_string(),
            ))
            .and_modify(|n| *n += 1)
            .or_insert(1);
        if closing.status == 409 {
            closing.assert_error(409, "CONCURRENT_UPDATE");
            // Still open, with the email the change set.
            let account = one.get_with_token("/account", &token).await;
            assert_eq!(account.assert_success(200)["email"], json!(email));
            continue;
        }
        closed += 1;
        if changing.status == 200 {
            changed_first += 1;
        }
        // Closed: its name and the email are anybody's.
        let reply = one
            .register(json!({"username": name, "email": email, "password": "rahasia-sekali"}))
            .await;
        if reply.status != 201 {
            claimed += 1;
            eprintln!("race {i}: {} {}", reply.status, reply.body);
        }
    }
    eprintln!(
        "{RACES} closings raced an email change: {closed} closed ({changed_first} after the \
         change), {claimed} left an identifier claimed; (closing, change) answers: {outcomes:?}"
    );
    assert_eq!(claimed, 0);
}

async fn bad_requests_are_refused_before_anything_changes(store: Backend) {
    let (w, _) = World::new(store, true).await;
    let app = &w.app;
    let (_, token, _) = app.signed_up("guntur", "rahasia-sekali").await;
    for (body, field) in [
        (json!({}), "_"),
        (json!({"password": ""}), "password"),
        (json!({"password": "rahasia-sekali", "pin": "123456"}), "_"),
        (json!({"password": 12345678}), "password"),
        (
            json!({"password": "rahasia-sekali", "reason": "bye"}),
            "reason",
        ),
    ] {
        let reply = close(app, &token, body.clone()).await;
        assert!(
            reply.field_errors().contains_key(field),
            "{body}: {}",
            reply.body
        );
    }
    app.send(
        app.request(Method::DELETE, "/account")
            .json(&json!({"password": "rahasia-sekali"})),
    )
    .await
    .assert_error(401, "UNAUTHENTICATED");
    app.get_with_token("/account", &token)
        .await
        .assert_success(200);
}

/// Transfers to an account race its closing, through two hosts: the closing goes through
/// only when no transfer to the account was taken (one taken is pending, or credited and the
/// balance no longer 0), so nothing is ever pending to a closed account, and the money adds up.
async fn transfers_racing_the_closing_of_their_recipient_never_reach_a_closed_account(
    store: Backend,
) {
    let (w, _) = World::new(store, true).await;
    let one = &w.app;
    let two = one.another_host(&[]).await;
    const RACES: usize = 16;
    const SENDERS: usize = 4;
    let mut senders = Vec::new();
    for s in 0..SENDERS {
        let (_, token, _) = two.signed_up(&format!("sender{s}"), "rahasia-sekali").await;
        two.topup(&token, 1_000_000).await.assert_success(200);
        senders.push(token);
    }
    let mut outcomes = std::collections::BTreeMap::new();
    let mut reached = 0;
    for i in 0..RACES {
        let name = format!("closing{i}");
        let (_, token, _) = one.signed_up(&name, "rahasia-sekali").await;
        let body = json!({"target_user": name, "amount": 1_000});
        // Sent over the closing's time (its secret's verification, then its reads and its
        // write), a little later each race.
        let transfers = futures::future::join_all(senders.iter().enumerate().map(|(s, sender)| {
            let (body, two) = (&body, &two);
            async move {
                let delay = (i * SENDERS + s) as u64;
                tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
                two.post_authed("/transfer", sender, body, None).await
            }
        }));
        let (closing, transfers) = tokio::join!(
            close(one, &token, json!({"password": "rahasia-sekali"})),
            transfers
        );
        let taken = transfers.iter().filter(|r| r.status == 202).count();
        for reply in &transfers {
            assert!(
                matches!(reply.status.as_u16(), 202 | 404),
                "transfer: {} {}",
                reply.status,
                reply.body
            );
        }
        let code = closing.body["code"].as_str().unwrap_or("").to_string();
        assert!(
            closing.status == 200
                || ["TRANSFER_PENDING", "BALANCE_NOT_ZERO", "CONCURRENT_UPDATE"]
                    .contains(&code.as_str()),
            "closing: {} {}",
            closing.status,
            closing.body
        );
        if closing.status == 200 && taken > 0 {
            reached += 1;
        }
        *outcomes
            .entry((closing.status.as_u16(), code, taken))
            .or_insert(0) += 1;
    }
    one.settled().await;
    eprintln!(
        "{RACES} closings raced {SENDERS} transfers each; (closing, code, transfers taken): {outcomes:?}"
    );
    assert_eq!(reached, 0, "transfers taken by a closed account");
    let check = w.money_check().await;
    assert!(check.holds(), "{check:?}");
}

/// An account made before inboxes (none written at its registration) takes transfers (the
/// first through each shard opens it), and a transfer made the way versions before inboxes
/// made it (counted on the account's own item: a host with `DOMPET_TRANSFER_INBOX=off`, the
/// first of the two upgrade deploys) keeps it from closing until it settles, as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_and_transfers_made_before_inboxes_still_close_only_when_nothing_is_pending() {
    use aws_sdk_dynamodb::types::AttributeValue::{N, S};
    let (w, queue) = World::new(Backend::DynamoDb, false).await;
    let mut queue = queue.unwrap();
    let (app, table) = (&w.app, w.table.as_ref().unwrap());
    let (before, mut before_queue) =
        TestApp::spawn_without_worker(Arc::new(table.clone().with_inbox(false)), &[]).await;
    let client = table.client();
    let (sari_id, sari, _) = app.signed_up("sari", "rahasia-sekali").await;
    let (_, guntur, _) = app.signed_up("guntur", "rahasia-sekali").await;
    for shard in 0..8 {
        client
            .delete_item()
            .table_name(table.table())
            .key("pk", S(format!("INBOX#{sari_id}#{shard:02}")))
            .key("sk", S("INBOX".into()))
            .send()
            .await
            .unwrap();
    }
    app.topup(&guntur, 30_000).await.assert_success(200);
    let body = json!({"target_user": "sari", "amount": 10_000});
    post(app, &guntur, "/transfer", body.clone())
        .await
        .assert_success(202);
    // The second made the way before inboxes: on the account's item, no shard.
    // Each host signs its own tokens: guntur logs in there too.
    let (guntur_before, _) = before
        .tokens(json!({"username": "guntur", "password": "rahasia-sekali"}))
        .await;
    let legacy = before
        .post_authed("/transfer", &guntur_before, &body, None)
        .await
        .assert_success(202)["transfer_id"]
        .as_str()
        .unwrap()
        .to_string();
    let read = |pk: String, sk: &'static str| {
        let client = client.clone();
        let table = table.table().to_string();
        async move {
            client
                .get_item()
                .table_name(table)
                .key("pk", S(pk))
                .key("sk", S(sk.into()))
                .consistent_read(true)
                .send()
                .await
                .unwrap()
                .item
                .unwrap()
        }
    };
    let item = read(format!("TRANSFER#{legacy}"), "TRANSFER").await;
    assert!(!item.contains_key("inbox_shard"), "{item:?}");
    let profile = read(format!("USER#{sari_id}"), "PROFILE").await;
    assert_eq!(profile["pending_in"], N("1".into()));
    // Pending either way: in the inbox, and on the account's item.
    let closing = json!({"password": "rahasia-sekali"});
    close(app, &sari, closing.clone())
        .await
        .assert_error(409, "TRANSFER_PENDING");
    let first = queue.recv_message().await.unwrap();
    dompet::service::transfers::settle_message(&app.state, &first)
        .await
        .unwrap();
    post(app, &sari, "/pay", json!({"amount": 10_000}))
        .await
        .assert_success(200);
    close(app, &sari, closing.clone())
        .await
        .assert_error(409, "TRANSFER_PENDING");
    let second = before_queue.recv_message().await.unwrap();
    assert_eq!(second.transfer_id, legacy);
    dompet::service::transfers::settle_message(&app.state, &second)
        .await
        .unwrap();
    let profile = read(format!("USER#{sari_id}"), "PROFILE").await;
    assert_eq!(profile["pending_in"], N("0".into()));
    assert_eq!(profile["settled_in"], N("1".into()));
    post(app, &sari, "/pay", json!({"amount": 10_000}))
        .await
        .assert_success(200);
    close(app, &sari, closing).await.assert_success(200);
    // Its inbox went with it.
    let left = client
        .scan()
        .table_name(table.table())
        .filter_expression("begins_with(pk, :inbox)")
        .expression_attribute_values(":inbox", S(format!("INBOX#{sari_id}#")))
        .send()
        .await
        .unwrap();
    assert_eq!(left.count(), 0);
    let check = w.money_check().await;
    assert!(check.holds(), "{check:?}");
}

dompet_tests::both_stores!(
    a_closed_account_frees_its_names_ends_its_logins_and_keeps_the_ledger,
    money_left_is_409_balance_not_zero_and_changes_nothing,
    a_pending_transfer_either_way_is_409_transfer_pending,
    bad_requests_are_refused_before_anything_changes,
    no_identifier_stays_claimed_when_a_change_races_the_closing,
    transfers_racing_the_closing_of_their_recipient_never_reach_a_closed_account,
);
