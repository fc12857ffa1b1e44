use dompet::testing;

use aws_lambda_events::event::sqs::SqsEvent;

#[tokio::test]
async fn a_batch_with_a_duplicate_settles_once_and_reports_only_the_poison_message() {
    let config = dompet::Config::from_lookup(|_| None).unwrap();
    let (state, _queue) = testing::ephemeral_without_worker(&config).unwrap();
    let sender = testing::registered(&state, "guntur", "rahasia-sekali")
        .await
        .unwrap();
    let recipient = testing::registered(&state, "tom", "rahasia-sekali")
        .await
        .unwrap();
    testing::topped_up(&state, &sender, 50000).await.unwrap();
    let id = testing::transferred(&state, &sender, "tom", 30000)
        .await
        .unwrap();

    // The same transfer twice: as the sweep enqueues it (id only) and as `POST /transfer` does
    // (naming the recipient).
    let json = include_str!("../../../../events/transfer-worker.json")
        .replace("TRANSFER_ID", &id)
        .replace("TO_USER", &recipient.user_id.to_string());
    let event: SqsEvent = serde_json::from_str(&json).unwrap();
    let response = dompet::jobs::settle_transfers(&state, event).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["7b9d2a1e-3c4f-4b8a-9e6d-5f0a1b2c3d4e"]);
    let credited = state
        .store()
        .get_user(recipient.user_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(credited.balance, 30000, "credited exactly once");
    let t = state.store().get_transfer(&id).await.unwrap().unwrap();
    assert_eq!(t.status.as_str(), "SUCCESS");
}
