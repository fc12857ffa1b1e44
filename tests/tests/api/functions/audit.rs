use dompet::testing;

#[tokio::test]
async fn the_scheduled_event_checks_the_money_and_keeps_the_verdict() {
    let state = testing::ephemeral().unwrap();
    let sender = testing::registered(&state, "guntur", "rahasia-sekali")
        .await
        .unwrap();
    testing::registered(&state, "tom", "rahasia-sekali")
        .await
        .unwrap();
    testing::topped_up(&state, &sender, 50000).await.unwrap();
    testing::transferred(&state, &sender, "tom", 30000)
        .await
        .unwrap();

    let event: serde_json::Value =
        serde_json::from_str(include_str!("../../../../events/audit.json")).unwrap();
    assert_eq!(event["detail-type"], "Scheduled Event");
    let verdict = dompet::jobs::audit(&state, &event).await.unwrap();
    assert_eq!(verdict["verdict"], "holds", "{verdict}");
    assert_eq!(verdict["accounts_checked"], 2, "{verdict}");
    assert_eq!(
        verdict["broken_accounts"],
        serde_json::json!([]),
        "{verdict}"
    );
    let kept = state
        .store()
        .money_check(dompet::domain::now_millis())
        .await
        .unwrap()
        .expect("a verdict");
    assert_eq!(kept.held(), 50000);
}

/// The stream's sample batch (a registration and a top-up, as Lambda hands them over from the
/// table's stream) on DynamoDB Local: applied once however often delivered, then the scheduled
/// event's verdict counts it; `{"full": true}` checks the table itself.
#[tokio::test]
async fn the_stream_batch_is_counted_and_the_schedule_reads_the_verdict() {
    let store = dompet_tests::dynamodb_local::fresh_store().await;
    // The sample's changes are from long ago: no grace period to wait for.
    let config = dompet::config::Config::from_lookup(|name| {
        (name == "DOMPET_AUDIT_GRACE_SECS").then(|| "0".into())
    })
    .unwrap();
    let (state, _receiver) = testing::state_on(std::sync::Arc::new(store), &config).unwrap();
    let batch: serde_json::Value =
        serde_json::from_str(include_str!("../../../../events/audit-stream.json")).unwrap();
    for _ in 0..2 {
        let answer = dompet::jobs::audit_changes(&state, batch.clone())
            .await
            .unwrap();
        assert_eq!(answer["batchItemFailures"], serde_json::json!([]));
    }
    let scheduled: serde_json::Value =
        serde_json::from_str(include_str!("../../../../events/audit.json")).unwrap();
    let verdict = dompet::jobs::audit(&state, &scheduled).await.unwrap();
    assert_eq!(verdict["verdict"], "holds", "{verdict}");
    assert_eq!(verdict["accounts_checked"], 1, "{verdict}");
    let kept = state
        .store()
        .money_check(dompet::domain::now_millis())
        .await
        .unwrap()
        .expect("a verdict");
    assert_eq!((kept.top_ups, kept.balances), (50_000, 50_000));

    // The table itself holds no account: the full check says so.
    let full: serde_json::Value =
        serde_json::from_str(include_str!("../../../../events/audit-full.json")).unwrap();
    let verdict = dompet::jobs::audit(&state, &full).await.unwrap();
    assert_eq!(verdict["verdict"], "holds", "{verdict}");
    assert_eq!(verdict["accounts_checked"], 0, "{verdict}");
}
