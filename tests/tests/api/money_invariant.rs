//! Thousands of concurrent top-ups, payments and transfers over HTTP against the server,
//! across a few accounts (two of them hot), then the money invariant of design.md:
//! the sum of balances plus money in PENDING transfers equals top-ups minus payments; no
//! balance is negative; every transfer settled exactly once; every account's chain of
//! entries links `balance_after` to the next `balance_before` and ends at its balance.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use dompet::store::PendingPage;
use dompet_tests::{Backend, TestApp};
use serde_json::{json, Value};
use tokio::sync::Mutex;

const ACCOUNTS: usize = 6;
const TASKS: usize = 16;
const OPS_PER_TASK: usize = 640;

/// xorshift: deterministic per task, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Default)]
struct Ledger {
    top_ups: i64,
    payments: i64,
    /// transfer id → (sender index, recipient index, amount)
    transfers: HashMap<String, (usize, usize, i64)>,
    statuses: HashMap<u16, usize>,
}

async fn concurrent_money_operations_keep_the_invariant_exact(store: Backend) {
    let app = Arc::new(TestApp::spawn(store).await);
    let mut users = Vec::new();
    for i in 0..ACCOUNTS {
        let (id, token, _) = app.signed_up(&format!("acct{i}"), "rahasia-sekali").await;
        users.push((id, token));
    }
    let users = Arc::new(users);
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let started = Instant::now();

    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let (app, users, ledger) = (app.clone(), users.clone(), ledger.clone());
            tokio::spawn(async move {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((t as u64 + 1) * 0x1234_5678));
                for n in 0..OPS_PER_TASK {
                    // Accounts 0 and 1 are hot: half of all operations touch them.
                    let who = if rng.below(2) == 0 {
                        rng.below(2) as usize
                    } else {
                        rng.below(ACCOUNTS as u64) as usize
                    };
                    let token = &users[who].1;
                    let amount = 1 + rng.below(5_000) as i64;
                    let key = (rng.below(4) == 0).then(|| format!("t{t}-n{n}"));
                    let (path, body) = match rng.below(3) {
                        0 => ("/topup", json!({"amount": amount})),
                        1 => ("/pay", json!({"amount": amount, "remarks": "load"})),
                        _ => {
                            let mut to = rng.below(ACCOUNTS as u64) as usize;
                            if to == who {
                                to = (to + 1) % ACCOUNTS;
                            }
                            (
                                "/transfer",
                                json!({"target_user": users[to].0, "amount": amount}),
                            )
                        }
                    };
                    let reply = app.post_authed(path, token, &body, key.as_deref()).await;
                    // Retrying with the same key must replay, never move money again.
                    let replay = match &key {
                        Some(k) if reply.status.is_success() => {
                            Some(app.post_authed(path, token, &body, Some(k)).await)
                        }
                        _ => None,
                    };
                    let mut l = ledger.lock().await;
                    *l.statuses.entry(reply.status.as_u16()).or_default() += 1;
                    if let Some(r) = replay {
                        assert_eq!(r.body, reply.body, "replay differs");
                    }
                    if !reply.status.is_success() {
                        // A busy account may answer CONCURRENT_UPDATE (nothing moved).
                        let code = reply.body["code"].as_str().unwrap_or_default();
                        assert!(
                            code == "INSUFFICIENT_BALANCE" || code == "CONCURRENT_UPDATE",
                            "{}",
                            reply.body
                        );
                        continue;
                    }
                    let result = &reply.body["result"];
                    match path {
                        "/topup" => l.top_ups += amount,
                        "/pay" => l.payments += amount,
                        _ => {
                            let to = users
                                .iter()
                                .position(|u| body["target_user"] == u.0.as_str())
                                .unwrap();
                            l.transfers.insert(
                                result["transfer_id"].as_str().unwrap().to_string(),
                                (who, to, amount),
                            );
                        }
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task ran");
    }
    let load = started.elapsed();

    let ledger = ledger.lock().await;
    let total_ops: usize = ledger.statuses.values().sum();
    assert_eq!(total_ops, TASKS * OPS_PER_TASK);
    assert!(
        ledger.statuses.keys().all(|s| *s < 500),
        "no 5xx: {:?}",
        ledger.statuses
    );

    // Money in flight right now counts as PENDING.
    let mut pending_now = 0;
    for id in PendingPage::all(app.state.store(), i64::MAX).await.unwrap() {
        pending_now += app
            .state
            .store()
            .get_transfer(&id)
            .await
            .unwrap()
            .unwrap()
            .amount;
    }
    let mut balances_now = 0;
    for (_, token) in users.iter() {
        balances_now += app.balance(token).await;
    }
    // Balances and pending are read one after the other while the worker may settle: a
    // transfer settled in between is counted twice, never lost, so allow only that excess.
    assert!(balances_now + pending_now >= ledger.top_ups - ledger.payments);

    app.settled().await;
    let mut sum = 0;
    let mut credits: HashMap<String, usize> = HashMap::new();
    let mut debits: HashMap<String, usize> = HashMap::new();
    for (i, (id, token)) in users.iter().enumerate() {
        let balance = app.balance(token).await;
        assert!(balance >= 0);
        sum += balance;
        let entries = app.all_transactions(token).await;
        assert_eq!(
            entries
                .first()
                .map_or(0, |e| e["balance_after"].as_i64().unwrap()),
            balance,
            "account {i}"
        );
        for pair in entries.windows(2) {
            assert_eq!(
                pair[0]["balance_before"], pair[1]["balance_after"],
                "account {i}"
            );
        }
        for e in &entries {
            assert_eq!(e["user_id"], Value::from(id.clone()));
            assert_eq!(e["status"], "SUCCESS", "{e}");
            if let Some(t) = e["transfer_id"].as_str() {
                let map = if e["transaction_type"] == "CREDIT" {
                    &mut credits
                } else {
                    &mut debits
                };
                *map.entry(t.to_string()).or_default() += 1;
                let (from, to, amount) = ledger.transfers[t];
                assert_eq!(e["amount"].as_i64().unwrap(), amount);
                assert_eq!(
                    i,
                    if e["transaction_type"] == "CREDIT" {
                        to
                    } else {
                        from
                    }
                );
            }
        }
    }
    assert_eq!(
        sum,
        ledger.top_ups - ledger.payments,
        "sum of balances = top-ups − payments"
    );
    assert_eq!(credits.len(), ledger.transfers.len());
    assert!(
        credits.values().all(|n| *n == 1),
        "each transfer credited exactly once"
    );
    assert!(
        debits.values().all(|n| *n == 1),
        "each transfer debited exactly once"
    );
    println!(
        "{store:?}: {total_ops} operations ({} transfers) from {TASKS} tasks on {ACCOUNTS} accounts in {:.2?}; statuses {:?}",
        ledger.transfers.len(),
        load,
        ledger.statuses
    );
}

dompet_tests::both_stores!(concurrent_money_operations_keep_the_invariant_exact,);
