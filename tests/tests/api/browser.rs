//! The web app and the dashboard in headless Chromium, against the server on both stores:
//! a user registers with a password, logs in, sees the cat, tops up, transfers to a second user
//! (registered with phone + PIN) and sees it settle; the recipient sees the credit; an entity
//! is created, edited, conflicted and deleted; logout revokes; an operator sees the transfer on
//! the dashboard. Every page is captured at 1280 and 390 px wide (under
//! `target/tmp/screenshots/<store>/`), must not scroll sideways at 390 px, and the browser's
//! console must stay free of errors other than the API answers the test provokes.
//!
//! Needs Chromium and chromedriver (`scripts/install-chromium`); see `dompet_tests::browser`.

use std::path::PathBuf;
use std::sync::Arc;

use dompet::domain::{IdentifierKind, LoginIdentifier};
use dompet::service::operators;
use dompet::store::{DynamoStore, Role, Store};
use dompet_tests::browser::{binaries_or_skip, Browser};
use dompet_tests::{Backend, TestApp};
use reqwest::Method;
use serde_json::json;

const WIDE: (u32, u32) = (1280, 900);
const NARROW: (u32, u32) = (390, 844);

/// Captures the page at both widths and checks that nothing scrolls sideways when narrow and
/// that every visible control has a name (a label, text or aria-label).
async fn capture(browser: &Browser, name: &str) {
    let unnamed = browser
        .eval(
            "return [...document.querySelectorAll('input, select, textarea, button, a')]
               .filter(e => e.type !== 'hidden' && e.getClientRects().length > 0)
               .filter(e => !((e.labels && e.labels.length) || e.getAttribute('aria-label')
                              || e.textContent.trim() || e.closest('label')))
               .map(e => e.outerHTML.slice(0, 120));",
            json!([]),
        )
        .await
        .unwrap();
    assert_eq!(unnamed, json!([]), "{name}: controls without a name");
    browser.resize(WIDE.0, WIDE.1).await.unwrap();
    browser.screenshot(&format!("{name}-1280")).await.unwrap();
    browser
        .eval("window.scrollTo(0, 0)", json!([]))
        .await
        .unwrap();
    browser.resize(NARROW.0, NARROW.1).await.unwrap();
    browser
        .wait_until(
            &format!("{name} to fit 390 px"),
            "return document.documentElement.clientWidth <= 400",
            json!([]),
        )
        .await
        .unwrap();
    // What sticks out to the right of the viewport, if anything.
    let wider = browser
        .eval(
            "const w = document.documentElement.clientWidth;
             if (document.documentElement.scrollWidth <= w) return [];
             return [...document.querySelectorAll('body *')]
               .filter(e => e.getBoundingClientRect().right > w + 0.5)
               .map(e => `${e.tagName.toLowerCase()}#${e.id}.${e.className} ${Math.round(e.getBoundingClientRect().right)}px`)
               .slice(0, 8);",
            json!([]),
        )
        .await
        .unwrap();
    assert_eq!(wider, json!([]), "{name} scrolls sideways at 390 px");
    browser.screenshot(&format!("{name}-390")).await.unwrap();
    browser.resize(WIDE.0, WIDE.1).await.unwrap();
}

/// Headless Chromium at the wide size, capturing into `target/tmp/screenshots/<store>/`.
async fn start_browser(
    driver: &std::path::Path,
    chromium: &std::path::Path,
    store: Backend,
) -> (Browser, PathBuf) {
    let label = match store {
        Backend::Sqlite => "sqlite",
        Backend::DynamoDb => "dynamodb",
    };
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("screenshots")
        .join(label);
    let browser = Browser::start(driver, chromium, WIDE.0, WIDE.1, shots.clone())
        .await
        .expect("headless Chromium");
    (browser, shots)
}

/// Registers through the form; the app logs the new account in and shows its page.
async fn register_in_browser(browser: &Browser, fields: &[(&str, &str)], pin: bool) {
    browser.click("a[href='#/register']").await.unwrap();
    for (name, value) in fields {
        browser
            .fill(&format!("#register-form [name='{name}']"), value)
            .await
            .unwrap();
    }
    if pin {
        browser
            .click("#register-form input[name='secret_kind'][value='pin']")
            .await
            .unwrap();
    }
    browser
        .click("#register-form button[type='submit']")
        .await
        .unwrap();
    browser
        .wait_text("#account-message", "akses sukses")
        .await
        .unwrap();
}

async fn log_out(browser: &Browser) {
    browser.click("#logout").await.unwrap();
    browser.find("#login-form").await.unwrap();
    browser.wait_text("#notice", "logged out").await.unwrap();
}

async fn log_in(browser: &Browser, identifier: &str, secret: &str) {
    browser.fill("#login-identifier", identifier).await.unwrap();
    browser.fill("#login-secret", secret).await.unwrap();
    // From the keyboard: Enter in the secret field submits the form.
    browser.press_enter("#login-secret").await.unwrap();
}

/// Asserts that the console logged no error since the last look apart from the API answers
/// with the statuses in `provoked` (Chromium logs every 4xx a fetch receives), and that each of
/// those was logged (so the log is really being read).
async fn assert_console_clean(browser: &Browser, provoked: &[u16]) {
    let errors: Vec<String> = browser
        .console()
        .await
        .unwrap()
        .into_iter()
        .filter(|(level, _)| level == "SEVERE")
        .map(|(_, message)| message)
        .collect();
    let answer = |m: &str, status: u16| {
        m.contains("Failed to load resource") && m.contains(&format!("status of {status} "))
    };
    let unexpected: Vec<&String> = errors
        .iter()
        .filter(|m| !provoked.iter().any(|s| answer(m, *s)))
        .collect();
    assert!(unexpected.is_empty(), "console errors: {unexpected:#?}");
    for status in provoked {
        assert!(
            errors.iter().any(|m| answer(m, *status)),
            "the provoked {status} is not in the console log: {errors:#?}"
        );
    }
}

async fn the_web_app_and_dashboard_work_in_chromium(store: Backend) {
    let Some((driver, chromium)) = binaries_or_skip("the_web_app_and_dashboard_work_in_chromium")
    else {
        return;
    };
    // On DynamoDB the scheduled `audit` function computes what the dashboard's counts and money
    // check show; the test runs it where the schedule would.
    let (shared, dynamodb): (Arc<dyn Store>, Option<DynamoStore>) = match store {
        Backend::Sqlite => (store.fresh_store().await, None),
        Backend::DynamoDb => {
            let table = dompet_tests::dynamodb_local::fresh_store().await;
            (Arc::new(table.clone()), Some(table))
        }
    };
    let outbox = std::env::temp_dir().join(format!("dompet-outbox-{}", uuid::Uuid::new_v4()));
    let app = TestApp::spawn_on(shared, &[("DOMPET_OUTBOX_DIR", outbox.to_str().unwrap())]).await;
    let (_, _, _) = app.signed_up("operator", "rahasia-operator").await;
    let operator = LoginIdentifier::new(IdentifierKind::Username, "operator");
    assert!(app
        .state
        .store()
        .set_role(&operator, Role::Admin)
        .await
        .unwrap());

    // The pages' security headers, on the server (the web function's are tested with its events).
    for path in ["/", "/dashboard", "/assets/app.js"] {
        let response = app.request(Method::GET, path).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers();
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.starts_with("default-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{csp}"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        let etag = headers["etag"].clone();
        let again = app
            .request(Method::GET, path)
            .header("if-none-match", etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path} revalidates");
    }

    let (browser, shots) = start_browser(&driver, &chromium, store).await;

    // The recipient registers with phone + PIN, sees the cat, logs out.
    browser.goto(&app.url("/")).await.unwrap();
    browser.find("#login-form").await.unwrap();
    capture(&browser, "login").await;
    browser.click("a[href='#/register']").await.unwrap();
    browser.find("#register-form").await.unwrap();
    capture(&browser, "register").await;
    browser
        .click("#view-register a[href='#/login']")
        .await
        .unwrap();
    register_in_browser(
        &browser,
        &[("phone_number", "0811255502"), ("secret", "246810")],
        true,
    )
    .await;
    log_out(&browser).await;

    // The sender: a password too short is explained next to the secret field.
    browser.click("a[href='#/register']").await.unwrap();
    browser.fill("#reg-username", "sari").await.unwrap();
    browser
        .fill("#reg-email", "sari@example.com")
        .await
        .unwrap();
    browser.fill("#reg-secret", "short").await.unwrap();
    browser
        .click("#register-form button[type='submit']")
        .await
        .unwrap();
    let message = browser
        .wait_text("#register-form .error[data-for='secret']", "Password")
        .await
        .unwrap();
    assert!(message.contains("8"), "{message}");
    browser.fill("#reg-secret", "rahasia-sari").await.unwrap();
    browser.fill("#reg-first", "Sari").await.unwrap();
    browser
        .click("#register-form button[type='submit']")
        .await
        .unwrap();
    browser
        .wait_text("#account-message", "akses sukses")
        .await
        .unwrap();
    log_out(&browser).await;

    // Logs in with the password (from the keyboard) and sees the cat.
    log_in(&browser, "sari", "rahasia-sari").await;
    browser
        .wait_text("#account-message", "akses sukses")
        .await
        .unwrap();
    browser
        .find("#view-account .account.granted img.cat")
        .await
        .unwrap();
    assert_eq!(browser.text("#account-username").await.unwrap(), "sari");
    capture(&browser, "account").await;
    // The access token lives in memory only; the refresh token in this tab's sessionStorage.
    let stored = browser
        .eval(
            "return [localStorage.length, Object.keys(sessionStorage), document.cookie]",
            json!([]),
        )
        .await
        .unwrap();
    assert_eq!(stored, json!([0, ["dompet.app.refresh"], ""]));

    // Top up, a payment refused next to its amount, a transfer followed until it settles.
    browser.click("#nav a[href='#/wallet']").await.unwrap();
    browser.fill("#topup-amount", "500.000").await.unwrap();
    browser
        .click("#topup-form button[type='submit']")
        .await
        .unwrap();
    browser
        .wait_text("#topup-form .result", "Balance Rp 500.000")
        .await
        .unwrap();
    browser.fill("#pay-amount", "900000").await.unwrap();
    browser
        .click("#pay-form button[type='submit']")
        .await
        .unwrap();
    browser
        .wait_text(
            "#pay-form .error[data-for='amount']",
            "Balance is not enough",
        )
        .await
        .unwrap();
    browser.fill("#pay-amount", "100000").await.unwrap();
    browser
        .fill("#pay-remarks", "Pulsa Telkomsel 100k")
        .await
        .unwrap();
    browser
        .click("#pay-form button[type='submit']")
        .await
        .unwrap();
    browser
        .wait_text("#pay-form .result", "Balance Rp 400.000")
        .await
        .unwrap();
    browser
        .fill("#transfer-target", "0811255502")
        .await
        .unwrap();
    browser.fill("#transfer-amount", "30000").await.unwrap();
    browser
        .fill("#transfer-remarks", "Hadiah Ultah")
        .await
        .unwrap();
    browser
        .click("#transfer-form button[type='submit']")
        .await
        .unwrap();
    // Whom it reaches is asked first; "No" sends nothing, "Yes" sends it.
    browser
        .wait_text("#transfer-question", "Send Rp 30.000 to 0811255502?")
        .await
        .unwrap();
    capture(&browser, "wallet-confirm").await;
    browser.click("#transfer-no").await.unwrap();
    assert_eq!(
        app.all_transactions(
            &app.tokens(json!({"username": "sari", "password": "rahasia-sari"}))
                .await
                .0
        )
        .await
        .iter()
        .filter(|t| t["transfer_id"].is_string())
        .count(),
        0
    );
    browser
        .click("#transfer-form button[type='submit']")
        .await
        .unwrap();
    browser
        .wait_text("#transfer-question", "0811255502")
        .await
        .unwrap();
    browser.click("#transfer-yes").await.unwrap();
    browser
        .wait_text("#transfer-status", "settled: SUCCESS")
        .await
        .unwrap();
    assert_eq!(browser.text("#wallet-balance").await.unwrap(), "Rp 370.000");
    capture(&browser, "wallet").await;

    // Transactions come ten to a page: eight more top-ups make a second page.
    let (sari, _) = app
        .tokens(json!({"username": "sari", "password": "rahasia-sari"}))
        .await;
    for _ in 0..8 {
        app.topup(&sari, 1_000).await.assert_success(200);
    }
    browser
        .click("#nav a[href='#/transactions']")
        .await
        .unwrap();
    browser.wait_text("#tx-rows", "Top up").await.unwrap();
    let count = "return document.querySelectorAll('#tx-rows tr').length";
    assert_eq!(browser.eval(count, json!([])).await.unwrap(), 10);
    capture(&browser, "transactions").await;
    browser.click("#tx-more").await.unwrap();
    browser
        .wait_until("the second page", &format!("{count} === 11"), json!([]))
        .await
        .unwrap();
    let rows = browser.text("#tx-rows").await.unwrap();
    assert!(
        rows.contains("Transfer out") && rows.contains("Payment"),
        "{rows}"
    );
    assert!(rows.contains("Hadiah Ultah"), "{rows}");
    assert_eq!(
        browser
            .eval(
                "return document.querySelector('#tx-more').hidden",
                json!([])
            )
            .await
            .unwrap(),
        true,
        "no third page"
    );

    browser.click("#nav a[href='#/profile']").await.unwrap();
    browser
        .wait_until(
            "the profile to load",
            "return document.querySelector('#profile-first').value === 'Sari'",
            json!([]),
        )
        .await
        .unwrap();
    browser
        .fill("#profile-address", "Jl. Diponegoro No. 215")
        .await
        .unwrap();
    browser
        .click("#profile-form button[type='submit']")
        .await
        .unwrap();
    browser
        .wait_text("#profile-form .result", "Saved")
        .await
        .unwrap();
    capture(&browser, "profile").await;

    // Entities: create, edit, a conflicting change made elsewhere, the latest version, delete.
    browser.click("#nav a[href='#/entities']").await.unwrap();
    browser
        .wait_text("#entity-rows", "No entities")
        .await
        .unwrap();
    browser.fill("#entity-code", "SKU-1").await.unwrap();
    browser.fill("#entity-type", "book").await.unwrap();
    browser.fill("#entity-quantity", "3").await.unwrap();
    browser
        .fill("#entity-name", "Laskar Pelangi")
        .await
        .unwrap();
    browser.click("#entity-save").await.unwrap();
    browser.wait_text("#entity-rows", "SKU-1").await.unwrap();
    browser
        .click("#entity-rows button[aria-label='Edit SKU-1']")
        .await
        .unwrap();
    browser.fill("#entity-quantity", "5").await.unwrap();
    browser.click("#entity-save").await.unwrap();
    browser
        .wait_text("#entity-form .result", "version 2")
        .await
        .unwrap();
    browser
        .click("#entity-rows button[aria-label='Edit SKU-1']")
        .await
        .unwrap();
    let listed = app.get_with_token("/entities?code=SKU-1", &sari).await;
    let id = listed.assert_success(200)[0]["entity_id"]
        .as_str()
        .unwrap()
        .to_string();
    app.send(
        app.request(Method::PUT, &format!("/entities/{id}"))
            .bearer_auth(&sari)
            .header("if-match", "2")
            .json(&json!({"code": "SKU-1", "type": "book", "quantity": 9})),
    )
    .await
    .assert_success(200);
    browser.fill("#entity-quantity", "6").await.unwrap();
    browser.click("#entity-save").await.unwrap();
    browser.find("#entity-reload").await.unwrap();
    browser
        .wait_text("#entity-form .error[data-for='_']", "changed")
        .await
        .unwrap();
    capture(&browser, "entities-conflict").await;
    browser.click("#entity-reload").await.unwrap();
    browser
        .wait_text("#entity-form-title", "version 3")
        .await
        .unwrap();
    browser.fill("#entity-quantity", "6").await.unwrap();
    browser.click("#entity-save").await.unwrap();
    browser
        .wait_text("#entity-form .result", "version 4")
        .await
        .unwrap();
    // The form is back to creating.
    assert_eq!(browser.text("#entity-save").await.unwrap(), "Create");
    assert_eq!(
        browser.text("#entity-form-title").await.unwrap(),
        "New entity"
    );
    capture(&browser, "entities").await;
    browser
        .click("#entity-rows button[aria-label='Delete SKU-1']")
        .await
        .unwrap();
    browser
        .wait_text("#entity-rows button[aria-label='Delete SKU-1']", "Confirm")
        .await
        .unwrap();
    browser
        .click("#entity-rows button[aria-label='Delete SKU-1']")
        .await
        .unwrap();
    browser
        .wait_text("#entity-rows", "No entities")
        .await
        .unwrap();
    browser
        .wait_text("#entity-form .result", "Deleted SKU-1")
        .await
        .unwrap();
    app.get_with_token(&format!("/entities/{id}"), &sari)
        .await
        .assert_error(404, "NOT_FOUND");

    // Logout revokes the tab's login: its refresh token is refused afterwards.
    let refresh = browser
        .eval(
            "return sessionStorage.getItem('dompet.app.refresh')",
            json!([]),
        )
        .await
        .unwrap();
    log_out(&browser).await;
    assert_eq!(
        browser
            .eval("return sessionStorage.length", json!([]))
            .await
            .unwrap(),
        0
    );
    app.post_json("/token/refresh", &json!({"refresh_token": refresh}))
        .await
        .assert_error(401, "UNAUTHENTICATED");

    // The recipient logs in with phone + PIN and sees the credit.
    log_in(&browser, "0811255502", "246810").await;
    browser
        .wait_text("#account-balance", "Rp 30.000")
        .await
        .unwrap();
    browser
        .click("#nav a[href='#/transactions']")
        .await
        .unwrap();
    browser.wait_text("#tx-rows", "Transfer in").await.unwrap();
    log_out(&browser).await;

    // Everything so far: only the refusals the test asked for (400 short password, 400
    // balance, 409 version conflict), no script or policy error.
    assert_console_clean(&browser, &[400, 409]).await;

    // The dashboard: an operator logs in and sees the settled transfer.
    browser.goto(&app.url("/dashboard")).await.unwrap();
    browser.find("#login-form").await.unwrap();
    capture(&browser, "dashboard-login").await;
    log_in(&browser, "operator", "rahasia-operator").await;
    if let Some(table) = &dynamodb {
        browser
            .wait_text("#money-verdict", "unknown")
            .await
            .unwrap();
        operators::audit(table).await.unwrap();
    }
    browser.wait_text("#count-SUCCESS", "1").await.unwrap();
    browser.wait_text("#money-verdict", "holds").await.unwrap();
    let transfers = app.all_transactions(&sari).await;
    let transfer_id = transfers
        .iter()
        .find_map(|t| t["transfer_id"].as_str())
        .unwrap()
        .to_string();
    browser
        .wait_text("#transfer-rows", &transfer_id)
        .await
        .unwrap();
    browser
        .wait_until(
            "a bar for the settled transfer",
            "return [...document.querySelectorAll('#chart rect')].some(r => Number(r.getAttribute('height')) > 0)",
            json!([]),
        )
        .await
        .unwrap();
    // It refreshes itself: a transfer made now appears without a reload.
    let reply = app
        .post_authed(
            "/transfer",
            &sari,
            &json!({"target_user": "0811255502", "amount": 1_000}),
            None,
        )
        .await;
    let second = reply.assert_success(202)["transfer_id"]
        .as_str()
        .unwrap()
        .to_string();
    browser.wait_text("#transfer-rows", &second).await.unwrap();
    if let Some(table) = &dynamodb {
        app.settled().await;
        operators::audit(table).await.unwrap();
    }
    browser.wait_text("#count-SUCCESS", "2").await.unwrap();
    capture(&browser, "dashboard").await;
    // A user who isn't an operator is turned away.
    browser.click("#logout").await.unwrap();
    browser.find("#login-form").await.unwrap();
    log_in(&browser, "sari", "rahasia-sari").await;
    browser
        .wait_text("#notice", "not an operator")
        .await
        .unwrap();

    // A forgotten password: a code by email (read from the outbox), a new password, logged in.
    browser.goto(&app.url("/")).await.unwrap();
    browser.click("a[href='#/forgot']").await.unwrap();
    browser
        .fill("#forgot-identifier", "sari@example.com")
        .await
        .unwrap();
    browser.press_enter("#forgot-identifier").await.unwrap();
    browser
        .wait_text("#reset-sent", "If an account has that")
        .await
        .unwrap();
    capture(&browser, "forgot").await;
    let code = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .map(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).unwrap())
        .find(|m| m["kind"] == "password_reset")
        .expect("a reset code in the outbox")["code"]
        .as_str()
        .unwrap()
        .to_string();
    browser.fill("#reset-code", "000000").await.unwrap();
    browser
        .fill("#reset-secret", "rahasia-sari-baru")
        .await
        .unwrap();
    browser.press_enter("#reset-secret").await.unwrap();
    browser
        .wait_text("#reset-form .error[data-for='code']", "code")
        .await
        .unwrap();
    browser.fill("#reset-code", &code).await.unwrap();
    browser
        .fill("#reset-secret", "rahasia-sari-baru")
        .await
        .unwrap();
    browser.press_enter("#reset-secret").await.unwrap();
    browser
        .wait_text("#account-message", "akses sukses")
        .await
        .unwrap();
    assert_console_clean(&browser, &[400, 403]).await;
    browser.quit().await;
    let _ = std::fs::remove_dir_all(&outbox);
    eprintln!("screenshots in {}", shots.display());
}

/// The second factor in the browser: turned on from the account page (the QR code drawn, the
/// code computed from the key the page shows), recovery codes shown once, a payment, an email
/// change, a password change and closing asking for a code, the logins listed and one ended, the
/// login's second step (a wrong code, then a recovery code, from the keyboard), turning it off,
/// and logging out everywhere.
async fn the_second_factor_works_in_chromium(store: Backend) {
    use dompet::auth::totp::Authenticator;
    let Some((driver, chromium)) = binaries_or_skip("the_second_factor_works_in_chromium") else {
        return;
    };
    let app = TestApp::spawn(store).await;
    let (_, token, _) = app.signed_up("dewi", "rahasia-dewi").await;
    app.topup(&token, 100_000).await.assert_success(200);
    let (browser, _) = start_browser(&driver, &chromium, store).await;
    browser.goto(&app.url("/")).await.unwrap();
    log_in(&browser, "dewi", "rahasia-dewi").await;
    browser.wait_text("#account-mfa", "Off").await.unwrap();

    // Turn it on: the password, then the key as a QR code and as text.
    browser
        .fill("#mfa-enrol-secret", "rahasia-dewi")
        .await
        .unwrap();
    browser
        .click("#mfa-enrol-form button[type='submit']")
        .await
        .unwrap();
    browser.find("#mfa-qr svg").await.unwrap();
    let secret = browser.text("#mfa-secret").await.unwrap().replace(' ', "");
    assert_eq!(secret.len(), 32, "{secret}");
    let uri = browser
        .eval(
            "return document.querySelector('#mfa-uri').textContent",
            json!([]),
        )
        .await
        .unwrap();
    assert!(
        uri.as_str().unwrap().contains(&format!("secret={secret}")),
        "{uri}"
    );
    capture(&browser, "mfa-enrol").await;
    let authenticator = Authenticator::from_base32(&secret, "dewi").unwrap();
    let code = || {
        app.state.advance_code_clock(30);
        authenticator.code_at(app.state.code_clock())
    };
    browser.fill("#mfa-confirm-code", &code()).await.unwrap();
    browser.press_enter("#mfa-confirm-code").await.unwrap();
    browser
        .wait_until(
            "ten recovery codes",
            "return document.querySelectorAll('#mfa-recovery-codes li').length === 10",
            json!([]),
        )
        .await
        .unwrap();
    let recovery = browser
        .eval(
            "return [...document.querySelectorAll('#mfa-recovery-codes li')].map(li => li.textContent)",
            json!([]),
        )
        .await
        .unwrap();
    let recovery: Vec<String> = serde_json::from_value(recovery).unwrap();
    capture(&browser, "mfa-recovery-codes").await;
    browser.click("#mfa-saved").await.unwrap();
    browser.wait_text("#account-mfa", "On").await.unwrap();
    // Shown once: gone from the page.
    assert_eq!(
        browser
            .eval(
                "return document.querySelectorAll('#mfa-recovery-codes li').length",
                json!([])
            )
            .await
            .unwrap(),
        json!(0)
    );
    // The enrolling login stays; the one the test made through the API has ended.
    app.get_with_token("/account", &token)
        .await
        .assert_error(401, "UNAUTHENTICATED");

    // A payment asks for a code.
    browser.click("a[href='#/wallet']").await.unwrap();
    browser.find("#pay-code").await.unwrap();
    browser.fill("#pay-amount", "10000").await.unwrap();
    browser
        .click("#pay-form button[type='submit']")
        .await
        .unwrap();
    browser
        .wait_text("#pay-form .error[data-for='code']", "code")
        .await
        .unwrap();
    browser.fill("#pay-code", &code()).await.unwrap();
    browser
        .click("#pay-form button[type='submit']")
        .await
        .unwrap();
    browser
        .wait_text("#pay-form .result", "Paid Rp 10.000")
        .await
        .unwrap();
    capture(&browser, "wallet-step-up").await;

    // Sign-in details ask for the password and a code: the email, then the password.
    browser.click("a[href='#/security']").await.unwrap();
    browser
        .wait_text("#session-rows", "This one")
        .await
        .unwrap();
    browser
        .fill("#identifier-value", "dewi@example.com")
        .await
        .unwrap();
    browser
        .fill("#identifier-current", "rahasia-dewi")
        .await
        .unwrap();
    browser
        .click("#identifier-form button[type='submit']")
        .await
        .unwrap();
    browser
        .wait_text("#identifier-form .error[data-for='code']", "code")
        .await
        .unwrap();
    browser.fill("#identifier-code", &code()).await.unwrap();
    browser
        .click("#identifier-form button[type='submit']")
        .await
        .unwrap();
    browser
        .wait_text("#identifier-form .result", "dewi@example.com")
        .await
        .unwrap();
    browser
        .fill("#secret-current", "rahasia-dewi")
        .await
        .unwrap();
    browser
        .fill("#secret-new", "rahasia-dewi-baru")
        .await
        .unwrap();
    browser.fill("#secret-code", &code()).await.unwrap();
    browser
        .click("#secret-form button[type='submit']")
        .await
        .unwrap();
    browser
        .wait_text("#secret-form .result", "Changed")
        .await
        .unwrap();
    // Closing is refused while money is left, after the password and the code, and says why.
    browser
        .fill("#close-current", "rahasia-dewi-baru")
        .await
        .unwrap();
    browser.fill("#close-code", &code()).await.unwrap();
    browser
        .click("#close-form button[type='submit']")
        .await
        .unwrap();
    browser
        .wait_text("#close-form .error[data-for='_']", "balance")
        .await
        .unwrap();
    // A login made elsewhere (two steps through the API) is listed, and ended from here.
    let first = app
        .login(json!({"username": "dewi", "password": "rahasia-dewi-baru"}))
        .await;
    let elsewhere = app
        .post_json(
            "/login/mfa",
            &json!({"mfa_token": first.body["mfa_token"], "otp": code()}),
        )
        .await;
    let elsewhere = elsewhere.assert_success(200)["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    browser.click("a[href='#/account']").await.unwrap();
    browser.click("a[href='#/security']").await.unwrap();
    browser
        .wait_until(
            "two logins listed",
            "return document.querySelectorAll('#session-rows tr').length === 2",
            json!([]),
        )
        .await
        .unwrap();
    capture(&browser, "security").await;
    browser.click("#session-rows button").await.unwrap();
    browser
        .wait_text("#sessions-result", "Ended")
        .await
        .unwrap();
    app.get_with_token("/account", &elsewhere)
        .await
        .assert_error(401, "UNAUTHENTICATED");

    // Logging in is two steps: a wrong code is explained, a recovery code gets in.
    log_out(&browser).await;
    log_in(&browser, "dewi", "rahasia-dewi-baru").await;
    browser
        .find("#login-mfa-form:not([hidden]) #login-code")
        .await
        .unwrap();
    capture(&browser, "login-code").await;
    browser.fill("#login-code", "000000").await.unwrap();
    browser.press_enter("#login-code").await.unwrap();
    browser
        .wait_text("#login-mfa-form .error[data-for='code']", "wrong")
        .await
        .unwrap();
    browser.fill("#login-code", &recovery[0]).await.unwrap();
    browser.press_enter("#login-code").await.unwrap();
    browser
        .wait_text("#account-message", "akses sukses")
        .await
        .unwrap();

    // Turn it off with the password and a code.
    browser
        .fill("#mfa-disable-secret", "rahasia-dewi-baru")
        .await
        .unwrap();
    browser.fill("#mfa-disable-code", &code()).await.unwrap();
    browser
        .click("#mfa-disable-form button[type='submit']")
        .await
        .unwrap();
    browser.wait_text("#account-mfa", "Off").await.unwrap();
    browser.find("#mfa-enrol-form:not([hidden])").await.unwrap();
    // Log out everywhere: this login too.
    browser.click("a[href='#/security']").await.unwrap();
    browser
        .wait_text("#session-rows", "This one")
        .await
        .unwrap();
    browser.click("#logout-all").await.unwrap();
    browser.find("#login-form").await.unwrap();
    browser.wait_text("#notice", "ended").await.unwrap();
    assert_console_clean(&browser, &[401, 409]).await;
    browser.quit().await;
}

dompet_tests::both_stores!(
    the_web_app_and_dashboard_work_in_chromium,
    the_second_factor_works_in_chromium,
);
