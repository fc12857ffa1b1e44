use dompet::domain::{IdentifierKind, LoginIdentifier};
use dompet::store::Role;
use dompet::testing;

fn event(json: &str, token: &str) -> testing::LambdaRequest {
    lambda_http::request::from_str(&json.replace("ACCESS_TOKEN", token))
        .unwrap()
        .map(|b| b.to_vec())
}

#[tokio::test]
async fn the_sample_events_answer_an_admin_and_refuse_anyone_else() {
    let state = testing::ephemeral().unwrap();
    let (sender, token) = testing::user_with_token(&state, "operator").await.unwrap();
    let (_, user_token) = testing::user_with_token(&state, "guntur").await.unwrap();
    testing::topped_up(&state, &sender, 50_000).await.unwrap();
    let router = || dompet::http::ADMIN.router(state.clone());

    for json in [
        include_str!("../../../../events/admin-stats.json"),
        include_str!("../../../../events/admin-transfers.json"),
    ] {
        let (status, body) = testing::call(router(), event(json, &user_token))
            .await
            .unwrap();
        assert_eq!(
            (status.as_u16(), body["code"].as_str()),
            (403, Some("FORBIDDEN"))
        );
    }

    let operator = LoginIdentifier::new(IdentifierKind::Username, "operator");
    assert!(state
        .store()
        .set_role(&operator, Role::Admin)
        .await
        .unwrap());
    let stats = event(include_str!("../../../../events/admin-stats.json"), &token);
    let (status, body) = testing::call(router(), stats).await.unwrap();
    assert_eq!(status, 200, "{body}");
    let money = &body["result"]["money_check"];
    assert_eq!(money["verdict"], "holds", "{body}");
    assert_eq!(
        (money["balances"].as_i64(), money["top_ups"].as_i64()),
        (Some(50_000), Some(50_000))
    );
    assert_eq!(body["result"]["queue"]["waiting"], 0);

    let list = event(
        include_str!("../../../../events/admin-transfers.json"),
        &token,
    );
    let (status, body) = testing::call(router(), list).await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], serde_json::json!([]));
}
