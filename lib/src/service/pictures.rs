//! Profile pictures: set, remove and see one. Any signed-in user may see any account's picture
//! (it shows whom a transfer reaches); only its owner sets or removes it.

use crate::domain::UserId;
use crate::pictures::ImageType;
use crate::service::sessions::{Caller, SessionError};
use crate::state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum PictureError {
    /// The caller's login is no longer live.
    #[error("Unauthenticated")]
    Unauthenticated,
    /// No such account, or it has no picture.
    #[error("The requested resource does not exist")]
    NotFound,
    /// The declared type is not one of the formats.
    #[error("The request body must be sent as image/png, image/jpeg or image/webp")]
    UnsupportedType,
    #[error("The picture is empty")]
    Empty,
    /// The bytes are not of the declared type.
    #[error("The bytes are not a {} picture", .0.content_type())]
    NotA(ImageType),
    /// The bytes start as the declared type but are not a well-formed file of it.
    #[error("The bytes are not a well-formed {} picture", .0.content_type())]
    Malformed(ImageType),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<SessionError> for PictureError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Unauthenticated => Self::Unauthenticated,
            SessionError::Unexpected(e) => Self::Unexpected(e),
        }
    }
}

/// The path a user's picture is served at.
pub fn picture_url(user: UserId) -> String {
    format!("/users/{user}/picture")
}

/// Stores `bytes` as the caller's picture, without its metadata. `content_type` must name one
/// of the formats, and the bytes must be a well-formed file of it. Checked in the contract's
/// order: the login first, then the type, then the body.
#[tracing::instrument(skip_all, fields(bytes = bytes.len()))]
pub async fn put(
    state: &AppState,
    caller: &Caller,
    content_type: Option<&str>,
    bytes: &[u8],
) -> Result<UserId, PictureError> {
    let who = caller.check(state).await?;
    let declared = content_type
        .and_then(ImageType::from_content_type)
        .ok_or(PictureError::UnsupportedType)?;
    if bytes.is_empty() {
        return Err(PictureError::Empty);
    }
    if ImageType::detect(bytes) != Some(declared) {
        return Err(PictureError::NotA(declared));
    }
    let clean = declared
        .without_metadata(bytes)
        .map_err(|_| PictureError::Malformed(declared))?;
    state.pictures().put(who.user_id, declared, clean).await?;
    Ok(who.user_id)
}

/// Removes the caller's picture; `NotFound` when there is none.
#[tracing::instrument(skip_all)]
pub async fn delete(state: &AppState, caller: &Caller) -> Result<(), PictureError> {
    let who = caller.check(state).await?;
    match state.pictures().delete(who.user_id).await? {
        true => Ok(()),
        false => Err(PictureError::NotFound),
    }
}

/// The picture of the account `user` (the path's id, unparsed: one that is not an id names no
/// account), with its type told by its bytes: a file changed behind the API is not served as
/// an image.
#[tracing::instrument(skip_all)]
pub async fn get(
    state: &AppState,
    caller: &Caller,
    user: Option<&str>,
) -> Result<(ImageType, Vec<u8>), PictureError> {
    caller.check(state).await?;
    let user = user
        .and_then(|id| UserId::parse(id).ok())
        .ok_or(PictureError::NotFound)?;
    let bytes = state
        .pictures()
        .get(user)
        .await?
        .ok_or(PictureError::NotFound)?;
    let kind = ImageType::detect(&bytes).ok_or(PictureError::NotFound)?;
    Ok((kind, bytes))
}
