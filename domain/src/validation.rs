//! Per-field validation errors, the shape every 422 response lists, and the text rules every
//! string field shares.

use serde::Serialize;
use std::fmt;

/// The most errors a [`ValidationErrors`] holds; the rest are only counted, so a body with
/// thousands of problems costs no more memory than one with a hundred.
pub const MAX_LISTED_ERRORS: usize = 100;

/// One broken rule on one field, e.g. `{"field": "tasks[3].title", "code": "length", ...}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub code: String,
    pub message: String,
}

/// Every broken rule found, in a stable order: the first [`MAX_LISTED_ERRORS`] of them, and
/// how many more there were.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ValidationErrors {
    listed: Vec<FieldError>,
    #[serde(skip)]
    omitted: usize,
}

impl ValidationErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, code: impl Into<String>, message: impl Into<String>) {
        if self.listed.len() < MAX_LISTED_ERRORS {
            self.listed.push(FieldError { field: field.into(), code: code.into(), message: message.into() });
        } else {
            self.omitted += 1;
        }
    }

    /// Adds `other`'s errors with `prefix` before each field name (`tasks[3].` + `title`).
    pub fn extend_prefixed(&mut self, prefix: &str, other: ValidationErrors) {
        let room = MAX_LISTED_ERRORS.saturating_sub(self.listed.len());
        let omitted = other.listed.len().saturating_sub(room) + other.omitted;
        for e in other.listed.into_iter().take(room) {
            self.listed.push(FieldError { field: format!("{prefix}{}", e.field), ..e });
        }
        self.omitted += omitted;
    }

    pub fn is_empty(&self) -> bool {
        self.listed.is_empty() && self.omitted == 0
    }

    /// How many errors were found, listed or not.
    pub fn len(&self) -> usize {
        self.listed.len() + self.omitted
    }

    /// The errors found beyond the first [`MAX_LISTED_ERRORS`], which are not listed.
    pub fn omitted(&self) -> usize {
        self.omitted
    }

    /// The listed errors.
    pub fn iter(&self) -> impl Iterator<Item = &FieldError> {
        self.listed.iter()
    }

    /// `Ok(value)` when nothing was found, else the errors.
    pub fn into_result<T>(self, value: T) -> Result<T, ValidationErrors> {
        if self.is_empty() { Ok(value) } else { Err(self) }
    }
}

/// U+0000 in a string: PostgreSQL's `text` cannot hold it and SQLite's length checks stop at
/// it, so every string the service stores refuses it, the same way on every backend.
pub fn no_nul(value: &str) -> Result<(), validator::ValidationError> {
    if value.contains('\0') {
        return Err(validator::ValidationError::new("format").with_message(NUL_MESSAGE.into()));
    }
    Ok(())
}

/// The message of a `format` error for U+0000.
pub const NUL_MESSAGE: &str = "must not contain U+0000";

/// Where the first U+0000 in a JSON value is, in a string or in an object's key, as a path
/// below `at` (`metadata.tool.args[2]`); `None` when there is none.
pub fn find_nul(value: &serde_json::Value, at: &str) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::String(s) => s.contains('\0').then(|| at.to_owned()),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| find_nul(v, &format!("{at}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            let path = format!("{at}.{k}");
            if k.contains('\0') { Some(path) } else { find_nul(v, &path) }
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => None,
    }
}

/// Whether `c` shows as something: not white space, not a control character and not one of
/// the invisible formatting characters (zero-width spaces and joiners, the word joiner and
/// invisible operators, the byte-order mark, the soft hyphen, variation selectors).
pub fn is_visible(c: char) -> bool {
    !(c.is_whitespace()
        || c.is_control()
        || matches!(c, '\u{ad}' | '\u{34f}' | '\u{180e}' | '\u{200b}'..='\u{200f}' | '\u{2060}'..='\u{2064}' | '\u{feff}')
        || matches!(c, '\u{fe00}'..='\u{fe0f}'))
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields: Vec<&str> = self.listed.iter().map(|e| e.field.as_str()).collect();
        write!(f, "invalid {}", fields.join(", "))?;
        if self.omitted > 0 {
            write!(f, " and {} more", self.omitted)?;
        }
        Ok(())
    }
}

/// The one conversion from `validator`'s errors to the per-field list.
impl From<validator::ValidationErrors> for ValidationErrors {
    fn from(errors: validator::ValidationErrors) -> Self {
        let mut out = ValidationErrors::new();
        collect("", &errors, &mut out);
        out.listed.sort_by(|a, b| a.field.cmp(&b.field));
        out
    }
}

fn collect(prefix: &str, errors: &validator::ValidationErrors, out: &mut ValidationErrors) {
    use validator::ValidationErrorsKind;
    for (field, kind) in errors.errors() {
        let name = format!("{prefix}{field}");
        match kind {
            ValidationErrorsKind::Field(list) => {
                for error in list {
                    let message = error.message.as_ref().map_or_else(|| default_message(error), ToString::to_string);
                    out.add(name.clone(), error.code.to_string(), message);
                }
            }
            ValidationErrorsKind::Struct(inner) => collect(&format!("{name}."), inner, out),
            ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    collect(&format!("{name}[{index}]."), inner, out);
                }
            }
        }
    }
}

fn default_message(error: &validator::ValidationError) -> String {
    let param = |name: &str| error.params.get(name).map(ToString::to_string);
    match error.code.as_ref() {
        "length" => match (param("min"), param("max")) {
            (Some(min), Some(max)) => format!("must have {min} to {max} characters"),
            (None, Some(max)) => format!("must have at most {max} characters"),
            (Some(min), None) => format!("must have at least {min} characters"),
            _ => "has the wrong length".to_owned(),
        },
        code => format!("is invalid ({code})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_cap_errors_are_counted_not_kept() {
        let mut errors = ValidationErrors::new();
        for i in 0..MAX_LISTED_ERRORS + 41 {
            errors.add(format!("f{i}"), "unknown_field", "x");
        }
        assert_eq!((errors.iter().count(), errors.omitted(), errors.len()), (MAX_LISTED_ERRORS, 41, 141));
        let mut outer = ValidationErrors::new();
        outer.add("a", "type", "x");
        outer.extend_prefixed("tasks[0].", errors);
        assert_eq!((outer.iter().count(), outer.omitted()), (MAX_LISTED_ERRORS, 42));
        assert_eq!(outer.iter().nth(1).map(|e| e.field.as_str()), Some("tasks[0].f0"));
    }

    #[test]
    fn nul_is_found_in_strings_and_keys_at_any_depth() {
        let value = serde_json::json!({"a": [1, {"b": "x\u{0}"}], "c": "fine"});
        assert_eq!(find_nul(&value, "metadata").as_deref(), Some("metadata.a[1].b"));
        let key = serde_json::json!({"k\u{0}": 1});
        assert_eq!(find_nul(&key, "metadata").as_deref(), Some("metadata.k\u{0}"));
        assert_eq!(find_nul(&serde_json::json!({"a": ["b", 2, null]}), "m"), None);
        assert!(no_nul("a\0b").is_err() && no_nul("ab").is_ok());
    }

    #[test]
    fn visible_characters_exclude_space_controls_and_invisible_formatting() {
        for c in [' ', '\t', '\u{0}', '\u{1f}', '\u{a0}', '\u{200b}', '\u{feff}', '\u{2060}', '\u{3000}'] {
            assert!(!is_visible(c), "{:?}", c);
        }
        for c in ['a', '7', '#', 'é', '日', '🙂'] {
            assert!(is_visible(c), "{c}");
        }
    }
}
