//! Reacting to messages: a user adds or removes an emoji. Only a real change is stored, as an
//! entry of the room's log numbered per (message, user, emoji), so every entry is a transition
//! and a reader counts reactions by folding the log's newer entries into the store's counts.

use std::collections::{BTreeMap, HashMap};

use crate::domain::{Emoji, Entry, Message, Reaction, ReactionCount, ReactionKey, RoomId, Seq, UserId};
use crate::error::Error;
use crate::ports::{Appended, MessageRef, ReactionTally};

use super::messages::MessageService;

/// How many different emojis one message may hold.
pub const MAX_EMOJIS_PER_MESSAGE: usize = 50;

/// A reaction's result: the message as the reactor now sees it.
#[derive(Debug, Clone)]
pub struct Reacted {
    pub message: Message,
    /// The stored entry; `None` when nothing changed (the reaction was there already, or gone).
    pub reaction: Option<Reaction>,
}

impl MessageService {
    /// Adds (`add`) or removes the user's reaction with `emoji` to a message of the room.
    pub async fn react(
        &self,
        user: UserId,
        room: RoomId,
        target: MessageRef,
        emoji: Emoji,
        add: bool,
    ) -> Result<Reacted, Error> {
        self.rooms.check_sender(user, room).await?;
        let (found, tail) = self.current_with_tail(room, target).await?;
        let mut message = found.filter(|m| !m.deleted).ok_or(Error::NotFound("message"))?;
        let key = ReactionKey { message_seq: message.seq, user, emoji: emoji.clone() };
        let mut counter = self
            .counter(room, user, std::slice::from_ref(&message), &tail, std::slice::from_ref(&key))
            .await?;
        counter.write_into(std::slice::from_mut(&mut message));
        let version = counter.versions.get(&key).copied().unwrap_or(0);
        if Reaction::stands(version) == add {
            return Ok(Reacted { message, reaction: None });
        }
        let new_emoji = !message.reactions.iter().any(|r| r.emoji == emoji);
        if add && new_emoji && message.reactions.len() >= MAX_EMOJIS_PER_MESSAGE {
            return Err(Error::Conflict("this message holds as many different reactions as it may"));
        }
        let reaction = Reaction {
            emoji,
            added: add,
            version: version + 1,
            user,
            room_id: room,
            message_id: message.id,
            message_seq: message.seq,
            seq: 0,
        };
        match self.log.append_reaction(&reaction, &dedup_key(&reaction)).await? {
            Appended::New(seq) => {
                let reaction = reaction.at_seq(seq);
                counter.fold(&reaction);
                counter.write_into(std::slice::from_mut(&mut message));
                Ok(Reacted { message, reaction: Some(reaction) })
            }
            // The same transition came from another request of the user's (a retry, a second
            // device): it stands, and this one changes nothing.
            Appended::Duplicate(_) => {
                let (found, tail) = self.current_with_tail(room, MessageRef::Seq(message.seq)).await?;
                let mut message = found.filter(|m| !m.deleted).ok_or(Error::NotFound("message"))?;
                self.count_reactions(room, user, std::slice::from_mut(&mut message), &tail).await?;
                Ok(Reacted { message, reaction: None })
            }
        }
    }

    /// Sets the reactions of `messages` (of one room) as `reader` sees them: the store's
    /// counts with the reaction entries of `tail` (the log above what the store surely holds)
    /// folded in.
    pub(super) async fn count_reactions(
        &self,
        room: RoomId,
        reader: UserId,
        messages: &mut [Message],
        tail: &[Entry],
    ) -> Result<(), Error> {
        let counter = self.counter(room, reader, messages, tail, &[]).await?;
        counter.write_into(messages);
        Ok(())
    }

    /// A counter of the reactions to `messages` as `reader` sees them, holding the versions
    /// reached of the reactions counted and of `watched`.
    async fn counter(
        &self,
        room: RoomId,
        reader: UserId,
        messages: &[Message],
        tail: &[Entry],
        watched: &[ReactionKey],
    ) -> Result<Counter, Error> {
        let seqs: Vec<Seq> = messages.iter().filter(|m| !m.deleted).map(|m| m.seq).collect();
        let mut counter = Counter { reader, messages: HashMap::new(), versions: HashMap::new() };
        if seqs.is_empty() {
            return Ok(counter);
        }
        let newer: Vec<&Reaction> = tail
            .iter()
            .filter_map(|entry| match entry {
                Entry::Reaction(reaction) if seqs.contains(&reaction.message_seq) => Some(reaction),
                _ => None,
            })
            .collect();
        let mut keys: Vec<ReactionKey> =
            newer.iter().map(|r| r.key()).chain(watched.iter().cloned()).collect();
        keys.sort();
        keys.dedup();
        let stored = self.store.reactions(room, &seqs, reader, &keys).await?;
        counter.messages = seqs.iter().map(|&seq| (seq, Tallies::default())).collect();
        counter.versions = stored.versions.into_iter().collect();
        counter.add_tallies(stored.tallies);
        for reaction in newer {
            counter.fold(reaction);
        }
        Ok(counter)
    }
}

/// The log's dedup key of a reaction entry: the transition it makes, so two requests that
/// would make the same one store it once.
fn dedup_key(reaction: &Reaction) -> String {
    use std::fmt::Write;
    let mut key = format!(
        "{}:reaction:{}:{}:{}:",
        reaction.room_id, reaction.message_seq, reaction.user, reaction.version
    );
    // Hex: a header value takes no arbitrary text.
    for byte in reaction.emoji.as_str().bytes() {
        let _ = write!(key, "{byte:02x}");
    }
    key
}

/// Counts reactions per message and emoji while entries are folded in.
struct Counter {
    reader: UserId,
    /// The messages being counted, by seq, with their emojis' tallies and latest entry.
    messages: HashMap<Seq, Tallies>,
    versions: HashMap<ReactionKey, u32>,
}

#[derive(Default)]
struct Tallies {
    by_emoji: BTreeMap<Emoji, ReactionTally>,
    latest_seq: Seq,
}

impl Counter {
    fn add_tallies(&mut self, tallies: Vec<ReactionTally>) {
        for tally in tallies {
            if let Some(held) = self.messages.get_mut(&tally.message_seq) {
                held.latest_seq = held.latest_seq.max(tally.latest_seq);
                held.by_emoji.insert(tally.emoji.clone(), tally);
            }
        }
    }

    /// Folds in one entry, unless the version it makes is reached already.
    fn fold(&mut self, reaction: &Reaction) {
        let Some(held) = self.messages.get_mut(&reaction.message_seq) else { return };
        let version = self.versions.entry(reaction.key()).or_insert(0);
        if reaction.version <= *version {
            return;
        }
        let (stood, stands) = (Reaction::stands(*version), Reaction::stands(reaction.version));
        *version = reaction.version;
        held.latest_seq = held.latest_seq.max(reaction.seq);
        let tally = held.by_emoji.entry(reaction.emoji.clone()).or_insert_with(|| ReactionTally {
            message_seq: reaction.message_seq,
            emoji: reaction.emoji.clone(),
            count: 0,
            me: false,
            first_seq: Seq::MAX,
            latest_seq: 0,
        });
        tally.latest_seq = tally.latest_seq.max(reaction.seq);
        match (stood, stands) {
            (false, true) => {
                tally.count += 1;
                tally.first_seq = tally.first_seq.min(reaction.seq);
            }
            (true, false) => tally.count = tally.count.saturating_sub(1),
            _ => {}
        }
        if reaction.user == self.reader {
            tally.me = stands;
        }
    }

    fn write_into(&self, messages: &mut [Message]) {
        for message in messages {
            let Some(held) = self.messages.get(&message.seq) else { continue };
            let mut standing: Vec<&ReactionTally> = held.by_emoji.values().filter(|t| t.count > 0).collect();
            standing.sort_by_key(|t| t.first_seq);
            message.reactions = standing
                .into_iter()
                .map(|t| ReactionCount { emoji: t.emoji.clone(), count: t.count, me: t.me })
                .collect();
            message.reactions_seq = held.latest_seq;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{MessageLog, MessageStore, PageQuery};
    use crate::usecases::testkit::Kit;

    fn emoji(raw: &str) -> Emoji {
        Emoji::parse(raw).unwrap()
    }

    async fn react(kit: &Kit, user: UserId, of: &Message, raw: &str, add: bool) -> Reacted {
        kit.messages.react(user, of.room_id, MessageRef::Seq(of.seq), emoji(raw), add).await.unwrap()
    }

    async fn seen_by(kit: &Kit, reader: UserId, room: RoomId) -> Vec<Message> {
        let query = PageQuery { before: None, after: None, limit: 50 };
        kit.messages.history(reader, room, query).await.unwrap().messages
    }

    fn counts(message: &Message) -> Vec<(&str, u32, bool)> {
        message.reactions.iter().map(|r| (r.emoji.as_str(), r.count, r.me)).collect()
    }

    #[tokio::test]
    async fn reactions_are_counted_per_emoji_as_each_reader_sees_them_before_and_after_persisting() {
        let kit = Kit::new();
        let (ann, bob) = (kit.user("ann").await, kit.user("bob").await);
        let room = kit.group(ann, vec![bob]).await;
        let hello = kit.send(ann, room, "hello").await;
        let first = react(&kit, ann, &hello, "👍", true).await;
        assert_eq!(counts(&first.message), [("👍", 1, true)]);
        react(&kit, bob, &hello, "🎉", true).await;
        let last = react(&kit, bob, &hello, "👍", true).await;
        assert_eq!(counts(&last.message), [("👍", 2, true), ("🎉", 1, true)]);
        for persisted in [false, true] {
            if persisted {
                kit.persist_all().await;
            }
            let by_ann = seen_by(&kit, ann, room).await;
            assert_eq!(counts(&by_ann[0]), [("👍", 2, true), ("🎉", 1, false)], "persisted: {persisted}");
            assert_eq!(by_ann[0].reactions_seq, last.reaction.as_ref().unwrap().seq);
            let by_bob = seen_by(&kit, bob, room).await;
            assert_eq!(counts(&by_bob[0]), [("👍", 2, true), ("🎉", 1, true)], "persisted: {persisted}");
        }
        let removed = react(&kit, ann, &hello, "👍", false).await;
        assert_eq!(counts(&removed.message), [("👍", 1, false), ("🎉", 1, false)]);
        assert_eq!(counts(&seen_by(&kit, bob, room).await[0]), [("👍", 1, true), ("🎉", 1, true)]);
    }

    #[tokio::test]
    async fn only_a_real_change_is_stored_and_each_entry_is_a_transition() {
        let kit = Kit::new();
        let ann = kit.user("ann").await;
        let room = kit.group(ann, vec![]).await;
        let hello = kit.send(ann, room, "hello").await;
        let mut stored = Vec::new();
        for add in [true, true, false, false, true] {
            if let Some(entry) = react(&kit, ann, &hello, "❤️", add).await.reaction {
                stored.push((entry.added, entry.version));
            }
        }
        assert_eq!(stored, [(true, 1), (false, 2), (true, 3)]);
        let entries = kit.log.read_after(room, hello.seq, 10).await.unwrap();
        assert_eq!(entries.len(), 3, "three transitions, three entries");
        assert_eq!(counts(&seen_by(&kit, ann, room).await[0]), [("❤️", 1, true)]);
    }

    #[tokio::test]
    async fn entries_the_store_holds_already_are_not_counted_twice() {
        let kit = Kit::new();
        let (ann, bob) = (kit.user("ann").await, kit.user("bob").await);
        let room = kit.group(ann, vec![bob]).await;
        let hello = kit.send(ann, room, "hello").await;
        kit.persist_all().await;
        let entries = [
            react(&kit, ann, &hello, "👍", true).await,
            react(&kit, bob, &hello, "👍", true).await,
            react(&kit, ann, &hello, "👍", false).await,
        ];
        // A persister wrote the first two but has not said so yet: the log above the floor
        // still holds them.
        let written: Vec<Reaction> = entries[..2].iter().map(|r| r.reaction.clone().unwrap()).collect();
        kit.store.apply_reactions(&written).await.unwrap();
        assert_eq!(counts(&seen_by(&kit, bob, room).await[0]), [("👍", 1, true)]);
        assert_eq!(counts(&seen_by(&kit, ann, room).await[0]), [("👍", 1, false)]);
    }

    #[tokio::test]
    async fn a_resume_returns_the_missed_reactions_and_counts_them_in_the_missed_messages() {
        let kit = Kit::new();
        let (ann, bob) = (kit.user("ann").await, kit.user("bob").await);
        let room = kit.group(ann, vec![bob]).await;
        let held = kit.send(ann, room, "held").await;
        let since = held.seq;
        let on_held = react(&kit, bob, &held, "👀", true).await.reaction.unwrap();
        let missed = kit.send(ann, room, "missed").await;
        let on_missed = react(&kit, bob, &missed, "✅", true).await.reaction.unwrap();
        let replay = kit.messages.replay(ann, room, since).await.unwrap();
        let seqs: Vec<Seq> = replay.changes.iter().map(Entry::seq).collect();
        assert_eq!(seqs, [on_held.seq, on_missed.seq]);
        assert_eq!(replay.messages.len(), 1);
        assert_eq!(counts(&replay.messages[0]), [("✅", 1, false)]);
        assert_eq!(replay.messages[0].reactions_seq, on_missed.seq, "a client applies nothing twice");
    }

    #[tokio::test]
    async fn refusals_store_nothing() {
        let kit = Kit::new();
        let (ann, bob, eve) = (kit.user("ann").await, kit.user("bob").await, kit.user("eve").await);
        let room = kit.group(ann, vec![bob]).await;
        let hello = kit.send(ann, room, "hello").await;
        let gone = kit.send(ann, room, "gone").await;
        kit.messages.delete(ann, room, MessageRef::Seq(gone.seq), None).await.unwrap();
        let before = kit.log.all().len();

        let outsider = kit.messages.react(eve, room, MessageRef::Seq(hello.seq), emoji("👍"), true).await;
        assert!(matches!(outsider, Err(Error::Forbidden(_))), "{outsider:?}");
        let unknown =
            kit.messages.react(bob, room, MessageRef::Seq(hello.seq + 100), emoji("👍"), true).await;
        assert!(matches!(unknown, Err(Error::NotFound("message"))), "{unknown:?}");
        let deleted = kit.messages.react(bob, room, MessageRef::Seq(gone.seq), emoji("👍"), true).await;
        assert!(matches!(deleted, Err(Error::NotFound("message"))), "{deleted:?}");
        let other_room = kit.group(bob, vec![]).await;
        let elsewhere =
            kit.messages.react(bob, other_room, MessageRef::Id(hello.id), emoji("👍"), true).await;
        assert!(matches!(elsewhere, Err(Error::NotFound("message"))), "{elsewhere:?}");
        assert_eq!(kit.log.all().len(), before, "no entry stored");
    }

    #[tokio::test]
    async fn a_message_holds_at_most_fifty_different_emojis_and_a_deletion_clears_them() {
        let kit = Kit::new();
        let (ann, bob) = (kit.user("ann").await, kit.user("bob").await);
        let room = kit.group(ann, vec![bob]).await;
        let hello = kit.send(ann, room, "hello").await;
        for n in 0..MAX_EMOJIS_PER_MESSAGE {
            react(&kit, ann, &hello, &format!("e{n}"), true).await;
        }
        let one_more = kit.messages.react(bob, room, MessageRef::Seq(hello.seq), emoji("new"), true).await;
        assert!(matches!(one_more, Err(Error::Conflict(_))), "{one_more:?}");
        let existing = react(&kit, bob, &hello, "e7", true).await;
        assert_eq!(existing.message.reactions.len(), MAX_EMOJIS_PER_MESSAGE, "an emoji it holds is fine");
        let tombstone = kit.messages.delete(ann, room, MessageRef::Seq(hello.seq), None).await.unwrap();
        assert!(tombstone.message.reactions.is_empty());
        assert!(seen_by(&kit, bob, room).await[0].reactions.is_empty());
    }
}
