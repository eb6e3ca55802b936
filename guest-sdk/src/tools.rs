//! Call the tools the operator granted to this agent.
//!
//! A tool takes a JSON document of arguments and returns a JSON document. The
//! host runs it (a command, an HTTP fetch, ...) and journals the result, so a
//! replayed run gets the recorded result without running the tool again.
//!
//! ```no_run
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize)]
//! struct Query<'a> {
//!     query: &'a str,
//! }
//!
//! #[derive(Deserialize)]
//! struct Notes {
//!     notes: Vec<String>,
//! }
//!
//! let found: Notes = relive_sdk::tools::call("search", &Query { query: "wasm" })
//!     .map_err(|e| e.describe())?;
//! # Ok::<(), String>(())
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use crate::bindings::relive::agent::tools::ToolError;
pub use crate::bindings::relive::agent::types::ToolSpec;

/// Calls the tool `name` with `arguments` serialized as JSON and decodes its
/// JSON result as `R`.
///
/// Errors: the host's [`ToolError`]; [`ToolError::InvalidArguments`] when
/// `arguments` cannot be serialized; [`ToolError::Failed`] when the result
/// does not decode as `R` (the message names the tool and the serde error).
/// Decode into `serde_json::Value` to accept any result.
pub fn call<A, R>(name: &str, arguments: &A) -> Result<R, ToolError>
where
    A: Serialize + ?Sized,
    R: DeserializeOwned,
{
    let arguments = encode_arguments(name, arguments)?;
    let result = call_json(name, &arguments)?;
    decode_result(name, &result)
}

/// Calls the tool `name` with a JSON document of arguments and returns its
/// JSON result as text.
pub fn call_json(name: &str, arguments: &str) -> Result<String, ToolError> {
    crate::bindings::relive::agent::tools::call(name, arguments)
}

/// Calls several tools at once: `(name, arguments)` pairs, each arguments a
/// JSON document. The host runs them concurrently and journals them in the
/// order given, so a replay is the same whatever order they finished in.
/// One result per call, in order.
pub fn call_batch(calls: &[(String, String)]) -> Vec<Result<String, ToolError>> {
    crate::bindings::relive::agent::tools::call_batch(calls)
}

/// The tools granted to this agent, as they can be offered to the model.
pub fn list() -> Vec<ToolSpec> {
    crate::bindings::relive::agent::tools::list()
}

impl ToolError {
    /// The message the host attached to the error.
    pub fn message(&self) -> &str {
        match self {
            ToolError::NotFound(m) | ToolError::InvalidArguments(m) | ToolError::Failed(m) => m,
        }
    }

    /// A one-line description for people (and models), e.g.
    /// `failed: exit status 1: no such index`.
    ///
    /// (The generated `Display` prints the debug form.)
    pub fn describe(&self) -> String {
        let kind = match self {
            ToolError::NotFound(_) => "not found",
            ToolError::InvalidArguments(_) => "invalid arguments",
            ToolError::Failed(_) => "failed",
        };
        format!("{kind}: {}", self.message())
    }
}

fn encode_arguments<A: Serialize + ?Sized>(name: &str, arguments: &A) -> Result<String, ToolError> {
    serde_json::to_string(arguments).map_err(|e| {
        ToolError::InvalidArguments(format!(
            "cannot encode the arguments of tool `{name}` as JSON: {e}"
        ))
    })
}

fn decode_result<R: DeserializeOwned>(name: &str, result: &str) -> Result<R, ToolError> {
    serde_json::from_str(result).map_err(|e| {
        ToolError::Failed(format!(
            "tool `{name}` returned a result this agent cannot decode as {}: {e}",
            std::any::type_name::<R>()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Deserialize, Debug, PartialEq)]
    struct Notes {
        notes: Vec<String>,
    }

    #[test]
    fn arguments_encode_as_json() {
        let args = BTreeMap::from([("query", "wasm")]);
        assert_eq!(
            encode_arguments("search", &args).unwrap(),
            r#"{"query":"wasm"}"#
        );
    }

    #[test]
    fn unencodable_arguments_are_invalid_arguments() {
        // JSON object keys must be strings.
        let args = BTreeMap::from([((1, 2), "x")]);
        let err = encode_arguments("search", &args).unwrap_err();
        assert!(matches!(err, ToolError::InvalidArguments(_)), "{err:?}");
        assert!(err.message().contains("`search`"), "{err:?}");
    }

    #[test]
    fn results_decode_into_the_requested_type() {
        let notes: Notes = decode_result("search", r#"{"notes":["a","b"]}"#).unwrap();
        assert_eq!(notes.notes, ["a", "b"]);
    }

    #[test]
    fn undecodable_results_are_failures_naming_the_tool() {
        let err = decode_result::<Notes>("search", r#"{"hits":[]}"#).unwrap_err();
        let ToolError::Failed(message) = &err else {
            panic!("expected Failed, got {err:?}");
        };
        assert!(message.contains("tool `search`"), "{message}");
        assert!(message.contains("missing field `notes`"), "{message}");
    }

    #[test]
    fn errors_describe_themselves() {
        let e = ToolError::NotFound("search".into());
        assert_eq!(e.describe(), "not found: search");
    }
}
