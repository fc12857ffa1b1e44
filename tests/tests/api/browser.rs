//! The web app and the dashboard in headless Chromium, against the server on both stores.
//!
//! The first scenario runs as an English-speaking browser in UTC: a recipient registers with
//! phone + PIN and uploads a picture (a file that isn't one refused, the real one previewed);
//! the sender registers with a password, logs in, sees the cat, tops up, pays, and transfers
//! after confirming the recipient by name and picture; transactions, profile and entities; the
//! language switch staying for the tab; logout revokes; the recipient sees the credit and
//! removes the picture; an operator sees the transfer on the dashboard; a forgotten password
//! is reset through the outbox.
//!
//! The second runs as an Indonesian-speaking browser in Asia/Jakarta: the second factor turned
//! on with the code computed from the page's key, step-up on money and sign-in details, a login
//! in a second tab ended from the first, the keyboard alone logging in with its second step and
//! sending a transfer through its confirmation, then closing the account: refused with money
//! left, done once it is paid out. Amounts, dates and times are checked as that language and
//! zone write them.
//!
//! Every view and state visited is looked at in both languages: axe-core's WCAG 2.0/2.1 A and
//! AA rules find no violation, every control has a name, no word is left untranslated, nothing
//! scrolls sideways at 390 px, and it is captured at 1280 and 390 px wide (under
//! `target/tmp/screenshots/<store>/`). The browser's console must stay free of errors other
//! than the API answers the test provokes.
//!
//! Needs Chromium and chromedriver (`scripts/install-chromium`), and npm for axe-core; see
//! `dompet_tests::browser`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use dompet::domain::{IdentifierKind, LoginIdentifier};
use dompet::service::operators;
use dompet::store::{DynamoStore, Role, Store};
use dompet_tests::browser::{binaries_or_skip, Browser, Locale};
use dompet_tests::{Backend, TestApp};
use reqwest::Method;
use serde_json::json;

const WIDE: (u32, u32) = (1280, 900);
const NARROW: (u32, u32) = (390, 844);

const ENGLISH_IN_UTC: Locale = Locale {
    language: "en-US",
    time_zone: "UTC",
};
const INDONESIAN_IN_JAKARTA: Locale = Locale {
    language: "id-ID",
    time_zone: "Asia/Jakarta",
};

const ENTER: &str = "\u{E007}";
const TAB: &str = "\u{E004}";

/// The page's language (`<html lang>`).
async fn language(browser: &Browser) -> String {
    browser
        .eval("return document.documentElement.lang", json!([]))
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .to_string()
}

/// Presses the language switch and waits for the page to be in the other language, with what
/// the view loads shown again.
async fn switch_language(browser: &Browser) {
    let before = language(browser).await;
    browser.click("#lang-switch").await.unwrap();
    browser
        .wait_until(
            "the other language",
            "return document.documentElement.lang !== arguments[0]",
            json!([before]),
        )
        .await
        .unwrap();
    settle(browser).await;
}

/// Waits until nothing on the page is loading.
async fn settle(browser: &Browser) {
    browser
        .wait_until(
            "the page to finish loading",
            "return ![...document.querySelectorAll('[aria-busy=\"true\"]')]
               .some(e => e.getClientRects().length > 0)",
            json!([]),
        )
        .await
        .unwrap();
}

/// Looks at the page as it is now in each language (see the module's comment), then leaves it
/// in the language it was in.
async fn capture(browser: &Browser, name: &str) {
    let first = language(browser).await;
    look(browser, &format!("{name}-{first}")).await;
    switch_language(browser).await;
    let second = language(browser).await;
    assert_ne!(first, second);
    look(browser, &format!("{name}-{second}")).await;
    switch_language(browser).await;
    assert_eq!(language(browser).await, first);
}

/// One language: axe-core, names, words, width; screenshots at both widths.
async fn look(browser: &Browser, name: &str) {
    settle(browser).await;
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
    // Every word shown is the page's (data-i18n) or the script's (data-said) in this language,
    // or data: a table's cells, an account's facts, keys and codes, the API's greeting.
    let untranslated = browser
        .eval(
            "const out = [];
             const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
             while (walk.nextNode()) {
               const node = walk.currentNode, parent = node.parentElement;
               if (!node.textContent.trim() || !parent || !parent.getClientRects().length) continue;
               if (parent.closest('[data-i18n], [data-said], td, dd, code, .mono, .balance, \
                   #account-message, .brand, #lang-switch, svg, .codes, .tile strong')) continue;
               out.push(`${parent.tagName.toLowerCase()}#${parent.id}: ${node.textContent.trim().slice(0, 60)}`);
             }
             for (const e of document.querySelectorAll('[data-i18n]'))
               if (e.textContent === e.dataset.i18n) out.push(`no words for ${e.dataset.i18n}`);
             return out;",
            json!([]),
        )
        .await
        .unwrap();
    assert_eq!(
        untranslated,
        json!([]),
        "{name}: words outside the dictionaries"
    );
    let violations = browser.axe().await.unwrap();
    assert!(
        violations.is_empty(),
        "{name}: axe-core found WCAG 2.1 A/AA violations:\n{}",
        violations.join("\n")
    );
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

/// Headless Chromium at the wide size in `locale`, capturing into
/// `target/tmp/screenshots/<store>/`.
async fn start_browser(
    driver: &Path,
    chromium: &Path,
    store: Backend,
    locale: Locale,
) -> (Browser, PathBuf) {
    let label = match store {
        Backend::Sqlite => "sqlite",
        Backend::DynamoDb => "dynamodb",
    };
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("screenshots")
        .join(label);
    let browser = Browser::start(driver, chromium, WIDE, locale, shots.clone())
        .await
        .expect("headless Chromium");
    (browser, shots)
}

/// The words of both languages agree key for key (asked of the app's own module).
async fn dictionaries_agree(browser: &Browser) {
    let missing = browser
        .eval_async(
            "const done = arguments[arguments.length - 1];
             import('/assets/i18n.js').then(m => done(m.missingKeys())).catch(e => done([String(e)]));",
            json!([]),
        )
        .await
        .unwrap();
    assert_eq!(missing, json!([]), "words missing from a language");
}

/// A picture as a camera or an editor would save it: a real 160×160 PNG drawn by the browser.
async fn drawn_png(browser: &Browser, dir: &Path) -> PathBuf {
    let url = browser
        .eval(
            "const c = document.createElement('canvas'); c.width = 160; c.height = 160;
             const g = c.getContext('2d');
             g.fillStyle = '#f2c14e'; g.fillRect(0, 0, 160, 160);
             g.fillStyle = '#0b6e4f'; g.beginPath(); g.arc(80, 70, 38, 0, 2 * Math.PI); g.fill();
             g.fillRect(30, 120, 100, 40);
             return c.toDataURL('image/png');",
            json!([]),
        )
        .await
        .unwrap();
    let data = url
        .as_str()
        .unwrap()
        .trim_start_matches("data:image/png;base64,");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .unwrap();
    let path = dir.join("guntur.png");
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Whether the image `arguments[0]` selects shows decoded pixels.
const IMAGE_SHOWN: &str = "const i = document.querySelector(arguments[0]);
    return !!i && !i.hidden && i.complete && i.naturalWidth > 0;";

async fn image_shown(browser: &Browser, css: &str) -> bool {
    browser.eval(IMAGE_SHOWN, json!([css])).await.unwrap() == true
}

async fn wait_image(browser: &Browser, css: &str) {
    browser
        .wait_until(
            &format!("{css} to show a picture"),
            IMAGE_SHOWN,
            json!([css]),
        )
        .await
        .unwrap();
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
    submit(browser, "#register-form").await;
    browser
        .wait_text("#account-message", "akses sukses")
        .await
        .unwrap();
}

/// Presses the submit button of the form `form` selects.
async fn submit(browser: &Browser, form: &str) {
    browser
        .click(&format!("{form} button[type='submit']"))
        .await
        .unwrap();
}

/// Logs out; `said` is what the notice says in the page's language.
async fn log_out(browser: &Browser, said: &str) {
    browser.click("#logout").await.unwrap();
    browser.find("#login-form").await.unwrap();
    browser.wait_text("#notice", said).await.unwrap();
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
    // What the page is still loading would log after the look.
    settle(browser).await;
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
    for path in ["/", "/dashboard", "/assets/app.js", "/assets/i18n.js"] {
        let response = app.request(Method::GET, path).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers();
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.starts_with("default-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        // Pictures are shown from object URLs the app makes; nothing else from elsewhere.
        assert!(csp.contains("img-src 'self' blob:;"), "{path}: {csp}");
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

    let (browser, shots) = start_browser(&driver, &chromium, store, ENGLISH_IN_UTC).await;
    let files = std::env::temp_dir().join(format!("dompet-files-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&files).unwrap();

    // An English browser gets the app in English.
    browser.goto(&app.url("/")).await.unwrap();
    browser.find("#login-form").await.unwrap();
    assert_eq!(language(&browser).await, "en");
    assert_eq!(browser.text("#view-login h1").await.unwrap(), "Log in");
    dictionaries_agree(&browser).await;
    capture(&browser, "login").await;
    browser.click("a[href='#/register']").await.unwrap();
    browser.find("#register-form").await.unwrap();
    capture(&browser, "register").await;
    browser
        .click("#view-register a[href='#/login']")
        .await
        .unwrap();

    // The recipient registers with phone + PIN and a name, and adds a picture: a file that
    // isn't one is refused by the server next to the field; the real one is previewed, then
    // saved.
    register_in_browser(
        &browser,
        &[
            ("phone_number", "0811255502"),
            ("secret", "246810"),
            ("first_name", "Guntur"),
            ("last_name", "Saputro"),
        ],
        true,
    )
    .await;
    browser.find("#picture-none").await.unwrap();
    // An empty file is explained before anything is sent.
    let empty = files.join("empty.png");
    std::fs::write(&empty, "").unwrap();
    browser.upload("#picture-file", &empty).await.unwrap();
    browser
        .wait_text(
            "#picture-form .error[data-for='picture']",
            "This file is empty",
        )
        .await
        .unwrap();
    let fake = files.join("not-a-picture.png");
    std::fs::write(&fake, "this is text, not a PNG").unwrap();
    browser.upload("#picture-file", &fake).await.unwrap();
    submit(&browser, "#picture-form").await;
    browser
        .wait_text(
            "#picture-form .error[data-for='picture']",
            "This file is not a picture we can read",
        )
        .await
        .unwrap();
    capture(&browser, "account-picture-refused").await;
    let png = drawn_png(&browser, &files).await;
    browser.upload("#picture-file", &png).await.unwrap();
    browser
        .wait_text("#picture-file-name", "guntur.png")
        .await
        .unwrap();
    wait_image(&browser, "#picture-preview").await;
    assert!(!image_shown(&browser, "#picture-current").await);
    capture(&browser, "account-picture-preview").await;
    submit(&browser, "#picture-form").await;
    browser
        .wait_text("#picture-form .result", "Your picture is saved")
        .await
        .unwrap();
    wait_image(&browser, "#picture-current").await;
    browser.find("#picture-remove").await.unwrap();
    assert!(!image_shown(&browser, "#picture-preview").await);
    capture(&browser, "account-picture").await;
    log_out(&browser, "logged out").await;

    // The sender: a password too short is explained next to the secret field.
    browser.click("a[href='#/register']").await.unwrap();
    browser.fill("#reg-username", "sari").await.unwrap();
    browser
        .fill("#reg-email", "sari@example.com")
        .await
        .unwrap();
    browser.fill("#reg-secret", "short").await.unwrap();
    submit(&browser, "#register-form").await;
    let message = browser
        .wait_text("#register-form .error[data-for='secret']", "Password")
        .await
        .unwrap();
    assert!(message.contains("8"), "{message}");
    capture(&browser, "register-refused").await;
    browser.fill("#reg-secret", "rahasia-sari").await.unwrap();
    browser.fill("#reg-first", "Sari").await.unwrap();
    submit(&browser, "#register-form").await;
    browser
        .wait_text("#account-message", "akses sukses")
        .await
        .unwrap();
    log_out(&browser, "logged out").await;

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
    // The access token lives in memory only; the refresh token in this tab's sessionStorage,
    // beside the tab's chosen language.
    let stored = browser
        .eval(
            "return [localStorage.length, Object.keys(sessionStorage).sort(), document.cookie]",
            json!([]),
        )
        .await
        .unwrap();
    assert_eq!(
        stored,
        json!([0, ["dompet.app.refresh", "dompet.lang"], ""])
    );

    // Top up, a payment refused next to its amount, a transfer followed until it settles;
    // amounts as English writes them.
    browser.click("#nav a[href='#/wallet']").await.unwrap();
    browser.fill("#topup-amount", "500.000").await.unwrap();
    submit(&browser, "#topup-form").await;
    browser
        .wait_text("#topup-form .result", "Balance Rp 500,000")
        .await
        .unwrap();
    browser.fill("#pay-amount", "900000").await.unwrap();
    submit(&browser, "#pay-form").await;
    browser
        .wait_text(
            "#pay-form .error[data-for='amount']",
            "Balance is not enough",
        )
        .await
        .unwrap();
    capture(&browser, "wallet-refused").await;
    browser.fill("#pay-amount", "100000").await.unwrap();
    browser
        .fill("#pay-remarks", "Pulsa Telkomsel 100k")
        .await
        .unwrap();
    submit(&browser, "#pay-form").await;
    browser
        .wait_text("#pay-form .result", "Balance Rp 400,000")
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
    submit(&browser, "#transfer-form").await;
    // Whom it reaches is asked first, by name and picture; "No" sends nothing, "Yes" sends it.
    browser
        .wait_text("#transfer-question", "Send Rp 30,000 to Guntur Saputro?")
        .await
        .unwrap();
    wait_image(&browser, "#transfer-picture").await;
    assert_eq!(
        browser
            .eval(
                "return document.querySelector('#transfer-picture').alt",
                json!([])
            )
            .await
            .unwrap(),
        "Picture of Guntur Saputro"
    );
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
    submit(&browser, "#transfer-form").await;
    browser
        .wait_text("#transfer-question", "Guntur Saputro")
        .await
        .unwrap();
    browser.click("#transfer-yes").await.unwrap();
    browser
        .wait_text("#transfer-status", "settled: SUCCESS")
        .await
        .unwrap();
    assert_eq!(browser.text("#wallet-balance").await.unwrap(), "Rp 370,000");
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
    // Times in the browser's zone, labelled with it.
    let first_date = browser.text("#tx-rows tr td").await.unwrap();
    assert!(first_date.ends_with("UTC"), "{first_date}");
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
    submit(&browser, "#profile-form").await;
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
    // Armed: it says, and is named, what the second press does.
    browser
        .wait_text(
            "#entity-rows button[aria-label='Press again to delete SKU-1']",
            "Confirm",
        )
        .await
        .unwrap();
    browser
        .click("#entity-rows button[aria-label='Press again to delete SKU-1']")
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

    // The language chosen with the switch stays for the tab, over a reload; amounts follow it.
    browser.click("#nav a[href='#/wallet']").await.unwrap();
    switch_language(&browser).await;
    assert_eq!(language(&browser).await, "id");
    browser.goto(&app.url("/#/wallet")).await.unwrap();
    browser
        .wait_text("#wallet-balance", "Rp 378.000")
        .await
        .unwrap();
    assert_eq!(language(&browser).await, "id");
    assert_eq!(
        browser.text("#nav a[href='#/wallet']").await.unwrap(),
        "Dompet"
    );
    switch_language(&browser).await;
    browser
        .wait_text("#wallet-balance", "Rp 378,000")
        .await
        .unwrap();

    // Logout revokes the tab's login: its refresh token is refused afterwards.
    let refresh = browser
        .eval(
            "return sessionStorage.getItem('dompet.app.refresh')",
            json!([]),
        )
        .await
        .unwrap();
    log_out(&browser, "logged out").await;
    assert_eq!(
        browser
            .eval(
                "return sessionStorage.getItem('dompet.app.refresh')",
                json!([])
            )
            .await
            .unwrap(),
        json!(null)
    );
    app.post_json("/token/refresh", &json!({"refresh_token": refresh}))
        .await
        .assert_error(401, "UNAUTHENTICATED");

    // The recipient logs in with phone + PIN, sees the credit, and removes the picture.
    log_in(&browser, "0811255502", "246810").await;
    browser
        .wait_text("#account-balance", "Rp 30,000")
        .await
        .unwrap();
    wait_image(&browser, "#picture-current").await;
    browser.click("#picture-remove").await.unwrap();
    browser
        .wait_text("#picture-form .result", "Your picture is removed")
        .await
        .unwrap();
    browser.find("#picture-none").await.unwrap();
    assert!(!image_shown(&browser, "#picture-current").await);
    let guntur = app
        .tokens(json!({"phone_number": "0811255502", "pin": "246810"}))
        .await
        .0;
    let guntur_id = app
        .get_with_token("/account", &guntur)
        .await
        .assert_success(200)["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    app.get_with_token(&format!("/users/{guntur_id}/picture"), &guntur)
        .await
        .assert_error(404, "NOT_FOUND");
    browser
        .click("#nav a[href='#/transactions']")
        .await
        .unwrap();
    browser.wait_text("#tx-rows", "Transfer in").await.unwrap();
    log_out(&browser, "logged out").await;

    // Everything so far: only the refusals the test asked for (400 short password, 400
    // balance, 409 version conflict, 415 not a picture) and the pictures asked for where there
    // are none (404), no script or policy error.
    assert_console_clean(&browser, &[400, 404, 409, 415]).await;

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
    browser.find("#forgot-form").await.unwrap();
    capture(&browser, "forgot").await;
    browser
        .fill("#forgot-identifier", "sari@example.com")
        .await
        .unwrap();
    browser.press_enter("#forgot-identifier").await.unwrap();
    browser
        .wait_text("#reset-sent", "If an account has that")
        .await
        .unwrap();
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
    capture(&browser, "forgot-code").await;
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
    assert_console_clean(&browser, &[400, 403, 404]).await;
    browser.quit().await;
    let _ = std::fs::remove_dir_all(&outbox);
    let _ = std::fs::remove_dir_all(&files);
    eprintln!("screenshots in {}", shots.display());
}

/// The second factor, other tabs, the keyboard alone and closing, in Indonesian (see the
/// module's comment).
async fn the_second_factor_works_in_chromium(store: Backend) {
    use dompet::auth::totp::Authenticator;
    let Some((driver, chromium)) = binaries_or_skip("the_second_factor_works_in_chromium") else {
        return;
    };
    let app = TestApp::spawn(store).await;
    let (_, token, _) = app.signed_up("dewi", "rahasia-dewi").await;
    app.topup(&token, 100_000).await.assert_success(200);
    // The recipient of the keyboard's transfer, with a name and a picture.
    app.register(json!({"username": "guntur", "password": "rahasia-guntur",
                        "first_name": "Guntur", "last_name": "Saputro"}))
        .await
        .assert_success(201);
    let (guntur, _) = app
        .tokens(json!({"username": "guntur", "password": "rahasia-guntur"}))
        .await;
    app.send(
        app.request(Method::PUT, "/account/picture")
            .bearer_auth(&guntur)
            .header("content-type", "image/png")
            .body(dompet_tests::tiny_png()),
    )
    .await
    .assert_success(200);

    let (browser, _) = start_browser(&driver, &chromium, store, INDONESIAN_IN_JAKARTA).await;
    // An Indonesian browser gets the app in Indonesian.
    browser.goto(&app.url("/")).await.unwrap();
    browser.find("#login-form").await.unwrap();
    assert_eq!(language(&browser).await, "id");
    assert_eq!(browser.text("#view-login h1").await.unwrap(), "Masuk");
    log_in(&browser, "dewi", "rahasia-dewi").await;
    browser.wait_text("#account-mfa", "Nonaktif").await.unwrap();
    assert_eq!(
        browser.text("#account-balance").await.unwrap(),
        "Rp 100.000"
    );
    // The day the account was made, as Indonesian writes it, in Jakarta.
    let created = app
        .get_with_token("/account", &token)
        .await
        .assert_success(200)["created_date"]
        .as_str()
        .unwrap()
        .to_string();
    let created = chrono::NaiveDateTime::parse_from_str(&created, "%Y-%m-%d %H:%M:%S").unwrap()
        + chrono::Duration::hours(7);
    const BULAN: [&str; 12] = [
        "Januari",
        "Februari",
        "Maret",
        "April",
        "Mei",
        "Juni",
        "Juli",
        "Agustus",
        "September",
        "Oktober",
        "November",
        "Desember",
    ];
    use chrono::Datelike;
    assert_eq!(
        browser.text("#account-created").await.unwrap(),
        format!(
            "{} {} {}",
            created.day(),
            BULAN[created.month0() as usize],
            created.year()
        )
    );

    // Turn it on: the password, then the key as a QR code and as text.
    browser
        .fill("#mfa-enrol-secret", "rahasia-dewi")
        .await
        .unwrap();
    submit(&browser, "#mfa-enrol-form").await;
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
    browser.wait_text("#account-mfa", "Aktif").await.unwrap();
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
    capture(&browser, "account-mfa-on").await;
    // The enrolling login stays; the one the test made through the API has ended.
    app.get_with_token("/account", &token)
        .await
        .assert_error(401, "UNAUTHENTICATED");

    // A payment asks for a code.
    browser.click("a[href='#/wallet']").await.unwrap();
    browser.find("#pay-code").await.unwrap();
    browser.fill("#pay-amount", "10000").await.unwrap();
    submit(&browser, "#pay-form").await;
    browser
        .wait_text("#pay-form .error[data-for='code']", "Masukkan kode")
        .await
        .unwrap();
    capture(&browser, "wallet-step-up-asked").await;
    browser.fill("#pay-code", &code()).await.unwrap();
    submit(&browser, "#pay-form").await;
    browser
        .wait_text(
            "#pay-form .result",
            "Pembayaran Rp 10.000 berhasil. Saldo Rp 90.000.",
        )
        .await
        .unwrap();
    capture(&browser, "wallet-step-up").await;

    // Sign-in details ask for the password and a code: the email, then the password.
    browser.click("a[href='#/security']").await.unwrap();
    browser
        .wait_text("#session-rows", "Sesi ini")
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
    submit(&browser, "#identifier-form").await;
    browser
        .wait_text("#identifier-form .error[data-for='code']", "kode")
        .await
        .unwrap();
    browser.fill("#identifier-code", &code()).await.unwrap();
    submit(&browser, "#identifier-form").await;
    browser
        .wait_text("#identifier-form .result", "Tersimpan: dewi@example.com")
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
    submit(&browser, "#secret-form").await;
    browser
        .wait_text("#secret-form .result", "Sudah diganti")
        .await
        .unwrap();
    // Closing is refused while money is left, after the password and the code, and says why.
    browser
        .fill("#close-current", "rahasia-dewi-baru")
        .await
        .unwrap();
    browser.fill("#close-code", &code()).await.unwrap();
    submit(&browser, "#close-form").await;
    browser
        .wait_text("#close-form .error[data-for='_']", "Saldo Anda harus Rp 0")
        .await
        .unwrap();
    capture(&browser, "security-close-refused").await;

    // A second tab is a second login (two steps, through its own forms), listed in the first
    // with its time in Jakarta's zone, and ended from there: the second tab is sent to log in.
    let first_tab = browser.new_tab().await.unwrap();
    browser.goto(&app.url("/")).await.unwrap();
    log_in(&browser, "dewi", "rahasia-dewi-baru").await;
    browser
        .find("#login-mfa-form:not([hidden]) #login-code")
        .await
        .unwrap();
    browser.fill("#login-code", &code()).await.unwrap();
    browser.press_enter("#login-code").await.unwrap();
    browser
        .wait_text("#account-message", "akses sukses")
        .await
        .unwrap();
    let second_tab = browser.handle().await.unwrap();
    browser.switch_to(&first_tab).await.unwrap();
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
    let (created, shown) = {
        let v = browser
            .eval(
                "const r = document.querySelector('#session-rows tr:not(:has(button))');
                 return [r.dataset.created, r.cells[0].textContent];",
                json!([]),
            )
            .await
            .unwrap();
        (
            v[0].as_str().unwrap().to_string(),
            v[1].as_str().unwrap().to_string(),
        )
    };
    let in_jakarta = chrono::NaiveDateTime::parse_from_str(&created, "%Y-%m-%d %H:%M:%S").unwrap()
        + chrono::Duration::hours(7);
    assert!(
        shown.ends_with("WIB") && shown.contains(&in_jakarta.format("%H.%M").to_string()),
        "{created} (UTC) shown as {shown}"
    );
    capture(&browser, "security").await;
    browser.click("#session-rows button").await.unwrap();
    browser
        .wait_text("#sessions-result", "telah diakhiri")
        .await
        .unwrap();
    browser.switch_to(&second_tab).await.unwrap();
    browser.click("#nav a[href='#/wallet']").await.unwrap();
    browser.find("#login-form").await.unwrap();
    browser
        .wait_text("#notice", "Sesi Anda telah berakhir")
        .await
        .unwrap();
    capture(&browser, "login-session-ended").await;
    browser.close_tab(&first_tab).await.unwrap();
    browser.click("a[href='#/account']").await.unwrap();
    browser
        .wait_text("#account-message", "akses sukses")
        .await
        .unwrap();

    // The keyboard alone: log in, with a wrong code explained and a recovery code, ...
    log_out(&browser, "Anda sudah keluar").await;
    browser.tab_to("#login-identifier", 20).await.unwrap();
    browser.keys("dewi").await.unwrap();
    browser.keys(TAB).await.unwrap();
    assert!(browser.focused("#login-secret").await.unwrap());
    browser
        .keys(&format!("rahasia-dewi-baru{ENTER}"))
        .await
        .unwrap();
    browser
        .find("#login-mfa-form:not([hidden]) #login-code")
        .await
        .unwrap();
    assert!(browser.focused("#login-code").await.unwrap());
    capture(&browser, "login-code").await;
    browser.tab_to("#login-code", 40).await.unwrap();
    browser.keys(&format!("000000{ENTER}")).await.unwrap();
    browser
        .wait_text("#login-mfa-form .error[data-for='code']", "Kode salah")
        .await
        .unwrap();
    capture(&browser, "login-code-wrong").await;
    browser.tab_to("#login-code", 40).await.unwrap();
    browser
        .keys(&format!("{}{ENTER}", recovery[0]))
        .await
        .unwrap();
    browser
        .wait_text("#account-message", "akses sukses")
        .await
        .unwrap();
    // ... then a transfer, its confirmation (by name and picture) answered with Enter.
    browser.tab_to("#nav a[href='#/wallet']", 20).await.unwrap();
    browser.keys(ENTER).await.unwrap();
    browser.find("#transfer-target").await.unwrap();
    browser.tab_to("#transfer-target", 40).await.unwrap();
    browser.keys("guntur").await.unwrap();
    browser.tab_to("#transfer-amount", 3).await.unwrap();
    browser.keys("30000").await.unwrap();
    browser.tab_to("#transfer-code", 4).await.unwrap();
    browser.keys(&format!("{}{ENTER}", code())).await.unwrap();
    browser
        .wait_text(
            "#transfer-question",
            "Kirim Rp 30.000 ke Guntur Saputro (guntur)?",
        )
        .await
        .unwrap();
    wait_image(&browser, "#transfer-picture").await;
    assert!(browser.focused("#transfer-yes").await.unwrap());
    capture(&browser, "wallet-confirm-keyboard").await;
    // Looking in both languages moved the focus to the switch: back by Tab.
    browser.tab_to("#transfer-yes", 60).await.unwrap();
    browser.keys(ENTER).await.unwrap();
    browser
        .wait_text("#transfer-status", "selesai: BERHASIL")
        .await
        .unwrap();
    assert_eq!(
        app.balance(&guntur).await,
        30_000,
        "the keyboard's transfer reached the recipient"
    );

    // Turn it off with the password and a code.
    browser.click("a[href='#/account']").await.unwrap();
    browser
        .fill("#mfa-disable-secret", "rahasia-dewi-baru")
        .await
        .unwrap();
    browser.fill("#mfa-disable-code", &code()).await.unwrap();
    submit(&browser, "#mfa-disable-form").await;
    browser.wait_text("#account-mfa", "Nonaktif").await.unwrap();
    browser.find("#mfa-enrol-form:not([hidden])").await.unwrap();
    // Log out everywhere: this login too.
    browser.click("a[href='#/security']").await.unwrap();
    browser
        .wait_text("#session-rows", "Sesi ini")
        .await
        .unwrap();
    browser.click("#logout-all").await.unwrap();
    browser.find("#login-form").await.unwrap();
    browser.wait_text("#notice", "diakhiri").await.unwrap();

    // Closing, done: the rest paid out, then the account closed; it logs in no more.
    log_in(&browser, "dewi", "rahasia-dewi-baru").await;
    browser
        .wait_text("#account-balance", "Rp 60.000")
        .await
        .unwrap();
    browser.click("a[href='#/wallet']").await.unwrap();
    browser.fill("#pay-amount", "60.000").await.unwrap();
    submit(&browser, "#pay-form").await;
    browser
        .wait_text("#pay-form .result", "Saldo Rp 0.")
        .await
        .unwrap();
    browser.click("a[href='#/security']").await.unwrap();
    browser
        .fill("#close-current", "rahasia-dewi-baru")
        .await
        .unwrap();
    submit(&browser, "#close-form").await;
    browser.find("#login-form").await.unwrap();
    browser
        .wait_text("#notice", "Akun Anda sudah ditutup")
        .await
        .unwrap();
    app.login(json!({"username": "dewi", "password": "rahasia-dewi-baru"}))
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    // The refusals asked for: 401 (a code required, a wrong code, the ended login), 404 (no
    // picture of dewi's), 409 (closing with money left).
    assert_console_clean(&browser, &[401, 404, 409]).await;
    browser.quit().await;
}

/// Every error code the API can answer has the app's words in both languages.
#[test]
fn the_web_app_has_words_for_every_error_code() {
    let errors = include_str!("../../../lib/src/http/error.rs");
    let words = include_str!("../../../lib/web/i18n.js");
    let start = errors.find("pub fn as_str(self)").unwrap();
    let codes: Vec<&str> = errors[start..]
        .lines()
        .take_while(|l| !l.trim_start().starts_with("pub fn") || l.contains("as_str"))
        .filter_map(|l| l.split("=> \"").nth(1))
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert!(codes.len() > 20, "{codes:?}");
    for code in codes {
        let key = format!("\"error.{code}\":");
        assert_eq!(
            words.matches(&key).count(),
            2,
            "{code}: lib/web/i18n.js needs its words in English and Indonesian"
        );
    }
}

dompet_tests::both_stores!(
    the_web_app_and_dashboard_work_in_chromium,
    the_second_factor_works_in_chromium,
);
