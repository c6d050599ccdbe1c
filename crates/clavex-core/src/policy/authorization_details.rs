//! Rich Authorization Requests (RFC 9396): the shape of `authorization_details`, checked at PAR
//! against the organization's types.

use serde_json::Value;

/// RFC 9396: at most this many `authorization_details` objects in one request.
pub const MAX_AUTHORIZATION_DETAILS: usize = 10;

/// RFC 9396 §2: `authorization_details` is a JSON array of objects, each with a `type` the
/// organization supports, and the common members (§2.2) of the right JSON types. Returns the
/// parsed array, or what is wrong.
pub fn check_authorization_details(text: &str, supported: &[String]) -> Result<Value, String> {
    let value: Value = serde_json::from_str(text)
        .map_err(|_| "authorization_details must be a JSON array".to_owned())?;
    let Some(items) = value.as_array() else {
        return Err("authorization_details must be a JSON array".to_owned());
    };
    if items.is_empty() {
        return Err("authorization_details must not be empty".to_owned());
    }
    if items.len() > MAX_AUTHORIZATION_DETAILS {
        return Err(format!(
            "authorization_details holds more than {MAX_AUTHORIZATION_DETAILS} objects"
        ));
    }
    for (index, item) in items.iter().enumerate() {
        let Some(object) = item.as_object() else {
            return Err(format!(
                "authorization_details[{index}] must be a JSON object"
            ));
        };
        let kind = match object.get("type") {
            Some(Value::String(kind)) => kind,
            Some(_) => {
                return Err(format!(
                    "authorization_details[{index}].type must be a string"
                ));
            }
            None => return Err(format!("authorization_details[{index}] has no type")),
        };
        if !supported.iter().any(|s| s == kind) {
            return Err(format!(
                "authorization_details type {kind:?} is not supported here (supported: {})",
                supported.join(", ")
            ));
        }
        for member in ["locations", "actions", "datatypes", "privileges"] {
            if let Some(v) = object.get(member) {
                let strings = v.as_array().is_some_and(|a| a.iter().all(Value::is_string));
                if !strings {
                    return Err(format!(
                        "authorization_details[{index}].{member} must be an array of strings"
                    ));
                }
            }
        }
        if object.get("identifier").is_some_and(|v| !v.is_string()) {
            return Err(format!(
                "authorization_details[{index}].identifier must be a string"
            ));
        }
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn types() -> Vec<String> {
        vec!["payment_initiation".to_owned()]
    }

    #[test]
    fn well_formed_details_accepted() {
        let text = r#"[{"type":"payment_initiation","actions":["initiate"],"identifier":"x","instructedAmount":{"currency":"EUR","amount":"1.00"}}]"#;
        let value = check_authorization_details(text, &types()).unwrap();
        assert_eq!(value[0]["type"], "payment_initiation");
    }

    #[test]
    fn malformed_details_refused() {
        let many = format!(
            "[{}]",
            [r#"{"type":"payment_initiation"}"#; MAX_AUTHORIZATION_DETAILS + 1].join(",")
        );
        for bad in [
            "{}",
            "[]",
            "not json",
            "[1]",
            r#"[{"actions":["x"]}]"#,
            r#"[{"type":7}]"#,
            r#"[{"type":"account_information"}]"#,
            r#"[{"type":"payment_initiation","actions":"initiate"}]"#,
            r#"[{"type":"payment_initiation","locations":[1]}]"#,
            r#"[{"type":"payment_initiation","identifier":1}]"#,
            many.as_str(),
        ] {
            assert!(check_authorization_details(bad, &types()).is_err(), "{bad}");
        }
    }
}
