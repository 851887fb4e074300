//! Conversations and their messages: the model and rules, the repository port and the service.

mod model;
mod ports;
mod service;

pub use model::{
    Conversation, ConversationCursor, ConversationListQuery, ConversationPatch, METADATA_MAX_BYTES, Message,
    MessageCursor, MessageListQuery, MessageOrder, MessageRole, NewConversation, NewMessage,
};
pub use ports::ConversationRepository;
pub use service::ConversationService;
