//! Black-box tests of the entities routes of api.md over HTTP, on both stores.

use dompet_tests::{Backend, Reply, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

async fn user(app: &TestApp, name: &str) -> String {
    app.signed_up(name, "rahasia-sekali").await.1
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
    if_match: Option<&str>,
) -> Reply {
    let mut request = app.request(method, path).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    if let Some(tag) = if_match {
        request = request.header("if-match", tag);
    }
    app.send(request).await
}

async fn create(app: &TestApp, token: &str, body: Value) -> Reply {
    send(app, Method::POST, "/entities", token, Some(body), None).await
}

/// Creates an entity; returns its id.
async fn created(app: &TestApp, token: &str, code: &str, kind: &str) -> String {
    let reply = create(
        app,
        token,
        json!({"code": code, "type": kind, "quantity": 1}),
    )
    .await;
    reply.assert_success(201)["entity_id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn etag(reply: &Reply) -> &str {
    reply.headers["etag"].to_str().unwrap()
}

async fn an_entity_goes_through_its_whole_life(store: Backend) {
    let app = TestApp::spawn(store).await;
    let token = user(&app, "guntur").await;
    let reply = create(
        &app,
        &token,
        json!({"code": "SKU-1", "type": "book", "quantity": 3, "name": "Laskar Pelangi"}),
    )
    .await;
    let e = reply.assert_success(201).clone();
    assert_eq!(
        (
            &e["code"],
            &e["type"],
            &e["quantity"],
            &e["name"],
            &e["description"],
            &e["version"]
        ),
        (
            &json!("SKU-1"),
            &json!("book"),
            &json!(3),
            &json!("Laskar Pelangi"),
            &Value::Null,
            &json!(1)
        )
    );
    assert_eq!(etag(&reply), "\"1\"");
    assert!(e["created_date"].is_string() && e["updated_date"].is_string());
    let id = e["entity_id"].as_str().unwrap();
    let path = format!("/entities/{id}");

    let read = send(&app, Method::GET, &path, &token, None, None).await;
    assert_eq!(read.assert_success(200), &e);
    assert_eq!(etag(&read), "\"1\"");

    let replaced = send(
        &app,
        Method::PUT,
        &path,
        &token,
        Some(json!({"code": "SKU-1b", "type": "book", "quantity": 7, "description": "restocked"})),
        Some("1"),
    )
    .await;
    let r = replaced.assert_success(200).clone();
    assert_eq!(
        (&r["code"], &r["quantity"], &r["version"]),
        (&json!("SKU-1b"), &json!(7), &json!(2))
    );
    assert_eq!(
        r["name"],
        Value::Null,
        "PUT replaces: an absent name is cleared"
    );
    assert_eq!(r["created_date"], e["created_date"]);
    assert_eq!(etag(&replaced), "\"2\"");

    let deleted = send(&app, Method::DELETE, &path, &token, None, Some("\"2\"")).await;
    assert_eq!(
        deleted.assert_success(200),
        &r,
        "delete answers the deleted entity"
    );
    send(&app, Method::GET, &path, &token, None, None)
        .await
        .assert_error(404, "NOT_FOUND");
    send(&app, Method::DELETE, &path, &token, None, None)
        .await
        .assert_error(404, "NOT_FOUND");
    // Its code is free again.
    created(&app, &token, "SKU-1b", "book").await;
}

async fn another_users_entity_is_404_on_every_verb(store: Backend) {
    let app = TestApp::spawn(store).await;
    let (owner, other) = (user(&app, "owner").await, user(&app, "other").await);
    let id = created(&app, &owner, "MINE", "book").await;
    let path = format!("/entities/{id}");
    let body = json!({"code": "MINE", "type": "book", "quantity": 0});
    for (method, body) in [
        (Method::GET, None),
        (Method::PUT, Some(body.clone())),
        (Method::DELETE, None),
    ] {
        send(&app, method.clone(), &path, &other, body, None)
            .await
            .assert_error(404, "NOT_FOUND");
    }
    let listed = send(&app, Method::GET, "/entities", &other, None, None).await;
    assert_eq!(listed.assert_success(200), &json!([]));
    // Nothing changed for the owner; the same code is free for the other user.
    let read = send(&app, Method::GET, &path, &owner, None, None).await;
    assert_eq!(read.assert_success(200)["version"], 1);
    created(&app, &other, "MINE", "book").await;
    // Ids that are not UUIDs name nothing.
    for bad in ["/entities/not-a-uuid", "/entities/123"] {
        send(&app, Method::GET, bad, &owner, None, None)
            .await
            .assert_error(404, "NOT_FOUND");
    }
}

async fn codes_are_unique_per_user_including_on_rename(store: Backend) {
    let app = TestApp::spawn(store).await;
    let token = user(&app, "guntur").await;
    created(&app, &token, "A", "book").await;
    let b = created(&app, &token, "B", "book").await;
    let reply = create(
        &app,
        &token,
        json!({"code": "A", "type": "pen", "quantity": 1}),
    )
    .await;
    let body = reply.assert_error(409, "ALREADY_EXISTS");
    assert!(body["errors"]["code"].is_array(), "{body}");
    let rename = send(
        &app,
        Method::PUT,
        &format!("/entities/{b}"),
        &token,
        Some(json!({"code": "A", "type": "book", "quantity": 1})),
        None,
    )
    .await;
    rename.assert_error(409, "ALREADY_EXISTS");
    let read = send(
        &app,
        Method::GET,
        &format!("/entities/{b}"),
        &token,
        None,
        None,
    )
    .await;
    let r = read.assert_success(200);
    assert_eq!(
        (&r["code"], &r["version"]),
        (&json!("B"), &json!(1)),
        "nothing changed"
    );
    let listed = send(&app, Method::GET, "/entities", &token, None, None).await;
    let codes: Vec<&str> = listed
        .assert_success(200)
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["A", "B"]);
}

async fn if_match_guards_changes_with_the_version(store: Backend) {
    let app = TestApp::spawn(store).await;
    let token = user(&app, "guntur").await;
    let id = created(&app, &token, "V", "book").await;
    let path = format!("/entities/{id}");
    let body = |q: i64| Some(json!({"code": "V", "type": "book", "quantity": q}));
    send(&app, Method::PUT, &path, &token, body(2), Some("\"1\""))
        .await
        .assert_success(200);
    // A client still holding version 1 loses, whatever the form of the tag.
    for stale in ["1", "\"1\""] {
        send(&app, Method::PUT, &path, &token, body(3), Some(stale))
            .await
            .assert_error(409, "VERSION_CONFLICT");
        send(&app, Method::DELETE, &path, &token, None, Some(stale))
            .await
            .assert_error(409, "VERSION_CONFLICT");
    }
    for bad in ["abc", "\"\"", "-1", "W/\"2\""] {
        let reply = send(&app, Method::PUT, &path, &token, body(3), Some(bad)).await;
        assert!(reply.field_errors().contains_key("If-Match"), "{bad}");
    }
    let read = send(&app, Method::GET, &path, &token, None, None).await;
    let r = read.assert_success(200);
    assert_eq!((&r["quantity"], &r["version"]), (&json!(2), &json!(2)));
    // Without If-Match the change applies to the current version; `*` is any version.
    send(&app, Method::PUT, &path, &token, body(4), None)
        .await
        .assert_success(200);
    let gone = send(&app, Method::DELETE, &path, &token, None, Some("*")).await;
    assert_eq!(gone.assert_success(200)["version"], 3);
}

async fn concurrent_changes_from_one_version_succeed_once(store: Backend) {
    let app = TestApp::spawn(store).await;
    let token = user(&app, "guntur").await;
    let id = created(&app, &token, "HOT", "book").await;
    let path = format!("/entities/{id}");
    let replies = futures::future::join_all((1..=8).map(|q| {
        send(
            &app,
            Method::PUT,
            &path,
            &token,
            Some(json!({"code": "HOT", "type": "book", "quantity": q})),
            Some("1"),
        )
    }))
    .await;
    let ok = replies.iter().filter(|r| r.status == 200).count();
    assert_eq!(
        ok,
        1,
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert!(replies
        .iter()
        .all(|r| r.status == 200 || r.body["code"] == "VERSION_CONFLICT"));
    let read = send(&app, Method::GET, &path, &token, None, None).await;
    assert_eq!(read.assert_success(200)["version"], 2);
}

async fn listings_filter_by_type_and_code_and_page_with_cursors(store: Backend) {
    let app = TestApp::spawn(store).await;
    let token = user(&app, "guntur").await;
    for (code, kind) in [
        ("C", "book"),
        ("A", "book"),
        ("E", "pen"),
        ("B", "pen"),
        ("D", "book"),
    ] {
        created(&app, &token, code, kind).await;
    }
    let codes = |reply: &Reply| -> Vec<String> {
        reply
            .assert_success(200)
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["code"].as_str().unwrap().to_string())
            .collect()
    };
    let get = |path: String| {
        let app = &app;
        let token = &token;
        async move { send(app, Method::GET, &path, token, None, None).await }
    };
    let all = get("/entities".into()).await;
    assert_eq!(codes(&all), ["A", "B", "C", "D", "E"]);
    assert_eq!(all.body["next_cursor"], Value::Null);

    // Pages of two, following next_cursor: every entity once, then null.
    let mut seen = Vec::new();
    let mut path = "/entities?limit=2".to_string();
    loop {
        let page = get(path.clone()).await;
        seen.extend(codes(&page));
        match page.body["next_cursor"].as_str() {
            Some(c) => path = format!("/entities?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, ["A", "B", "C", "D", "E"]);

    let books = get("/entities?type=book&limit=2".into()).await;
    assert_eq!(codes(&books), ["A", "C"]);
    let cursor = books.body["next_cursor"].as_str().unwrap().to_string();
    let rest = get(format!("/entities?type=book&limit=2&cursor={cursor}")).await;
    assert_eq!(codes(&rest), ["D"]);
    assert_eq!(rest.body["next_cursor"], Value::Null);
    // A cursor is bound to its filters and its user.
    get(format!("/entities?type=pen&limit=2&cursor={cursor}"))
        .await
        .assert_error(400, "INVALID_CURSOR");
    let other = user(&app, "other").await;
    send(
        &app,
        Method::GET,
        &format!("/entities?type=book&limit=2&cursor={cursor}"),
        &other,
        None,
        None,
    )
    .await
    .assert_error(400, "INVALID_CURSOR");
    get("/entities?cursor=garbage".into())
        .await
        .assert_error(400, "INVALID_CURSOR");

    assert_eq!(codes(&get("/entities?code=D".into()).await), ["D"]);
    assert_eq!(
        codes(&get("/entities?code=D&type=book".into()).await),
        ["D"]
    );
    assert!(codes(&get("/entities?code=D&type=pen".into()).await).is_empty());
    for bad in [
        "/entities?limit=0",
        "/entities?limit=101",
        "/entities?colour=red",
        "/entities?type=",
    ] {
        get(bad.into()).await.assert_error(400, "VALIDATION_ERROR");
    }
}

async fn bad_bodies_are_400_naming_every_field_and_change_nothing(store: Backend) {
    let app = TestApp::spawn(store).await;
    let token = user(&app, "guntur").await;
    let reply = create(
        &app,
        &token,
        json!({"code": "", "type": "x".repeat(65), "quantity": 1.0, "name": 5, "version": 9, "colour": "red"}),
    )
    .await;
    let errors = reply.field_errors();
    for field in ["code", "type", "quantity", "name", "version", "colour"] {
        assert!(errors.contains_key(field), "{field}: {errors:?}");
    }
    for quantity in [
        json!(-1),
        json!(1_000_000_001),
        json!("3"),
        json!(true),
        json!(null),
    ] {
        let reply = create(
            &app,
            &token,
            json!({"code": "Q", "type": "t", "quantity": quantity}),
        )
        .await;
        assert!(reply.field_errors().contains_key("quantity"), "{quantity}");
    }
    let reply = create(&app, &token, json!({"type": "t", "quantity": 1})).await;
    assert!(reply.field_errors().contains_key("code"));
    let control = create(
        &app,
        &token,
        json!({"code": "a\u{7}b", "type": "t", "quantity": 1}),
    )
    .await;
    assert!(control.field_errors().contains_key("code"));
    // Bounds are accepted.
    let edge = create(
        &app,
        &token,
        json!({"code": "c".repeat(64), "type": "t".repeat(64), "quantity": 1_000_000_000, "name": null}),
    )
    .await;
    edge.assert_success(201);
    let listed = send(&app, Method::GET, "/entities", &token, None, None).await;
    assert_eq!(listed.assert_success(200).as_array().unwrap().len(), 1);
}

async fn entity_routes_check_auth_before_content_type_and_body(store: Backend) {
    let app = TestApp::spawn(store).await;
    let token = user(&app, "guntur").await;
    app.post_json(
        "/entities",
        &json!({"code": "A", "type": "t", "quantity": 1}),
    )
    .await
    .assert_error(401, "UNAUTHENTICATED");
    app.send(app.request(Method::GET, "/entities"))
        .await
        .assert_error(401, "UNAUTHENTICATED");
    let reply = app
        .send(
            app.request(Method::POST, "/entities")
                .bearer_auth(&token)
                .header("content-type", "text/plain")
                .body("code=A"),
        )
        .await;
    reply.assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
    app.send(app.request(Method::PATCH, "/entities").bearer_auth(&token))
        .await
        .assert_error(405, "METHOD_NOT_ALLOWED");
}

dompet_tests::both_stores!(
    an_entity_goes_through_its_whole_life,
    another_users_entity_is_404_on_every_verb,
    codes_are_unique_per_user_including_on_rename,
    if_match_guards_changes_with_the_version,
    concurrent_changes_from_one_version_succeed_once,
    listings_filter_by_type_and_code_and_page_with_cursors,
    bad_bodies_are_400_naming_every_field_and_change_nothing,
    entity_routes_check_auth_before_content_type_and_body,
);
