//! The AWS delivery against moto (tests/src/moto.rs): email through SES v2 to the account's own
//! address, SMS through SNS to its own number, as moto records them (its `/moto-api/data.json`);
//! then the whole reset flow over HTTP with that delivery. And the secrets a function reads
//! from SSM Parameter Store at init.

use std::sync::Arc;

use dompet::delivery::{AwsDelivery, Channel, Delivery, Message};
use dompet_tests::{moto, Backend, TestApp};
use serde_json::{json, Value};

/// A sender identity verified in moto's SES, and the delivery sending from it.
async fn sending(countries: &[&str]) -> (AwsDelivery, String) {
    let config = moto::sdk_config().await;
    let ses = aws_sdk_sesv2::Client::new(&config);
    let domain = format!("{}.example.com", uuid::Uuid::new_v4().simple());
    ses.create_email_identity()
        .email_identity(&domain)
        .send()
        .await
        .unwrap();
    let from = format!("no-reply@{domain}");
    let delivery = AwsDelivery::new(
        ses,
        aws_sdk_sns::Client::new(&config),
        &from,
        countries.iter().map(|c| c.to_string()).collect(),
    );
    (delivery, from)
}

/// What moto recorded as sent: SES emails and SNS SMS.
async fn sent() -> (Vec<Value>, Vec<Value>) {
    let data: Value = reqwest::get(format!("{}/moto-api/data.json", moto::endpoint()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let list = |v: &Value| v.as_array().cloned().unwrap_or_default();
    (list(&data["ses"]["Message"]), list(&data["sns"]["SMS"]))
}

/// The emails moto's SES sent to `to`.
async fn emails_to(to: &str) -> Vec<Value> {
    let (emails, _) = sent().await;
    emails
        .into_iter()
        .filter(|m| m["destinations"]["ToAddresses"] == json!([to]))
        .collect()
}

/// The SMS moto's SNS sent to `number`.
async fn sms_to(number: &str) -> Vec<Value> {
    let (_, sms) = sent().await;
    sms.into_iter()
        .filter(|m| m["phone_number"] == number)
        .collect()
}

fn message(channel: Channel, to: &str) -> Message {
    Message {
        kind: "password_reset",
        user_id: "0b7e6f0e-8d4a-4a43-9f0e-6c1c9a4b2d11".into(),
        channel,
        to: to.into(),
        code: Some("042042".into()),
        field: None,
        created_date: "2026-11-23 10:00:00".into(),
    }
}

/// A number of its own per test run (moto's record is shared by every test).
fn unique_number(prefix: &str) -> String {
    let n = uuid::Uuid::new_v4().as_u128() % 100_000_000;
    format!("{prefix}{n:08}")
}

#[tokio::test]
async fn email_goes_to_the_owner_through_ses_and_sms_to_their_number_through_sns() {
    let (delivery, from) = sending(&["+62"]).await;
    let to = format!("{}@example.com", uuid::Uuid::new_v4().simple());
    delivery
        .deliver(&message(Channel::Email, &to))
        .await
        .unwrap();
    let emails = emails_to(&to).await;
    assert_eq!(emails.len(), 1, "{emails:?}");
    assert_eq!(emails[0]["source"], from.as_str());
    assert_eq!(emails[0]["subject"], "dompet: your one-time code");
    assert!(
        emails[0]["body"].as_str().unwrap().contains("042042"),
        "{}",
        emails[0]
    );

    // A national number is sent in E.164, in the first country allowed.
    let national = unique_number("0812");
    let e164 = format!("+62{}", &national[1..]);
    delivery
        .deliver(&message(Channel::Sms, &national))
        .await
        .unwrap();
    let sms = sms_to(&e164).await;
    assert_eq!(sms.len(), 1, "{sms:?}");
    assert!(sms[0]["message"].as_str().unwrap().contains("042042"));
    assert!(sms_to(&national).await.is_empty());
}

#[tokio::test]
async fn sms_goes_only_to_the_countries_allowed_and_failures_are_errors() {
    let (delivery, _) = sending(&["+62"]).await;
    let elsewhere = unique_number("+1555");
    assert!(delivery
        .deliver(&message(Channel::Sms, &elsewhere))
        .await
        .is_err());
    assert!(sms_to(&elsewhere).await.is_empty(), "no SMS outside +62");
    let (none, _) = sending(&[]).await;
    let national = unique_number("0813");
    assert!(none
        .deliver(&message(Channel::Sms, &national))
        .await
        .is_err());
    assert!(sms_to(&format!("+62{}", &national[1..])).await.is_empty());
    // A sender SES has not verified is refused: the caller sees (and logs) an error.
    let config = moto::sdk_config().await;
    let unverified = AwsDelivery::new(
        aws_sdk_sesv2::Client::new(&config),
        aws_sdk_sns::Client::new(&config),
        format!("no-reply@{}.invalid", uuid::Uuid::new_v4().simple()),
        Vec::new(),
    );
    let to = format!("{}@example.com", uuid::Uuid::new_v4().simple());
    assert!(unverified
        .deliver(&message(Channel::Email, &to))
        .await
        .is_err());
    assert!(emails_to(&to).await.is_empty());
}

async fn the_reset_flow_reaches_the_owner_and_nobody_else(store: Backend) {
    let (delivery, from) = sending(&["+62"]).await;
    let config = dompet::Config::from_lookup(|_| None).unwrap();
    let (state, _queue) = dompet::testing::state_on(store.fresh_store().await, &config).unwrap();
    let state = state.with_delivery(Arc::new(delivery));
    let app = TestApp::serve(state).await;
    let phone = unique_number("0812");
    let number = format!("+62{}", &phone[1..]);
    let email = format!("{}@example.com", uuid::Uuid::new_v4().simple());
    app.register(json!({"username": format!("s{}", &phone[4..]), "email": email, "phone_number": phone, "pin": "123456"}))
        .await
        .assert_success(201);
    app.post_json("/password/forgot", &json!({"phone_number": phone}))
        .await
        .assert_success(202);
    let sms = sms_to(&number).await;
    assert_eq!(sms.len(), 1, "one SMS to the number asked by: {sms:?}");
    let text = sms[0]["message"].as_str().unwrap();
    let code: String = text
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .expect("a 6-digit code")
        .to_string();
    app.post_json(
        "/password/reset",
        &json!({"phone_number": phone, "code": code, "pin": "654321"}),
    )
    .await
    .assert_success(200);
    app.tokens(json!({"phone_number": phone, "pin": "654321"}))
        .await;
    // The owner is told at their email, without a code.
    let emails = emails_to(&email).await;
    assert_eq!(emails.len(), 1, "{emails:?}");
    assert_eq!(emails[0]["subject"], "dompet: your password or PIN changed");
    assert!(!emails[0]["body"].as_str().unwrap().contains(&code));
    // Nobody's request sends nothing: counted on what this test's delivery could send (moto's
    // record is shared by every test, and others send meanwhile).
    let before = sent_by(&from, &number).await;
    app.post_json("/password/forgot", &json!({"username": "nobody"}))
        .await
        .assert_success(202);
    assert_eq!(sent_by(&from, &number).await, before);
}

/// How many emails moto's SES sent from `from` and SMS its SNS sent to `number`.
async fn sent_by(from: &str, number: &str) -> (usize, usize) {
    let (emails, _) = sent().await;
    let emails = emails.iter().filter(|m| m["source"] == from).count();
    (emails, sms_to(number).await.len())
}

dompet_tests::both_stores!(the_reset_flow_reaches_the_owner_and_nobody_else);

#[tokio::test]
async fn the_cursor_key_is_read_decrypted_from_an_ssm_secure_string() {
    let ssm = aws_sdk_ssm::Client::new(&moto::sdk_config().await);
    let name = format!(
        "/dompet/test/{}/cursor-secret",
        uuid::Uuid::new_v4().simple()
    );
    let secret = "k".repeat(48);
    ssm.put_parameter()
        .name(&name)
        .value(&secret)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let read = dompet::state::ssm_secret(&ssm, &name, "DOMPET_CURSOR_SECRET_PARAMETER")
        .await
        .unwrap();
    assert_eq!(read, secret);
    let missing = dompet::state::ssm_secret(
        &ssm,
        &format!("{name}-gone"),
        "DOMPET_CURSOR_SECRET_PARAMETER",
    )
    .await
    .unwrap_err();
    assert!(
        format!("{missing:#}").contains("DOMPET_CURSOR_SECRET_PARAMETER"),
        "{missing:#}"
    );
}
