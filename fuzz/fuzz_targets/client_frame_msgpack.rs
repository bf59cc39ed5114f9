//! `decode_client_frame` on MessagePack: never panics, what it accepts writes back to the same
//! frame, and a map it could read decodes the same when sent as JSON text.
#![no_main]

use chat_fuzz::{assert_codecs_agree, assert_round_trips, has_float, has_raw_value_marker};
use chat_shared::protocol::{Codec, decode_client_frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let decoded = decode_client_frame(Codec::MsgPack, bytes);
    if let Ok(frame) = &decoded {
        assert_round_trips(frame);
    }
    // Accepted, or refused with an id or named fields: the bytes were one map, read whole.
    let read_as_a_map = match &decoded {
        Ok(_) => true,
        Err(err) => err.id.is_some() || !err.fields.is_empty(),
    };
    if read_as_a_map {
        let value: serde_json::Value = rmp_serde::from_slice(bytes).expect("the decoder read it");
        if !has_float(&value) && !has_raw_value_marker(&value) {
            let text = serde_json::to_vec(&value).expect("a JSON value always encodes");
            assert_codecs_agree(&value, &decode_client_frame(Codec::Json, &text), &decoded);
        }
    }
});
