//! `PATCH /rooms/{id}`: renaming a room, setting its topic and who may post.

use axum::Json;
use axum::extract::State;
use chat_shared::domain::{PostPolicy, Room, RoomId, RoomName, RoomTopic};
use chat_shared::error::FieldErrors;
use chat_shared::ports::RoomUpdate;
use chat_shared::usecases::Limit;
use serde::{Deserialize, Deserializer};

use super::extract::{ApiPath, AuthUser, JsonBody};
use super::fields::reject_invalid;
use crate::error::{ApiError, ErrorResponse};
use crate::state::AppState;

/// Only the fields given change.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct UpdateRoomRequest {
    /// 1 to 100 characters, something visible, no control characters or bidirectional overrides.
    #[schema(required = false, nullable, value_type = String, min_length = 1, max_length = 100, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*[!-~\\u00A1-\\u00AC\\u00AE-\\u034E\\u0350-\\u061B\\u061D-\\u115E\\u1161-\\u167F\\u1681-\\u17B3\\u17B6-\\u180A\\u1810-\\u1FFF\\u2010-\\u2027\\u2030-\\u205E\\u2070-\\u2FFF\\u3001-\\u3163\\u3165-\\uD7FF\\uE000-\\uFDFF\\uFE10-\\uFEFE\\uFF00-\\uFF9F\\uFFA1-\\uFFEF][^\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*$")]
    name: Option<String>,
    /// Absent: unchanged; `null`: cleared; a string of at most 250 characters without control
    /// characters or bidirectional overrides: set (cleared when nothing visible).
    #[serde(default, deserialize_with = "present")]
    #[schema(required = false, nullable, value_type = Option<String>, max_length = 250, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*$")]
    topic: Option<Option<String>>,
    /// `everyone` or `admins`.
    #[schema(required = false, nullable, value_type = String, pattern = "^(everyone|admins)$")]
    post_policy: Option<String>,
}

/// Tells a field given as `null` (`Some(None)`) from a field left out (`None`, the default).
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

impl UpdateRoomRequest {
    pub fn try_into_domain(self) -> Result<RoomUpdate, ApiError> {
        let mut fields = FieldErrors::default();
        let name = self.name.as_deref().and_then(|raw| fields.check("name", RoomName::parse(raw)));
        let topic = match self.topic {
            None => None,
            Some(None) => Some(None),
            Some(Some(raw)) if raw.trim().is_empty() => Some(None),
            Some(Some(raw)) => fields.check("topic", RoomTopic::parse(&raw)).map(Some),
        };
        let post_policy = self
            .post_policy
            .as_deref()
            .and_then(|raw| fields.check("post_policy", raw.parse::<PostPolicy>()));
        reject_invalid(fields)?;
        Ok(RoomUpdate { name, topic, post_policy })
    }
}

#[utoipa::path(patch, path = "/rooms/{id}", tag = "rooms", security(("user" = [])), params(("id" = uuid::Uuid, Path, description = "The room")), request_body = UpdateRoomRequest,
    responses((status = 200, body = Room), (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse), (status = 401, description = "`unauthorized`: no valid token", body = ErrorResponse), (status = 403, description = "`forbidden`: not allowed to the caller here", body = ErrorResponse), (status = 404, description = "`not_found`", body = ErrorResponse), (status = 413, description = "`payload_too_large`", body = ErrorResponse), (status = 429, description = "`rate_limited`, with `Retry-After`", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse)))]
pub async fn update(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    ApiPath(id): ApiPath<RoomId>,
    JsonBody(body): JsonBody<UpdateRoomRequest>,
) -> Result<Json<Room>, ApiError> {
    let update = body.try_into_domain()?;
    state.limits.user(Limit::WritesPerUser, caller).await?;
    Ok(Json(state.rooms.update(caller, id, update).await?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::extract::parse_json;

    fn update(body: &str) -> Result<RoomUpdate, ApiError> {
        parse_json::<UpdateRoomRequest>(body.as_bytes())?.try_into_domain()
    }

    #[test]
    fn a_topic_left_out_stays_and_one_given_as_null_or_blank_is_cleared() {
        assert_eq!(update(r#"{"name": " plans "}"#).unwrap().topic, None);
        assert_eq!(update(r#"{"topic": null}"#).unwrap().topic, Some(None));
        assert_eq!(update(r#"{"topic": "  "}"#).unwrap().topic, Some(None));
        let set = update(r#"{"topic": " next steps "}"#).unwrap().topic;
        assert_eq!(set.flatten().unwrap().as_str(), "next steps");
    }

    #[test]
    fn bad_fields_are_named() {
        for (body, field) in [
            (r#"{"name": ""}"#.to_owned(), "name"),
            (r#"{"name": 5}"#.to_owned(), "name"),
            (r#"{"topic": 5}"#.to_owned(), "topic"),
            (format!(r#"{{"topic": "{}"}}"#, "t".repeat(251)), "topic"),
            (r#"{"topic": "a\u202eb"}"#.to_owned(), "topic"),
            (r#"{"post_policy": "owners"}"#.to_owned(), "post_policy"),
            (r#"{"post_policy": null, "name": 1}"#.to_owned(), "name"),
        ] {
            match update(&body) {
                Err(ApiError::InvalidInput { fields, .. }) => {
                    assert!(fields.iter().any(|(name, _)| name == field), "{body}: {fields:?}");
                }
                other => panic!("{body}: {:?}", other.map(|_| ())),
            }
        }
    }
}
