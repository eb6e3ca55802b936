//! Tests of the parts of MCP tools that need no server: names, idempotency
//! from annotations and overrides, results and the output-schema check.
//! Real servers are tested end to end in tests/mcp.rs.

use super::*;
use rmcp::model::{CallToolResult, ContentBlock, Tool, ToolAnnotations};
use serde_json::json;
use std::sync::Arc;

fn tool(name: &str, annotations: Option<ToolAnnotations>) -> Tool {
    let schema = json!({"type": "object"}).as_object().unwrap().clone();
    let mut t = Tool::new(name.to_string(), "a tool", Arc::new(schema));
    t.annotations = annotations;
    t
}

fn config(text: &str) -> ToolConfig {
    let c = crate::config::Config::parse(
        &format!("[tools.s]\nmcp = {{ command = [\"x\"] }}\n{text}"),
        std::path::Path::new("relive.toml"),
        ".".into(),
    )
    .unwrap();
    c.tools["s"].clone()
}

#[test]
fn names_join_server_and_tool_and_keep_what_models_accept() {
    assert_eq!(exposed_name("time", "convert_time"), "time__convert_time");
    assert_eq!(exposed_name("every", "get-sum"), "every__get-sum");
    assert_eq!(exposed_name("fs", "files.read"), "fs__files_read");
    assert_eq!(server_of("fs__files__read"), Some("fs"));
}

#[test]
fn idempotency_follows_annotations_unless_overruled() {
    let none = config("");
    let read_only = ToolAnnotations::new().read_only(true);
    let idempotent = ToolAnnotations::new().read_only(false).idempotent(true);
    let destructive = ToolAnnotations::new().read_only(false).destructive(true);
    assert_eq!(
        idempotent_of(&tool("a", Some(read_only.clone())), &none),
        (true, "annotations")
    );
    assert_eq!(
        idempotent_of(&tool("a", Some(idempotent)), &none),
        (true, "annotations")
    );
    assert_eq!(
        idempotent_of(&tool("a", Some(destructive)), &none),
        (false, "annotations")
    );
    // No annotations: the spec's defaults, which are not idempotent.
    assert_eq!(
        idempotent_of(&tool("a", None), &none),
        (false, "annotations")
    );
    let table = config("idempotent = false\n");
    assert!(!idempotent_of(&tool("a", Some(read_only.clone())), &table).0);
    let over = config(
        "idempotent = false\n[tools.s.overrides.a]\nidempotent = true\napproval = \"required\"\n",
    );
    assert_eq!(idempotent_of(&tool("a", None), &over), (true, "override"));
    assert!(!idempotent_of(&tool("b", Some(read_only)), &over).0);
    assert!(approval_of("a", &over));
    assert!(!approval_of("b", &over));
}

fn text_result(texts: &[&str]) -> CallToolResult {
    CallToolResult::success(
        texts
            .iter()
            .map(|t| ContentBlock::text(t.to_string()))
            .collect(),
    )
}

#[test]
fn results_become_json_for_the_agent() {
    let t = tool("echo", None);
    assert_eq!(
        result::to_result("s", &t, text_result(&["Echo: hi"]), 1000).unwrap(),
        r#""Echo: hi""#
    );
    assert_eq!(
        result::to_result("s", &t, text_result(&["a", "b"]), 1000).unwrap(),
        r#""a\nb""#
    );
    let structured = CallToolResult::structured(json!({"sum": 5}));
    assert_eq!(
        result::to_result("s", &t, structured, 1000).unwrap(),
        r#"{"sum":5}"#
    );
    let err = result::to_result(
        "s",
        &t,
        CallToolResult::error(vec![ContentBlock::text("boom")]),
        1000,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "failed: tool `echo` of MCP server `s` failed: boom"
    );
    let err = result::to_result("s", &t, text_result(&[&"x".repeat(50)]), 20)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("52 bytes, over the limit of 20 bytes") && err.contains("max_call_bytes"),
        "{err}"
    );
}

#[test]
fn a_result_against_the_tools_own_schema_is_refused() {
    let mut t = tool("weather", None);
    let schema = json!({"type": "object", "required": ["temperature"],
        "properties": {"temperature": {"type": "number"}, "tags": {"type": "array", "items": {"type": "string"}}}});
    t.output_schema = Some(Arc::new(schema.as_object().unwrap().clone()));
    let ok = CallToolResult::structured(json!({"temperature": 21.5, "tags": ["a"]}));
    assert!(result::to_result("s", &t, ok, 1000).is_ok());
    for (bad, why) in [
        (
            json!({"temperature": "warm"}),
            "at `/temperature` it has a string, where its schema says number",
        ),
        (
            json!({"tags": []}),
            "the required field `temperature` is missing",
        ),
        (
            json!({"temperature": 1, "tags": [3]}),
            "at `/tags/0` it has a number",
        ),
    ] {
        let err = result::to_result("s", &t, CallToolResult::structured(bad), 1000)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(why) && err.contains("its own output schema"),
            "{err}"
        );
    }
    let err = result::to_result("s", &t, text_result(&["21.5"]), 1000)
        .unwrap_err()
        .to_string();
    assert!(err.contains("it gave no structuredContent"), "{err}");
}
