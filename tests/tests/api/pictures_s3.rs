//! The S3 picture store against moto's S3 (tests/src/moto.rs): objects in a private bucket,
//! then the picture routes over HTTP with S3 behind them.

use std::sync::Arc;

use dompet::domain::UserId;
use dompet::pictures::{ImageType, PictureStore, S3Pictures};
use dompet_tests::{moto, Backend, TestApp};
use reqwest::Method;

/// A client for moto's S3 and a new bucket on it.
async fn bucket() -> (aws_sdk_s3::Client, String) {
    let config = aws_sdk_s3::config::Builder::from(&moto::sdk_config().await)
        // moto serves buckets by path, not as subdomains.
        .force_path_style(true)
        .build();
    let client = aws_sdk_s3::Client::from_conf(config);
    let name = format!("dompet-pictures-{}", uuid::Uuid::new_v4().simple());
    client.create_bucket().bucket(&name).send().await.unwrap();
    (client, name)
}

fn png() -> Vec<u8> {
    dompet_tests::tiny_png()
}

#[tokio::test]
async fn pictures_are_objects_under_pictures_slash_with_their_type() {
    let (client, name) = bucket().await;
    let store = S3Pictures::new(client.clone(), &name);
    let (me, other) = (UserId::new(), UserId::new());
    assert_eq!(store.get(me).await.unwrap(), None);
    assert!(!store.delete(me).await.unwrap());
    store.put(me, ImageType::Png, png()).await.unwrap();
    assert_eq!(store.get(me).await.unwrap(), Some(png()));
    assert_eq!(store.get(other).await.unwrap(), None);
    let head = client
        .head_object()
        .bucket(&name)
        .key(format!("pictures/{me}"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("image/png"));
    let jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F'];
    store.put(me, ImageType::Jpeg, jpeg.clone()).await.unwrap();
    assert_eq!(store.get(me).await.unwrap(), Some(jpeg));
    assert!(store.delete(me).await.unwrap());
    assert_eq!(store.get(me).await.unwrap(), None);
    // A bucket that doesn't exist is an error, not "no picture".
    let missing = S3Pictures::new(client, format!("{name}-gone"));
    assert!(missing.get(me).await.is_err());
}

async fn the_picture_routes_keep_pictures_in_s3(store: Backend) {
    let (client, name) = bucket().await;
    let config = dompet::Config::from_lookup(|_| None).unwrap();
    let (state, _queue) = dompet::testing::state_on(store.fresh_store().await, &config).unwrap();
    let state = state.with_pictures(Arc::new(S3Pictures::new(client.clone(), &name)));
    let app = TestApp::serve(state).await;
    let (me, token, _) = app.signed_up("guntur", "rahasia-sekali").await;
    app.send(
        app.request(Method::PUT, "/account/picture")
            .bearer_auth(&token)
            .header("content-type", "image/png")
            .body(png()),
    )
    .await
    .assert_success(200);
    let object = client
        .get_object()
        .bucket(&name)
        .key(format!("pictures/{me}"))
        .send()
        .await
        .unwrap();
    assert_eq!(object.body.collect().await.unwrap().to_vec(), png());
    let served = app
        .request(Method::GET, &format!("/users/{me}/picture"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers()["content-type"], "image/png");
    assert_eq!(served.bytes().await.unwrap().to_vec(), png());
    app.send(
        app.request(Method::DELETE, "/account/picture")
            .bearer_auth(&token),
    )
    .await
    .assert_success(200);
    let listed = client.list_objects_v2().bucket(&name).send().await.unwrap();
    assert!(listed.contents().is_empty(), "{:?}", listed.contents());
}

dompet_tests::both_stores!(the_picture_routes_keep_pictures_in_s3);
