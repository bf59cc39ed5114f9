//! Messages as `COPY ... FROM STDIN (FORMAT binary)` data: the cheapest way into PostgreSQL
//! for a batch with no row stored yet. The format is PostgreSQL's own, documented under "Binary
//! Format" of the COPY page: a signature, then per row a field count and each field as a length
//! and the type's binary (send) representation, then a trailer.

use chat_shared::domain::Message;
use chrono::{DateTime, Utc};

use crate::rows::seq_to_db;

/// The statement the data is for; its columns match [`encode`]'s fields, in order.
pub(super) const COPY_MESSAGES: &str = "copy messages \
     (id, room_id, seq, sender_id, content, kind, metadata, client_msg_id, created_at, \
      reply_to_id, reply_to_seq, reply_to_sender_id) \
     from stdin (format binary)";

const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";
const FIELDS: i16 = 12;
/// jsonb's binary representation is a version byte, then the JSON text.
const JSONB_VERSION: u8 = 1;
/// timestamptz travels as microseconds since 2000-01-01 00:00:00 UTC.
const POSTGRES_EPOCH_UNIX_MICROS: i64 = 946_684_800_000_000;

/// The COPY data for `messages`, trailer included.
pub(super) fn encode(messages: &[Message]) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(32 + messages.iter().map(|m| 160 + m.content.as_str().len()).sum::<usize>());
    out.extend_from_slice(SIGNATURE);
    out.extend_from_slice(&0i32.to_be_bytes()); // flags: no OIDs
    out.extend_from_slice(&0i32.to_be_bytes()); // header extension length
    for m in messages {
        out.extend_from_slice(&FIELDS.to_be_bytes());
        field(&mut out, m.id.as_uuid().as_bytes());
        field(&mut out, m.room_id.as_uuid().as_bytes());
        field(&mut out, &seq_to_db(m.seq).to_be_bytes());
        field(&mut out, m.sender_id.as_uuid().as_bytes());
        field(&mut out, m.content.as_str().as_bytes());
        field(&mut out, m.kind.as_str().as_bytes());
        match m.metadata.as_object() {
            Some(object) => {
                let mut jsonb = vec![JSONB_VERSION];
                serde_json::to_writer(&mut jsonb, object).expect("a JSON object always serializes");
                field(&mut out, &jsonb);
            }
            None => null(&mut out),
        }
        match &m.client_msg_id {
            Some(id) => field(&mut out, id.as_str().as_bytes()),
            None => null(&mut out),
        }
        field(&mut out, &timestamptz(m.created_at).to_be_bytes());
        match &m.reply_to {
            Some(parent) => {
                field(&mut out, parent.id.as_uuid().as_bytes());
                field(&mut out, &seq_to_db(parent.seq).to_be_bytes());
                field(&mut out, parent.sender_id.as_uuid().as_bytes());
            }
            None => (0..3).for_each(|_| null(&mut out)),
        }
    }
    out.extend_from_slice(&(-1i16).to_be_bytes());
    out
}

fn field(out: &mut Vec<u8>, value: &[u8]) {
    let len = i32::try_from(value.len()).expect("a message field is far below 2 GiB");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value);
}

fn null(out: &mut Vec<u8>) {
    out.extend_from_slice(&(-1i32).to_be_bytes());
}

/// Whole microseconds, as sqlx binds a `DateTime<Utc>` (sub-microsecond digits are dropped).
fn timestamptz(at: DateTime<Utc>) -> i64 {
    let unix_micros = at.timestamp() * 1_000_000 + i64::from(at.timestamp_subsec_micros());
    unix_micros - POSTGRES_EPOCH_UNIX_MICROS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_count_microseconds_from_the_year_2000() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(timestamptz(at("2000-01-01T00:00:00Z")), 0);
        assert_eq!(timestamptz(at("2000-01-01T00:00:01.000002999Z")), 1_000_002);
        assert_eq!(timestamptz(at("1999-12-31T23:59:59.5Z")), -500_000);
    }

    #[test]
    fn an_empty_batch_is_the_header_and_the_trailer() {
        let data = encode(&[]);
        assert_eq!(data, [SIGNATURE, &[0; 8], &[0xff, 0xff]].concat());
    }
}
