use dompet::testing;

#[tokio::test]
async fn the_sample_event_publishes_the_verification_key() {
    let state = testing::ephemeral().unwrap();
    let request = lambda_http::request::from_str(include_str!("../../../../events/jwks.json"))
        .unwrap()
        .map(|b| b.to_vec());
    let (status, body) = testing::call(dompet::http::WEB.router(state.clone()), request)
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, state.verifier().public_key().jwks());
    assert_eq!(body["keys"][0]["alg"], "EdDSA");
}

#[tokio::test]
async fn unknown_paths_get_the_envelope_404() {
    let state = testing::ephemeral().unwrap();
    let request = lambda_http::request::from_str(include_str!("../../../../events/not-found.json"))
        .unwrap()
        .map(|b| b.to_vec());
    let (status, body) = testing::call(dompet::http::WEB.router(state), request)
        .await
        .unwrap();
    assert_eq!(status, 404);
    assert_eq!(body["code"], "NOT_FOUND");
}

#[tokio::test]
async fn api_gateways_request_id_names_the_request_in_errors() {
    let state = testing::ephemeral().unwrap();
    let request = lambda_http::request::from_str(include_str!("../../../../events/not-found.json"))
        .unwrap()
        .map(|b| b.to_vec());
    let router = dompet::lambda::with_gateway_request_id(dompet::http::WEB.router(state));
    let (status, body) = testing::call(router, request).await.unwrap();
    assert_eq!(status, 404);
    assert_eq!(body["request_id"], "JKJcZoRNvHcESKC=", "{body}");
}

#[tokio::test]
async fn the_sample_event_gets_the_openapi_description() {
    use tower::ServiceExt;
    let state = testing::ephemeral().unwrap();
    let request = lambda_http::request::from_str(include_str!("../../../../events/openapi.json"))
        .unwrap()
        .map(|b| axum::body::Body::from(b.to_vec()));
    let response = dompet::http::WEB
        .router(state)
        .oneshot(request)
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/yaml");
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(body, dompet::http::OPENAPI_YAML.as_bytes());
    assert!(dompet::http::OPENAPI_YAML.starts_with("openapi: 3.1.0\n"));
}

/// The status and headers of a sample event's response, and its body as text.
async fn page(event: &str) -> (u16, axum::http::HeaderMap, String) {
    use tower::ServiceExt;
    let state = testing::ephemeral().unwrap();
    let request = lambda_http::request::from_str(event)
        .unwrap()
        .map(|b| axum::body::Body::from(b.to_vec()));
    let response = dompet::http::WEB
        .router(state)
        .oneshot(request)
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn the_sample_events_get_the_pages_with_their_security_headers() {
    for (event, title) in [
        (
            include_str!("../../../../events/web-app.json"),
            "\">dompet</title>",
        ),
        (
            include_str!("../../../../events/dashboard.json"),
            "\">Transfers dashboard · dompet</title>",
        ),
    ] {
        let (status, headers, body) = page(event).await;
        assert_eq!(status, 200);
        assert_eq!(headers["content-type"], "text/html; charset=utf-8");
        assert_eq!(
            headers["content-security-policy"],
            dompet::http::CONTENT_SECURITY_POLICY_VALUE
        );
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["referrer-policy"], "no-referrer");
        assert!(body.contains(title), "{body}");
    }
}

#[tokio::test]
async fn the_sample_event_gets_a_script_with_its_entity_tag() {
    let (status, headers, body) = page(include_str!("../../../../events/web-asset.json")).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/javascript; charset=utf-8");
    assert!(headers["etag"].to_str().unwrap().starts_with('"'));
    assert!(body.contains("createSession"), "{body}");
}
