//! The OpenAPI 3.1 description of the REST API, served at `/openapi.json` and checked in as
//! `docs/openapi.json`. Each documented handler carries its own `#[utoipa::path]` and is
//! registered through `utoipa_axum::routes!`, so a route and its description are one thing.

use serde_json::json;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{AllOfBuilder, Schema};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::ErrorResponse;

/// The two ways a caller proves who it is.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = |description: &str| {
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some(description)).build(),
            )
        };
        components.add_security_scheme("user", bearer("A user's access token (a JWT from /auth/*)."));
        components.add_security_scheme("api_key", bearer("An API key, `ck_...` (POST /admin/api-keys)."));
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "chat cluster",
        description = "The REST API of the chat cluster. The contract in prose, with the WebSocket \
                       protocol and every guarantee, is docs/API.md."
    ),
    modifiers(&SecuritySchemes),
    components(schemas(ErrorResponse, chat_shared::domain::ReactionCount))
)]
pub struct ApiDoc;

/// Rules between the fields of a request body, which the derived schemas cannot state. A body
/// that breaks one is refused with `400 invalid_input` naming the fields, as the document says.
fn cross_field_rules() -> [(&'static str, serde_json::Value); 3] {
    let null_or_empty =
        json!({"anyOf": [{"type": "null"}, {"type": "array", "items": {"type": "string"}, "maxItems": 0}]});
    let one_member = json!({"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 1});
    [
        (
            "CreateRoomRequest",
            json!({
                "description": "A group or a channel has a `name`; a direct room has exactly one other \
                                member, by `member_ids` or by `member_usernames`.",
                "anyOf": [
                    {"type": "object", "required": ["name"],
                     "properties": {"type": {"type": "string", "enum": ["group", "channel"]}, "name": {"type": "string"}}},
                    {"type": "object", "required": ["member_ids"],
                     "properties": {"type": {"type": "string", "enum": ["direct"]},
                                    "member_ids": one_member, "member_usernames": null_or_empty}},
                    {"type": "object", "required": ["member_usernames"],
                     "properties": {"type": {"type": "string", "enum": ["direct"]},
                                    "member_usernames": one_member, "member_ids": null_or_empty}},
                ],
            }),
        ),
        (
            "AddMemberRequest",
            json!({
                "description": "Exactly one of `user_id` and `username`.",
                "oneOf": [
                    {"type": "object", "required": ["user_id"],
                     "properties": {"user_id": {"type": "string"}, "username": {"type": "null"}}},
                    {"type": "object", "required": ["username"],
                     "properties": {"username": {"type": "string"}, "user_id": {"type": "null"}}},
                ],
            }),
        ),
        (
            "UpdateRoomRequest",
            json!({
                "description": "At least one change: a `name`, a `topic` (`null` clears it) or a `post_policy`.",
                "anyOf": [
                    {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}},
                    {"type": "object", "required": ["topic"]},
                    {"type": "object", "required": ["post_policy"], "properties": {"post_policy": {"type": "string"}}},
                ],
            }),
        ),
    ]
}

/// What some fields really are, where the derived schema says less: message metadata, whose
/// text may hold no NUL anywhere (PostgreSQL stores none), and the fields of a message that are
/// filled when it is read, which the derive leaves out because they are never read back.
fn refined_fields() -> [(&'static str, &'static str, serde_json::Value); 7] {
    let metadata = json!({"$ref": "#/components/schemas/MetadataInput"});
    let count = json!({"type": "integer", "minimum": 1});
    [
        ("SendRequest", "metadata", metadata.clone()),
        ("EditRequest", "metadata", metadata),
        (
            "Message",
            "reactions",
            json!({
            "type": "array", "items": {"$ref": "#/components/schemas/ReactionCount"},
            "description": "Oldest first; absent while the message has none."}),
        ),
        (
            "Message",
            "reactions_seq",
            json!({
            "type": "integer", "minimum": 1,
            "description": "The seq of the latest reaction entry the counts include; absent until the first."}),
        ),
        ("Message", "reply_count", count),
        (
            "ReplyTo",
            "content",
            json!({
            "type": "string", "description": "The start of the parent's current content; `\"\"` once it is deleted."}),
        ),
        (
            "ReplyTo",
            "deleted",
            json!({"type": "boolean", "description": "`true` once the parent is deleted; absent before."}),
        ),
    ]
}

/// JSON without a NUL character in any string or key, at any depth.
fn metadata_schemas() -> [(&'static str, serde_json::Value); 2] {
    let no_nul = json!({"type": "string", "pattern": "^[^\\u0000]*$"});
    let value = json!({"$ref": "#/components/schemas/MetadataValue"});
    [
        (
            "MetadataInput",
            json!({
                "type": ["object", "null"],
                "description": "Free-form data for the message: a JSON object of at most 4096 bytes, with no NUL \
                                character in any key or string.",
                "propertyNames": no_nul, "additionalProperties": value,
            }),
        ),
        (
            "MetadataValue",
            json!({"anyOf": [
                {"type": ["null", "boolean", "number"]},
                no_nul,
                {"type": "array", "items": value},
                {"type": "object", "propertyNames": no_nul, "additionalProperties": value},
            ]}),
        ),
    ]
}

/// The finishing of the document that the derive macros cannot do: the refined fields, then the
/// cross-field rules, each request body with one becoming `allOf` its derived schema and the
/// rule. Run on the finished document: the bodies' schemas come with the routes.
pub fn refine(document: &mut utoipa::openapi::OpenApi) {
    let schemas = &mut document.components.get_or_insert_with(Default::default).schemas;
    for (name, schema) in metadata_schemas() {
        schemas.insert(name.to_owned(), serde_json::from_value(schema).expect("a schema"));
    }
    for (name, field, schema) in refined_fields() {
        let Some(RefOr::T(Schema::Object(object))) = schemas.get_mut(name) else {
            panic!("{name} is an object schema of the API");
        };
        object.properties.insert(field.to_owned(), serde_json::from_value(schema).expect("a schema"));
    }
    for (name, rule) in cross_field_rules() {
        let derived = schemas.remove(name).unwrap_or_else(|| panic!("{name} is a request body of the API"));
        let rule: RefOr<Schema> = serde_json::from_value(rule).expect("a rule is a schema");
        schemas.insert(name.to_owned(), AllOfBuilder::new().item(derived).item(rule).into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_and_refinement_survives_as_written() {
        // utoipa's schema types drop what they have no field for; a rule must lose nothing.
        let fields = refined_fields().into_iter().map(|(name, _, schema)| (name, schema));
        for (name, rule) in cross_field_rules().into_iter().chain(metadata_schemas()).chain(fields) {
            let schema: RefOr<Schema> = serde_json::from_value(rule.clone()).unwrap();
            assert_eq!(serde_json::to_value(schema).unwrap(), rule, "{name}");
        }
    }
}
