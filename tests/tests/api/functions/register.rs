use dompet::testing;

fn event(name: &str) -> testing::LambdaRequest {
    let json = match name {
        "register" => include_str!("../../../../events/register.json"),
        _ => include_str!("../../../../events/register-pin.json"),
    };
    lambda_http::request::from_str(json)
        .expect("event parses")
        .map(|b| b.to_vec())
}

#[tokio::test]
async fn the_sample_event_registers_an_account() {
    let state = testing::ephemeral().unwrap();
    let (status, body) = testing::call(dompet::http::REGISTER.router(state), event("register"))
        .await
        .unwrap();
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "SUCCESS");
    assert_eq!(body["result"]["username"], "guntur");
    assert_eq!(body["result"]["email"], "guntur@example.com");
    assert!(body["result"].get("password").is_none());
}

#[tokio::test]
async fn the_form_event_registers_a_phone_and_pin_account_once() {
    let state = testing::ephemeral().unwrap();
    let router = dompet::http::REGISTER.router(state);
    let (status, body) = testing::call(router.clone(), event("register-pin"))
        .await
        .unwrap();
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["result"]["phone_number"], "0811255501");
    assert_eq!(body["result"]["username"], serde_json::Value::Null);
    let (status, body) = testing::call(router, event("register-pin")).await.unwrap();
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "ALREADY_REGISTERED");
}
