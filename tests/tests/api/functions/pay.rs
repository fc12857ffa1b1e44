use dompet::testing;

#[tokio::test]
async fn the_sample_event_pays_from_the_balance() {
    let state = testing::ephemeral().unwrap();
    let (user, token) = testing::user_with_token(&state, "guntur").await.unwrap();
    let json = include_str!("../../../../events/pay.json").replace("ACCESS_TOKEN", &token);
    let router = dompet::http::PAY.router(state.clone());
    let request = || {
        lambda_http::request::from_str(&json)
            .unwrap()
            .map(|b| b.to_vec())
    };
    let (status, body) = testing::call(router.clone(), request()).await.unwrap();
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "INSUFFICIENT_BALANCE");
    testing::topped_up(&state, &user, 500000).await.unwrap();
    let (status, body) = testing::call(router, request()).await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["remarks"], "Pulsa Telkomsel 100k");
    assert_eq!(body["result"]["balance_before"], 500000);
    assert_eq!(body["result"]["balance_after"], 400000);
}
