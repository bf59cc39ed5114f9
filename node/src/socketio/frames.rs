//! A frame the session wrote, as Socket.IO delivers it: a reply answers its event's
//! acknowledgement, an `error` frame answers a malformed event, anything else is an event named
//! by its `type`.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// A frame the session wrote, read for delivery.
#[derive(Debug)]
pub(super) enum Outbound<'a> {
    /// The reply to the frame with this id: `body` is the acknowledgement's, the reply without
    /// its `type` and `id` (`{"ok": true, ...result}` or `{"ok": false, "error"}`).
    Reply { id: u64, body: Map<String, Value> },
    /// An `error` frame: the answer to input that was no frame.
    Error { frame: &'a RawValue },
    /// Any other frame: an event named by its type, the frame its payload.
    Event { name: &'a str, frame: &'a RawValue },
}

/// The acknowledgement body of a refusal: `{"ok": false, "error"}`.
pub(super) fn refusal(error: Value) -> Map<String, Value> {
    Map::from_iter([("ok".to_owned(), Value::Bool(false)), ("error".to_owned(), error)])
}

/// Reads a frame the session wrote; `None` for one that is not a JSON object with a `type`,
/// which the session never writes.
pub(super) fn outbound(text: &str) -> Option<Outbound<'_>> {
    #[derive(Deserialize)]
    struct Head<'a> {
        #[serde(rename = "type", borrow)]
        kind: &'a str,
    }
    let Head { kind } = serde_json::from_str(text).ok()?;
    let frame: &RawValue = serde_json::from_str(text).ok()?;
    Some(match kind {
        "reply" => {
            let mut body: Map<String, Value> = serde_json::from_str(text).ok()?;
            body.remove("type");
            let id = body.remove("id")?.as_u64()?;
            Outbound::Reply { id, body }
        }
        "error" => Outbound::Error { frame },
        name => Outbound::Event { name, frame },
    })
}

/// The `error` of an `error` frame or failed reply body; `None` for a reply that succeeded.
pub(super) fn error_of(body: &Map<String, Value>) -> Option<&Value> {
    match body.get("ok") {
        Some(Value::Bool(false)) => body.get("error"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use chat_shared::protocol::{Codec, ErrorBody, PresenceState, ServerFrame, encode};
    use serde_json::json;

    use super::*;

    fn text(frame: &ServerFrame) -> String {
        let bytes: Bytes = encode(Codec::Json, frame);
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn a_reply_becomes_its_acknowledgement_body() {
        let mut result = Map::new();
        result.insert("message".into(), json!({"seq": 4}));
        let frame = text(&ServerFrame::reply_ok(12, result));
        let Some(Outbound::Reply { id, body }) = outbound(&frame) else { panic!("a reply") };
        assert_eq!(id, 12);
        assert_eq!(Value::Object(body), json!({"ok": true, "message": {"seq": 4}}));
    }

    #[test]
    fn a_failed_reply_keeps_its_error_in_the_contracts_shape() {
        let frame = text(&ServerFrame::reply_err(3, ErrorBody::new("forbidden", "not a member")));
        let Some(Outbound::Reply { id, body }) = outbound(&frame) else { panic!("a reply") };
        assert_eq!(id, 3);
        assert_eq!(
            Value::Object(body.clone()),
            json!({"ok": false, "error": {"code": "forbidden", "message": "not a member"}})
        );
        assert_eq!(error_of(&body), Some(&json!({"code": "forbidden", "message": "not a member"})));
    }

    #[test]
    fn a_reply_that_succeeded_has_no_error() {
        let body = json!({"ok": true, "error": "a field of the result"});
        assert_eq!(error_of(body.as_object().unwrap()), None);
    }

    #[test]
    fn an_error_frame_is_told_apart_and_kept_whole() {
        let frame = text(&ServerFrame::Error { error: ErrorBody::new("invalid_input", "not a frame") });
        let Some(Outbound::Error { frame: raw }) = outbound(&frame) else { panic!("an error") };
        assert_eq!(raw.get(), frame);
        let body: Map<String, Value> = serde_json::from_str(raw.get()).unwrap();
        assert_eq!(
            Value::Object(refusal(body["error"].clone())),
            json!({"ok": false, "error": {"code": "invalid_input", "message": "not a frame"}})
        );
    }

    #[test]
    fn every_other_frame_is_an_event_named_by_its_type_with_the_frame_as_payload() {
        let room = "0190d2a6-6b7e-7c3b-9d59-2f8a1f4c7e01".parse().unwrap();
        let user = "0190d2a6-6b7e-7c3b-9d59-2f8a1f4c7e02".parse().unwrap();
        for (frame, name) in [
            (ServerFrame::Presence { room, user_id: user, state: PresenceState::Online }, "presence"),
            (ServerFrame::Typing { room, user_id: user }, "typing"),
            (ServerFrame::RoomRemoved { room, banned: true }, "room_removed"),
            (ServerFrame::Pong, "pong"),
        ] {
            let text = text(&frame);
            let Some(Outbound::Event { name: read, frame: raw }) = outbound(&text) else { panic!("{text}") };
            assert_eq!((read, raw.get()), (name, text.as_str()));
        }
    }

    #[test]
    fn what_is_no_frame_is_read_as_nothing() {
        for text in ["", "[]", "{}", r#"{"type": 1}"#, r#"{"type":"reply"}"#, r#"{"type":"reply","id":-1}"#] {
            assert!(outbound(text).is_none(), "{text}");
        }
    }
}
