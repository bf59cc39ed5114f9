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

/// A whole number from 0, written `7` or `7.0`: JSON Schema's `integer`, which the OpenAPI
/// description promises, admits both, and some encoders write every number with a fraction.
/// A fraction, a negative number or one beyond `u64` is refused with the field named.
pub(super) fn whole_number<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u64>, D::Error> {
    use serde::Deserialize;
    use serde::de::Error;
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    // 2^64 is exactly representable; every f64 below it converts to u64 without loss.
    const BEYOND_U64: f64 = 18_446_744_073_709_551_616.0;
    let whole = number.as_u64().or_else(|| {
        number.as_f64().filter(|n| n.fract() == 0.0 && (0.0..BEYOND_U64).contains(n)).map(|n| n as u64)
    });
    whole.map(Some).ok_or_else(|| D::Error::custom(format!("expected a whole number from 0, found {number}")))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    struct Body {
        #[serde(default, deserialize_with = "super::whole_number")]
        n: Option<u64>,
    }

    fn n(json: &str) -> Result<Option<u64>, String> {
        serde_json::from_str::<Body>(json).map(|body| body.n).map_err(|err| err.to_string())
    }

    #[test]
    fn a_whole_number_may_be_written_with_a_fraction_of_zero() {
        assert_eq!(n(r#"{"n": 84}"#), Ok(Some(84)));
        assert_eq!(n(r#"{"n": 84.0}"#), Ok(Some(84)));
        assert_eq!(n(r#"{"n": 1e3}"#), Ok(Some(1000)));
        assert_eq!(n(r#"{"n": 18446744073709551615}"#), Ok(Some(u64::MAX)));
        assert_eq!(n(r#"{"n": null}"#), Ok(None));
        assert_eq!(n("{}"), Ok(None));
    }

    #[test]
    fn a_fraction_a_negative_number_or_one_beyond_u64_is_refused() {
        for bad in ["84.5", "-1", "-1.0", "1.8446744073709552e19", "1e300", "\"84\"", "true"] {
            assert!(n(&format!(r#"{{"n": {bad}}}"#)).is_err(), "{bad}");
        }
    }
}
