//! Reading a request body into its DTO, every problem listed.
//!
//! Each body is one struct deriving `Deserialize` and `ToSchema`: the schema the document
//! shows is the struct the service reads. Its fields are [`Field`]s, which never fail to
//! deserialize: a value of the wrong JSON type is kept as [`Field::Mistyped`] and reported
//! with the others, so one 422 lists every problem of a body. Keys the struct does not declare
//! are taken out before it is read and reported as `read_only` (a field the server owns) or
//! `unknown_field`; the struct keeps `deny_unknown_fields`, which the document shows as
//! `additionalProperties: false`. The DTO then becomes the domain's input by `TryFrom`, which
//! reports what the domain's rules refuse.

use domain::ValidationErrors;
use serde::de::{DeserializeOwned, Deserializer, Error as _, Visitor};
use serde::{Deserialize, forward_to_deserialize_any};
use serde_json::Value;

/// One field of a request body as the client sent it. Absent needs `#[serde(default)]` on
/// the field.
#[derive(Debug, Default, PartialEq)]
pub enum Field<T> {
    #[default]
    Absent,
    Null,
    Value(T),
    /// Present, but not of the JSON type the field takes.
    Mistyped,
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(deserializer)? {
            Value::Null => Self::Null,
            value => serde_json::from_value(value).map_or(Self::Mistyped, Self::Value),
        })
    }
}

impl<T> Field<T> {
    /// A field that must be present and not null; `expected` names its type for the error
    /// ("a string").
    pub fn required(self, name: &str, expected: &str, errors: &mut ValidationErrors) -> Option<T> {
        match self {
            Self::Value(value) => Some(value),
            Self::Absent => {
                errors.add(name, "required", "is required");
                None
            }
            Self::Null => {
                errors.add(name, "type", format!("must be {expected}, not null"));
                None
            }
            Self::Mistyped => {
                errors.add(name, "type", format!("must be {expected}"));
                None
            }
        }
    }

    /// A field that may be absent but not null.
    pub fn optional(self, name: &str, expected: &str, errors: &mut ValidationErrors) -> Option<T> {
        match self {
            Self::Absent => None,
            other => other.required(name, expected, errors),
        }
    }

    /// A field that may be absent (`None`), null (`Some(None)`) or a value.
    pub fn nullable(self, name: &str, expected: &str, errors: &mut ValidationErrors) -> Option<Option<T>> {
        match self {
            Self::Absent => None,
            Self::Null => Some(None),
            Self::Value(value) => Some(Some(value)),
            Self::Mistyped => {
                errors.add(name, "type", format!("must be {expected} or null"));
                None
            }
        }
    }
}

/// A string field parsed with `parse`, the allowed values listed when it fails.
pub fn one_of<T>(
    name: &str,
    value: Option<String>,
    parse: fn(&str) -> Option<T>,
    allowed: &[&str],
    errors: &mut ValidationErrors,
) -> Option<T> {
    let value = value?;
    let parsed = parse(&value);
    if parsed.is_none() {
        errors.add(name, "one_of", format!("must be one of {}", allowed.join(", ")));
    }
    parsed
}

/// An RFC 3339 timestamp with any offset, as an instant.
pub fn timestamp(
    name: &str,
    value: Option<String>,
    errors: &mut ValidationErrors,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let instant = instant(&value?);
    if instant.is_none() {
        errors.add(name, "format", "must be an RFC 3339 timestamp, e.g. 2025-01-31T09:00:00Z");
    }
    instant
}

/// An RFC 3339 timestamp with any offset, as an instant; `None` when it is not one.
pub fn instant(value: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(value).ok().map(|t| t.with_timezone(&chrono::Utc))
}

/// Reads `body` as `T` and makes it the domain's input `D`: every problem of the body, as
/// `T`'s conversion reports them, then every key `T` does not declare (`read_only` when it is
/// one of `server_owned`, else `unknown_field`).
pub fn parse<T, D>(body: Value, server_owned: &[&str]) -> Result<D, ValidationErrors>
where
    T: DeserializeOwned,
    D: TryFrom<T, Error = ValidationErrors>,
{
    let Value::Object(mut fields) = body else {
        let mut errors = ValidationErrors::new();
        errors.add("$", "type", "the body must be a JSON object");
        return Err(errors);
    };
    let declared = declared_fields::<T>();
    let mut undeclared = ValidationErrors::new();
    fields.retain(|name, _| {
        if declared.contains(&name.as_str()) {
            return true;
        }
        if server_owned.contains(&name.as_str()) {
            undeclared.add(name.clone(), "read_only", "is set by the server and cannot be written");
        } else {
            undeclared.add(name.clone(), "unknown_field", "is not a field of this resource");
        }
        false
    });
    // Every declared field is a `Field`, which takes any JSON value: this cannot fail.
    let read = serde_json::from_value::<T>(Value::Object(fields)).map_err(|e| {
        let mut errors = ValidationErrors::new();
        errors.add("$", "type", format!("the body could not be read: {e}"));
        errors
    })?;
    match D::try_from(read) {
        Ok(input) => undeclared.into_result(input),
        Err(mut errors) => {
            errors.extend_prefixed("", undeclared);
            Err(errors)
        }
    }
}

/// The names of the fields a struct deriving `Deserialize` declares (serde passes them to
/// `deserialize_struct`).
pub fn declared_fields<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut names: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldNames(&mut names));
    names
}

/// A deserializer that only records the field names of the struct asked of it.
struct FieldNames<'a>(&'a mut &'static [&'static str]);

impl<'de> Deserializer<'de> for FieldNames<'_> {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(Self::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(Self::Error::custom("field names only"))
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        #[serde(default)]
        title: Field<String>,
        #[serde(default)]
        description: Field<String>,
        #[serde(default)]
        status: Field<String>,
    }

    #[derive(Debug)]
    struct Checked;

    impl TryFrom<Sample> for Checked {
        type Error = ValidationErrors;

        fn try_from(sample: Sample) -> Result<Self, ValidationErrors> {
            let mut errors = ValidationErrors::new();
            sample.title.required("title", "a string", &mut errors);
            sample.description.nullable("description", "a string", &mut errors);
            sample.status.required("status", "a string", &mut errors);
            errors.into_result(Checked)
        }
    }

    #[test]
    fn a_field_tells_absent_null_values_and_wrong_types_apart() {
        let sample: Sample =
            serde_json::from_value(json!({"title": "t", "description": null, "status": 5})).expect("any value is read");
        assert_eq!(sample.title, Field::Value("t".to_owned()));
        assert_eq!(sample.description, Field::Null);
        assert_eq!(sample.status, Field::Mistyped);
        let empty: Sample = serde_json::from_value(json!({})).expect("empty");
        assert_eq!(empty.title, Field::Absent);
        assert_eq!(declared_fields::<Sample>(), ["title", "description", "status"]);
    }

    #[test]
    fn every_problem_with_a_body_is_reported() {
        let errors =
            parse::<Sample, Checked>(json!({"title": 5, "id": "x", "titel": "typo", "description": null}), &["id"])
                .expect_err("invalid");
        let found: Vec<(String, String)> = errors.iter().map(|e| (e.field.clone(), e.code.clone())).collect();
        assert_eq!(
            found,
            [
                ("title".into(), "type".into()),
                ("status".into(), "required".into()),
                ("id".into(), "read_only".into()),
                ("titel".into(), "unknown_field".into()),
            ]
        );
        let errors = parse::<Sample, Checked>(json!({"title": "t", "status": "s", "x": 1}), &[]).expect_err("unknown");
        assert_eq!(errors.iter().map(|e| e.code.as_str()).collect::<Vec<_>>(), ["unknown_field"]);
        let errors = parse::<Sample, Checked>(json!([1]), &[]).expect_err("not an object");
        assert_eq!(errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), ["$"]);
        assert!(parse::<Sample, Checked>(json!({"title": "t", "status": "s"}), &[]).is_ok());
    }
}
