//! Profile pictures: the port and its adapters. The server keeps each picture as a file beside
//! the database; on AWS each is an object of a private S3 bucket. A picture's type is told by
//! its bytes (magic number), never by a name or a header alone.

use std::path::PathBuf;

use anyhow::Context;
use async_trait::async_trait;

use crate::domain::UserId;

#[cfg(feature = "s3")]
mod s3;
mod strip;

#[cfg(feature = "s3")]
pub use s3::S3Pictures;
pub use strip::Malformed;

/// The largest picture accepted.
pub const MAX_PICTURE_BYTES: usize = 1024 * 1024;

/// The formats accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageType {
    Png,
    Jpeg,
    Webp,
}

impl ImageType {
    pub const ALL: [Self; 3] = [Self::Png, Self::Jpeg, Self::Webp];

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Webp => "image/webp",
        }
    }

    /// The format a `Content-Type` names (parameters ignored).
    pub fn from_content_type(value: &str) -> Option<Self> {
        let essence = value.split(';').next()?.trim().to_ascii_lowercase();
        Self::ALL.into_iter().find(|t| t.content_type() == essence)
    }

    /// The picture without its metadata (EXIF with a phone's GPS position, XMP, comments,
    /// text chunks): every signed-in user may fetch a picture, so nothing but the image goes.
    /// The image data is kept byte for byte. `Malformed` when the bytes are not a
    /// well-formed file of this format.
    pub fn without_metadata(self, bytes: &[u8]) -> Result<Vec<u8>, Malformed> {
        match self {
            Self::Png => strip::png(bytes),
            Self::Jpeg => strip::jpeg(bytes),
            Self::Webp => strip::webp(bytes),
        }
    }

    /// The format the bytes are, by their magic number.
    pub fn detect(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Self::Jpeg)
        } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(Self::Webp)
        } else {
            None
        }
    }
}

/// Where pictures are kept, one per account.
#[async_trait]
pub trait PictureStore: Send + Sync + 'static {
    /// Stores `bytes` (already checked to be a picture) as the account's, replacing any.
    async fn put(&self, user: UserId, kind: ImageType, bytes: Vec<u8>) -> anyhow::Result<()>;
    /// The account's picture, if it has one.
    async fn get(&self, user: UserId) -> anyhow::Result<Option<Vec<u8>>>;
    /// Removes the account's picture; false when it had none.
    async fn delete(&self, user: UserId) -> anyhow::Result<bool>;
}

/// The server's pictures: `<dir>/<user id>`, written under a temporary name and renamed into
/// place, so a reader sees the old picture or the new one, never part of one.
#[derive(Debug, Clone)]
pub struct PictureFiles {
    dir: PathBuf,
}

impl PictureFiles {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn path(&self, user: UserId) -> PathBuf {
        self.dir.join(user.to_string())
    }
}

#[async_trait]
impl PictureStore for PictureFiles {
    async fn put(&self, user: UserId, _kind: ImageType, bytes: Vec<u8>) -> anyhow::Result<()> {
        let (dir, path) = (self.dir.clone(), self.path(user));
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("Failed to create {}", dir.display()))?;
            let partial = dir.join(format!(".{}.partial", uuid::Uuid::new_v4().simple()));
            std::fs::write(&partial, &bytes)
                .with_context(|| format!("Failed to write {}", partial.display()))?;
            std::fs::rename(&partial, &path)
                .with_context(|| format!("Failed to move {} into place", path.display()))
        })
        .await
        .context("picture write task failed")?
    }

    async fn get(&self, user: UserId) -> anyhow::Result<Option<Vec<u8>>> {
        match tokio::fs::read(self.path(user)).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(anyhow::Error::new(e).context("Failed to read a picture")),
        }
    }

    async fn delete(&self, user: UserId) -> anyhow::Result<bool> {
        match tokio::fs::remove_file(self.path(user)).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(anyhow::Error::new(e).context("Failed to remove a picture")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_told_by_their_magic_numbers() {
        assert_eq!(
            ImageType::detect(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            Some(ImageType::Png)
        );
        assert_eq!(
            ImageType::detect(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]),
            Some(ImageType::Jpeg)
        );
        assert_eq!(
            ImageType::detect(b"RIFF\x24\0\0\0WEBPVP8 "),
            Some(ImageType::Webp)
        );
        for not in [
            &b"GIF89a"[..],
            b"<svg xmlns=",
            b"\x89PNG",
            b"RIFF\x24\0\0\0WAVEfmt ",
            b"",
        ] {
            assert_eq!(ImageType::detect(not), None, "{not:?}");
        }
        assert_eq!(
            ImageType::from_content_type("Image/PNG; charset=binary"),
            Some(ImageType::Png)
        );
        assert_eq!(ImageType::from_content_type("image/gif"), None);
    }
}
