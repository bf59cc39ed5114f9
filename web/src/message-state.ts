// A message's state as the page holds it, brought up to date by what the server says later:
// another state of the message, a reaction, its parent's change.

import type { Id, Message, ReactionChange, ReplyQuote, Seq } from "@chat-cluster/client";

/** How much of its parent a reply quotes, in characters (code points), as the server cuts it. */
const QUOTE_CHARS = 100;

/**
 * A held message brought up to date by another state of it: the text of `given` if `seq` (its
 * change's) is above the held `changed_seq`, its reactions if its `reactions_seq` is above the
 * held one. Changes carry no reactions and no reply count, so an edit keeps those held; a
 * tombstone has no reactions. Replies are never taken back (a deleted one still counts), so the
 * larger count is the newer; a quote of a deleted parent stays so.
 */
export function merged(held: Message, given: Message, seq: Seq): Message {
  const text = seq > (held.changed_seq ?? 0) ? given : held;
  const counts = (given.reactions_seq ?? 0) > (held.reactions_seq ?? 0) ? given : held;
  const replies = Math.max(held.reply_count ?? 0, given.reply_count ?? 0);
  const quote = held.reply_to?.deleted ? held.reply_to : (given.reply_to ?? held.reply_to);
  const message: Message = {
    ...text,
    reactions: text.deleted ? undefined : counts.reactions,
    reactions_seq: counts.reactions_seq,
    reply_to: quote,
  };
  if (replies > 0) message.reply_count = replies;
  return message;
}

/**
 * The message with one reaction entry counted, by the contract's rule: only an entry above its
 * `reactions_seq`, which then moves to the entry's seq. The emoji's count moves by one (a new
 * emoji comes last, one at 0 goes); `me` follows the user's own entries.
 */
export function withReaction(message: Message, frame: ReactionChange, me: Id): Message {
  if (frame.seq <= (message.reactions_seq ?? 0)) return message;
  if (message.deleted) return { ...message, reactions_seq: frame.seq };
  const reactions = (message.reactions ?? []).map((reaction) => ({ ...reaction }));
  let reaction = reactions.find((r) => r.emoji === frame.emoji);
  if (!reaction) {
    reaction = { emoji: frame.emoji, count: 0, me: false };
    reactions.push(reaction);
  }
  reaction.count += frame.added ? 1 : -1;
  if (frame.by === me) reaction.me = frame.added;
  return { ...message, reactions: reactions.filter((r) => r.count > 0), reactions_seq: frame.seq };
}

/** A reply's quote of `parent` as it now stands, cut as the server cuts it. */
export function quoteOf(parent: Message): ReplyQuote {
  const quote: ReplyQuote = { id: parent.id, seq: parent.seq, sender_id: parent.sender_id, content: "" };
  if (parent.deleted) quote.deleted = true;
  else quote.content = Array.from(parent.content).slice(0, QUOTE_CHARS).join("");
  return quote;
}
