use dompet::testing;

#[tokio::test]
async fn the_sample_event_tops_up_once_per_idempotency_key() {
    let state = testing::ephemeral().unwrap();
    let (user, token) = testing::user_with_token(&state, "guntur").await.unwrap();
    let json = include_str!("../../../../events/topup.json").replace("ACCESS_TOKEN", &token);
    let router = dompet::http::TOPUP.router(state.clone());
    let request = || {
        lambda_http::request::from_str(&json)
            .unwrap()
            .map(|b| b.to_vec())
    };
    let (status, body) = testing::call(router.clone(), request()).await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["amount_top_up"], 500000);
    assert_eq!(body["result"]["balance_before"], 0);
    assert_eq!(body["result"]["balance_after"], 500000);
    let (status, again) = testing::call(router, request()).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(again, body, "replayed, not applied twice");
    assert_eq!(
        state
            .store()
            .get_user(user.user_id)
            .await
            .unwrap()
            .unwrap()
            .balance,
        500000
    );
}
