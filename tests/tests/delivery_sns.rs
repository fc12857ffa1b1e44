//! The SNS delivery against moto's SNS (tests/src/moto.rs): a queue subscribed to the topic
//! receives what the adapter publishes, as an email or SMS subscriber would; then the whole
//! reset flow over HTTP with SNS as the delivery, the code read from that queue.

use std::sync::Arc;
use std::time::Duration;

use dompet::delivery::{Channel, Delivery, Message, SnsDelivery};
use dompet_tests::{moto, Backend, TestApp};
use serde_json::{json, Value};

/// A topic and a queue subscribed to it on moto: (topic ARN, queue URL).
async fn topic_with_queue(
    sns: &aws_sdk_sns::Client,
    sqs: &aws_sdk_sqs::Client,
) -> (String, String) {
    let name = format!("dompet-codes-{}", uuid::Uuid::new_v4().simple());
    let topic = sns.create_topic().name(&name).send().await.unwrap();
    let topic_arn = topic.topic_arn().unwrap().to_string();
    let queue = sqs.create_queue().queue_name(&name).send().await.unwrap();
    let queue_url = queue.queue_url().unwrap().to_string();
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    let queue_arn =
        attributes.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone();
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn)
        .send()
        .await
        .unwrap();
    (topic_arn, queue_url)
}

/// The next notification on the queue (SNS's envelope, parsed), waiting up to 10 s.
async fn next_notification(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Value {
    for _ in 0..10 {
        let out = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(1)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        if let Some(m) = out.messages().first() {
            sqs.delete_message()
                .queue_url(queue_url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
            return serde_json::from_str(m.body().unwrap()).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("nothing arrived on {queue_url}");
}

async fn clients() -> (aws_sdk_sns::Client, aws_sdk_sqs::Client) {
    let config = moto::sdk_config().await;
    (
        aws_sdk_sns::Client::new(&config),
        aws_sdk_sqs::Client::new(&config),
    )
}

#[tokio::test]
async fn a_message_is_published_with_its_channel_for_subscription_filters() {
    let (sns, sqs) = clients().await;
    let (topic_arn, queue_url) = topic_with_queue(&sns, &sqs).await;
    let delivery = SnsDelivery::new(sns.clone(), &topic_arn);
    let message = Message {
        kind: "password_reset",
        user_id: "0b7e6f0e-8d4a-4a43-9f0e-6c1c9a4b2d11".into(),
        channel: Channel::Email,
        to: "guntur@example.com".into(),
        code: Some("042042".into()),
        field: None,
        created_date: "2026-11-23 10:00:00".into(),
    };
    delivery.deliver(&message).await.unwrap();
    let n = next_notification(&sqs, &queue_url).await;
    assert_eq!(n["Type"], "Notification");
    assert_eq!(n["TopicArn"], topic_arn.as_str());
    let body: Value = serde_json::from_str(n["Message"].as_str().unwrap()).unwrap();
    assert_eq!(body, serde_json::to_value(&message).unwrap());
    assert_eq!(n["MessageAttributes"]["channel"]["Value"], "email");
    assert_eq!(n["MessageAttributes"]["kind"]["Value"], "password_reset");

    // A topic that doesn't exist is an error the caller sees (and logs).
    let missing = SnsDelivery::new(sns, format!("{topic_arn}-gone"));
    assert!(missing.deliver(&message).await.is_err());
}

async fn the_reset_flow_delivers_its_code_through_sns(store: Backend) {
    let (sns, sqs) = clients().await;
    let (topic_arn, queue_url) = topic_with_queue(&sns, &sqs).await;
    let config = dompet::Config::from_lookup(|_| None).unwrap();
    let (state, _queue) = dompet::testing::state_on(store.fresh_store().await, &config).unwrap();
    let state = state.with_delivery(Arc::new(SnsDelivery::new(sns, &topic_arn)));
    let app = TestApp::serve(state).await;
    app.register(json!({"username": "sari", "phone_number": "081234567890", "pin": "123456"}))
        .await
        .assert_success(201);
    app.post_json("/password/forgot", &json!({"username": "sari"}))
        .await
        .assert_success(202);
    let n = next_notification(&sqs, &queue_url).await;
    assert_eq!(n["MessageAttributes"]["channel"]["Value"], "sms");
    let body: Value = serde_json::from_str(n["Message"].as_str().unwrap()).unwrap();
    assert_eq!(body["to"], "081234567890");
    let code = body["code"].as_str().unwrap();
    app.post_json(
        "/password/reset",
        &json!({"username": "sari", "code": code, "pin": "654321"}),
    )
    .await
    .assert_success(200);
    app.tokens(json!({"phone_number": "081234567890", "pin": "654321"}))
        .await;
    // The owner is told, without a code.
    let n = next_notification(&sqs, &queue_url).await;
    assert_eq!(n["MessageAttributes"]["kind"]["Value"], "secret_changed");
    assert_eq!(n["Subject"], "dompet: your password or PIN changed");
    let body: Value = serde_json::from_str(n["Message"].as_str().unwrap()).unwrap();
    assert_eq!(
        (body["to"].as_str(), body["channel"].as_str()),
        (Some("081234567890"), Some("sms"))
    );
    assert!(body.get("code").is_none(), "{body}");
    // Nobody's request publishes nothing.
    app.post_json("/password/forgot", &json!({"username": "nobody"}))
        .await
        .assert_success(202);
    let out = sqs
        .receive_message()
        .queue_url(&queue_url)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    assert!(out.messages().is_empty(), "{:?}", out.messages());
}

dompet_tests::both_stores!(the_reset_flow_delivers_its_code_through_sns);
