use dompet::testing;

#[tokio::test]
async fn the_sample_event_publishes_the_verification_key() {
    let state = testing::ephemeral().unwrap();
    let request = lambda_http::request::from_str(include_str!("../../../events/jwks.json"))
        .unwrap()
        .map(|b| b.to_vec());
    let (status, body) = testing::call(dompet::http::web_router(state.clone()), request)
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, state.verifier().public_key().jwks());
    assert_eq!(body["keys"][0]["alg"], "EdDSA");
}

#[tokio::test]
async fn unknown_paths_get_the_envelope_404() {
    let state = testing::ephemeral().unwrap();
    let request = lambda_http::request::from_str(include_str!("../../../events/not-found.json"))
        .unwrap()
        .map(|b| b.to_vec());
    let (status, body) = testing::call(dompet::http::web_router(state), request)
        .await
        .unwrap();
    assert_eq!(status, 404);
    assert_eq!(body["code"], "NOT_FOUND");
}

#[tokio::test]
async fn api_gateways_request_id_names_the_request_in_errors() {
    let state = testing::ephemeral().unwrap();
    let request = lambda_http::request::from_str(include_str!("../../../events/not-found.json"))
        .unwrap()
        .map(|b| b.to_vec());
    let router = dompet::lambda::with_gateway_request_id(dompet::http::web_router(state));
    let (status, body) = testing::call(router, request).await.unwrap();
    assert_eq!(status, 404);
    assert_eq!(body["request_id"], "JKJcZoRNvHcESKC=", "{body}");
}

#[tokio::test]
async fn the_sample_event_gets_the_openapi_description() {
    use tower::ServiceExt;
    let state = testing::ephemeral().unwrap();
    let request = lambda_http::request::from_str(include_str!("../../../events/openapi.json"))
        .unwrap()
        .map(|b| axum::body::Body::from(b.to_vec()));
    let response = dompet::http::web_router(state)
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
