use dompet::testing;

#[tokio::test]
async fn the_scheduled_event_requeues_transfers_left_pending() {
    let config =
        dompet::Config::from_lookup(|k| (k == "DOMPET_SWEEP_AGE_SECS").then(|| "1".to_string()))
            .unwrap();
    let (state, mut queue) = testing::ephemeral_without_worker(&config).unwrap();
    let sender = testing::registered(&state, "guntur", "rahasia-sekali")
        .await
        .unwrap();
    testing::registered(&state, "tom", "rahasia-sekali")
        .await
        .unwrap();
    testing::topped_up(&state, &sender, 50000).await.unwrap();
    let id = testing::transferred(&state, &sender, "tom", 30000)
        .await
        .unwrap();
    assert_eq!(
        queue.recv().await.as_deref(),
        Some(id.as_str()),
        "enqueued at once"
    );

    let event: serde_json::Value =
        serde_json::from_str(include_str!("../../../../events/transfer-sweep.json")).unwrap();
    assert_eq!(event["detail-type"], "Scheduled Event");
    assert_eq!(
        dompet::jobs::sweep_transfers(&state).await.unwrap()["requeued"],
        0,
        "too young to sweep"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        dompet::jobs::sweep_transfers(&state).await.unwrap()["requeued"],
        1
    );
    assert_eq!(queue.recv().await.as_deref(), Some(id.as_str()));
}
