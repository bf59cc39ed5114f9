//! `decode_stored`, as the persister and the nodes read the stream: never panics, and a message
//! it accepts, stored again by `encode_stored`, reads back the same. It runs on a thread with
//! the stack of a tokio worker (2 MiB), where the server runs it, rather than the fuzzer's main
//! thread (8 MiB): a nesting that overflows the one but not the other must count.
#![no_main]

use chat_adapters::jetstream::{decode_stored, encode_stored};
use libfuzzer_sys::fuzz_target;

const RUNTIME_STACK: usize = 2 * 1024 * 1024;

fuzz_target!(|bytes: &[u8]| {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(RUNTIME_STACK)
            .spawn_scoped(scope, || check(bytes))
            .expect("a thread starts")
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    });
});

fn check(bytes: &[u8]) {
    let Ok(message) = decode_stored(bytes, 7) else { return };
    assert_eq!(message.seq, 7, "the seq is the stream's, not the payload's");
    let stored = encode_stored(&message);
    assert_eq!(decode_stored(&stored, 7).expect("what the encoder writes decodes"), message);
}
