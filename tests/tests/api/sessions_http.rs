//! Black-box tests of the sessions routes of api.md (Account lifecycle) over HTTP, on both
//! stores: `GET /sessions`, `DELETE /sessions/{id}`, `POST /logout/all`.

use dompet_tests::{Backend, Reply, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

async fn login_as(app: &TestApp, agent: &str) -> (String, String) {
    let reply = app
        .send(
            app.request(Method::POST, "/login")
                .header("user-agent", agent)
                .json(&json!({"username": "guntur", "password": "rahasia-sekali"})),
        )
        .await;
    let result = reply.assert_success(200);
    (
        result["access_token"].as_str().unwrap().to_string(),
        result["refresh_token"].as_str().unwrap().to_string(),
    )
}

async fn end(app: &TestApp, token: &str, session: &str) -> Reply {
    app.send(
        app.request(Method::DELETE, &format!("/sessions/{session}"))
            .bearer_auth(token),
    )
    .await
}

fn ids(listed: &Value) -> Vec<String> {
    listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["session_id"].as_str().unwrap().to_string())
        .collect()
}

async fn the_user_sees_each_login_newest_first_with_its_client(store: Backend) {
    let app = TestApp::spawn(store).await;
    app.signed_up("guntur", "rahasia-sekali").await;
    // Logins are ordered by their second.
    let second = std::time::Duration::from_millis(1_100);
    tokio::time::sleep(second).await;
    let (phone, _) = login_as(&app, "dompet-android/2.1").await;
    tokio::time::sleep(second).await;
    let (laptop, _) = login_as(&app, "Mozilla/5.0 (X11; Linux x86_64)").await;
    // Another user's logins are not listed.
    app.signed_up("tom", "rahasia-sekali").await;

    let reply = app.get_with_token("/sessions", &phone).await;
    let listed = reply.assert_success(200).clone();
    let listed = listed.as_array().unwrap();
    // signed_up's own login, then the two above.
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert_eq!(listed[0]["user_agent"], "Mozilla/5.0 (X11; Linux x86_64)");
    assert_eq!(listed[1]["user_agent"], "dompet-android/2.1");
    assert_eq!(listed[0]["current"], false);
    assert_eq!(listed[1]["current"], true);
    assert_eq!(listed[2]["current"], false);
    assert!(listed[0]["created_date"].as_str() > listed[1]["created_date"].as_str());
    for s in listed {
        assert_eq!(
            s.as_object().unwrap().len(),
            6,
            "exactly the contract's fields: {s}"
        );
        // None of these logins passed a second factor (the account has none).
        assert_eq!(s["mfa"], false);
        assert!(uuid::Uuid::parse_str(s["session_id"].as_str().unwrap()).is_ok());
        assert_eq!(s["created_date"].as_str().unwrap().len(), 19);
        assert_eq!(s["last_used_date"], s["created_date"]);
    }
    // Each login sees itself as current.
    let mine = app.get_with_token("/sessions", &laptop).await;
    assert_eq!(mine.assert_success(200)[0]["current"], true);

    app.send(app.request(Method::GET, "/sessions"))
        .await
        .assert_error(401, "UNAUTHENTICATED");
}

async fn ending_a_login_revokes_its_tokens_and_no_other(store: Backend) {
    let app = TestApp::spawn(store).await;
    app.signed_up("guntur", "rahasia-sekali").await;
    let (access, _) = login_as(&app, "a").await;
    let (other_access, other_refresh) = login_as(&app, "b").await;
    let listed = app.get_with_token("/sessions", &other_access).await;
    let other_id = listed
        .assert_success(200)
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()["session_id"]
        .as_str()
        .unwrap()
        .to_string();

    end(&app, &access, &other_id).await.assert_success(200);
    app.get_with_token("/account", &other_access)
        .await
        .assert_error(401, "UNAUTHENTICATED");
    app.post_json("/token/refresh", &json!({"refresh_token": other_refresh}))
        .await
        .assert_error(401, "UNAUTHENTICATED");
    // Ended once: a second time it is not found.
    end(&app, &access, &other_id)
        .await
        .assert_error(404, "NOT_FOUND");
    // The caller's own login is untouched and no longer lists the ended one.
    let listed = app.get_with_token("/sessions", &access).await;
    assert!(!ids(listed.assert_success(200)).contains(&other_id));
}

async fn another_users_login_is_not_found_and_stays(store: Backend) {
    let app = TestApp::spawn(store).await;
    app.signed_up("guntur", "rahasia-sekali").await;
    let (guntur, _) = login_as(&app, "a").await;
    let (_, tom, _) = app.signed_up("tom", "rahasia-sekali").await;
    let toms = ids(app
        .get_with_token("/sessions", &tom)
        .await
        .assert_success(200));
    end(&app, &guntur, &toms[0])
        .await
        .assert_error(404, "NOT_FOUND");
    app.get_with_token("/account", &tom)
        .await
        .assert_success(200);
    // Not a UUID, or unknown: 404 too; without a token: 401 first.
    for path in ["not-a-uuid", "0b6f5c1e-8d2a-4f3b-9c4d-5e6f7a8b9c0d"] {
        end(&app, &guntur, path)
            .await
            .assert_error(404, "NOT_FOUND");
        app.send(app.request(Method::DELETE, &format!("/sessions/{path}")))
            .await
            .assert_error(401, "UNAUTHENTICATED");
    }
    app.send(
        app.request(Method::GET, &format!("/sessions/{}", toms[0]))
            .bearer_auth(&guntur),
    )
    .await
    .assert_error(405, "METHOD_NOT_ALLOWED");
}

async fn logout_all_ends_every_login_of_the_user_only(store: Backend) {
    let app = TestApp::spawn(store).await;
    let (_, first, first_refresh) = app.signed_up("guntur", "rahasia-sekali").await;
    let (second, second_refresh) = login_as(&app, "b").await;
    let (_, tom, _) = app.signed_up("tom", "rahasia-sekali").await;

    app.post_with_token("/logout/all", &second)
        .await
        .assert_success(200);
    for token in [&first, &second] {
        app.get_with_token("/account", token)
            .await
            .assert_error(401, "UNAUTHENTICATED");
    }
    for refresh in [first_refresh, second_refresh] {
        app.post_json("/token/refresh", &json!({"refresh_token": refresh}))
            .await
            .assert_error(401, "UNAUTHENTICATED");
    }
    app.post_with_token("/logout/all", &second)
        .await
        .assert_error(401, "UNAUTHENTICATED");
    app.get_with_token("/account", &tom)
        .await
        .assert_success(200);
    // A new login works and is the only one listed.
    let (fresh, _) = login_as(&app, "c").await;
    let listed = app.get_with_token("/sessions", &fresh).await;
    assert_eq!(ids(listed.assert_success(200)).len(), 1);
}

fn cache_control(headers: &reqwest::header::HeaderMap) -> &str {
    headers
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// RFC 6749 §5.1 and api.md "Caching": tokens, personal data and money are never stored by a
/// cache; only the JWKS, the OpenAPI document, the web app's files and pictures may be.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_responses_may_not_be_stored_by_any_cache() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (_, access, refresh) = app.signed_up("guntur", "rahasia-sekali").await;
    let mut replies = vec![
        (
            "POST /login",
            app.login(json!({"username": "guntur", "password": "rahasia-sekali"}))
                .await,
        ),
        (
            "POST /token",
            app.post_json(
                "/token",
                &json!({"username": "guntur", "password": "rahasia-sekali"}),
            )
            .await,
        ),
        (
            "POST /token/refresh",
            app.post_json("/token/refresh", &json!({"refresh_token": refresh}))
                .await,
        ),
        (
            "a wrong login",
            app.login(json!({"username": "guntur", "password": "salah-sekali"}))
                .await,
        ),
        (
            "GET /account",
            app.get_with_token("/account", &access).await,
        ),
        (
            "GET /sessions",
            app.get_with_token("/sessions", &access).await,
        ),
        ("POST /topup", app.topup(&access, 1_000).await),
        (
            "GET /transactions",
            app.get_with_token("/transactions", &access).await,
        ),
        (
            "GET /account unauthenticated",
            app.get_with_token("/account", "not-a-token").await,
        ),
        (
            "an unknown path",
            app.get_with_token("/no-such-route", &access).await,
        ),
    ];
    for (what, reply) in replies.drain(..) {
        assert_eq!(
            cache_control(&reply.headers),
            "no-store",
            "{what}: {:?}",
            reply.headers
        );
    }
    for path in [
        "/.well-known/jwks.json",
        "/openapi.yaml",
        "/",
        "/assets/app.js",
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let header = cache_control(response.headers());
        assert!(
            !header.is_empty() && header != "no-store",
            "{path}: {header:?}"
        );
    }
}

dompet_tests::both_stores!(
    the_user_sees_each_login_newest_first_with_its_client,
    ending_a_login_revokes_its_tokens_and_no_other,
    another_users_login_is_not_found_and_stays,
    logout_all_ends_every_login_of_the_user_only,
);
