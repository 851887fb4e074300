//! A page of a keyset-paged list.

/// The most JSON a page of any list carries: the API cuts a page before its JSON passes this
/// (keeping at least one item and pointing `next_cursor` at the rest), and repositories stop
/// reading rows once their text alone passes it, so a page of huge rows costs one page of memory.
pub const MAX_PAGE_BYTES: usize = 1024 * 1024;

/// The items a page may ask for, at most (`limit`).
pub const LIMIT_MAX: u64 = 100;
/// The items of a page that does not say how many.
pub const LIMIT_DEFAULT: u64 = 20;

/// A `limit` as a client wrote it: an integer from 1 to [`LIMIT_MAX`].
pub fn parse_limit(raw: &str) -> Result<u64, crate::task::input::Broken> {
    match raw.parse::<u64>() {
        Ok(n @ 1..=LIMIT_MAX) => Ok(n),
        _ => Err(crate::task::input::Broken::new("range", format!("must be an integer from 1 to {LIMIT_MAX}"))),
    }
}

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

    /// Keeps the first `keep` items (at least one); when that drops some, the next page starts
    /// after the last one kept.
    pub fn cut(mut self, keep: usize, cursor_of: impl Fn(&T) -> C) -> Self {
        let keep = keep.max(1);
        if self.items.len() > keep {
            self.items.truncate(keep);
            self.next = self.items.last().map(cursor_of);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_keeps_at_least_one_item_and_points_at_the_rest() {
        let page = Page::from_overfetch(vec![1, 2, 3, 4], 3, |n| *n);
        assert_eq!((page.items.as_slice(), page.next), ([1, 2, 3].as_slice(), Some(3)));
        let cut = page.clone().cut(2, |n| *n);
        assert_eq!((cut.items.as_slice(), cut.next), ([1, 2].as_slice(), Some(2)));
        let cut = page.clone().cut(0, |n| *n);
        assert_eq!((cut.items.as_slice(), cut.next), ([1].as_slice(), Some(1)));
        let last = Page::from_overfetch(vec![1, 2], 3, |n| *n).cut(5, |n| *n);
        assert_eq!((last.items.as_slice(), last.next), ([1, 2].as_slice(), None));
    }
}
