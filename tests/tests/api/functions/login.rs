use dompet::testing;

fn event(json: &str, replacements: &[(&str, &str)]) -> testing::LambdaRequest {
    let json = replacements
        .iter()
        .fold(json.to_string(), |acc, (from, to)| acc.replace(from, to));
    lambda_http::request::from_str(&json)
        .expect("event parses")
        .map(|b| b.to_vec())
}

#[tokio::test]
async fn the_sample_events_log_in_refresh_and_log_out() {
    let state = testing::ephemeral().unwrap();
    testing::registered(&state, "guntur", "rahasia-sekali")
        .await
        .unwrap();
    let router = dompet::http::LOGIN.router(state);

    let (status, body) = testing::call(
        router.clone(),
        event(include_str!("../../../../events/login.json"), &[]),
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["token_type"], "Bearer");
    assert_eq!(body["result"]["expires_in"], 900);
    let refresh = body["result"]["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();

    let refresh_event = include_str!("../../../../events/token-refresh.json");
    let (status, body) = testing::call(
        router.clone(),
        event(refresh_event, &[("REFRESH_TOKEN", &refresh)]),
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let access = body["result"]["access_token"].as_str().unwrap().to_string();

    let logout_event = include_str!("../../../../events/logout.json");
    let (status, body) = testing::call(
        router.clone(),
        event(logout_event, &[("ACCESS_TOKEN", &access)]),
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        serde_json::json!({"status": "SUCCESS", "result": null})
    );
    let (status, _) = testing::call(router, event(logout_event, &[("ACCESS_TOKEN", &access)]))
        .await
        .unwrap();
    assert_eq!(status, 401);
}

#[tokio::test]
async fn the_token_event_logs_in_with_phone_and_pin_as_a_form() {
    let state = testing::ephemeral().unwrap();
    let reg = dompet::service::accounts::Registration {
        username: None,
        email: None,
        phone_number: Some(dompet::domain::Phone::parse("0811255501").unwrap()),
        secret: dompet::domain::Secret::Pin(dompet::domain::Pin::parse("123456").unwrap()),
        first_name: None,
        last_name: None,
        address: None,
    };
    dompet::service::accounts::register(&state, reg)
        .await
        .unwrap();
    let (status, body) = testing::call(
        dompet::http::LOGIN.router(state),
        event(include_str!("../../../../events/token.json"), &[]),
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["token_type"], "Bearer");
}

#[tokio::test]
async fn the_sample_events_list_end_one_and_end_every_session() {
    let state = testing::ephemeral().unwrap();
    testing::registered(&state, "guntur", "rahasia-sekali")
        .await
        .unwrap();
    let router = dompet::http::LOGIN.router(state);
    let login = include_str!("../../../../events/login.json");
    let mut tokens = Vec::new();
    for _ in 0..3 {
        let (status, body) = testing::call(router.clone(), event(login, &[]))
            .await
            .unwrap();
        assert_eq!(status, 200, "{body}");
        tokens.push(body["result"]["access_token"].as_str().unwrap().to_string());
    }
    let sessions = include_str!("../../../../events/sessions.json");
    let (status, body) = testing::call(
        router.clone(),
        event(sessions, &[("ACCESS_TOKEN", &tokens[0])]),
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let listed = body["result"].as_array().unwrap();
    assert_eq!(listed.len(), 3, "{body}");
    // The sample login event's client.
    assert!(
        listed.iter().all(|s| s["user_agent"] == "curl/8.5.0"),
        "{body}"
    );
    assert_eq!(listed.iter().filter(|s| s["current"] == true).count(), 1);
    let other = listed.iter().find(|s| s["current"] == false).unwrap()["session_id"]
        .as_str()
        .unwrap()
        .to_string();

    let delete = include_str!("../../../../events/session-delete.json");
    let replacements = [
        ("ACCESS_TOKEN", tokens[0].as_str()),
        ("SESSION_ID", other.as_str()),
    ];
    let (status, body) = testing::call(router.clone(), event(delete, &replacements))
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let (status, body) = testing::call(router.clone(), event(delete, &replacements))
        .await
        .unwrap();
    assert_eq!(status, 404, "{body}");

    let all = include_str!("../../../../events/logout-all.json");
    let (status, body) = testing::call(router.clone(), event(all, &[("ACCESS_TOKEN", &tokens[0])]))
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    for token in &tokens {
        let (status, _) =
            testing::call(router.clone(), event(sessions, &[("ACCESS_TOKEN", token)]))
                .await
                .unwrap();
        assert_eq!(status, 401);
    }
}

#[tokio::test]
async fn the_sample_events_enrol_a_factor_log_in_in_two_steps_and_remove_it() {
    use dompet::auth::totp::Authenticator;
    let state = testing::ephemeral().unwrap();
    let (_, token) = testing::user_with_token(&state, "guntur").await.unwrap();
    let account = dompet::http::ACCOUNT.router(state.clone());
    let login = dompet::http::LOGIN.router(state.clone());
    let with =
        |json: &str, code: &str| event(json, &[("ACCESS_TOKEN", &token), ("OTP_CODE", code)]);

    let (status, body) = testing::call(
        account.clone(),
        with(include_str!("../../../../events/mfa-totp.json"), ""),
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let app = Authenticator::from_base32(body["result"]["secret"].as_str().unwrap(), "t").unwrap();
    let code = |state: &dompet::AppState| {
        state.advance_code_clock(30);
        app.code_at(state.code_clock())
    };
    let (status, body) = testing::call(
        account.clone(),
        with(
            include_str!("../../../../events/mfa-totp-confirm.json"),
            &code(&state),
        ),
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["result"]["recovery_codes"].as_array().unwrap().len(),
        10
    );

    let (status, body) = testing::call(
        login.clone(),
        event(include_str!("../../../../events/login.json"), &[]),
    )
    .await
    .unwrap();
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["code"], "MFA_REQUIRED", "{body}");
    let mfa_token = body["mfa_token"].as_str().unwrap().to_string();
    let (status, body) = testing::call(
        login,
        event(
            include_str!("../../../../events/login-mfa.json"),
            &[("MFA_TOKEN", &mfa_token), ("OTP_CODE", &code(&state))],
        ),
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["token_type"], "Bearer");

    let (status, body) = testing::call(
        account,
        with(
            include_str!("../../../../events/mfa-totp-delete.json"),
            &code(&state),
        ),
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{body}");
}
