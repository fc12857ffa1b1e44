use dompet::testing;

/// A sample event as the function receives it.
fn event(json: &str) -> testing::LambdaRequest {
    lambda_http::request::from_str(json)
        .expect("event parses")
        .map(|b| b.to_vec())
}

#[tokio::test]
async fn the_sample_event_reads_the_account_with_a_valid_token() {
    let state = testing::ephemeral().unwrap();
    let user = testing::registered(&state, "guntur", "rahasia-sekali")
        .await
        .unwrap();
    let tokens = testing::signed_in(&state, &user).await.unwrap();
    let json = include_str!("../../../../events/account.json")
        .replace("ACCESS_TOKEN", &tokens.access_token);
    let request = event(&json);
    let (status, body) = testing::call(dompet::http::ACCOUNT.router(state.clone()), request)
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "akses sukses");
    assert_eq!(body["result"]["user_id"], user.user_id.to_string());
    assert_eq!(body["result"]["balance"], 0);

    let unsigned = include_str!("../../../../events/account.json");
    let request = event(unsigned);
    let (status, body) = testing::call(dompet::http::ACCOUNT.router(state), request)
        .await
        .unwrap();
    assert_eq!(status, 401);
    assert_eq!(body["code"], "UNAUTHENTICATED");
}

#[tokio::test]
async fn the_sample_events_change_the_identifiers() {
    let state = testing::ephemeral().unwrap();
    let user = testing::registered(&state, "guntur", "rahasia-sekali")
        .await
        .unwrap();
    let tokens = testing::signed_in(&state, &user).await.unwrap();
    let mut last = serde_json::Value::Null;
    for event in [
        include_str!("../../../../events/account-username.json"),
        include_str!("../../../../events/account-email.json"),
        include_str!("../../../../events/account-phone-number.json"),
    ] {
        let request =
            lambda_http::request::from_str(&event.replace("ACCESS_TOKEN", &tokens.access_token))
                .unwrap()
                .map(|b| b.to_vec());
        let (status, body) = testing::call(dompet::http::ACCOUNT.router(state.clone()), request)
            .await
            .unwrap();
        assert_eq!(status, 200, "{body}");
        last = body;
    }
    assert_eq!(last["result"]["username"], "guntur_s");
    assert_eq!(last["result"]["email"], "guntur.saputro@example.com");
    assert_eq!(last["result"]["phone_number"], serde_json::Value::Null);
}

#[tokio::test]
async fn the_sample_event_looks_up_a_recipient() {
    let state = testing::ephemeral().unwrap();
    let user = testing::registered(&state, "guntur", "rahasia-sekali")
        .await
        .unwrap();
    testing::registered(&state, "sari", "rahasia-sekali")
        .await
        .unwrap();
    let tokens = testing::signed_in(&state, &user).await.unwrap();
    let json = include_str!("../../../../events/users-lookup.json")
        .replace("ACCESS_TOKEN", &tokens.access_token)
        .replace("TARGET", "sari");
    let request = event(&json);
    let (status, body) = testing::call(dompet::http::ACCOUNT.router(state), request)
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["username"], "sari");
    assert_eq!(body["result"]["display_name"], serde_json::Value::Null);
}

#[tokio::test]
async fn the_sample_event_changes_the_secret_and_keeps_only_this_login() {
    let state = testing::ephemeral().unwrap();
    let user = testing::registered(&state, "guntur", "rahasia-sekali")
        .await
        .unwrap();
    let tokens = testing::signed_in(&state, &user).await.unwrap();
    let other = testing::signed_in(&state, &user).await.unwrap();
    let json = include_str!("../../../../events/account-secret.json")
        .replace("ACCESS_TOKEN", &tokens.access_token);
    let request = event(&json);
    let (status, body) = testing::call(dompet::http::ACCOUNT.router(state.clone()), request)
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let account = |token: &str| {
        let json = include_str!("../../../../events/account.json").replace("ACCESS_TOKEN", token);
        let request = event(&json);
        testing::call(dompet::http::ACCOUNT.router(state.clone()), request)
    };
    assert_eq!(account(&tokens.access_token).await.unwrap().0, 200);
    assert_eq!(account(&other.access_token).await.unwrap().0, 401);
}

#[tokio::test]
async fn the_sample_event_closes_the_account() {
    let state = testing::ephemeral().unwrap();
    let user = testing::registered(&state, "guntur", "rahasia-sekali")
        .await
        .unwrap();
    let tokens = testing::signed_in(&state, &user).await.unwrap();
    let json = include_str!("../../../../events/account-delete.json")
        .replace("ACCESS_TOKEN", &tokens.access_token);
    let request = event(&json);
    let (status, body) = testing::call(dompet::http::ACCOUNT.router(state.clone()), request)
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(state
        .store()
        .get_user(user.user_id)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn the_sample_events_set_serve_and_remove_a_picture() {
    let dir = std::env::temp_dir().join(format!("dompet-pictures-{}", uuid::Uuid::new_v4()));
    let path = dir.to_str().unwrap().to_string();
    let config =
        dompet::Config::from_lookup(|k| (k == "DOMPET_PICTURES_DIR").then(|| path.clone()))
            .unwrap();
    let state = testing::ephemeral_state(&config).unwrap();
    let user = testing::registered(&state, "guntur", "rahasia-sekali")
        .await
        .unwrap();
    let tokens = testing::signed_in(&state, &user).await.unwrap();
    let call = |json: &str| {
        let json = json
            .replace("ACCESS_TOKEN", &tokens.access_token)
            .replace("USER_ID", &user.user_id.to_string());
        let request = event(&json);
        testing::call(dompet::http::ACCOUNT.router(state.clone()), request)
    };
    let (status, body) = call(include_str!("../../../../events/account-picture.json"))
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let url = format!("/users/{}/picture", user.user_id);
    assert_eq!(body["result"]["picture_url"], url.as_str());
    let stored = std::fs::read(dir.join(user.user_id.to_string())).unwrap();
    assert!(stored.starts_with(b"\x89PNG\r\n\x1a\n"));
    let json = include_str!("../../../../events/user-picture.json")
        .replace("ACCESS_TOKEN", &tokens.access_token)
        .replace("USER_ID", &user.user_id.to_string());
    let request = event(&json);
    let (status, headers, bytes) =
        testing::call_raw(dompet::http::ACCOUNT.router(state.clone()), request)
            .await
            .unwrap();
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(bytes, stored);
    let (status, body) = call(include_str!(
        "../../../../events/account-picture-delete.json"
    ))
    .await
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(include_str!("../../../../events/user-picture.json"))
        .await
        .unwrap();
    assert_eq!(status, 404, "{body}");
    std::fs::remove_dir_all(&dir).unwrap();
}
