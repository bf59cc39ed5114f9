//! The async runtime each binary runs on.

use std::num::NonZeroUsize;

use tokio::runtime::{Builder, Runtime};

/// A multi-threaded runtime with `worker_threads` workers; without a number, tokio's own
/// choice (`TOKIO_WORKER_THREADS`, else one per CPU).
pub fn multi_thread(worker_threads: Option<NonZeroUsize>) -> std::io::Result<Runtime> {
    let mut builder = Builder::new_multi_thread();
    if let Some(workers) = worker_threads {
        builder.worker_threads(workers.get());
    }
    builder.enable_all().build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_has_the_workers_asked_for() {
        let one = multi_thread(NonZeroUsize::new(1)).unwrap();
        assert_eq!(one.metrics().num_workers(), 1);
        let three = multi_thread(NonZeroUsize::new(3)).unwrap();
        assert_eq!(three.metrics().num_workers(), 3);
    }
}
