//! Makes the `message.created` events of the log's new messages while the node serves (see
//! `MessageWebhooks`): every node takes part, each message handled by one of them.

use std::sync::Arc;
use std::time::Duration;

use chat_shared::usecases::MessageWebhooks;
use tokio_util::sync::CancellationToken;

/// Messages taken at once, and how long a take waits for them: what a message's event may wait
/// for others to share its batch (and, embedded, how often the log is looked at).
const BATCH: usize = 64;
const WAIT: Duration = Duration::from_millis(200);
/// The longest wait after a failure before trying again.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Runs until `stop`. Messages in hand when it stops are not acknowledged: they are handed out
/// again (to another node, or to this one when it restarts).
pub async fn run(handler: Arc<MessageWebhooks>, stop: CancellationToken) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let handled = tokio::select! {
            handled = handler.handle_next(BATCH, WAIT) => handled,
            () = stop.cancelled() => return,
        };
        let failed = match handled {
            Ok(handled) => {
                metrics::counter!("chat_webhook_messages_total").increment(handled.done as u64);
                handled.failed
            }
            Err(err) => {
                tracing::warn!(error = %err, "taking new messages for message.created failed");
                true
            }
        };
        if !failed {
            backoff = Duration::from_millis(100);
            continue;
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = stop.cancelled() => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
