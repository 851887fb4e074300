//! sea-orm entities, one module per table, mirroring the schema the `migration` crate creates.
//!
//! These are table shapes only. Behaviour (validation, business rules, mapping to domain
//! types) lives in `domain` and `infrastructure`; an entity `Model` is never a request body.
//! Enumerations are stored as their wire strings, except task priority, which is stored as its
//! rank (1 = low, 2 = medium, 3 = high) so that it sorts by index.

pub mod conversation;
pub mod idempotency_key;
pub mod message;
pub mod task;

pub mod prelude {
    //! The entities under short names.
    pub use crate::conversation::Entity as Conversation;
    pub use crate::idempotency_key::Entity as IdempotencyKey;
    pub use crate::message::Entity as Message;
    pub use crate::task::Entity as Task;
}
