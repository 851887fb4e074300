//! Placeholder; filled in by its suite.
