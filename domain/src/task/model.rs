//! The task, its enumerations and the rules for creating and changing one.

use super::input::{Description, DueDate, Tags, Title};
use crate::user::UserId;
use crate::validation::ValidationErrors;
use chrono::{DateTime, Days, Months, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `pending` | `in_progress` | `completed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Pending,
    InProgress,
    Completed,
}

impl TaskStatus {
    pub const ALL: [Self; 3] = [Self::Pending, Self::InProgress, Self::Completed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

/// `low` < `medium` < `high`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    Medium,
    High,
}

impl Priority {
    pub const ALL: [Self; 3] = [Self::Low, Self::Medium, Self::High];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == value)
    }

    /// The stored, sortable rank: 1, 2, 3.
    pub fn rank(self) -> i16 {
        match self {
            Self::Low => 1,
            Self::Medium => 2,
            Self::High => 3,
        }
    }

    pub fn from_rank(rank: i16) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.rank() == rank)
    }
}

/// How a task repeats once completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recurrence {
    Daily,
    Weekly,
    Monthly,
}

impl Recurrence {
    pub const ALL: [Self; 3] = [Self::Daily, Self::Weekly, Self::Monthly];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Daily => "daily",
            Self::Weekly => "weekly",
            Self::Monthly => "monthly",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == value)
    }

    /// The due date one period later, in UTC. A monthly step from the 29th–31st lands on the
    /// last day of a shorter month (Jan 31 → Feb 28). `None` past the end of the instants the
    /// service stores ([`crate::clock::range`]).
    pub fn advance(self, due: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let next = match self {
            Self::Daily => due.checked_add_days(Days::new(1)),
            Self::Weekly => due.checked_add_days(Days::new(7)),
            // chrono clamps the day to the end of the target month.
            Self::Monthly => due.checked_add_months(Months::new(1)),
        };
        next.filter(crate::clock::range::contains)
    }
}

/// A task as stored and returned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub id: Uuid,
    pub user_id: UserId,
    pub title: String,
    pub description: Option<String>,
    pub status: TaskStatus,
    pub priority: Priority,
    pub tags: Vec<String>,
    pub due_date: Option<DateTime<Utc>>,
    pub recurrence: Option<Recurrence>,
    pub completed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub version: i32,
    /// The task whose completion created this one (internal; not part of the API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_occurrence_id: Option<Uuid>,
}

/// The fields of a new task as the client sent them, before any rule is checked.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NewTaskFields {
    pub title: String,
    pub description: Option<String>,
    pub status: Option<TaskStatus>,
    pub priority: Option<Priority>,
    pub tags: Option<Vec<String>>,
    pub due_date: Option<DateTime<Utc>>,
    pub recurrence: Option<Recurrence>,
}

/// A new task that has passed every rule (see [`super::input`]).
#[derive(Clone, Debug, PartialEq)]
pub struct NewTask {
    title: Title,
    description: Option<Description>,
    status: TaskStatus,
    priority: Priority,
    tags: Tags,
    due_date: Option<DueDate>,
    recurrence: Option<Recurrence>,
}

impl NewTask {
    /// Normalises (title trimmed; tags lowercased, duplicates dropped) and checks every rule,
    /// reporting every broken one.
    pub fn parse(fields: NewTaskFields) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        // Reported in the order the API always listed them: description, title, tags, due date.
        let description = match fields.description.map(Description::parse) {
            Some(Err(broken)) => {
                broken.report("description", &mut errors);
                None
            }
            other => other.and_then(Result::ok),
        };
        let title = Title::parse(&fields.title).map_err(|b| b.report("title", &mut errors)).ok();
        let tags = Tags::parse(fields.tags.unwrap_or_default()).map_err(|e| errors.extend_prefixed("", e)).ok();
        let due_date = match fields.due_date.map(DueDate::parse) {
            Some(Err(broken)) => {
                broken.report("due_date", &mut errors);
                None
            }
            other => other.and_then(Result::ok),
        };
        match (title, tags) {
            (Some(title), Some(tags)) if errors.is_empty() => Ok(Self {
                title,
                description,
                status: fields.status.unwrap_or(TaskStatus::Pending),
                priority: fields.priority.unwrap_or(Priority::Medium),
                tags,
                due_date,
                recurrence: fields.recurrence,
            }),
            _ => Err(errors),
        }
    }

    /// The task this input creates. A task created already completed gets `completed_at`
    /// and, like any creation, no next occurrence.
    pub fn into_task(self, user: &UserId, id: Uuid, now: DateTime<Utc>) -> Task {
        Task {
            id,
            user_id: user.clone(),
            title: self.title.into_string(),
            description: self.description.map(Description::into_string),
            status: self.status,
            priority: self.priority,
            tags: self.tags.into_vec(),
            due_date: self.due_date.map(DueDate::instant),
            recurrence: self.recurrence,
            completed_at: (self.status == TaskStatus::Completed).then_some(now),
            created_at: now,
            updated_at: now,
            deleted_at: None,
            version: FIRST_VERSION,
            previous_occurrence_id: None,
        }
    }
}

/// The version of a task as it is created.
pub const FIRST_VERSION: i32 = 1;

/// A JSON merge patch of a task's writable fields as the client sent it, before any rule is
/// checked. `Some(None)` clears a nullable field; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TaskPatchFields {
    pub title: Option<String>,
    pub description: Option<Option<String>>,
    pub status: Option<TaskStatus>,
    pub priority: Option<Priority>,
    pub tags: Option<Vec<String>>,
    pub due_date: Option<Option<DateTime<Utc>>>,
    pub recurrence: Option<Option<Recurrence>>,
}

/// A merge patch whose fields have passed the rules of a new task's (see [`super::input`]);
/// only [`TaskPatch::parse`] makes one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TaskPatch {
    title: Option<Title>,
    description: Option<Option<Description>>,
    status: Option<TaskStatus>,
    priority: Option<Priority>,
    tags: Option<Tags>,
    due_date: Option<Option<DueDate>>,
    recurrence: Option<Option<Recurrence>>,
}

impl TaskPatch {
    /// Normalises like [`NewTask::parse`] and checks the rules of the fields present.
    pub fn parse(fields: TaskPatchFields) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let mut patch = TaskPatch {
            status: fields.status,
            priority: fields.priority,
            recurrence: fields.recurrence,
            ..Self::default()
        };
        if let Some(title) = fields.title {
            patch.title = Title::parse(&title).map_err(|b| b.report("title", &mut errors)).ok();
        }
        match fields.description {
            Some(Some(description)) => {
                patch.description =
                    Description::parse(description).map_err(|b| b.report("description", &mut errors)).ok().map(Some);
            }
            Some(None) => patch.description = Some(None),
            None => {}
        }
        if let Some(tags) = fields.tags {
            patch.tags = Tags::parse(tags).map_err(|e| errors.extend_prefixed("", e)).ok();
        }
        match fields.due_date {
            Some(Some(due)) => {
                patch.due_date = DueDate::parse(due).map_err(|b| b.report("due_date", &mut errors)).ok().map(Some);
            }
            Some(None) => patch.due_date = Some(None),
            None => {}
        }
        errors.into_result(patch)
    }

    pub fn is_empty(&self) -> bool {
        *self == TaskPatch::default()
    }
}

impl Task {
    /// The task after `patch`, or `None` when the patch changes nothing (so neither
    /// `version` nor `updated_at` move). Entering `completed` sets `completed_at`; leaving it
    /// clears it.
    pub fn apply(&self, patch: &TaskPatch, now: DateTime<Utc>) -> Option<Task> {
        let mut next = self.clone();
        if let Some(title) = &patch.title {
            title.as_str().clone_into(&mut next.title);
        }
        if let Some(description) = &patch.description {
            next.description = description.clone().map(Description::into_string);
        }
        if let Some(status) = patch.status {
            next.status = status;
        }
        if let Some(priority) = patch.priority {
            next.priority = priority;
        }
        if let Some(tags) = &patch.tags {
            next.tags = tags.clone().into_vec();
        }
        if let Some(due_date) = patch.due_date {
            next.due_date = due_date.map(DueDate::instant);
        }
        if let Some(recurrence) = patch.recurrence {
            next.recurrence = recurrence;
        }
        if next == *self {
            return None;
        }
        next.completed_at = match (self.status, next.status) {
            (TaskStatus::Completed, TaskStatus::Completed) => self.completed_at,
            (_, TaskStatus::Completed) => Some(now),
            _ => None,
        };
        next.version = self.version + 1;
        next.updated_at = now;
        Some(next)
    }

    /// True when this change completes the task (it was not completed before).
    pub fn completes(&self, before: &Task) -> bool {
        before.status != TaskStatus::Completed && self.status == TaskStatus::Completed
    }

    /// The next occurrence of a completed recurring task with a due date: same title,
    /// description, priority, tags and recurrence, pending, due one period later.
    pub fn next_occurrence(&self, id: Uuid, now: DateTime<Utc>) -> Option<Task> {
        if self.status != TaskStatus::Completed {
            return None;
        }
        let (recurrence, due) = (self.recurrence?, self.due_date?);
        Some(Task {
            id,
            user_id: self.user_id.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            status: TaskStatus::Pending,
            priority: self.priority,
            tags: self.tags.clone(),
            // Past the last storable instant the series ends; the completion still stands.
            due_date: Some(recurrence.advance(due)?),
            recurrence: Some(recurrence),
            completed_at: None,
            created_at: now,
            updated_at: now,
            deleted_at: None,
            version: 1,
            previous_occurrence_id: Some(self.id),
        })
    }

    /// What `q` searches: title and description, case-folded by Rust (all of Unicode, the
    /// same on every database), separated by a character no search can span.
    pub fn search_text(&self) -> String {
        let mut text = self.title.to_lowercase();
        if let Some(description) = &self.description {
            text.push('\u{1f}');
            text.push_str(&description.to_lowercase());
        }
        text
    }

    /// Due in the past, not completed, not deleted.
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        self.deleted_at.is_none() && self.status != TaskStatus::Completed && self.due_date.is_some_and(|d| d < now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 9, 30, 0).single().expect("valid date")
    }

    fn fields(title: &str) -> NewTaskFields {
        NewTaskFields { title: title.to_owned(), ..NewTaskFields::default() }
    }

    fn patch(fields: TaskPatchFields) -> TaskPatch {
        TaskPatch::parse(fields).expect("a valid patch")
    }

    fn task() -> Task {
        let user = UserId::parse("alice").expect("user");
        NewTask::parse(fields("Water the plants")).expect("valid").into_task(&user, Uuid::now_v7(), at(2025, 1, 1))
    }

    #[test]
    fn a_new_task_gets_the_documented_defaults() {
        let t = task();
        assert_eq!((t.status, t.priority, t.version), (TaskStatus::Pending, Priority::Medium, 1));
        assert!(t.tags.is_empty() && t.completed_at.is_none() && t.deleted_at.is_none());
        assert_eq!(t.created_at, t.updated_at);
    }

    #[test]
    fn titles_are_trimmed_and_must_keep_one_to_200_characters() {
        assert_eq!(NewTask::parse(fields("  hi  ")).expect("valid").title.as_str(), "hi");
        let errors = NewTask::parse(fields("   ")).expect_err("blank");
        assert_eq!(
            errors.iter().map(|e| (e.field.as_str(), e.code.as_str())).collect::<Vec<_>>(),
            [("title", "length")]
        );
        assert!(NewTask::parse(fields(&"ü".repeat(200))).is_ok(), "characters, not bytes");
        assert!(NewTask::parse(fields(&"x".repeat(201))).is_err());
    }

    #[test]
    fn every_broken_rule_is_reported() {
        let errors = NewTask::parse(NewTaskFields {
            title: String::new(),
            description: Some("d".repeat(1001)),
            tags: Some((0..11).map(|i| format!("t{i}")).chain([String::new()]).collect()),
            ..NewTaskFields::default()
        })
        .expect_err("invalid");
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["description", "title", "tags", "tags[11]"]);
    }

    #[test]
    fn tags_are_lowercased_deduplicated_and_keep_their_order() {
        let t = NewTask::parse(NewTaskFields {
            title: "t".into(),
            tags: Some(vec!["Home".into(), "work".into(), "HOME".into(), "Ärger".into()]),
            ..NewTaskFields::default()
        })
        .expect("valid");
        assert_eq!(t.tags.into_vec(), ["home", "work", "ärger"]);
        let ten_with_duplicates: Vec<String> = (0..9).map(|i| format!("t{i}")).chain(["T0".to_owned()]).collect();
        let t = NewTask::parse(NewTaskFields {
            title: "t".into(),
            tags: Some(ten_with_duplicates),
            ..NewTaskFields::default()
        })
        .expect("valid");
        assert_eq!(t.tags.into_vec().len(), 9);
        let too_long = NewTask::parse(NewTaskFields {
            title: "t".into(),
            tags: Some(vec!["x".repeat(33)]),
            ..NewTaskFields::default()
        });
        assert_eq!(too_long.expect_err("too long").iter().next().map(|e| e.field.clone()), Some("tags[0]".into()));
    }

    #[test]
    fn a_task_created_completed_has_completed_at_and_no_next_occurrence_yet() {
        let user = UserId::parse("u").expect("user");
        let t = NewTask::parse(NewTaskFields {
            title: "t".into(),
            status: Some(TaskStatus::Completed),
            ..NewTaskFields::default()
        })
        .expect("valid")
        .into_task(&user, Uuid::now_v7(), at(2025, 1, 1));
        assert_eq!(t.completed_at, Some(at(2025, 1, 1)));
    }

    #[test]
    fn a_patch_that_changes_nothing_changes_nothing() {
        let t = task();
        let same = patch(TaskPatchFields { title: Some(t.title.clone()), ..TaskPatchFields::default() });
        assert_eq!(t.apply(&same, at(2025, 2, 1)), None);
        assert_eq!(t.apply(&TaskPatch::default(), at(2025, 2, 1)), None);
    }

    #[test]
    fn a_change_bumps_version_and_updated_at() {
        let t = task();
        let patch = patch(TaskPatchFields { priority: Some(Priority::High), ..TaskPatchFields::default() });
        let changed = t.apply(&patch, at(2025, 2, 1)).expect("changed");
        assert_eq!((changed.version, changed.updated_at, changed.priority), (2, at(2025, 2, 1), Priority::High));
        assert_eq!(changed.created_at, t.created_at);
    }

    #[test]
    fn completed_at_follows_the_status() {
        let t = task();
        let done = t
            .apply(
                &patch(TaskPatchFields { status: Some(TaskStatus::Completed), ..TaskPatchFields::default() }),
                at(2025, 2, 1),
            )
            .expect("done");
        assert_eq!(done.completed_at, Some(at(2025, 2, 1)));
        assert!(done.completes(&t));
        let retitled = done
            .apply(&patch(TaskPatchFields { title: Some("x".into()), ..TaskPatchFields::default() }), at(2025, 3, 1))
            .expect("changed");
        assert_eq!(retitled.completed_at, Some(at(2025, 2, 1)), "staying completed keeps completed_at");
        assert!(!retitled.completes(&done));
        let reopened = done
            .apply(
                &patch(TaskPatchFields { status: Some(TaskStatus::InProgress), ..TaskPatchFields::default() }),
                at(2025, 3, 1),
            )
            .expect("reopened");
        assert_eq!(reopened.completed_at, None);
    }

    #[test]
    fn null_clears_nullable_fields() {
        let mut t = task();
        t.description = Some("d".into());
        t.due_date = Some(at(2025, 5, 1));
        t.recurrence = Some(Recurrence::Daily);
        let patch = patch(TaskPatchFields {
            description: Some(None),
            due_date: Some(None),
            recurrence: Some(None),
            ..TaskPatchFields::default()
        });
        let cleared = t.apply(&patch, at(2025, 2, 1)).expect("changed");
        assert_eq!((cleared.description, cleared.due_date, cleared.recurrence), (None, None, None));
    }

    #[test]
    fn patch_fields_are_checked_like_new_ones() {
        let errors = TaskPatch::parse(TaskPatchFields {
            title: Some("  ".into()),
            description: Some(Some("d".repeat(1001))),
            tags: Some(vec![String::new()]),
            ..TaskPatchFields::default()
        })
        .expect_err("invalid");
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["title", "description", "tags[0]"]);
    }

    #[test]
    fn recurrence_advances_by_one_period_and_clamps_month_ends() {
        assert_eq!(Recurrence::Daily.advance(at(2025, 12, 31)), Some(at(2026, 1, 1)));
        assert_eq!(Recurrence::Weekly.advance(at(2025, 2, 25)), Some(at(2025, 3, 4)));
        assert_eq!(Recurrence::Monthly.advance(at(2025, 1, 31)), Some(at(2025, 2, 28)));
        assert_eq!(Recurrence::Monthly.advance(at(2024, 1, 30)), Some(at(2024, 2, 29)));
        assert_eq!(Recurrence::Monthly.advance(at(2025, 3, 31)), Some(at(2025, 4, 30)));
        assert_eq!(Recurrence::Monthly.advance(at(2025, 12, 15)), Some(at(2026, 1, 15)));
    }

    #[test]
    fn a_series_ends_where_the_storable_instants_end() {
        assert_eq!(Recurrence::Daily.advance(at(9999, 12, 31)), None);
        assert_eq!(Recurrence::Weekly.advance(at(9999, 12, 25)), None);
        assert_eq!(Recurrence::Weekly.advance(at(9999, 12, 24)), Some(at(9999, 12, 31)));
        assert_eq!(Recurrence::Monthly.advance(at(9999, 12, 1)), None);
        let user = UserId::parse("alice").expect("user");
        let mut fields = fields("last");
        fields.due_date = Some(at(9999, 12, 31));
        fields.recurrence = Some(Recurrence::Daily);
        fields.status = Some(TaskStatus::Completed);
        let done = NewTask::parse(fields).expect("valid").into_task(&user, Uuid::now_v7(), at(2025, 1, 1));
        assert_eq!(done.next_occurrence(Uuid::now_v7(), at(2025, 1, 1)), None);
    }

    #[test]
    fn due_dates_outside_years_one_to_9999_are_refused() {
        let with_due = |due: DateTime<Utc>| NewTaskFields { due_date: Some(due), ..fields("t") };
        let late = DateTime::parse_from_rfc3339("9999-12-31T23:59:59-05:00").expect("t").with_timezone(&Utc);
        let early = DateTime::parse_from_rfc3339("0001-01-01T00:00:00+01:00").expect("t").with_timezone(&Utc);
        for due in [late, early] {
            let errors = NewTask::parse(with_due(due)).expect_err("out of range");
            assert_eq!(
                errors.iter().map(|e| (e.field.as_str(), e.code.as_str())).collect::<Vec<_>>(),
                [("due_date", "range")]
            );
            let patch = TaskPatchFields { due_date: Some(Some(due)), ..TaskPatchFields::default() };
            assert!(TaskPatch::parse(patch).is_err());
        }
        assert!(NewTask::parse(with_due(crate::clock::range::latest())).is_ok());
        assert!(NewTask::parse(with_due(crate::clock::range::earliest())).is_ok());
    }

    #[test]
    fn nul_is_refused_in_every_text_field() {
        let errors = NewTask::parse(NewTaskFields {
            title: "a\0b".into(),
            description: Some("\0".into()),
            tags: Some(vec!["x\0".into()]),
            ..NewTaskFields::default()
        })
        .expect_err("nul");
        let found: Vec<(&str, &str)> = errors.iter().map(|e| (e.field.as_str(), e.code.as_str())).collect();
        assert_eq!(found, [("description", "format"), ("title", "format"), ("tags[0]", "format")]);
        let patch = TaskPatchFields {
            title: Some("\0".into()),
            description: Some(Some("x\0".into())),
            ..TaskPatchFields::default()
        };
        let errors = TaskPatch::parse(patch).expect_err("nul");
        assert_eq!(errors.iter().map(|e| e.code.as_str()).collect::<Vec<_>>(), ["format", "format"]);
    }

    #[test]
    fn at_most_ten_tags_may_be_sent_even_when_duplicates_would_merge() {
        let tags = |n: usize| Some(vec!["same".to_owned(); n]);
        assert!(NewTask::parse(NewTaskFields { tags: tags(10), ..fields("t") }).is_ok());
        let errors = NewTask::parse(NewTaskFields { tags: tags(11), ..fields("t") }).expect_err("eleven");
        assert_eq!(
            errors.iter().map(|e| (e.field.as_str(), e.code.as_str())).collect::<Vec<_>>(),
            [("tags", "length")]
        );
        assert!(TaskPatch::parse(TaskPatchFields { tags: tags(11), ..TaskPatchFields::default() }).is_err());
    }

    #[test]
    fn a_tag_needs_a_visible_character() {
        for tag in [" ", "\u{1f}", "\t\n", "\u{200b}", "\u{feff} "] {
            let errors = NewTask::parse(NewTaskFields { tags: Some(vec![tag.into()]), ..fields("t") }).expect_err(tag);
            assert_eq!(errors.iter().map(|e| e.code.as_str()).collect::<Vec<_>>(), ["format"], "{tag:?}");
        }
        assert!(NewTask::parse(NewTaskFields { tags: Some(vec![" a ".into(), "日本".into()]), ..fields("t") }).is_ok());
    }

    #[test]
    fn only_a_completed_recurring_task_with_a_due_date_has_a_next_occurrence() {
        let mut t = task();
        t.tags = vec!["a".into()];
        t.recurrence = Some(Recurrence::Monthly);
        t.due_date = Some(at(2025, 1, 31));
        assert!(t.next_occurrence(Uuid::now_v7(), at(2025, 2, 1)).is_none(), "not completed");
        t.status = TaskStatus::Completed;
        let next = t.next_occurrence(Uuid::now_v7(), at(2025, 2, 1)).expect("next");
        assert_eq!(next.due_date, Some(at(2025, 2, 28)));
        assert_eq!((next.status, next.version, next.previous_occurrence_id), (TaskStatus::Pending, 1, Some(t.id)));
        assert_eq!(
            (&next.title, &next.tags, next.priority, next.recurrence),
            (&t.title, &t.tags, t.priority, t.recurrence)
        );
        t.due_date = None;
        assert!(t.next_occurrence(Uuid::now_v7(), at(2025, 2, 1)).is_none(), "no due date");
    }

    #[test]
    fn overdue_means_due_in_the_past_not_completed_not_deleted() {
        let mut t = task();
        t.due_date = Some(at(2025, 1, 1));
        assert!(t.is_overdue(at(2025, 1, 2)));
        assert!(!t.is_overdue(at(2024, 12, 31)));
        t.status = TaskStatus::Completed;
        assert!(!t.is_overdue(at(2025, 1, 2)));
    }

    #[test]
    fn priorities_rank_low_medium_high() {
        assert!(Priority::Low.rank() < Priority::Medium.rank() && Priority::Medium.rank() < Priority::High.rank());
        for p in Priority::ALL {
            assert_eq!(Priority::from_rank(p.rank()), Some(p));
            assert_eq!(Priority::parse(p.as_str()), Some(p));
        }
    }
}
