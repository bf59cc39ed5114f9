// src/message-state.ts
var QUOTE_CHARS = 100;
function merged(held, given, seq) {
  const text = seq > (held.changed_seq ?? 0) ? given : held;
  const counts = (given.reactions_seq ?? 0) > (held.reactions_seq ?? 0) ? given : held;
  const replies = Math.max(held.reply_count ?? 0, given.reply_count ?? 0);
  const quote = held.reply_to?.deleted ? held.reply_to : given.reply_to ?? held.reply_to;
  const message = {
    ...text,
    reactions: text.deleted ? void 0 : counts.reactions,
    reactions_seq: counts.reactions_seq,
    reply_to: quote
  };
  if (replies > 0) message.reply_count = replies;
  return message;
}
function withReaction(message, frame, me) {
  if (frame.seq <= (message.reactions_seq ?? 0)) return message;
  if (message.deleted) return { ...message, reactions_seq: frame.seq };
  const reactions = (message.reactions ?? []).map((reaction2) => ({ ...reaction2 }));
  let reaction = reactions.find((r) => r.emoji === frame.emoji);
  if (!reaction) {
    reaction = { emoji: frame.emoji, count: 0, me: false };
    reactions.push(reaction);
  }
  reaction.count += frame.added ? 1 : -1;
  if (frame.by === me) reaction.me = frame.added;
  return { ...message, reactions: reactions.filter((r) => r.count > 0), reactions_seq: frame.seq };
}
function quoteOf(parent) {
  const quote = { id: parent.id, seq: parent.seq, sender_id: parent.sender_id, content: "" };
  if (parent.deleted) quote.deleted = true;
  else quote.content = Array.from(parent.content).slice(0, QUOTE_CHARS).join("");
  return quote;
}
export {
  merged,
  quoteOf,
  withReaction
};
