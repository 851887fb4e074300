//! The caller's identity.

use std::fmt;

/// A user id (a token's `sub`): 1–128 characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserId(String);

/// Why a string is not a user id.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a user id has 1 to 128 characters")]
pub struct InvalidUserId;

impl UserId {
    pub fn parse(value: impl Into<String>) -> Result<Self, InvalidUserId> {
        let value = value.into();
        match value.chars().count() {
            1..=128 => Ok(Self(value)),
            _ => Err(InvalidUserId),
        }
    }
}

impl TryFrom<String> for UserId {
    type Error = InvalidUserId;

    fn try_from(value: String) -> Result<Self, InvalidUserId> {
        Self::parse(value)
    }
}

impl From<UserId> for String {
    fn from(user: UserId) -> String {
        user.0
    }
}

impl AsRef<str> for UserId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_have_one_to_128_characters() {
        assert!(UserId::parse("").is_err());
        assert!(UserId::parse("a").is_ok());
        assert!(UserId::parse("é".repeat(128)).is_ok());
        assert!(UserId::parse("x".repeat(129)).is_err());
    }
}
