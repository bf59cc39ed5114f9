//! What the fuzz targets share: the checks the two client-frame targets make of a decoded frame
//! (written back with `ClientFrame::to_value`, the map a client would send).

use chat_shared::protocol::{ClientFrame, Codec, FrameError, decode_client_frame};
use serde_json::Value;

/// Whether a float appears anywhere in `value`. serde_json reads floats to the nearest value only
/// with its `float_roundtrip` feature, off here: one written and read back as JSON text may come
/// back one unit in the last place off, which is no fault of the decoder.
pub fn has_float(value: &Value) -> bool {
    match value {
        Value::Number(n) => n.is_f64(),
        Value::Array(items) => items.iter().any(has_float),
        Value::Object(map) => map.values().any(has_float),
        _ => false,
    }
}

/// Whether a map anywhere in `value` has serde_json's reserved key, the marker by which it
/// recognises its `RawValue` (its `raw_value` feature is on in this build, through a
/// dependency). A map whose first key is the marker is taken for a raw value when serde_json
/// reads it from another format, so the same map cannot cross from JSON text to MessagePack
/// and back: no fault of the decoder, and a key no client has reason to send.
pub fn has_raw_value_marker(value: &Value) -> bool {
    match value {
        Value::Array(items) => items.iter().any(has_raw_value_marker),
        Value::Object(map) => {
            map.contains_key("$serde_json::private::RawValue") || map.values().any(has_raw_value_marker)
        }
        _ => false,
    }
}

/// A decoded frame, written back as a client would write it, decodes to the same frame in
/// both codecs.
pub fn assert_round_trips(frame: &ClientFrame) {
    let value = frame.to_value();
    let packed = rmp_serde::to_vec_named(&value).expect("a map always encodes");
    assert_eq!(decode_client_frame(Codec::MsgPack, &packed).as_ref(), Ok(frame), "MessagePack of {value}");
    if !has_float(&value) {
        let text = serde_json::to_vec(&value).expect("a map always encodes");
        assert_eq!(decode_client_frame(Codec::Json, &text).as_ref(), Ok(frame), "JSON of {value}");
    }
}

/// Two decodings of the same map, one per codec, agree: the same frame, or the same refusal.
pub fn assert_codecs_agree(
    value: &Value,
    json: &Result<ClientFrame, FrameError>,
    msgpack: &Result<ClientFrame, FrameError>,
) {
    assert_eq!(json, msgpack, "the codecs disagree on {value}");
}
