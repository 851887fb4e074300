//! The domain: types, validation rules, business rules (status transitions, recurrence) and
//! the repository traits (ports) its services need.
//!
//! It knows nothing of HTTP or SQL: `api` turns requests into these types, `infrastructure`
//! implements the ports with sea-orm. Its types are valid by construction; parse, don't
//! validate.
