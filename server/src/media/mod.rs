//! Uploaded files: received as a stream under their limits, their type decided from their bytes,
//! kept in the media store (`--media-store`), and served back only to whom they belong, with
//! headers that keep them from acting as part of the site.

mod kind;
mod name;
mod range;

use crate::auth::Authenticated;
use crate::error::{Error, Result};
use crate::state::AppState;
use app::model::{Media, MediaId, MediaKind};
use app::protocol::Refusal;
use axum::{
    body::Body,
    extract::{multipart::Field, DefaultBodyLimit, Multipart, Path as UrlPath, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use object_store::{
    buffered::BufWriter, local::LocalFileSystem, path::Path, GetOptions, GetRange, ObjectStore,
    ObjectStoreExt,
};
use rand::RngCore;
use std::{path::PathBuf, sync::Arc};
use tokio::io::AsyncWriteExt;

/// Room for the multipart framing around the file in an upload's body.
const FORM_OVERHEAD_BYTES: u64 = 64 * 1024;
/// Bytes gathered before each write to the store.
const WRITE_CHUNK_BYTES: usize = 5 * 1024 * 1024;

/// Where uploaded files are kept (`--media-store`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MediaLocation {
    /// `file://<dir>`: a directory of this machine, created if missing.
    Directory(PathBuf),
}

impl MediaLocation {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.strip_prefix("file://") {
            Some(dir) if !dir.is_empty() => Ok(Self::Directory(dir.into())),
            _ => Err("a media store is file://<directory>".into()),
        }
    }
}

/// The media store, and how much one file and one person's files may take.
pub struct MediaStore {
    store: Arc<dyn ObjectStore>,
    pub file_max: u64,
    pub quota: u64,
}

impl MediaStore {
    pub fn open(location: &MediaLocation, file_max: u64, quota: u64) -> Result<Self> {
        let store: Arc<dyn ObjectStore> = match location {
            MediaLocation::Directory(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    Error::Internal(format!("cannot create {}: {e}", dir.display()))
                })?;
                // Written files reach the disk before the upload is answered.
                Arc::new(LocalFileSystem::new_with_prefix(dir)?.with_fsync(true))
            }
        };
        Ok(Self {
            store,
            file_max,
            quota,
        })
    }
}

/// `POST /` (upload) and `GET /{id}` (download), for nesting at `/api/media`.
pub fn routes(file_max: u64) -> Router<AppState> {
    Router::new()
        .route("/", post(upload))
        .route("/{id}", get(download))
        // The upload checks its own limits while it streams; this is the backstop.
        .layer(DefaultBodyLimit::max(
            usize::try_from(file_max + FORM_OVERHEAD_BYTES).unwrap_or(usize::MAX),
        ))
}

/// How long an upload waits to be attached to a message before it is removed.
pub const UNATTACHED_KEPT_MS: i64 = 24 * 3600 * 1000;

/// Removes the uploads older than a day that no message took (a page closed mid-send, or an
/// upload never sent; until messages can take files, every upload); returns how many. The row goes
/// first, on the condition that no message took it meanwhile, then the object.
pub async fn sweep_unattached(db: &crate::db::Db, media: &MediaStore, now: i64) -> Result<u64> {
    const BATCH: u32 = 100;
    let mut removed = 0;
    loop {
        let due = db.unattached_media(now - UNATTACHED_KEPT_MS, BATCH).await?;
        for id in &due {
            if !db.forget_unattached_media(id).await? {
                continue;
            }
            removed += 1;
            match media.store.delete(&object_path(id)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(left) => Error::from(left).log(),
            }
        }
        if due.len() < BATCH as usize {
            return Ok(removed);
        }
    }
}

fn object_path(id: &MediaId) -> Path {
    Path::from(format!("media/{id}"))
}

/// Takes one file, in a multipart field named `file`, and answers what it is. Nothing is kept of
/// a file refused at any point.
async fn upload(
    State(state): State<AppState>,
    Authenticated(session): Authenticated,
    headers: HeaderMap,
    mut form: Multipart,
) -> Result<Response> {
    let media = &state.media;
    let owner = session.user.id;
    let room = media
        .quota
        .saturating_sub(state.live.db.media_bytes(owner).await?);
    // The smaller of the two limits is the one to name.
    let (limit, too_large) = if room < media.file_max {
        let quota_bytes = media.quota;
        (room, Refusal::FileQuotaFull { quota_bytes })
    } else {
        let max_bytes = media.file_max;
        (media.file_max, Refusal::FileTooLarge { max_bytes })
    };
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|length| length.to_str().ok()?.parse::<u64>().ok());
    if announced.is_some_and(|length| length > limit + FORM_OVERHEAD_BYTES) {
        return Err(too_large.into());
    }
    let mut field = match form.next_field().await.map_err(unreadable)? {
        Some(field) if field.name() == Some("file") => field,
        _ => return Err(Refusal::FileMissing.into()),
    };
    let name = name::display_name(field.file_name());
    let id = new_id();
    let path = object_path(&id);
    let mut writer = BufWriter::with_capacity(media.store.clone(), path.clone(), WRITE_CHUNK_BYTES);
    let received = receive(&mut field, &mut writer, limit, too_large).await;
    // The form reads on only once the field is let go; nothing more may follow the file.
    drop(field);
    let received = match received {
        Ok(received) => match form.next_field().await {
            Ok(None) => Ok(received),
            Ok(Some(_)) => Err(Refusal::FileMissing.into()),
            Err(error) => Err(unreadable(error)),
        },
        Err(error) => Err(error),
    };
    let (detected, size) = match received {
        Ok(received) => received,
        Err(error) => {
            // The refusal is the answer; what a failed cleanup leaves is logged.
            if let Err(left) = writer.abort().await {
                Error::from(left).log();
            }
            return Err(error);
        }
    };
    let stored = Media {
        id,
        kind: detected.kind,
        mime: detected.mime.to_string(),
        size,
        name,
    };
    // From the last write on, the file is recorded or removed even if the client goes away
    // meanwhile: a task of its own finishes either way.
    let (db, media) = (state.live.db.clone(), state.media.clone());
    let finish = tokio::spawn(async move {
        // Writing the last part can fail as any write to the store can (a full disk).
        writer.shutdown().await.map_err(|e| {
            Error::Store(object_store::Error::Generic {
                store: "media",
                source: Box::new(e),
            })
        })?;
        let now = crate::now_ms();
        if let Err(refused) = db.add_media(owner, &stored, media.quota, now).await {
            if let Err(left) = media.store.delete(&path).await {
                Error::from(left).log();
            }
            return Err(refused);
        }
        Ok(stored)
    });
    let stored = finish
        .await
        .map_err(|e| Error::Internal(format!("an upload's last step failed: {e}")))??;
    tracing::info!(user = %owner, media = %stored.id, size, "stored an upload");
    Ok((StatusCode::CREATED, Json(stored)).into_response())
}

/// Streams the file from `field` into `writer`: refused as `too_large` past `limit` bytes, and
/// unless its first bytes show an allowed type, or it reads as text to its end.
async fn receive(
    field: &mut Field<'_>,
    writer: &mut BufWriter,
    limit: u64,
    too_large: Refusal,
) -> Result<(kind::Detected, u64)> {
    let mut head = Vec::new();
    let mut detected: Option<kind::Detected> = None;
    let mut text = kind::TextCheck::default();
    let mut size = 0u64;
    while let Some(chunk) = field.chunk().await.map_err(unreadable)? {
        size += chunk.len() as u64;
        if size > limit {
            return Err(too_large.into());
        }
        match detected {
            Some(known) => {
                if known.is_text() {
                    text.feed(&chunk)?;
                }
                writer.put(chunk).await?;
            }
            None => {
                head.extend_from_slice(&chunk);
                if head.len() >= kind::SNIFF_BYTES {
                    detected = Some(decide(&mut head, &mut text, writer).await?);
                }
            }
        }
    }
    let detected = match detected {
        Some(known) => known,
        None => decide(&mut head, &mut text, writer).await?,
    };
    if detected.is_text() {
        text.finish()?;
    }
    Ok((detected, size))
}

/// Decides the type from the bytes gathered in `head`, and passes them on.
async fn decide(
    head: &mut Vec<u8>,
    text: &mut kind::TextCheck,
    writer: &mut BufWriter,
) -> Result<kind::Detected> {
    let detected = kind::detect(head)?;
    if detected.is_text() {
        text.feed(head)?;
    }
    writer.put(std::mem::take(head).into()).await?;
    Ok(detected)
}

/// A body that broke off, ran past its deadline or is no multipart form.
fn unreadable(error: axum::extract::multipart::MultipartError) -> Error {
    match error.status() {
        StatusCode::PAYLOAD_TOO_LARGE => Error::TooLarge(error.body_text()),
        _ => Error::Invalid(format!(
            "The upload could not be read: {}",
            error.body_text()
        )),
    }
}

fn new_id() -> MediaId {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    MediaId(hex::encode(bytes))
}

/// Serves a file to whom it belongs, whole or the one range of bytes asked; `404` to everyone
/// else, as for a file that does not exist.
async fn download(
    State(state): State<AppState>,
    Authenticated(session): Authenticated,
    UrlPath(id): UrlPath<String>,
    request_headers: HeaderMap,
) -> Result<Response> {
    let not_found = || Error::from(Refusal::FileNotFound);
    let id = MediaId::parse(&id).ok_or_else(not_found)?;
    let media = state
        .live
        .db
        .media_for(session.user.id, &id)
        .await?
        .ok_or_else(not_found)?;
    let range = request_headers
        .get(header::RANGE)
        .and_then(|range| range.to_str().ok());
    let (status, bytes) = match range::asked(range, media.size) {
        range::Asked::Whole => (StatusCode::OK, None),
        range::Asked::Part(bytes) => (StatusCode::PARTIAL_CONTENT, Some(bytes)),
        range::Asked::Unsatisfiable => {
            let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            let all = HeaderValue::from_str(&format!("bytes */{}", media.size));
            if let Ok(all) = all {
                response.headers_mut().insert(header::CONTENT_RANGE, all);
            }
            return Ok(response);
        }
    };
    let options = GetOptions::new().with_range(bytes.clone().map(GetRange::Bounded));
    let object = match state.media.store.get_opts(&object_path(&id), options).await {
        Ok(object) => object,
        // A row whose bytes are gone (a store that was replaced) serves nothing either.
        Err(object_store::Error::NotFound { .. }) => {
            tracing::warn!(media = %id, "a file's bytes are missing from the store");
            return Err(not_found());
        }
        Err(error) => return Err(error.into()),
    };
    let inline = media.kind != MediaKind::File;
    let mut response = (status, Body::from_stream(object.into_stream())).into_response();
    let headers = response.headers_mut();
    let mut set = |name, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    let length = bytes
        .as_ref()
        .map_or(media.size, |bytes| bytes.end - bytes.start);
    if let Some(bytes) = &bytes {
        let last = bytes.end - 1;
        set(
            header::CONTENT_RANGE,
            format!("bytes {}-{last}/{}", bytes.start, media.size),
        );
    }
    set(header::CONTENT_LENGTH, length.to_string());
    set(header::ACCEPT_RANGES, "bytes".into());
    set(header::CONTENT_TYPE, media.mime);
    set(
        header::CONTENT_DISPOSITION,
        name::disposition(inline, &media.name),
    );
    // A file's id names its bytes for good; only its owner's browser keeps a copy.
    set(
        header::CACHE_CONTROL,
        "private, max-age=31536000, immutable".into(),
    );
    // Opened on its own, a file runs nothing and reaches nothing.
    set(
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; sandbox".into(),
    );
    set(
        header::HeaderName::from_static("cross-origin-resource-policy"),
        "same-origin".into(),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;
    use object_store::PutPayload;

    #[tokio::test]
    async fn uploads_no_message_took_within_a_day_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        let owner = db.create_user("ann", "h", 0).await.unwrap().id;
        let location = MediaLocation::Directory(dir.path().join("media"));
        let media = MediaStore::open(&location, 1000, 1000).unwrap();
        let now = 10 * UNATTACHED_KEPT_MS;
        let (old, recent) = (new_id(), new_id());
        for (id, age) in [(&old, UNATTACHED_KEPT_MS + 1), (&recent, 1000)] {
            let path = object_path(id);
            media
                .store
                .put(&path, PutPayload::from(vec![b'x'; 10]))
                .await
                .unwrap();
            let upload = Media {
                id: id.clone(),
                kind: MediaKind::File,
                mime: kind::TEXT.into(),
                size: 10,
                name: "notes.txt".into(),
            };
            db.add_media(owner, &upload, 1000, now - age).await.unwrap();
        }
        assert_eq!(db.media_bytes(owner).await.unwrap(), 20);

        assert_eq!(sweep_unattached(&db, &media, now).await.unwrap(), 1);
        assert_eq!(
            db.media_bytes(owner).await.unwrap(),
            10,
            "its bytes are given back"
        );
        assert_eq!(db.media_for(owner, &old).await.unwrap(), None);
        assert!(media.store.head(&object_path(&old)).await.is_err());
        assert!(db.media_for(owner, &recent).await.unwrap().is_some());
        assert!(media.store.head(&object_path(&recent)).await.is_ok());
    }
}
