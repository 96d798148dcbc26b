//! Uploads: typed from their bytes, limited while they stream, kept for their owner alone.

use crate::harness::{pair, spawn_app_with, Pair, TestApp};
use app::model::{Media, MediaKind};
use app::protocol::{ApiError, ErrorCode, Refusal, Session};
use reqwest::multipart::{Form, Part};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MIB: usize = 1024 * 1024;
/// The first bytes of a PNG: its magic number, then its header chunk's start.
const PNG_START: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

async fn upload(
    app: &TestApp,
    who: &Session,
    name: &str,
    claimed: &str,
    bytes: Vec<u8>,
) -> reqwest::Response {
    let part = Part::bytes(bytes)
        .file_name(name.to_string())
        .mime_str(claimed)
        .unwrap();
    app.http
        .post(app.url("/api/media"))
        .bearer_auth(&who.token)
        .multipart(Form::new().part("file", part))
        .send()
        .await
        .expect("request sent")
}

async fn stored(app: &TestApp, who: &Session, name: &str, claimed: &str, bytes: Vec<u8>) -> Media {
    let response = upload(app, who, name, claimed, bytes).await;
    let status = response.status();
    if status != 201 {
        panic!(
            "uploading {name}: {status} {}",
            response.text().await.unwrap()
        );
    }
    response.json().await.expect("the file's description")
}

async fn refused(response: reqwest::Response) -> (u16, Option<Refusal>) {
    let status = response.status().as_u16();
    let error: ApiError = response.json().await.expect("an API error");
    (status, error.refusal)
}

async fn download(app: &TestApp, who: &Session, id: &str) -> reqwest::Response {
    app.http
        .get(app.url(&format!("/api/media/{id}")))
        .bearer_auth(&who.token)
        .send()
        .await
        .expect("request sent")
}

fn header<'r>(response: &'r reqwest::Response, name: &str) -> &'r str {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
}

#[tokio::test]
async fn an_upload_is_typed_from_its_bytes_and_served_to_its_owner_alone() {
    let Pair { app, alice, bob } = pair().await;
    let mut png = PNG_START.to_vec();
    png.extend((0..3000u32).map(|n| n as u8));
    let media = stored(
        &app,
        &alice,
        "../../holiday\u{202E}gnp.png",
        "text/html",
        png.clone(),
    )
    .await;
    assert_eq!(
        (media.kind, media.mime.as_str()),
        (MediaKind::Image, "image/png")
    );
    assert_eq!(media.size, png.len() as u64);
    assert_eq!(media.name, "holidaygnp.png", "no path, no direction marks");
    assert_eq!(media.id.0.len(), 32);

    let served = download(&app, &alice, &media.id.0).await;
    assert_eq!(served.status(), 200);
    assert_eq!(header(&served, "content-type"), "image/png");
    assert_eq!(header(&served, "x-content-type-options"), "nosniff");
    assert!(header(&served, "content-disposition").starts_with("inline; "));
    assert_eq!(
        header(&served, "content-security-policy"),
        "default-src 'none'; sandbox"
    );
    assert!(header(&served, "cache-control").starts_with("private"));
    assert_eq!(served.bytes().await.unwrap().to_vec(), png);

    // Anyone else, and any id that is not a file's, gets the same 404.
    for (who, id) in [
        (&bob, media.id.0.as_str()),
        (&alice, "0123456789abcdef0123456789abcdef"),
        (&alice, "..%2F..%2Fnatter.db"),
    ] {
        let (status, refusal) = refused(download(&app, who, id).await).await;
        assert_eq!(
            (status, refusal),
            (404, Some(Refusal::FileNotFound)),
            "{id}"
        );
    }
    let anonymous = app
        .http
        .get(app.url(&format!("/api/media/{}", media.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn markup_and_spoofed_types_are_shared_as_text_and_other_types_refused() {
    let Pair { app, alice, .. } = pair().await;
    for (name, claimed, bytes) in [
        (
            "page.png",
            "image/png",
            &b"<!DOCTYPE html><html><script>alert(document.cookie)</script>"[..],
        ),
        (
            "logo.svg",
            "image/svg+xml",
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>",
        ),
        (
            "photo.jpg",
            "image/jpeg",
            b"plain words that claim to be a photo",
        ),
    ] {
        let media = stored(&app, &alice, name, claimed, bytes.to_vec()).await;
        assert_eq!(
            (media.kind, media.mime.as_str()),
            (MediaKind::File, "text/plain; charset=utf-8"),
            "{name}"
        );
        let served = download(&app, &alice, &media.id.0).await;
        assert_eq!(header(&served, "content-type"), "text/plain; charset=utf-8");
        assert!(
            header(&served, "content-disposition").starts_with("attachment; "),
            "{name}"
        );
    }
    // A program, and text that turns binary past the bytes its type is decided from.
    let mut late_binary = b"a".repeat(20_000);
    late_binary.push(0);
    for (name, bytes) in [
        (
            "tool.png",
            b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec(),
        ),
        ("notes.txt", late_binary),
    ] {
        let (status, refusal) = refused(upload(&app, &alice, name, "image/png", bytes).await).await;
        assert_eq!(
            (status, refusal),
            (400, Some(Refusal::FileTypeNotAllowed)),
            "{name}"
        );
    }
    // One file, in the field named "file".
    let form = Form::new().part(
        "attachment",
        Part::bytes(b"hello".to_vec()).file_name("a.txt"),
    );
    let response = app
        .http
        .post(app.url("/api/media"))
        .bearer_auth(&alice.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(refused(response).await, (400, Some(Refusal::FileMissing)));
    let files = std::fs::read_dir(app.data_dir.path().join("media/media"))
        .unwrap()
        .count();
    assert_eq!(files, 3, "nothing is kept of a refused upload");
}

/// Sends the head of an upload announcing no length, then `bytes` of a file, and reads the
/// answer while the body is still unfinished.
async fn answer_mid_stream(app: &TestApp, who: &Session, bytes: usize) -> String {
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /api/media HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: multipart/form-data; boundary=XYZ\r\nTransfer-Encoding: chunked\r\n\r\n",
        app.addr, who.token
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let part =
        "--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.txt\"\r\n\r\n";
    let mut body = part.as_bytes().to_vec();
    body.extend(std::iter::repeat_n(b'a', bytes));
    stream
        .write_all(format!("{:x}\r\n", body.len()).as_bytes())
        .await
        .unwrap();
    stream.write_all(&body).await.unwrap();
    stream.write_all(b"\r\n").await.unwrap();
    let mut answer = vec![0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
        .await
        .expect("answered before the body ends")
        .unwrap();
    String::from_utf8_lossy(&answer[..read]).into_owned()
}

#[tokio::test]
async fn size_and_quota_are_enforced_while_the_file_streams() {
    let app = spawn_app_with(&["--media-file-max-mib", "1", "--media-quota-mib", "2"]).await;
    let alice = app.register("alice").await;
    let answer = answer_mid_stream(&app, &alice, MIB + 100).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("file_too_large"), "{answer}");

    let text = |n| b"x".repeat(n);
    let first = stored(&app, &alice, "one.txt", "text/plain", text(MIB)).await;
    assert_eq!(first.size, MIB as u64);
    stored(&app, &alice, "two.txt", "text/plain", text(MIB / 2)).await;
    // The rest of the quota is smaller than a file may be: that is the limit named.
    let (status, refusal) =
        refused(upload(&app, &alice, "three.txt", "text/plain", text(MIB)).await).await;
    assert_eq!(
        (status, refusal),
        (
            413,
            Some(Refusal::FileQuotaFull {
                quota_bytes: 2 * MIB as u64
            })
        )
    );
    stored(&app, &alice, "four.txt", "text/plain", text(MIB / 2)).await;
    let (status, _) = refused(upload(&app, &alice, "five.txt", "text/plain", text(1)).await).await;
    assert_eq!(status, 413, "the quota is full");
}

#[tokio::test]
async fn uploads_from_foreign_origins_are_refused() {
    let Pair { app, alice, .. } = pair().await;
    let part = Part::bytes(b"hello".to_vec()).file_name("a.txt");
    let response = app
        .http
        .post(app.url("/api/media"))
        .bearer_auth(&alice.token)
        .header("origin", "https://evil.example")
        .multipart(Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let error: ApiError = response.json().await.unwrap();
    assert_eq!(error.code, ErrorCode::Forbidden);
}

#[tokio::test]
async fn one_range_of_a_file_is_served_so_audio_and_video_can_seek() {
    let Pair { app, alice, .. } = pair().await;
    let media = stored(
        &app,
        &alice,
        "digits.txt",
        "text/plain",
        b"0123456789".to_vec(),
    )
    .await;
    let part = |range: &'static str| {
        app.http
            .get(app.url(&format!("/api/media/{}", media.id)))
            .bearer_auth(&alice.token)
            .header("range", range)
            .send()
    };
    let middle = part("bytes=2-4").await.unwrap();
    assert_eq!(middle.status(), 206);
    assert_eq!(header(&middle, "content-range"), "bytes 2-4/10");
    assert_eq!(header(&middle, "content-length"), "3");
    assert_eq!(middle.text().await.unwrap(), "234");
    let last = part("bytes=-3").await.unwrap();
    assert_eq!(last.text().await.unwrap(), "789");
    let past = part("bytes=20-").await.unwrap();
    assert_eq!(past.status(), 416);
    assert_eq!(header(&past, "content-range"), "bytes */10");
    let several = part("bytes=0-1,4-5").await.unwrap();
    assert_eq!(several.status(), 200, "answered whole");
    assert_eq!(header(&several, "accept-ranges"), "bytes");
    assert_eq!(several.text().await.unwrap(), "0123456789");
}
