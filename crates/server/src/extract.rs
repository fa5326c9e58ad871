//! Extractors whose rejections are problem+json like every other error.

use crate::error::ApiError;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

/// `axum::Json`, rejecting with `invalid_json` / `unsupported_media_type` /
/// `payload_too_large` problems instead of axum's plain-text rejections. The detail never
/// quotes the body.
#[derive(Debug)]
pub(crate) struct ApiJson<T>(pub(crate) T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => {
                Err(ApiError::new("unsupported_media_type"))
            }
            Err(JsonRejection::BytesRejection(_)) => Err(ApiError::new("payload_too_large")),
            Err(JsonRejection::JsonSyntaxError(_)) => {
                Err(ApiError::new("invalid_json").detail("the body is not valid JSON"))
            }
            Err(_) => Err(ApiError::new("invalid_json")
                .detail("the JSON does not have the expected fields and types")),
        }
    }
}
