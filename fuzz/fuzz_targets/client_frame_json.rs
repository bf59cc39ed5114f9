//! `decode_client_frame` on JSON: never panics, what it accepts writes back to the same frame,
//! and the same map sent as MessagePack (which never takes the JSON-only fast path for sends)
//! is accepted or refused the same way.
#![no_main]

use chat_fuzz::{assert_codecs_agree, assert_round_trips, has_raw_value_marker};
use chat_shared::protocol::{Codec, decode_client_frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let decoded = decode_client_frame(Codec::Json, bytes);
    if let Ok(frame) = &decoded {
        assert_round_trips(frame);
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes)
        && !has_raw_value_marker(&value)
    {
        let packed = rmp_serde::to_vec_named(&value).expect("a JSON value always encodes");
        assert_codecs_agree(&value, &decoded, &decode_client_frame(Codec::MsgPack, &packed));
    }
});
