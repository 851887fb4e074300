//! JSON log lines, written straight into the line's buffer.
//!
//! The shape is tracing-subscriber's JSON format with `flatten_event` and `with_current_span`
//! (`{"timestamp", "level", <event fields>, "target", "span": {<span fields>, "name"}}`), so
//! a log pipeline sees the lines it saw before. What differs is the work: tracing-subscriber
//! keeps a span's fields as a JSON text and, for every line logged inside the span, parses
//! that text into a map and serialises it again, and parses and rewrites it for every field
//! recorded later. Here a span's fields are kept as the JSON members they will be printed as
//! (`"k":v,"k2":v2`), spliced into each line as they are, and a later field is appended.
//! Events from the `log` crate are shown with their own target and without the `log.*`
//! fields that carry it. A field recorded twice on one span appears twice (JSON readers keep
//! the last).

use std::fmt::{self, Write as _};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The event format: one JSON object per line.
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonLines;

/// The field format: JSON members without the braces, so they can be spliced into a line.
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonMembers;

impl<S> FormatEvent<S, JsonMembers> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonMembers>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        writer.write_str("{\"timestamp\":\"")?;
        writer.write_str(timestamp(std::time::SystemTime::now()).as_str())?;
        writer.write_str("\",\"level\":\"")?;
        writer.write_str(meta.level().as_str())?;
        writer.write_char('"')?;
        let mut members = Members { out: &mut writer, first: false, skip_log: normalized.is_some(), result: Ok(()) };
        event.record(&mut members);
        members.result?;
        writer.write_str(",\"target\":")?;
        write_string(&mut writer, meta.target())?;
        let span = event.parent().and_then(|id| ctx.span(id)).or_else(|| ctx.lookup_current());
        if let Some(span) = span {
            writer.write_str(",\"span\":{")?;
            if let Some(fields) = span.extensions().get::<FormattedFields<JsonMembers>>()
                && !fields.is_empty()
            {
                writer.write_str(fields)?;
                writer.write_char(',')?;
            }
            writer.write_str("\"name\":")?;
            write_string(&mut writer, span.name())?;
            writer.write_char('}')?;
        } else if let Some(written) = crate::request_id::with_current(|request| write_request(&mut writer, request)) {
            written?;
        }
        writer.write_str("}\n")
    }
}

impl<'w> FormatFields<'w> for JsonMembers {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        mut writer: Writer<'w>,
        fields: R,
    ) -> fmt::Result {
        let mut members = Members { out: &mut writer, first: true, skip_log: false, result: Ok(()) };
        fields.record(&mut members);
        members.result
    }

    fn add_fields(&self, current: &'w mut FormattedFields<Self>, fields: &tracing::span::Record<'_>) -> fmt::Result {
        let first = current.is_empty();
        let mut writer = current.as_writer();
        let mut members = Members { out: &mut writer, first, skip_log: false, result: Ok(()) };
        fields.record(&mut members);
        members.result
    }
}

/// Writes each field as a JSON member, a comma before every one but a leading first.
struct Members<'a, W: fmt::Write> {
    out: &'a mut W,
    first: bool,
    /// The `log.*` fields of an event from the `log` crate, already shown as its target.
    skip_log: bool,
    result: fmt::Result,
}

impl<W: fmt::Write> Members<'_, W> {
    /// Writes `"name":` (after a comma when needed), or nothing for a skipped field.
    fn key(&mut self, field: &Field) -> bool {
        if self.result.is_err() {
            return false;
        }
        let name = field.name();
        if self.skip_log && name.starts_with("log.") {
            return false;
        }
        let name = name.strip_prefix("r#").unwrap_or(name);
        let separator = if std::mem::replace(&mut self.first, false) { "" } else { "," };
        self.result = self
            .out
            .write_str(separator)
            .and_then(|()| write_string(self.out, name))
            .and_then(|()| self.out.write_char(':'));
        self.result.is_ok()
    }

    fn number(&mut self, field: &Field, value: impl fmt::Display) {
        if self.key(field) {
            self.result = write!(self.out, "{value}");
        }
    }
}

impl<W: fmt::Write> Visit for Members<'_, W> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.key(field) {
            self.result = self
                .out
                .write_char('"')
                .and_then(|()| write!(Escaped(self.out), "{value:?}"))
                .and_then(|()| self.out.write_char('"'));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if self.key(field) {
            self.result = write_string(self.out, value);
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.key(field) {
            self.result = self.out.write_str(if value { "true" } else { "false" });
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.number(field, value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.number(field, value);
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.number(field, value);
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.number(field, value);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if value.is_finite() {
            self.number(field, value);
        } else {
            // JSON has no NaN or infinity.
            self.record_debug(field, &value);
        }
    }
}

/// The request being handled, shown as the span it used to be (`request_id::Context`).
fn write_request(out: &mut impl fmt::Write, request: &crate::request_id::Context) -> fmt::Result {
    out.write_str(",\"span\":{\"http.method\":")?;
    write_string(out, request.method.as_str())?;
    if let Some(route) = request.route.get() {
        out.write_str(",\"http.route\":")?;
        write_string(out, route)?;
    }
    out.write_str(",\"http.target\":")?;
    write_string(out, &request.path)?;
    out.write_str(",\"request_id\":")?;
    write_string(out, &request.id)?;
    out.write_str(",\"name\":\"request\"}")
}

/// A timestamp as RFC 3339 in UTC with microseconds (`2026-12-07T13:31:26.123456Z`), the form
/// tracing-subscriber writes, without its formatting machinery.
struct Timestamp([u8; 27]);

impl Timestamp {
    fn as_str(&self) -> &str {
        // Digits and ASCII punctuation only.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

fn timestamp(at: std::time::SystemTime) -> Timestamp {
    let since = at.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, of_day) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm), for years 1970–9999.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = (yoe + era * 400 + u64::from(month <= 2)).min(9999);
    let mut out = *b"0000-00-00T00:00:00.000000Z";
    let mut put = |at: usize, width: usize, mut value: u64| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, month);
    put(8, 2, day);
    put(11, 2, of_day / 3_600);
    put(14, 2, of_day / 60 % 60);
    put(17, 2, of_day % 60);
    put(20, 6, u64::from(since.subsec_micros()));
    Timestamp(out)
}

/// Which bytes a JSON string cannot hold as they are.
const ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table[0x7f] = true;
    table
};

/// `value` as a JSON string.
fn write_string(out: &mut impl fmt::Write, value: &str) -> fmt::Result {
    out.write_char('"')?;
    Escaped(out).write_str(value)?;
    out.write_char('"')
}

/// Escapes what it is given for the inside of a JSON string: quotes, backslashes and control
/// characters (a client's path or header may hold any of them).
struct Escaped<'a, W: fmt::Write>(&'a mut W);

impl<W: fmt::Write> fmt::Write for Escaped<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let bytes = s.as_bytes();
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            if !ESCAPE[usize::from(b)] {
                continue;
            }
            let escape = match b {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                _ => "",
            };
            // Up to here the bytes are ASCII or whole characters: `b` is ASCII.
            self.0.write_str(&s[start..i])?;
            if escape.is_empty() {
                write!(self.0, "\\u{b:04x}")?;
            } else {
                self.0.write_str(escape)?;
            }
            start = i + 1;
        }
        self.0.write_str(&s[start..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::MakeWriter;
    use tracing_subscriber::prelude::*;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lines").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Lines {
        type Writer = Lines;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    fn logged(f: impl FnOnce()) -> Vec<serde_json::Value> {
        let lines = Lines::default();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer().fmt_fields(JsonMembers).event_format(JsonLines).with_writer(lines.clone()),
        );
        tracing::subscriber::with_default(subscriber, f);
        let text = String::from_utf8(lines.0.lock().expect("lines").clone()).expect("utf-8");
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
    }

    #[test]
    fn lines_are_json_with_the_event_and_its_span() {
        let lines = logged(|| {
            let span = tracing::info_span!("request", http.route = "/r", request_id = %"id-1", n = 3_u64, late = tracing::field::Empty);
            span.record("late", true);
            let _entered = span.enter();
            tracing::info!(target: "api::request", status = 200_u16, ratio = 0.5, "request completed");
        });
        assert_eq!(lines.len(), 1);
        let line = &lines[0];
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["message"], "request completed");
        assert_eq!(line["status"], 200);
        assert_eq!(line["ratio"], 0.5);
        assert_eq!(line["target"], "api::request");
        assert_eq!(line["span"]["http.route"], "/r");
        assert_eq!(line["span"]["request_id"], "id-1");
        assert_eq!(line["span"]["n"], 3);
        assert_eq!(line["span"]["late"], true);
        assert_eq!(line["span"]["name"], "request");
        let timestamp = line["timestamp"].as_str().expect("timestamp");
        assert!(chrono::DateTime::parse_from_rfc3339(timestamp).is_ok(), "{timestamp}");
    }

    #[test]
    fn any_text_stays_one_valid_line() {
        let hostile = "a\"b\\c\nd\re\tf\u{0}g\u{1f}h\u{7f}i\u{2028}j é 😀";
        let lines = logged(|| {
            let span = tracing::info_span!("s", path = %hostile);
            let _entered = span.enter();
            tracing::warn!(value = ?hostile, text = hostile, nan = f64::NAN, "{hostile}");
        });
        assert_eq!(lines.len(), 1, "one line, whatever the text holds");
        let line = &lines[0];
        assert_eq!(line["message"], hostile);
        assert_eq!(line["text"], hostile);
        assert_eq!(line["value"], format!("{hostile:?}"));
        assert_eq!(line["span"]["path"], hostile);
        assert_eq!(line["nan"], "NaN");
    }

    #[test]
    fn a_line_inside_a_request_shows_the_request_as_its_span() {
        let context = crate::request_id::Context {
            id: "req-\"1\"".into(),
            method: actix_web::http::Method::GET,
            path: "/api/v1/tasks/\u{1}x".into(),
            route: std::cell::OnceCell::from(std::sync::Arc::from("/api/v1/tasks/{id}")),
        };
        let lines = logged(|| {
            crate::request_id::in_context(
                context,
                || tracing::info!(target: "api::request", status = 200_u16, "request completed"),
            )
        });
        let span = &lines[0]["span"];
        assert_eq!(span["http.method"], "GET");
        assert_eq!(span["http.route"], "/api/v1/tasks/{id}");
        assert_eq!(span["http.target"], "/api/v1/tasks/\u{1}x");
        assert_eq!(span["request_id"], "req-\"1\"");
        assert_eq!(span["name"], "request");
        assert_eq!(lines[0]["status"], 200);
    }

    #[test]
    fn timestamps_match_chrono_at_the_edges() {
        use chrono::{DateTime, SecondsFormat, Utc};
        for at in [
            "1970-01-01T00:00:00.000000Z",
            "2000-02-29T23:59:59.999999Z",
            "2000-03-01T00:00:00.000001Z",
            "2024-02-29T12:34:56.789012Z",
            "2026-12-31T23:59:59.999999Z",
            "2100-03-01T00:00:00.000000Z",
            "9999-12-31T23:59:59.999999Z",
        ] {
            let parsed: DateTime<Utc> = at.parse().expect("instant");
            let system = std::time::SystemTime::from(parsed);
            assert_eq!(timestamp(system).as_str(), at);
            assert_eq!(parsed.to_rfc3339_opts(SecondsFormat::Micros, true), at);
        }
        assert_eq!(
            timestamp(std::time::UNIX_EPOCH - std::time::Duration::from_secs(1)).as_str(),
            "1970-01-01T00:00:00.000000Z"
        );
    }

    #[test]
    fn an_event_outside_any_span_has_no_span_member() {
        let lines = logged(|| tracing::error!(r#type = "x", "plain"));
        assert_eq!(lines[0]["type"], "x");
        assert!(lines[0].get("span").is_none());
    }
}
