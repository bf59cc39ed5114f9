//! Every REST request body, read as its route reads it (`parse_json`) and turned into what its
//! use case takes, as its handler does: whatever the bytes, no panic, and a refusal is always
//! the client's fault (400 `invalid_input`), never a 500.
#![no_main]

use chat_node::error::ApiError;
use chat_node::http::extract::parse_json;
use chat_node::http::{
    AddMemberRequest, ChangePasswordRequest, CreateRoomRequest, CreateWebhookRequest, EditRequest, LoginRequest,
    ReadRequest, RefreshRequest, RegisterRequest, SendRequest, UpdateMeRequest,
};
use chat_shared::domain::RoomId;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    // The same bytes as each body: their fields overlap, so one input reaches several.
    check(parse_json::<RegisterRequest>(bytes).and_then(RegisterRequest::try_into_domain));
    check(parse_json::<LoginRequest>(bytes).and_then(|body| body.credentials().map(drop)));
    check(parse_json::<RefreshRequest>(bytes).and_then(|body| body.token()));
    check(parse_json::<UpdateMeRequest>(bytes).and_then(UpdateMeRequest::try_into_domain));
    check(parse_json::<ChangePasswordRequest>(bytes).and_then(|body| body.try_into_domain().map(drop)));
    check(parse_json::<CreateRoomRequest>(bytes).and_then(CreateRoomRequest::try_into_domain));
    check(parse_json::<AddMemberRequest>(bytes).and_then(AddMemberRequest::try_into_domain));
    check(parse_json::<ReadRequest>(bytes).and_then(|body| body.seq()));
    let room = RoomId::from_uuid(uuid::Uuid::from_u128(0x0190_f3a2_5b7c_4d1e_9f00_1234_5678_9abc));
    check(parse_json::<SendRequest>(bytes).and_then(|body| body.try_into_domain(room)));
    check(parse_json::<EditRequest>(bytes).and_then(EditRequest::try_into_domain));
    check(parse_json::<CreateWebhookRequest>(bytes).and_then(|body| body.try_into_domain().map(drop)));
});

fn check<T>(outcome: Result<T, ApiError>) {
    if let Err(err) = outcome {
        assert_eq!(err.code(), "invalid_input", "{err:?}");
        assert_eq!(err.status(), 400);
        // The error body is written for the client: it must always serialize.
        serde_json::to_vec(&err.body()).expect("an error body encodes");
    }
}
