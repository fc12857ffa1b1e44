//! Black-box tests of profile pictures (api.md, Account lifecycle) over HTTP, on both stores:
//! `PUT /account/picture`, `DELETE /account/picture`, `GET /users/{user_id}/picture`. The server
//! keeps pictures as files (pictures_s3.rs: the same on S3).

use std::path::PathBuf;

use dompet_tests::{Backend, Reply, TestApp};
use reqwest::Method;
use serde_json::json;

/// One PNG chunk (its CRC is not checked by the server: zeros).
fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut chunk = (data.len() as u32).to_be_bytes().to_vec();
    chunk.extend_from_slice(kind);
    chunk.extend_from_slice(data);
    chunk.extend_from_slice(&[0; 4]);
    chunk
}

/// A 1×1 PNG as a browser would send it: IHDR, IDAT, IEND.
pub fn png() -> Vec<u8> {
    png_with(&[])
}

/// [`png`] with `extra` chunks after IHDR.
fn png_with(extra: &[Vec<u8>]) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend(png_chunk(b"IHDR", b"\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0"));
    for chunk in extra {
        bytes.extend_from_slice(chunk);
    }
    bytes.extend(png_chunk(b"IDAT", b"x\x9cc\xf8\xcf\xc0\0\0\x03\x01\x01\0"));
    bytes.extend(png_chunk(b"IEND", b""));
    bytes
}

/// One JPEG marker segment.
fn jpeg_segment(marker: u8, payload: &[u8]) -> Vec<u8> {
    let mut segment = vec![0xFF, marker];
    segment.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    segment.extend_from_slice(payload);
    segment
}

/// A JPEG as a browser would send it: SOI, JFIF, a quantization table, a frame, a scan, EOI.
pub fn jpeg() -> Vec<u8> {
    jpeg_with(&[])
}

/// [`jpeg`] with `extra` segments right after SOI, where a camera puts its EXIF.
fn jpeg_with(extra: &[Vec<u8>]) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8];
    for segment in extra {
        bytes.extend_from_slice(segment);
    }
    bytes.extend(jpeg_segment(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"));
    let mut table = vec![0u8];
    table.extend([1u8; 64]);
    bytes.extend(jpeg_segment(0xDB, &table));
    bytes.extend(jpeg_segment(0xC0, &[8, 0, 1, 0, 1, 1, 1, 0x11, 0]));
    bytes.extend(jpeg_segment(0xDA, &[1, 1, 0, 0, 63, 0]));
    // Entropy-coded data, with a stuffed 0xFF and a restart marker.
    bytes.extend_from_slice(&[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56, 0xFF, 0xD9]);
    bytes
}

fn webp() -> Vec<u8> {
    b"RIFF\x1a\0\0\0WEBPVP8L\x0d\0\0\0\x2f\0\0\0\x10\x07\x10\x11\x11\x88\x88\xfe\x07\0".to_vec()
}

/// A WebP with the extended header: `flags` in VP8X, then `extra` chunks after the image.
fn webp_with(flags: u8, extra: &[(&[u8; 4], &[u8])]) -> Vec<u8> {
    let mut body = b"WEBP".to_vec();
    let riff_chunk = |kind: &[u8; 4], data: &[u8]| {
        let mut chunk = kind.to_vec();
        chunk.extend_from_slice(&(data.len() as u32).to_le_bytes());
        chunk.extend_from_slice(data);
        if data.len() % 2 == 1 {
            chunk.push(0);
        }
        chunk
    };
    body.extend(riff_chunk(b"VP8X", &[flags, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
    body.extend(riff_chunk(
        b"VP8L",
        b"\x2f\0\0\0\x10\x07\x10\x11\x11\x88\x88\xfe\x07",
    ));
    for (kind, data) in extra {
        body.extend(riff_chunk(kind, data));
    }
    let mut bytes = b"RIFF".to_vec();
    bytes.extend_from_slice(&(body.len() as u32).to_le_bytes());
    bytes.extend(body);
    bytes
}

/// Where the photo was taken, as a phone's EXIF would carry it.
const GPS: &[u8] = b"GPSLatitude 52.5200N GPSLongitude 13.4050E";

struct World {
    app: TestApp,
    dir: PathBuf,
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn world(store: Backend) -> World {
    let dir = std::env::temp_dir().join(format!("dompet-pictures-{}", uuid::Uuid::new_v4()));
    let path = dir.to_str().unwrap().to_string();
    let app = TestApp::spawn_with(store, &[("DOMPET_PICTURES_DIR", &path)]).await;
    World { app, dir }
}

async fn put(app: &TestApp, token: &str, content_type: &str, bytes: Vec<u8>) -> Reply {
    app.send(
        app.request(Method::PUT, "/account/picture")
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(bytes),
    )
    .await
}

/// The raw answer to `GET /users/{id}/picture`.
async fn fetch(app: &TestApp, token: &str, user: &str, etag: Option<&str>) -> reqwest::Response {
    let mut req = app
        .request(Method::GET, &format!("/users/{user}/picture"))
        .bearer_auth(token);
    if let Some(tag) = etag {
        req = req.header("if-none-match", tag);
    }
    req.send().await.unwrap()
}

async fn a_picture_is_set_served_to_others_replaced_and_removed(store: Backend) {
    let w = world(store).await;
    let app = &w.app;
    let (me, token, _) = app.signed_up("guntur", "rahasia-sekali").await;
    let (_, other, _) = app.signed_up("sari", "rahasia-sekali").await;
    fetch(app, &other, &me, None)
        .await
        .status()
        .eq(&404)
        .then_some(())
        .expect("none yet");

    let reply = put(app, &token, "image/png", png()).await;
    assert_eq!(
        reply.assert_success(200)["picture_url"],
        format!("/users/{me}/picture")
    );
    let served = fetch(app, &other, &me, None).await;
    assert_eq!(served.status(), 200);
    let headers = served.headers().clone();
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(headers["cache-control"], "private, no-cache");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(
        headers["content-security-policy"],
        "default-src 'none'; sandbox"
    );
    let etag = headers["etag"].to_str().unwrap().to_string();
    assert_eq!(served.bytes().await.unwrap().to_vec(), png());
    // Unchanged: 304 without the bytes.
    let again = fetch(app, &token, &me, Some(&etag)).await;
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
    assert!(again.bytes().await.unwrap().is_empty());

    // Replaced by a JPEG, then a WebP: a new type and a new tag each time.
    for (kind, bytes) in [("image/jpeg", jpeg()), ("image/webp", webp())] {
        put(app, &token, kind, bytes.clone())
            .await
            .assert_success(200);
        let served = fetch(app, &other, &me, Some(&etag)).await;
        assert_eq!(served.status(), 200, "{kind}");
        assert_eq!(served.headers()["content-type"], kind);
        assert_ne!(served.headers()["etag"].to_str().unwrap(), etag);
        assert_eq!(served.bytes().await.unwrap().to_vec(), bytes);
    }

    let reply = app
        .send(
            app.request(Method::DELETE, "/account/picture")
                .bearer_auth(&token),
        )
        .await;
    reply.assert_success(200);
    assert_eq!(fetch(app, &other, &me, None).await.status(), 404);
    app.send(
        app.request(Method::DELETE, "/account/picture")
            .bearer_auth(&token),
    )
    .await
    .assert_error(404, "NOT_FOUND");
}

async fn only_real_pictures_up_to_one_mib_are_taken(store: Backend) {
    let w = world(store).await;
    let app = &w.app;
    let (me, token, _) = app.signed_up("guntur", "rahasia-sekali").await;
    put(app, &token, "image/png", png())
        .await
        .assert_success(200);
    let svg = b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>".to_vec();
    for (kind, bytes, status) in [
        ("image/gif", b"GIF89a\x01\0\x01\0".to_vec(), 415),
        ("image/svg+xml", svg.clone(), 415),
        ("image/png", svg, 415),
        ("image/png", jpeg(), 415),
        ("image/jpeg", png(), 415),
        ("image/webp", b"RIFF\x1a\0\0\0WAVEfmt ".to_vec(), 415),
        ("text/plain", png(), 415),
        ("application/json", b"{}".to_vec(), 415),
        ("image/png", Vec::new(), 400),
    ] {
        let reply = put(app, &token, kind, bytes).await;
        assert_eq!(reply.status, status, "{kind}: {}", reply.body);
        assert_eq!(reply.body["status"], "FAILED", "{kind}");
    }
    // 1 MiB is the limit, counted in bytes (a private chunk fills it: kept as sent).
    let filler = 1024 * 1024 - png().len() - 12;
    let mut big = png_with(&[png_chunk(b"prVt", &vec![7; filler])]);
    assert_eq!(big.len(), 1024 * 1024);
    put(app, &token, "image/png", big.clone())
        .await
        .assert_success(200);
    big.push(0);
    put(app, &token, "image/png", big)
        .await
        .assert_error(413, "PAYLOAD_TOO_LARGE");
    // Without a token: 401, whatever the body.
    app.send(
        app.request(Method::PUT, "/account/picture")
            .header("content-type", "image/png")
            .body(png()),
    )
    .await
    .assert_error(401, "UNAUTHENTICATED");
    // The 1 MiB picture is the one kept.
    let served = fetch(app, &token, &me, None).await;
    assert_eq!(served.bytes().await.unwrap().len(), 1024 * 1024);
}

async fn metadata_is_removed_and_the_image_kept_as_sent(store: Backend) {
    let w = world(store).await;
    let app = &w.app;
    let (me, token, _) = app.signed_up("guntur", "rahasia-sekali").await;
    let (_, other, _) = app.signed_up("sari", "rahasia-sekali").await;
    let mut exif = b"Exif\0\0".to_vec();
    exif.extend_from_slice(GPS);
    let mut xmp = b"http://ns.adobe.com/xap/1.0/\0".to_vec();
    xmp.extend_from_slice(GPS);
    let cases = [
        (
            "image/jpeg",
            jpeg_with(&[
                jpeg_segment(0xE1, &exif),
                jpeg_segment(0xE1, &xmp),
                jpeg_segment(0xFE, GPS),
            ]),
            jpeg(),
        ),
        (
            "image/png",
            png_with(&[
                png_chunk(b"tEXt", &[b"Comment\0".as_slice(), GPS].concat()),
                png_chunk(b"eXIf", &exif),
                png_chunk(b"tIME", b"\x07\xea\x0c\x06\x0c\0\0"),
                png_chunk(
                    b"iTXt",
                    &[b"XML:com.adobe.xmp\0\0\0\0\0".as_slice(), GPS].concat(),
                ),
            ]),
            png(),
        ),
        (
            "image/webp",
            // EXIF and XMP flagged in the header.
            webp_with(0x0C, &[(b"EXIF", &exif), (b"XMP ", GPS)]),
            webp_with(0, &[]),
        ),
    ];
    for (kind, sent, clean) in cases {
        assert!(sent.windows(GPS.len()).any(|w| w == GPS));
        put(app, &token, kind, sent).await.assert_success(200);
        let served = fetch(app, &other, &me, None).await;
        assert_eq!(served.status(), 200, "{kind}");
        let bytes = served.bytes().await.unwrap().to_vec();
        assert!(
            !bytes.windows(GPS.len()).any(|w| w == GPS),
            "{kind}: the position is served"
        );
        assert_eq!(bytes, clean, "{kind}: everything else as sent");
    }
    // A file that can't be walked can't be cleaned: refused, not stored as sent.
    let mut cut = jpeg_with(&[jpeg_segment(0xE1, &exif)]);
    cut.truncate(20);
    put(app, &token, "image/jpeg", cut)
        .await
        .assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
    let mut cut = png_with(&[png_chunk(b"tEXt", GPS)]);
    cut.truncate(cut.len() - 14);
    put(app, &token, "image/png", cut)
        .await
        .assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
    let served = fetch(app, &other, &me, None).await;
    assert_eq!(served.bytes().await.unwrap().to_vec(), webp_with(0, &[]));
}

async fn pictures_are_for_signed_in_users_and_unknown_ones_are_404(store: Backend) {
    let w = world(store).await;
    let app = &w.app;
    let (me, token, _) = app.signed_up("guntur", "rahasia-sekali").await;
    put(app, &token, "image/png", png())
        .await
        .assert_success(200);
    let anonymous = app
        .send(app.request(Method::GET, &format!("/users/{me}/picture")))
        .await;
    anonymous.assert_error(401, "UNAUTHENTICATED");
    for id in ["not-a-uuid", &uuid::Uuid::new_v4().to_string()] {
        let reply = app
            .send(
                app.request(Method::GET, &format!("/users/{id}/picture"))
                    .bearer_auth(&token),
            )
            .await;
        reply.assert_error(404, "NOT_FOUND");
    }
    // A logged-out token sees nothing.
    app.post_with_token("/logout", &token)
        .await
        .assert_success(200);
    assert_eq!(fetch(app, &token, &me, None).await.status(), 401);
}

async fn closing_the_account_removes_its_picture(store: Backend) {
    let w = world(store).await;
    let app = &w.app;
    let (me, token, _) = app.signed_up("guntur", "rahasia-sekali").await;
    let (_, other, _) = app.signed_up("sari", "rahasia-sekali").await;
    put(app, &token, "image/png", png())
        .await
        .assert_success(200);
    app.send(
        app.request(Method::DELETE, "/account")
            .bearer_auth(&token)
            .json(&json!({"password": "rahasia-sekali"})),
    )
    .await
    .assert_success(200);
    assert_eq!(fetch(app, &other, &me, None).await.status(), 404);
    assert!(!w.dir.join(&me).exists());
}

dompet_tests::both_stores!(
    metadata_is_removed_and_the_image_kept_as_sent,
    a_picture_is_set_served_to_others_replaced_and_removed,
    only_real_pictures_up_to_one_mib_are_taken,
    pictures_are_for_signed_in_users_and_unknown_ones_are_404,
    closing_the_account_removes_its_picture,
);
