//! What the `pre-traffic` hook checks a new version with (`dompet::http::probe`), through each
//! HTTP function as Lambda runs it: lambda_http's adapter, from API Gateway's event to the
//! response Lambda returns to an invoker.

use dompet::http::probe;
use dompet::testing;
use lambda_http::request::LambdaRequest;
use lambda_http::{Context, LambdaEvent, Service};

/// `GET path` through `router` as Lambda would run it: the status and body the hook reads.
async fn answer(router: axum::Router, path: &str) -> (u16, Vec<u8>) {
    let request: LambdaRequest = serde_json::from_value(probe::event(path)).expect("event parses");
    let mut adapter = lambda_http::Adapter::from(router);
    let response = adapter
        .call(LambdaEvent::new(request, Context::default()))
        .await
        .unwrap();
    probe::answer(&serde_json::to_vec(&response).unwrap()).unwrap()
}

/// Every path's answer from `router`, as the hook collects them.
async fn answers(router: axum::Router) -> Vec<(String, u16, Vec<u8>)> {
    let mut answers = Vec::new();
    for path in probe::paths() {
        let (status, body) = answer(router.clone(), &path).await;
        answers.push((path, status, body));
    }
    answers
}

#[tokio::test]
async fn every_function_serves_exactly_its_own_routes_and_none_fails_the_check() {
    let state = testing::ephemeral().unwrap();
    for function in dompet::http::FUNCTIONS {
        let router = dompet::lambda::with_gateway_request_id(function.router(state.clone()));
        let served = probe::served(answers(router).await)
            .unwrap_or_else(|e| panic!("function {}: {e}", function.name));
        probe::serves_exactly(function, &served)
            .unwrap_or_else(|e| panic!("function {}: {e}", function.name));
    }
}

#[tokio::test]
async fn a_version_wired_to_another_functions_routes_fails_the_check() {
    // The login function's binary deployed as `account`: every answer is well-formed, but the
    // routes are the wrong ones.
    let state = testing::ephemeral().unwrap();
    let router = dompet::lambda::with_gateway_request_id(dompet::http::LOGIN.router(state));
    let served = probe::served(answers(router).await).unwrap();
    let err = probe::serves_exactly(&dompet::http::ACCOUNT, &served).unwrap_err();
    assert!(err.contains("/account"), "{err}");
}
