//! A page of a keyset-paged list.

/// The items of one page and where the next starts (`None`: this was the last page).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T, C> {
    pub items: Vec<T>,
    pub next: Option<C>,
}

impl<T, C> Page<T, C> {
    /// Cuts `rows` (fetched with one extra row) to `limit` and derives the next position from
    /// the last row kept when there are more.
    pub fn from_overfetch(mut rows: Vec<T>, limit: u64, cursor_of: impl Fn(&T) -> C) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let next = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(cursor_of)
        } else {
            None
        };
        Self { items: rows, next }
    }
}
