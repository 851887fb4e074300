//! Opaque page cursors: URL-safe base64 of a small JSON document naming the order, the last
//! row's sort key and its id. Decoding is strict: a cursor that does not decode, names another
//! order, or carries a key of the wrong type is a 400, never a 500.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use domain::conversation::{ConversationCursor, MessageCursor, MessageOrder};
use domain::task::{Cursor, CursorKey, Sort};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    /// The sort order, as the API spells it.
    s: String,
    /// The sort key: a timestamp, a priority rank, or null (no due date).
    k: serde_json::Value,
    /// The row's id.
    i: uuid::Uuid,
}

pub fn encode(cursor: &Cursor) -> String {
    let key = match cursor.key {
        CursorKey::Time(t) => serde_json::Value::String(super::timestamp(&t)),
        CursorKey::Rank(r) => serde_json::Value::from(r),
        CursorKey::NoDueDate => serde_json::Value::Null,
    };
    let wire = Wire { s: cursor.sort.as_str().to_owned(), k: key, i: cursor.id };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&wire).unwrap_or_default())
}

/// Why a cursor was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CursorError {
    #[error("the cursor is not one this API issued")]
    Invalid,
    #[error("the cursor belongs to sort={0}; repeat the request that produced it")]
    OtherSort(String),
    #[error("the cursor belongs to order={0}; repeat the request that produced it")]
    OtherOrder(String),
}

/// A cursor's timestamp: RFC 3339 and inside the instants the service stores.
fn instant(text: &str) -> Result<DateTime<Utc>, CursorError> {
    let t = DateTime::parse_from_rfc3339(text).map_err(|_| CursorError::Invalid)?.with_timezone(&Utc);
    if domain::clock::range::contains(&t) { Ok(t) } else { Err(CursorError::Invalid) }
}

pub fn decode(raw: &str, sort: Sort) -> Result<Cursor, CursorError> {
    let bytes = URL_SAFE_NO_PAD.decode(raw.trim_end_matches('=')).map_err(|_| CursorError::Invalid)?;
    let wire: Wire = serde_json::from_slice(&bytes).map_err(|_| CursorError::Invalid)?;
    let cursor_sort = Sort::parse(&wire.s).ok_or(CursorError::Invalid)?;
    if cursor_sort != sort {
        return Err(CursorError::OtherSort(wire.s));
    }
    let key = match wire.k {
        serde_json::Value::Null => CursorKey::NoDueDate,
        serde_json::Value::String(t) => CursorKey::Time(instant(&t)?),
        serde_json::Value::Number(n) => {
            CursorKey::Rank(n.as_i64().and_then(|r| i16::try_from(r).ok()).ok_or(CursorError::Invalid)?)
        }
        _ => return Err(CursorError::Invalid),
    };
    let cursor = Cursor { sort, key, id: wire.i };
    if cursor.is_consistent() { Ok(cursor) } else { Err(CursorError::Invalid) }
}

/// A conversation list position: `{"u": updated_at, "i": id}`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConversationWire {
    u: String,
    i: uuid::Uuid,
}

pub fn encode_conversation(cursor: &ConversationCursor) -> String {
    let wire = ConversationWire { u: super::timestamp(&cursor.updated_at), i: cursor.id };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&wire).unwrap_or_default())
}

pub fn decode_conversation(raw: &str) -> Result<ConversationCursor, CursorError> {
    let bytes = URL_SAFE_NO_PAD.decode(raw.trim_end_matches('=')).map_err(|_| CursorError::Invalid)?;
    let wire: ConversationWire = serde_json::from_slice(&bytes).map_err(|_| CursorError::Invalid)?;
    let updated_at = instant(&wire.u)?;
    Ok(ConversationCursor { updated_at, id: wire.i })
}

/// A message list position: `{"o": "asc"|"desc", "t": created_at, "i": id}`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageWire {
    o: String,
    t: String,
    i: uuid::Uuid,
}

pub fn encode_message(cursor: &MessageCursor) -> String {
    let wire =
        MessageWire { o: cursor.order.as_str().to_owned(), t: super::timestamp(&cursor.created_at), i: cursor.id };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&wire).unwrap_or_default())
}

pub fn decode_message(raw: &str, order: MessageOrder) -> Result<MessageCursor, CursorError> {
    let bytes = URL_SAFE_NO_PAD.decode(raw.trim_end_matches('=')).map_err(|_| CursorError::Invalid)?;
    let wire: MessageWire = serde_json::from_slice(&bytes).map_err(|_| CursorError::Invalid)?;
    if wire.o != order.as_str() {
        return Err(CursorError::OtherOrder(wire.o));
    }
    let created_at = instant(&wire.t)?;
    Ok(MessageCursor { order, created_at, id: wire.i })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sort(s: &str) -> Sort {
        Sort::parse(s).expect("sort")
    }

    #[test]
    fn cursors_round_trip() {
        let at = DateTime::parse_from_rfc3339("2025-01-02T03:04:05.123456Z").expect("t").with_timezone(&Utc);
        for cursor in [
            Cursor { sort: sort("-created_at"), key: CursorKey::Time(at), id: uuid::Uuid::now_v7() },
            Cursor { sort: sort("priority"), key: CursorKey::Rank(3), id: uuid::Uuid::now_v7() },
            Cursor { sort: sort("due_date"), key: CursorKey::NoDueDate, id: uuid::Uuid::now_v7() },
        ] {
            assert_eq!(decode(&encode(&cursor), cursor.sort), Ok(cursor));
        }
    }

    #[test]
    fn conversation_and_message_cursors_round_trip_and_check_their_order() {
        let at = DateTime::parse_from_rfc3339("2025-01-02T03:04:05.123456Z").expect("t").with_timezone(&Utc);
        let c = ConversationCursor { updated_at: at, id: uuid::Uuid::now_v7() };
        assert_eq!(decode_conversation(&encode_conversation(&c)), Ok(c));
        let m = MessageCursor { order: MessageOrder::Desc, created_at: at, id: uuid::Uuid::now_v7() };
        assert_eq!(decode_message(&encode_message(&m), MessageOrder::Desc), Ok(m));
        assert_eq!(decode_message(&encode_message(&m), MessageOrder::Asc), Err(CursorError::OtherOrder("desc".into())));
        assert_eq!(decode_conversation(&encode_message(&m)), Err(CursorError::Invalid));
    }

    #[test]
    fn bad_cursors_are_refused() {
        let good = encode(&Cursor { sort: sort("priority"), key: CursorKey::Rank(3), id: uuid::Uuid::now_v7() });
        assert_eq!(decode(&good, sort("-priority")), Err(CursorError::OtherSort("priority".into())));
        assert_eq!(decode("!!!", sort("priority")), Err(CursorError::Invalid));
        assert_eq!(decode(&URL_SAFE_NO_PAD.encode("{}"), sort("priority")), Err(CursorError::Invalid));
        let wrong_key = URL_SAFE_NO_PAD.encode(format!(r#"{{"s":"priority","k":"soon","i":"{}"}}"#, uuid::Uuid::nil()));
        assert_eq!(decode(&wrong_key, sort("priority")), Err(CursorError::Invalid));
        let rank_nine = URL_SAFE_NO_PAD.encode(format!(r#"{{"s":"priority","k":9,"i":"{}"}}"#, uuid::Uuid::nil()));
        assert_eq!(decode(&rank_nine, sort("priority")), Err(CursorError::Invalid));
        let past_the_end = URL_SAFE_NO_PAD
            .encode(format!(r#"{{"s":"due_date","k":"9999-12-31T23:59:59-05:00","i":"{}"}}"#, uuid::Uuid::nil()));
        assert_eq!(decode(&past_the_end, sort("due_date")), Err(CursorError::Invalid));
    }
}
