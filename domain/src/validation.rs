//! Per-field validation errors, the shape every 422 response lists.

use serde::Serialize;
use std::fmt;

/// One broken rule on one field, e.g. `{"field": "tasks[3].title", "code": "length", ...}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub code: String,
    pub message: String,
}

/// Every broken rule found, in a stable order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ValidationErrors(Vec<FieldError>);

impl ValidationErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, code: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError { field: field.into(), code: code.into(), message: message.into() });
    }

    /// Adds `other`'s errors with `prefix` before each field name (`tasks[3].` + `title`).
    pub fn extend_prefixed(&mut self, prefix: &str, other: ValidationErrors) {
        self.0.extend(other.0.into_iter().map(|e| FieldError { field: format!("{prefix}{}", e.field), ..e }));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &FieldError> {
        self.0.iter()
    }

    /// `Ok(value)` when nothing was found, else the errors.
    pub fn into_result<T>(self, value: T) -> Result<T, ValidationErrors> {
        if self.0.is_empty() { Ok(value) } else { Err(self) }
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields: Vec<&str> = self.0.iter().map(|e| e.field.as_str()).collect();
        write!(f, "invalid {}", fields.join(", "))
    }
}

/// The one conversion from `validator`'s errors to the per-field list.
impl From<validator::ValidationErrors> for ValidationErrors {
    fn from(errors: validator::ValidationErrors) -> Self {
        let mut out = ValidationErrors::new();
        collect("", &errors, &mut out);
        out.0.sort_by(|a, b| a.field.cmp(&b.field));
        out
    }
}

fn collect(prefix: &str, errors: &validator::ValidationErrors, out: &mut ValidationErrors) {
    use validator::ValidationErrorsKind;
    for (field, kind) in errors.errors() {
        let name = format!("{prefix}{field}");
        match kind {
            ValidationErrorsKind::Field(list) => {
                for error in list {
                    let message = error.message.as_ref().map_or_else(|| default_message(error), ToString::to_string);
                    out.add(name.clone(), error.code.to_string(), message);
                }
            }
            ValidationErrorsKind::Struct(inner) => collect(&format!("{name}."), inner, out),
            ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    collect(&format!("{name}[{index}]."), inner, out);
                }
            }
        }
    }
}

fn default_message(error: &validator::ValidationError) -> String {
    let param = |name: &str| error.params.get(name).map(ToString::to_string);
    match error.code.as_ref() {
        "length" => match (param("min"), param("max")) {
            (Some(min), Some(max)) => format!("must have {min} to {max} characters"),
            (None, Some(max)) => format!("must have at most {max} characters"),
            (Some(min), None) => format!("must have at least {min} characters"),
            _ => "has the wrong length".to_owned(),
        },
        code => format!("is invalid ({code})"),
    }
}
