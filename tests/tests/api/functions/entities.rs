use dompet::testing;

fn event(json: &str, token: &str, entity_id: &str) -> testing::LambdaRequest {
    let json = json
        .replace("ACCESS_TOKEN", token)
        .replace("ENTITY_ID", entity_id);
    lambda_http::request::from_str(&json)
        .unwrap()
        .map(|b| b.to_vec())
}

#[tokio::test]
async fn the_sample_events_create_list_read_update_and_delete_an_entity() {
    let state = testing::ephemeral().unwrap();
    let (_, token) = testing::user_with_token(&state, "guntur").await.unwrap();
    let router = || dompet::http::ENTITIES.router(state.clone());

    let create = event(
        include_str!("../../../../events/entities-create.json"),
        &token,
        "",
    );
    let (status, body) = testing::call(router(), create).await.unwrap();
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["result"]["code"], "SKU-1");
    assert_eq!(body["result"]["version"], 1);
    let id = body["result"]["entity_id"].as_str().unwrap().to_string();

    let list = event(
        include_str!("../../../../events/entities-list.json"),
        &token,
        "",
    );
    let (status, body) = testing::call(router(), list).await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"][0]["entity_id"], id.as_str());
    assert_eq!(body["next_cursor"], serde_json::Value::Null);

    let get = event(
        include_str!("../../../../events/entity-get.json"),
        &token,
        &id,
    );
    let (status, body) = testing::call(router(), get).await.unwrap();
    assert_eq!(
        (status.as_u16(), body["result"]["quantity"].as_i64()),
        (200, Some(3))
    );

    let update = event(
        include_str!("../../../../events/entity-update.json"),
        &token,
        &id,
    );
    let (status, body) = testing::call(router(), update).await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["quantity"], 5);
    assert_eq!(body["result"]["version"], 2);

    let delete = event(
        include_str!("../../../../events/entity-delete.json"),
        &token,
        &id,
    );
    let (status, body) = testing::call(router(), delete).await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["description"], "restocked");

    let get = event(
        include_str!("../../../../events/entity-get.json"),
        &token,
        &id,
    );
    let (status, body) = testing::call(router(), get).await.unwrap();
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (404, Some("NOT_FOUND"))
    );
}
