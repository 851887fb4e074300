//! What a client may write into a task, each limit written once: the types here hold only
//! values that keep the rules, and the API reads its limits (for its schemas and its query
//! parameters) here.

use crate::validation::{NUL_MESSAGE, ValidationErrors, is_visible};
use chrono::{DateTime, SubsecRound, Utc};
use std::borrow::Cow;
use std::collections::HashSet;

/// A title's characters after trimming, at most.
pub const TITLE_MAX_CHARS: usize = 200;
/// A description's characters, at most.
pub const DESCRIPTION_MAX_CHARS: usize = 1000;
/// Tags a task may be sent with, at most (counted as sent, before duplicates merge).
pub const TAGS_MAX: usize = 10;
/// A tag's characters, at most.
pub const TAG_MAX_CHARS: usize = 32;
/// The characters of a search (`q`), at most.
pub const SEARCH_MAX_CHARS: usize = 200;
/// Tasks in one batch, at most.
pub const BATCH_MAX: usize = 1000;

/// The rules one value broke, each as the `code` and `message` of an error on its field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broken(Vec<(&'static str, Cow<'static, str>)>);

impl Broken {
    /// One broken rule.
    pub fn new(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::one(code, message)
    }

    fn one(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self(vec![(code, message.into())])
    }

    /// Reports every broken rule as an error on `field`.
    pub fn report(self, field: &str, errors: &mut ValidationErrors) {
        for (code, message) in self.0 {
            errors.add(field, code, message);
        }
    }

    /// The codes, in the order the rules are checked.
    pub fn codes(&self) -> Vec<&'static str> {
        self.0.iter().map(|(code, _)| *code).collect()
    }
}

/// A task's or a conversation's title: trimmed, 1 to [`TITLE_MAX_CHARS`] characters (not
/// bytes), no U+0000.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    pub fn parse(raw: &str) -> Result<Self, Broken> {
        let title = raw.trim();
        let mut broken = Vec::new();
        if !(1..=TITLE_MAX_CHARS).contains(&title.chars().count()) {
            broken.push(("length", format!("must have 1 to {TITLE_MAX_CHARS} characters after trimming").into()));
        }
        if title.contains('\0') {
            broken.push(("format", NUL_MESSAGE.into()));
        }
        if broken.is_empty() { Ok(Self(title.to_owned())) } else { Err(Broken(broken)) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// A task's description: at most [`DESCRIPTION_MAX_CHARS`] characters, no U+0000.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Description(String);

impl Description {
    pub fn parse(raw: String) -> Result<Self, Broken> {
        let mut broken = Vec::new();
        if raw.chars().count() > DESCRIPTION_MAX_CHARS {
            broken.push(("length", format!("must have at most {DESCRIPTION_MAX_CHARS} characters").into()));
        }
        if raw.contains('\0') {
            broken.push(("format", NUL_MESSAGE.into()));
        }
        if broken.is_empty() { Ok(Self(raw)) } else { Err(Broken(broken)) }
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// A task's tags: at most [`TAGS_MAX`] sent; each lowercased, 1 to [`TAG_MAX_CHARS`]
/// characters, with a visible one and no U+0000; duplicates (after lowercasing) kept once, in
/// the order given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tags(Vec<String>);

impl Tags {
    /// The tags, or every broken rule as errors on `tags` and `tags[i]` (the index counts the
    /// tags as kept, duplicates merged).
    pub fn parse(sent: Vec<String>) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if sent.len() > TAGS_MAX {
            errors.add("tags", "length", format!("at most {TAGS_MAX} tags"));
        }
        let mut seen = HashSet::new();
        let tags: Vec<String> = sent.into_iter().map(|t| t.to_lowercase()).filter(|t| seen.insert(t.clone())).collect();
        for (index, tag) in tags.iter().enumerate() {
            let length = tag.chars().count();
            let field = format!("tags[{index}]");
            if !(1..=TAG_MAX_CHARS).contains(&length) {
                errors.add(field, "length", format!("must have 1 to {TAG_MAX_CHARS} characters"));
            } else if tag.contains('\0') {
                errors.add(field, "format", NUL_MESSAGE);
            } else if !tag.chars().any(is_visible) {
                errors.add(field, "format", "must contain a visible character");
            }
        }
        errors.into_result(Self(tags))
    }

    pub fn into_vec(self) -> Vec<String> {
        self.0
    }
}

/// A due date: an instant within the storable years (see [`crate::clock::range`]), kept to
/// the microsecond (PostgreSQL's precision; keeping more would make a stored value and its
/// cursor disagree).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DueDate(DateTime<Utc>);

impl DueDate {
    pub fn parse(instant: DateTime<Utc>) -> Result<Self, Broken> {
        let instant = instant.trunc_subsecs(6);
        if crate::clock::range::contains(&instant) {
            Ok(Self(instant))
        } else {
            Err(Broken::one("range", format!("must be between {}", crate::clock::range::DESCRIPTION)))
        }
    }

    pub fn instant(self) -> DateTime<Utc> {
        self.0
    }
}

/// A tag to filter by: 1 to [`TAG_MAX_CHARS`] characters, matched lowercased.
pub fn tag_filter(raw: &str) -> Result<String, Broken> {
    if (1..=TAG_MAX_CHARS).contains(&raw.chars().count()) {
        Ok(raw.to_lowercase())
    } else {
        Err(Broken::one("length", format!("must have 1 to {TAG_MAX_CHARS} characters")))
    }
}

/// A search (`q`): at most [`SEARCH_MAX_CHARS`] characters, no control character but tab and
/// line breaks (the search text joins title and description with one, which a search must not
/// be able to match). Empty is no search: `None`.
pub fn search(raw: String) -> Result<Option<String>, Broken> {
    if raw.chars().count() > SEARCH_MAX_CHARS {
        return Err(Broken::one("length", format!("must have at most {SEARCH_MAX_CHARS} characters")));
    }
    if raw.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')) {
        return Err(Broken::one("format", "must not contain control characters other than tab and line breaks"));
    }
    Ok((!raw.is_empty()).then_some(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_title_counts_characters_after_trimming_and_reports_every_broken_rule() {
        assert_eq!(Title::parse("  hi \n").expect("valid").as_str(), "hi");
        assert!(Title::parse(&"ü".repeat(TITLE_MAX_CHARS)).is_ok(), "characters, not bytes");
        assert_eq!(Title::parse(&"x".repeat(TITLE_MAX_CHARS + 1)).expect_err("long").codes(), ["length"]);
        assert_eq!(Title::parse(" \t ").expect_err("blank").codes(), ["length"]);
        assert_eq!(Title::parse("a\0").expect_err("nul").codes(), ["format"]);
        let both = format!("\0{}", "x".repeat(TITLE_MAX_CHARS));
        assert_eq!(Title::parse(&both).expect_err("both").codes(), ["length", "format"]);
    }

    #[test]
    fn tags_are_counted_as_sent_and_checked_as_kept() {
        let tags = Tags::parse(vec!["Home".into(), "home".into(), "WORK".into()]).expect("valid");
        assert_eq!(tags.into_vec(), ["home", "work"]);
        let eleven: Vec<String> = (0..=TAGS_MAX).map(|_| "same".to_owned()).collect();
        let errors = Tags::parse(eleven).expect_err("eleven sent");
        assert_eq!(errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), ["tags"]);
        let errors = Tags::parse(vec!["ok".into(), "ok".into(), String::new(), " ".into(), "a\0".into()])
            .expect_err("bad items");
        let found: Vec<(&str, &str)> = errors.iter().map(|e| (e.field.as_str(), e.code.as_str())).collect();
        assert_eq!(found, [("tags[1]", "length"), ("tags[2]", "format"), ("tags[3]", "format")]);
    }

    #[test]
    fn searches_and_tag_filters_keep_their_limits() {
        assert_eq!(search(String::new()), Ok(None));
        assert_eq!(search("50%".into()), Ok(Some("50%".into())));
        assert!(search("line\nbreak\ttab".into()).is_ok());
        assert_eq!(search("a\u{1f}b".into()).expect_err("control").codes(), ["format"]);
        assert_eq!(search("q".repeat(SEARCH_MAX_CHARS + 1)).expect_err("long").codes(), ["length"]);
        assert_eq!(tag_filter("Home").as_deref(), Ok("home"));
        assert!(tag_filter("").is_err() && tag_filter(&"t".repeat(TAG_MAX_CHARS + 1)).is_err());
    }
}
