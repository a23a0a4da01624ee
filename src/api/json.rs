//! A JSON body extractor whose rejections speak the API's error format: 400 for malformed
//! JSON, 422 for the wrong shape, 413 over the size limit, 415 for another content type.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::error::ApiError;

pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(reject(rejection)),
        }
    }
}

fn reject(r: JsonRejection) -> ApiError {
    let text = r.body_text();
    match r.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "request body is over the size limit",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send Content-Type: application/json",
        ),
        StatusCode::UNPROCESSABLE_ENTITY => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", text)
        }
        _ => match r {
            JsonRejection::JsonSyntaxError(_) => ApiError::bad_request("malformed_json", text),
            _ => ApiError::bad_request("bad_request", text),
        },
    }
}
