use dompet::testing;

#[tokio::test]
async fn the_sample_events_transfer_and_report_the_status() {
    let state = testing::ephemeral().unwrap();
    let sender = testing::registered(&state, "guntur", "rahasia-sekali")
        .await
        .unwrap();
    let recipient = testing::registered(&state, "tom", "rahasia-sekali")
        .await
        .unwrap();
    testing::topped_up(&state, &sender, 400000).await.unwrap();
    let token = testing::signed_in(&state, &sender)
        .await
        .unwrap()
        .access_token;
    let router = dompet::http::TRANSFER.router(state.clone());

    let json = include_str!("../../../../events/transfer.json")
        .replace("ACCESS_TOKEN", &token)
        .replace("RECIPIENT", "TOM");
    let request = lambda_http::request::from_str(&json)
        .unwrap()
        .map(|b| b.to_vec());
    let (status, body) = testing::call(router.clone(), request).await.unwrap();
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["result"]["transfer_status"], "PENDING");
    assert_eq!(body["result"]["balance_after"], 370000);
    let id = body["result"]["transfer_id"].as_str().unwrap().to_string();

    let json = include_str!("../../../../events/transfer-status.json")
        .replace("ACCESS_TOKEN", &token)
        .replace("TRANSFER_ID", &id);
    for _ in 0..100 {
        let request = lambda_http::request::from_str(&json)
            .unwrap()
            .map(|b| b.to_vec());
        let (status, body) = testing::call(router.clone(), request).await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["result"]["to_user"], recipient.user_id.to_string());
        if body["result"]["transfer_status"] == "SUCCESS" {
            assert!(body["result"]["settled_date"].is_string());
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the transfer was not settled by the worker");
}
