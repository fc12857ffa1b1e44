use dompet::testing;

#[tokio::test]
async fn the_sample_event_updates_the_profile() {
    let state = testing::ephemeral().unwrap();
    let (user, token) = testing::user_with_token(&state, "guntur").await.unwrap();
    let json = include_str!("../../../../events/profile.json").replace("ACCESS_TOKEN", &token);
    let request = lambda_http::request::from_str(&json)
        .unwrap()
        .map(|b| b.to_vec());
    let (status, body) = testing::call(dompet::http::PROFILE.router(state.clone()), request)
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["first_name"], "Tom");
    assert_eq!(body["result"]["address"], "Jl. Diponegoro No. 215");
    let stored = state.store().get_user(user.user_id).await.unwrap().unwrap();
    assert_eq!(stored.last_name.as_deref(), Some("Araya"));
}
