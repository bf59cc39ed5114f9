//! `decode_stored`, as the persister and the nodes read the stream: never panics, and an entry
//! (a message, a change or a reaction) it accepts, stored again by `encode_entry`, reads back
//! the same. It runs on a thread with the stack of a tokio worker (2 MiB), where the server
//! runs it, rather than the fuzzer's main thread (8 MiB): a nesting that overflows the one but
//! not the other must count.
#![no_main]

use std::sync::LazyLock;
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use chat_adapters::jetstream::{decode_stored, encode_entry};
use libfuzzer_sys::fuzz_target;

const RUNTIME_STACK: usize = 2 * 1024 * 1024;

/// One thread for every input, started once: a thread per input costs more than the decoding.
/// A panic there aborts the process through libFuzzer's panic hook, as on the main thread.
static WORKER: LazyLock<Mutex<(SyncSender<Vec<u8>>, Receiver<()>)>> = LazyLock::new(|| {
    let (input_tx, input_rx) = sync_channel::<Vec<u8>>(0);
    let (done_tx, done_rx) = sync_channel(0);
    std::thread::Builder::new()
        .stack_size(RUNTIME_STACK)
        .spawn(move || {
            for bytes in input_rx {
                check(&bytes);
                let _ = done_tx.send(());
            }
        })
        .expect("a thread starts");
    Mutex::new((input_tx, done_rx))
});

fuzz_target!(|bytes: &[u8]| {
    let worker = WORKER.lock().unwrap_or_else(|e| e.into_inner());
    worker.0.send(bytes.to_vec()).expect("the worker runs");
    worker.1.recv().expect("the worker answers");
});

fn check(bytes: &[u8]) {
    let Ok(entry) = decode_stored(bytes, 7) else { return };
    assert_eq!(entry.seq(), 7, "the seq is the stream's, not the payload's");
    let stored = encode_entry(&entry);
    assert_eq!(decode_stored(&stored, 7).expect("what the encoder writes decodes"), entry);
}
