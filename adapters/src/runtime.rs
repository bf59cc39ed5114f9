//! What every binary's `main` does: its async runtime, its logs, and its exit status.

use std::num::NonZeroUsize;
use std::process::ExitCode;

use tokio::runtime::{Builder, Runtime};

use crate::telemetry::{self, LogFormat};

/// Runs a binary: starts the runtime and the logs, then `run` to its end. An error is printed
/// with its causes (`chat-node: binding ...: Address in use`) and exits 1.
pub fn main(
    name: &str,
    worker_threads: Option<NonZeroUsize>,
    log_format: LogFormat,
    run: impl Future<Output = anyhow::Result<()>>,
) -> ExitCode {
    let runtime = match multi_thread(worker_threads) {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("{name}: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        telemetry::init_tracing(log_format);
        match run.await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("{name}: {err:#}");
                ExitCode::FAILURE
            }
        }
    })
}

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
