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
    let verdict = dompet::jobs::audit(&state).await.unwrap();
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
