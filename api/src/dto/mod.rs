//! Request and response shapes. Each request body is one struct that is both what the service
//! reads and its documented schema ([`body`]); it becomes the domain's input by `TryFrom`,
//! which reports every problem. Responses are built from domain types.

pub mod body;
pub mod conversations;
pub mod cursor;
pub mod tasks;

use chrono::{DateTime, SecondsFormat, Utc};

/// Timestamps leave in UTC with a `Z` suffix and microsecond precision.
pub fn timestamp(t: &DateTime<Utc>) -> String {
    Rfc3339::of(t).as_str().to_owned()
}

pub fn optional_timestamp(t: &Option<DateTime<Utc>>) -> Option<String> {
    t.as_ref().map(timestamp)
}

/// An instant as the API writes it (`2026-11-23T10:30:15.123456Z`: RFC 3339, UTC, `Z`,
/// microseconds), formatted on the stack: chrono's `to_rfc3339_opts` goes through `fmt` and a
/// `String` for each of a task's five timestamps, a cost that shows on every page of tasks.
/// Years outside 0000-9999 and leap seconds, which the fixed layout cannot hold, are left to
/// chrono.
#[derive(Debug)]
pub enum Rfc3339 {
    Fixed([u8; 27]),
    Chrono(String),
}

impl Rfc3339 {
    pub fn of(t: &DateTime<Utc>) -> Self {
        use chrono::{Datelike, Timelike};
        let (year, micros) = (t.year(), t.nanosecond() / 1_000);
        if !(0..=9999).contains(&year) || micros >= 1_000_000 {
            return Self::Chrono(t.to_rfc3339_opts(SecondsFormat::Micros, true));
        }
        let mut out = *b"0000-00-00T00:00:00.000000Z";
        let mut put = |at: usize, width: usize, mut value: u32| {
            for i in (at..at + width).rev() {
                out[i] = b'0' + (value % 10) as u8;
                value /= 10;
            }
        };
        put(0, 4, year.unsigned_abs());
        put(5, 2, t.month());
        put(8, 2, t.day());
        put(11, 2, t.hour());
        put(14, 2, t.minute());
        put(17, 2, t.second());
        put(20, 6, micros);
        Self::Fixed(out)
    }

    pub fn as_str(&self) -> &str {
        match self {
            // Only ASCII digits and separators were written.
            Self::Fixed(bytes) => std::str::from_utf8(bytes).unwrap_or_default(),
            Self::Chrono(text) => text,
        }
    }
}

impl serde::Serialize for Rfc3339 {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// `#[serde(serialize_with)]` for an instant: [`Rfc3339`], no `String` in between.
pub fn serialize_timestamp<S: serde::Serializer>(t: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(Rfc3339::of(t).as_str())
}

/// `#[serde(serialize_with)]` for an optional instant (`null` when unset).
pub fn serialize_optional_timestamp<S: serde::Serializer>(
    t: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => serializer.serialize_some(&Rfc3339::of(t)),
        None => serializer.serialize_none(),
    }
}

/// The text rules of the request schemas as ECMA-262 patterns (what OpenAPI tools check), each
/// held to the service's own rule by a unit test.
pub mod patterns {
    /// Any text without U+0000.
    pub const TEXT: &str = r"^[^\u0000]*$";
    /// A title: no U+0000, and 1 to 200 characters left after trimming white space (any
    /// amount of it may surround them: API.md counts the trimmed title, so `maxLength` cannot
    /// say it). The white space is Unicode's, as Rust's `trim` removes it.
    pub const TITLE: &str = r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]([^\u0000]{0,198}[^\u0000\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$";
    /// A tag: no U+0000, and a visible character.
    pub const TAG: &str = r"^[^\u0000]*[^\u0000-\u0020\u007f-\u00a0\u00ad\u034f\u1680\u180e\u2000-\u200f\u2028\u2029\u202f\u205f-\u2064\u3000\ufe00-\ufe0f\ufeff][^\u0000]*$";
    /// `q`: no control character but tab and line breaks.
    pub const QUERY: &str = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$";
    /// An `Idempotency-Key`: what a header value can carry.
    pub const HEADER: &str = r"^[\t -~]+$";
}

/// The schema of a title property (a task's or a conversation's): [`patterns::TITLE`] and at
/// least one character, `null` allowed where `nullable`. The four request bodies with a title
/// use it (`schema_with`), so the rule is written once.
pub fn title_schema(description: &str, nullable: bool) -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    let types =
        if nullable { SchemaType::from_iter([Type::String, Type::Null]) } else { SchemaType::Type(Type::String) };
    ObjectBuilder::new()
        .schema_type(types)
        .description(Some(description))
        .min_length(Some(1))
        .pattern(Some(patterns::TITLE))
        .build()
}

/// Room kept for the end of a page, `],"next_cursor":"<cursor>"}`: cursors are short base64.
const PAGE_TAIL_BYTES: usize = 512;

/// A page as the API answers it, `{"items": [...], "next_cursor": ...}` (the shape of
/// `TaskPage`, `ConversationPage` and `MessagePage`), serialised item by item and cut before
/// its JSON passes [`domain::MAX_PAGE_BYTES`]: it keeps at least one item, and when it drops
/// some, `next_cursor` points after the last one kept.
pub fn page_json<'a, T, C, V: serde::Serialize>(
    page: &'a domain::Page<T, C>,
    view: impl Fn(&'a T) -> V,
    cursor_of: impl Fn(&T) -> C,
    encode: impl Fn(&C) -> String,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 * page.items.len().clamp(1, 100));
    out.extend_from_slice(b"{\"items\":[");
    let mut item = Vec::new();
    let mut kept = 0;
    for t in &page.items {
        item.clear();
        if serde_json::to_writer(&mut item, &view(t)).is_err() {
            break;
        }
        if kept > 0 && out.len() + 1 + item.len() + PAGE_TAIL_BYTES > domain::MAX_PAGE_BYTES {
            break;
        }
        if kept > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&item);
        kept += 1;
    }
    let next = match page.items.get(..kept) {
        Some([.., last]) if kept < page.items.len() => Some(encode(&cursor_of(last))),
        _ => page.next.as_ref().map(encode),
    };
    out.extend_from_slice(b"],\"next_cursor\":");
    let _ = serde_json::to_writer(&mut out, &next);
    out.push(b'}');
    out
}

/// A string enumeration whose values come from the domain's own list, as a named schema, so
/// the document cannot drift from what the parsers accept.
macro_rules! domain_enum_schema {
    ($(#[$attr:meta])* $type:ident as $name:literal = $values:expr, $description:expr) => {
        $(#[$attr])*
        #[derive(Debug)]
        pub struct $type;

        impl utoipa::PartialSchema for $type {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some($values))
                    .description(Some($description))
                    .into()
            }
        }

        impl utoipa::ToSchema for $type {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed($name)
            }
        }
    };
}
pub(crate) use domain_enum_schema;

/// Helpers for the unit tests that compare documented schemas with the parsers.
#[cfg(test)]
pub(crate) mod doc_tests {
    use serde_json::Value;
    use std::collections::BTreeSet;

    /// The schema of `T` as JSON.
    pub fn schema_of<T: utoipa::PartialSchema>() -> Value {
        serde_json::to_value(T::schema()).expect("a schema serialises")
    }

    /// The property names of an object schema.
    pub fn properties(schema: &Value) -> BTreeSet<String> {
        schema["properties"].as_object().expect("an object schema").keys().cloned().collect()
    }

    /// Whether property `name` of an object schema admits `null`.
    pub fn is_nullable(schema: &Value, name: &str) -> bool {
        let property = &schema["properties"][name];
        let admits_null = |s: &Value| {
            s["type"] == "null" || s["type"].as_array().is_some_and(|types| types.iter().any(|t| t == "null"))
        };
        admits_null(property)
            || ["oneOf", "anyOf"]
                .iter()
                .any(|k| property[*k].as_array().is_some_and(|alternatives| alternatives.iter().any(admits_null)))
    }

    /// The required property names of an object schema.
    pub fn required(schema: &Value) -> BTreeSet<String> {
        schema["required"]
            .as_array()
            .map(|names| names.iter().filter_map(|n| n.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }

    /// The error codes reported on `field`.
    pub fn codes_on(errors: &domain::ValidationErrors, field: &str) -> Vec<String> {
        errors.iter().filter(|e| e.field == field).map(|e| e.code.clone()).collect()
    }

    /// Holds a documented request schema and its parser to the same contract:
    /// - the schema's properties are exactly the fields the body struct declares (`read`), and
    ///   it refuses others;
    /// - `full`, a body with every documented property, parses;
    /// - the required properties are exactly those the parser reports missing in `{}`;
    /// - a property admits `null` in the schema exactly when the parser accepts `null` for it.
    pub fn assert_schema_matches_parser<T, E: Fn(&T) -> &domain::ValidationErrors, R>(
        schema: &Value,
        read: &[&str],
        parse: impl Fn(Value) -> Result<R, T>,
        errors_of: E,
        minimal: Value,
        full: Value,
    ) {
        let documented = properties(schema);
        let read: BTreeSet<String> = read.iter().map(|name| (*name).to_owned()).collect();
        assert_eq!(documented, read, "documented vs read fields");
        assert_eq!(schema["additionalProperties"], false, "unknown fields are refused");
        let full_fields: BTreeSet<String> = full.as_object().expect("an object").keys().cloned().collect();
        assert_eq!(full_fields, documented, "the full body sets every documented field");
        if let Err(e) = parse(full.clone()) {
            panic!("a body with every documented field was refused: {:?}", errors_of(&e));
        }
        if let Err(e) = parse(minimal.clone()) {
            panic!("the minimal body was refused: {:?}", errors_of(&e));
        }
        let missing: BTreeSet<String> = match parse(serde_json::json!({})) {
            Ok(_) => BTreeSet::new(),
            Err(e) => errors_of(&e).iter().filter(|e| e.code == "required").map(|e| e.field.clone()).collect(),
        };
        assert_eq!(required(schema), missing, "documented vs enforced required fields");
        for name in &documented {
            let mut body = minimal.clone();
            body[name.as_str()] = Value::Null;
            let accepted = match parse(body) {
                Ok(_) => true,
                Err(e) => codes_on(errors_of(&e), name).is_empty(),
            };
            assert_eq!(accepted, is_nullable(schema, name), "nullability of {name}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// Every pattern the document states is one of [`patterns`], and each says what the
    /// service's own rule says, character by character.
    #[test]
    fn the_documented_text_patterns_are_the_rules_the_service_applies() {
        use domain::task::{NewTask, NewTaskFields};
        let all = [patterns::TEXT, patterns::TITLE, patterns::TAG, patterns::QUERY, patterns::HEADER];
        let doc = serde_json::to_value(crate::openapi::document()).expect("json");
        fn walk(value: &serde_json::Value, found: &mut Vec<String>) {
            match value {
                serde_json::Value::Object(map) => {
                    if let Some(serde_json::Value::String(p)) = map.get("pattern") {
                        found.push(p.clone());
                    }
                    map.values().for_each(|v| walk(v, found));
                }
                serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, found)),
                _ => {}
            }
        }
        let mut found = Vec::new();
        walk(&doc, &mut found);
        assert!(found.len() >= 8, "{found:?}");
        for pattern in &found {
            assert!(all.contains(&pattern.as_str()), "{pattern} is not one of the known patterns");
        }
        let compiled: std::collections::HashMap<&str, regex::Regex> =
            all.iter().map(|p| (*p, regex::Regex::new(p).expect("a pattern"))).collect();
        let matches = |pattern: &str, text: &str| compiled[pattern].is_match(text);
        let samples: Vec<String> = (0_u32..0x3100)
            .chain([0xfe00, 0xfe0f, 0xfeff, 0x1f642])
            .filter_map(char::from_u32)
            .map(String::from)
            .collect();
        for sample in &samples {
            let title_ok = NewTask::parse(NewTaskFields { title: sample.clone(), ..NewTaskFields::default() }).is_ok();
            assert_eq!(matches(patterns::TITLE, sample), title_ok, "title {sample:?}");
            let tag_ok = NewTask::parse(NewTaskFields {
                title: "t".into(),
                tags: Some(vec![sample.clone()]),
                ..NewTaskFields::default()
            })
            .is_ok();
            assert_eq!(matches(patterns::TAG, sample), tag_ok, "tag {sample:?}");
            assert_eq!(matches(patterns::TEXT, sample), !sample.contains('\0'), "text {sample:?}");
            let query = format!("q={}", url::form_urlencoded::byte_serialize(sample.as_bytes()).collect::<String>());
            assert_eq!(
                matches(patterns::QUERY, sample),
                crate::routes::tasks::list_query(&query).is_ok(),
                "q {sample:?}"
            );
        }
        assert!(matches(patterns::TITLE, "  a  ") && !matches(patterns::TITLE, " \u{3000} "));
        // The length counts after trimming, in characters, whatever surrounds the title.
        for length in [1, 2, 199, 200, 201] {
            for (before, after) in [("", ""), ("\n", ""), (" ", "\u{3000}"), ("\u{85}\t", "  ")] {
                let core = format!("é{}", "x".repeat(length - 1));
                let title = format!("{before}{core}{after}");
                let ok = NewTask::parse(NewTaskFields { title: title.clone(), ..NewTaskFields::default() }).is_ok();
                assert_eq!(ok, length <= 200, "task title of {length}");
                let conversation_ok = domain::conversation::NewConversation::parse(Some(title.clone())).is_ok();
                assert_eq!(conversation_ok, ok, "conversation title of {length}");
                assert_eq!(matches(patterns::TITLE, &title), ok, "title of {length} with {before:?} {after:?}");
            }
        }
    }

    /// utoipa's attributes take literals only, so the limits the document states are held to
    /// the domain's constants here.
    #[test]
    fn the_documented_limits_are_the_domains() {
        use domain::task::input;
        let doc = serde_json::to_value(crate::openapi::document()).expect("json");
        let schemas = &doc["components"]["schemas"];
        for body in ["CreateTaskRequest", "TaskPatchRequest"] {
            let properties = &schemas[body]["properties"];
            assert_eq!(properties["description"]["maxLength"], input::DESCRIPTION_MAX_CHARS, "{body}");
            assert_eq!(properties["tags"]["maxItems"], input::TAGS_MAX, "{body}");
        }
        assert_eq!(schemas["BatchRequest"]["properties"]["tasks"]["maxItems"], input::BATCH_MAX);
        assert_eq!(schemas["Tag"]["maxLength"], input::TAG_MAX_CHARS);
        assert!(patterns::TITLE.contains(&format!("{{0,{}}}", input::TITLE_MAX_CHARS - 2)));
        let mut lists = 0;
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for parameter in item["get"]["parameters"].as_array().into_iter().flatten() {
                let schema = &parameter["schema"];
                match parameter["name"].as_str() {
                    Some("limit") => {
                        assert_eq!(schema["maximum"], domain::page::LIMIT_MAX, "{path}");
                        assert_eq!(schema["default"], domain::page::LIMIT_DEFAULT, "{path}");
                        lists += 1;
                    }
                    Some("q") => assert_eq!(schema["maxLength"], input::SEARCH_MAX_CHARS, "{path}"),
                    Some("tag") => assert_eq!(schema["maxLength"], input::TAG_MAX_CHARS, "{path}"),
                    _ => {}
                }
            }
        }
        assert_eq!(lists, 3, "tasks, conversations and messages are paged");
    }

    #[test]
    fn a_page_is_cut_before_its_json_passes_a_mebibyte() {
        let encode = |c: &usize| format!("c{c}");
        let small = domain::Page { items: vec!["a".to_owned(), "b".to_owned()], next: Some(7) };
        let json: serde_json::Value =
            serde_json::from_slice(&page_json(&small, String::as_str, |_| 0, encode)).expect("json");
        assert_eq!(json, serde_json::json!({"items": ["a", "b"], "next_cursor": "c7"}));
        // 100 items of 100,000 control characters: 600 KB of JSON each once escaped.
        let items: Vec<(usize, String)> = (0..100).map(|i| (i, "\u{1}".repeat(100_000))).collect();
        let huge = domain::Page { items, next: None };
        let body = page_json(&huge, |(_, s)| s.as_str(), |(i, _)| *i, encode);
        assert!(body.len() <= domain::MAX_PAGE_BYTES, "{}", body.len());
        let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(json["items"].as_array().map(Vec::len), Some(1), "at least one item, however big");
        assert_eq!(json["next_cursor"], "c0", "the next page starts after the last item kept");
        let one = domain::Page { items: vec![(0, "\u{1}".repeat(300_000))], next: None };
        let body = page_json(&one, |(_, s)| s.as_str(), |(i, _)| *i, encode);
        assert!(body.len() > domain::MAX_PAGE_BYTES, "a single item is never dropped");
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&body).expect("json")["next_cursor"],
            serde_json::Value::Null
        );
    }

    /// The stack formatter writes exactly what chrono writes, at every field's edges.
    #[test]
    fn timestamps_are_formatted_as_chrono_formats_them() {
        let instants = [
            Utc.with_ymd_and_hms(2026, 11, 23, 10, 30, 15).single().expect("time")
                + chrono::Duration::microseconds(123_456),
            Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).single().expect("time"),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).single().expect("time")
                + chrono::Duration::microseconds(999_999),
            Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).single().expect("time"),
            Utc.with_ymd_and_hms(2024, 2, 29, 7, 5, 9).single().expect("time") + chrono::Duration::nanoseconds(1_999),
            // Outside the fixed layout: chrono's own text.
            Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).single().expect("time"),
            Utc.with_ymd_and_hms(-1, 6, 1, 12, 0, 0).single().expect("time"),
        ];
        let mut now = Utc::now();
        let mut samples = instants.to_vec();
        for _ in 0..1000 {
            now += chrono::Duration::microseconds(987_654_321);
            samples.push(now);
        }
        for t in samples {
            let expected = t.to_rfc3339_opts(SecondsFormat::Micros, true);
            assert_eq!(timestamp(&t), expected);
            assert_eq!(serde_json::to_value(Rfc3339::of(&t)).expect("json"), serde_json::Value::String(expected));
        }
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_micro_opt(23, 59, 59, 1_500_000))
            .expect("a leap second")
            .and_utc();
        assert_eq!(timestamp(&leap), leap.to_rfc3339_opts(SecondsFormat::Micros, true));
    }
}
