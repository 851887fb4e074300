//! Placeholder; filled in by the OpenAPI suite.
