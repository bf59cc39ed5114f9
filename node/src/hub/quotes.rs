//! Live replies carry their parent's quote as the parent stands when they are delivered:
//! resolved here once per entry, before the entry is encoded for every connection.

use chat_shared::domain::Entry;
use chat_shared::usecases::MessageService;

/// The entry with the quote of its message's parent filled in. When the parent cannot be read
/// now, the entry goes out with the reference alone rather than wait: live delivery must not
/// stall behind a store that is down.
pub(super) async fn quoted(messages: Option<&MessageService>, mut entry: Entry) -> Entry {
    let Some(messages) = messages else { return entry };
    let message = match &mut entry {
        Entry::Message(message) => message,
        Entry::Change(change) => &mut change.message,
        Entry::Reaction(_) => return entry,
    };
    if message.reply_to.is_some()
        && let Err(err) = messages.quote_parent(message).await
    {
        tracing::warn!(seq = message.seq, error = %err, "delivered a reply without its quote");
    }
    entry
}
