use dompet::testing;

#[tokio::test]
async fn the_sample_event_lists_the_transactions_newest_first() {
    let state = testing::ephemeral().unwrap();
    let (user, token) = testing::user_with_token(&state, "guntur").await.unwrap();
    testing::topped_up(&state, &user, 1000).await.unwrap();
    testing::topped_up(&state, &user, 2000).await.unwrap();
    let json = include_str!("../../../../events/transactions.json").replace("ACCESS_TOKEN", &token);
    let request = lambda_http::request::from_str(&json)
        .unwrap()
        .map(|b| b.to_vec());
    let (status, body) = testing::call(dompet::http::TRANSACTIONS.router(state), request)
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["next_cursor"], serde_json::Value::Null);
    let entries = body["result"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["amount"], 2000);
    assert_eq!(entries[0]["balance_before"], entries[1]["balance_after"]);
    assert_eq!(entries[1]["transaction_type"], "CREDIT");
}
