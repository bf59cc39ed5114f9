//! `docs/openapi.json` is the description the code generates, byte for byte: a change to a
//! described route or type changes the checked-in file in the same commit. To write it again:
//! `CHAT_WRITE_OPENAPI=1 cargo test -p chat-node --test openapi`.

use std::path::Path;

#[test]
fn the_checked_in_document_is_the_one_the_code_generates() {
    let document = chat_node::http::openapi_document();
    let generated = serde_json::to_string_pretty(&document).expect("a document is JSON") + "\n";
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json");
    if std::env::var_os("CHAT_WRITE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).expect("writing docs/openapi.json");
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "docs/openapi.json is not what the code generates; write it again with \
         CHAT_WRITE_OPENAPI=1 cargo test -p chat-node --test openapi"
    );
}

#[test]
fn the_document_is_openapi_3_1_with_both_ways_of_authenticating() {
    let document = serde_json::to_value(chat_node::http::openapi_document()).unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(
        (&schemes["user"]["scheme"], &schemes["api_key"]["scheme"]),
        (&"bearer".into(), &"bearer".into())
    );
}

#[test]
fn request_bodies_state_their_cross_field_rules_and_optional_fields_take_null() {
    let document = serde_json::to_value(chat_node::http::openapi_document()).unwrap();
    let schemas = &document["components"]["schemas"];
    for (body, rule) in
        [("CreateRoomRequest", "anyOf"), ("AddMemberRequest", "oneOf"), ("UpdateRoomRequest", "anyOf")]
    {
        assert!(schemas[body]["allOf"][1][rule].is_array(), "{body}");
    }
    assert_eq!(
        schemas["SendRequest"]["properties"]["metadata"]["$ref"],
        "#/components/schemas/MetadataInput"
    );
    let register = &schemas["RegisterRequest"]["properties"]["display_name"]["type"];
    assert_eq!(register, &serde_json::json!(["string", "null"]));
}
