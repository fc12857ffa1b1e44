use dompet::testing;

fn event(json: &str) -> testing::LambdaRequest {
    lambda_http::request::from_str(json)
        .expect("event parses")
        .map(|b| b.to_vec())
}

#[tokio::test]
async fn the_sample_events_deliver_a_code_to_the_outbox_and_reset_the_password() {
    let outbox = std::env::temp_dir().join(format!("dompet-outbox-{}", uuid::Uuid::new_v4()));
    let dir = outbox.to_str().unwrap().to_string();
    let config =
        dompet::Config::from_lookup(|k| (k == "DOMPET_OUTBOX_DIR").then(|| dir.clone())).unwrap();
    let state = testing::ephemeral_state(&config).unwrap();
    let router = dompet::http::PASSWORD.router(state.clone());
    let registered = dompet::http::REGISTER.router(state.clone());
    let (status, body) = testing::call(
        registered,
        event(include_str!("../../../../events/register.json")),
    )
    .await
    .unwrap();
    assert_eq!(status, 201, "{body}");

    let (status, body) = testing::call(
        router.clone(),
        event(include_str!("../../../../events/password-forgot.json")),
    )
    .await
    .unwrap();
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["result"], serde_json::Value::Null);
    let files: Vec<_> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let message: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
    assert_eq!(message["channel"], "email");
    assert_eq!(message["to"], "guntur@example.com");
    let code = message["code"].as_str().unwrap();

    let reset = include_str!("../../../../events/password-reset.json").replace("CODE", code);
    let (status, body) = testing::call(router.clone(), event(&reset)).await.unwrap();
    assert_eq!(status, 200, "{body}");
    // Used up.
    let (status, body) = testing::call(router, event(&reset)).await.unwrap();
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "INVALID_CODE");
    std::fs::remove_dir_all(&outbox).unwrap();
}
