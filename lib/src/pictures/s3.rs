//! AWS: each picture is the object `pictures/<user id>` of a private bucket (the template's
//! `PicturesBucket`), read back through the function.

use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;

use super::{ImageType, PictureStore};
use crate::domain::UserId;

#[derive(Debug, Clone)]
pub struct S3Pictures {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Pictures {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    pub async fn from_env(bucket: impl Into<String>) -> anyhow::Result<Self> {
        Ok(Self::new(
            aws_sdk_s3::Client::new(crate::aws_config().await?),
            bucket,
        ))
    }

    fn key(user: UserId) -> String {
        format!("pictures/{user}")
    }
}

#[async_trait]
impl PictureStore for S3Pictures {
    async fn put(&self, user: UserId, kind: ImageType, bytes: Vec<u8>) -> anyhow::Result<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(Self::key(user))
            .content_type(kind.content_type())
            .body(ByteStream::from(bytes))
            .send()
            .await
            .context("S3 PutObject (picture) failed")?;
        Ok(())
    }

    async fn get(&self, user: UserId) -> anyhow::Result<Option<Vec<u8>>> {
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(Self::key(user))
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(anyhow::Error::new(e).context("S3 GetObject (picture) failed")),
        };
        let bytes = out
            .body
            .collect()
            .await
            .context("Failed to read a picture from S3")?;
        Ok(Some(bytes.to_vec()))
    }

    async fn delete(&self, user: UserId) -> anyhow::Result<bool> {
        // S3 deletes a missing key without complaint: ask first, to answer 404 for none.
        let exists = match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(Self::key(user))
            .send()
            .await
        {
            Ok(_) => true,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => false,
            Err(e) => return Err(anyhow::Error::new(e).context("S3 HeadObject (picture) failed")),
        };
        if exists {
            self.client
                .delete_object()
                .bucket(&self.bucket)
                .key(Self::key(user))
                .send()
                .await
                .context("S3 DeleteObject (picture) failed")?;
        }
        Ok(exists)
    }
}
