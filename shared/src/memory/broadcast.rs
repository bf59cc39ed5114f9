//! In-process live feeds: a broadcast channel read as a stream.

/// A broadcast receiver as a stream. A receiver that fell behind skips what it missed: live
/// feeds are at most once, and their consumers detect and fill gaps themselves. Public for the
/// other in-process feeds (the embedded mode's SQLite log).
pub fn broadcast_stream<T: Clone + Send + 'static>(
    receiver: tokio::sync::broadcast::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send {
    use tokio::sync::broadcast::error::RecvError;
    futures::stream::unfold(receiver, |mut receiver| async move {
        loop {
            match receiver.recv().await {
                Ok(item) => return Some((item, receiver)),
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    })
}
