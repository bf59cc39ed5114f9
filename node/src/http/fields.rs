//! Gathering every bad field of a request body before refusing it.

use chat_shared::error::FieldErrors;

use crate::error::ApiError;

/// A required field: records "is required" when absent.
pub(super) fn required<'a>(
    fields: &mut FieldErrors,
    name: &str,
    value: &'a Option<String>,
) -> Option<&'a str> {
    if value.is_none() {
        fields.add(name, "is required");
    }
    value.as_deref()
}

/// Turns gathered field errors into the error to return, if there were any.
pub(super) fn reject_invalid(fields: FieldErrors) -> Result<(), ApiError> {
    if fields.is_empty() {
        Ok(())
    } else {
        Err(ApiError::InvalidInput { message: "the request is invalid".into(), fields })
    }
}
