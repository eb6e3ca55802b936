//! Checking a tool's structured result against the output schema it
//! declared: the common part of JSON Schema that tools use for results
//! (`type`, `properties`, `required`, `items`, `enum`, `const`). Keywords
//! it does not know are not checked — it finds a server that lies about
//! the shape of its answers, it is not a validator of every schema.

use serde_json::Value;

/// Nesting deeper than this is not checked further.
const MAX_DEPTH: usize = 32;

/// `Ok` if `value` fits `schema`; else where and why not (`at` is the
/// JSON pointer of `value`).
pub(super) fn check(schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    check_at(schema, value, at, 0)
}

fn check_at(schema: &Value, value: &Value, at: &str, depth: usize) -> Result<(), String> {
    let Some(schema) = schema.as_object() else {
        return Ok(()); // `true`, or a schema this checker does not read
    };
    if depth > MAX_DEPTH {
        return Ok(());
    }
    let here = if at.is_empty() { "/" } else { at };
    if let Some(types) = schema.get("type") {
        let allowed: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !allowed.is_empty() && !allowed.iter().any(|t| is_type(value, t)) {
            return Err(format!(
                "at `{here}` it has {}, where its schema says {}",
                type_of(value),
                allowed.join(" or ")
            ));
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        return Err(format!(
            "at `{here}` it has {}, which is none of the values its schema allows",
            crate::tools::shorten(&value.to_string(), 80)
        ));
    }
    if let Some(constant) = schema.get("const")
        && constant != value
    {
        return Err(format!(
            "at `{here}` it has {value}, where its schema says {constant}"
        ));
    }
    if let Value::Object(map) = value {
        for name in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !map.contains_key(name) {
                return Err(format!(
                    "at `{here}` the required field `{name}` is missing"
                ));
            }
        }
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            for (name, inner) in properties {
                if let Some(v) = map.get(name) {
                    check_at(inner, v, &format!("{at}/{name}"), depth + 1)?;
                }
            }
        }
    }
    if let (Value::Array(items), Some(inner)) = (value, schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            check_at(inner, item, &format!("{at}/{i}"), depth + 1)?;
        }
    }
    Ok(())
}

/// Whether `value` is of the JSON Schema type `name`.
fn is_type(value: &Value, name: &str) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        "integer" => {
            value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        _ => true, // a type this checker does not know
    }
}

/// The JSON type of `value`, for messages.
fn type_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
