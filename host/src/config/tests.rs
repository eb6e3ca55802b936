//! Tests of `relive.toml` parsing and validation.

use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("relive.toml"), PathBuf::from("."))
}

#[test]
fn unknown_key_is_named() {
    let err = parse("[tools.t]\ncommand=[\"x\"]\nidempotnet=true\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("idempotnet"), "{err}");
}

#[test]
fn missing_idempotent_flag_is_an_error() {
    let err = parse("[tools.t]\ncommand=[\"x\"]\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("idempotent"), "{err}");
}

#[test]
fn agent_granting_an_undefined_tool_names_the_key() {
    let err = parse("[agents.a]\ntools=[\"nope\"]\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("agents.a.tools"), "{err}");
    assert!(err.contains("[tools.nope]"), "{err}");
}

#[test]
fn bad_base_url_names_the_key() {
    let err = parse("[models.m]\nprovider=\"openai\"\nbase_url=\"localhost:1\"\nmodel=\"x\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("models.m.base_url"), "{err}");
}

#[test]
fn unknown_provider_is_an_error() {
    let err = parse("[models.m]\nprovider=\"magic\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("magic"), "{err}");
}

/// The error of a file with one model table holding `keys`.
fn model_error(keys: &str) -> String {
    parse(&format!("[models.m]\n{keys}\n"))
        .unwrap_err()
        .to_string()
}

#[test]
fn network_models_parse_with_every_key() {
    let c = parse(
        "[models.o]\nprovider=\"openai\"\nbase_url=\"http://h/v1\"\nmodel=\"x\"\nstream=false\nmax_attempts=2\nretry_base_ms=10\nretry_max_ms=20\ntimeout_secs=5\nmax_tokens=9\nprice_input=1\nprice_output=2.5\n\
         [models.a]\nprovider=\"anthropic\"\nmodel=\"claude\"\napi_key_env=\"K\"\n",
    )
    .unwrap();
    let ModelConfig::Openai(o) = &c.models["o"] else {
        panic!("{:?}", c.models["o"])
    };
    assert_eq!(
        (o.stream, o.max_attempts, o.retry_base_ms, o.retry_max_ms),
        (Some(false), Some(2), Some(10), Some(20))
    );
    assert_eq!((o.timeout_secs, o.max_tokens), (Some(5), Some(9)));
    assert_eq!((o.price_input, o.price_output), (Some(1.0), Some(2.5)));
    let ModelConfig::Anthropic(a) = &c.models["a"] else {
        panic!("{:?}", c.models["a"])
    };
    assert_eq!(
        (a.base_url.as_deref(), a.api_key_env.as_deref()),
        (None, Some("K"))
    );
    assert_eq!(c.models["a"].provider(), "anthropic");
}

#[test]
fn bad_model_keys_are_named_with_the_fix() {
    let openai = "provider=\"openai\"\nbase_url=\"http://h/v1\"\nmodel=\"x\"";
    let cases = [
        (format!("{openai}\nretries=3"), "retries"),
        (format!("{openai}\nmax_attempts=0"), "models.m.max_attempts"),
        (format!("{openai}\ntimeout_secs=0"), "models.m.timeout_secs"),
        (format!("{openai}\nmax_tokens=0"), "models.m.max_tokens"),
        (format!("{openai}\nretry_base_ms=50\nretry_max_ms=10"), "models.m.retry_max_ms"),
        (format!("{openai}\nretry_base_ms=60000"), "models.m.retry_base_ms"),
        (format!("{openai}\napi_key_env=\"\""), "models.m.api_key_env"),
        ("provider=\"openai\"\nmodel=\"x\"".to_string(), "models.m.base_url"),
        ("provider=\"anthropic\"\nmodel=\"x\"".to_string(), "ANTHROPIC_API_KEY"),
        ("provider=\"anthropic\"\nmodel=\" \"\napi_key_env=\"K\"".to_string(), "models.m.model"),
        ("provider=\"anthropic\"\nmodel=\"x\"\napi_key_env=\"K\"\nbase_url=\"api.anthropic.com\"".to_string(), "models.m.base_url"),
        ("provider=\"scripted\"\nscript=\"relive.toml\"\nbase_url=\"http://h\"".to_string(), "base_url"),
    ];
    for (keys, part) in cases {
        let err = model_error(&keys);
        assert!(err.contains(part), "{keys:?}: {err}");
    }
}

#[test]
fn builtin_tools_parse_with_their_keys() {
    let c = parse(
        "[tools.fetch]\nbuiltin=\"http_get\"\nallow_hosts=[\"example.com\",\"*.example.org\",\"127.0.0.1\"]\nallow_private=true\nmax_bytes=10\ntimeout_secs=5\ndescription=\"Fetch\"\n\
         [tools.files]\nbuiltin=\"files\"\nroot=\"ws\"\nmax_bytes=20\nmax_workspace_bytes=30\n\
         [agents.a]\ntools=[\"fetch\",\"files\"]\n",
    )
    .unwrap();
    let fetch = &c.tools["fetch"];
    assert_eq!(fetch.builtin, Some(crate::tools::Builtin::HttpGet));
    assert_eq!(fetch.allow_hosts.as_ref().map(Vec::len), Some(3));
    assert_eq!(
        (fetch.allow_private, fetch.max_bytes),
        (Some(true), Some(10))
    );
    let files = &c.tools["files"];
    assert_eq!(files.builtin, Some(crate::tools::Builtin::Files));
    assert_eq!(files.root.as_deref(), Some(Path::new("ws")));
    assert_eq!(files.max_workspace_bytes, Some(30));
    assert!(files.idempotent.is_none() && files.command.is_none());
}

#[test]
fn bad_tool_keys_are_named_with_the_fix() {
    let cases = [
        (
            "command=[\"x\"]\nbuiltin=\"files\"",
            "tools.t.builtin",
            "remove one of them",
        ),
        (
            "description=\"x\"",
            "tools.t.command",
            "builtin = \"http_get\"",
        ),
        (
            "command=[]\nidempotent=true",
            "tools.t.command",
            "must name a program",
        ),
        (
            "command=[\"x\"]\nidempotent=true\nschema=1",
            "tools.t.schema",
            "table",
        ),
        (
            "command=[\"x\"]\nidempotent=true\nallow_private=true",
            "tools.t.allow_private",
            "only to built-in tools",
        ),
        (
            "command=[\"x\"]\nidempotent=true\nmax_bytes=5",
            "tools.t.max_bytes",
            "only to built-in tools",
        ),
        (
            "command=[\"x\"]\nidempotent=true\ntimeout_secs=0",
            "tools.t.timeout_secs",
            "at least 1",
        ),
        ("builtin=\"ftp\"", "ftp", "http_get"),
        (
            "builtin=\"http_get\"\nidempotent=true",
            "tools.t.idempotent",
            "implied",
        ),
        (
            "builtin=\"files\"\nidempotent=false",
            "tools.t.idempotent",
            "implied",
        ),
        (
            "builtin=\"files\"\nschema={type=\"object\"}",
            "tools.t.schema",
            "its own arguments",
        ),
        (
            "builtin=\"files\"\nallow_hosts=[\"a.b\"]",
            "tools.t.allow_hosts",
            "only to builtin = \"http_get\"",
        ),
        (
            "builtin=\"http_get\"\nroot=\"ws\"",
            "tools.t.root",
            "only to builtin = \"files\"",
        ),
        (
            "builtin=\"http_get\"\nmax_workspace_bytes=1",
            "tools.t.max_workspace_bytes",
            "\"files\"",
        ),
        (
            "builtin=\"http_get\"\nallow_hosts=[\"https://a.b/\"]",
            "tools.t.allow_hosts",
            "without scheme",
        ),
        (
            "builtin=\"http_get\"\nmax_bytes=0",
            "tools.t.max_bytes",
            "at least 1",
        ),
        (
            "builtin=\"files\"\nroot=\"\"",
            "tools.t.root",
            "must name a directory",
        ),
        (
            "builtin=\"files\"\nmax_workspace_bytes=0",
            "tools.t.max_workspace_bytes",
            "at least 1",
        ),
        (
            "builtin=\"files\"\nallow_privat=true",
            "allow_privat",
            "unknown field",
        ),
    ];
    for (keys, key, part) in cases {
        let err = parse(&format!("[tools.t]\n{keys}\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(key) && err.contains(part), "{keys:?}: {err}");
    }
}

#[test]
fn valid_file_parses() {
    let c = parse(
        "[journal]\nfsync=\"every-entry\"\n[tools.t]\ncommand=[\"cat\"]\nidempotent=true\nschema={type=\"object\"}\n[agents.a]\ntools=[\"t\"]\n",
    )
    .unwrap();
    assert_eq!(c.journal.fsync, FsyncPolicy::EveryEntry);
    assert_eq!(c.agent("a").tools, vec!["t".to_string()]);
    assert!(c.agent("other").tools.is_empty());
}

#[test]
fn a_journal_is_a_file_or_a_postgres_url_never_both() {
    let ok = parse("[journal]\nurl = \"postgres://relive@db/relive\"\n").unwrap();
    assert_eq!(
        ok.journal.url.as_deref(),
        Some("postgres://relive@db/relive")
    );
    let both = parse("[journal]\npath = \"j.db\"\nurl = \"postgres://db/x\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        both.contains("journal.url") && both.contains("not both"),
        "{both}"
    );
    let wrong = parse("[journal]\nurl = \"mysql://db/x\"\n")
        .unwrap_err()
        .to_string();
    assert!(wrong.contains("postgres://"), "{wrong}");
}

/// The error of a file whose one tool table `[tools.NAME]` holds `keys`.
fn tool_error(name: &str, keys: &str) -> String {
    parse(&format!("[tools.{name}]\n{keys}\n"))
        .unwrap_err()
        .to_string()
}

#[test]
fn mcp_servers_parse_with_every_key() {
    let c = parse(
        "[tools.time]\nmcp = { command = [\"mcp-server-time\"], env = { TZ_KEY = \"MY_TZ_KEY\" }, connect_timeout_secs = 5 }\nallow = [\"get_current_time\"]\nidempotent = true\napproval = \"required\"\ntimeout_secs = 9\n\n[tools.time.overrides.get_current_time]\nidempotent = false\napproval = \"none\"\n\n[tools.web]\nmcp = { url = \"https://example.com/mcp\", headers_env = { X-Api-Key = \"WEB_KEY\" }, bearer_env = \"WEB_TOKEN\" }\n",
    )
    .unwrap();
    let time = &c.tools["time"];
    let mcp = time.mcp.as_ref().unwrap();
    assert_eq!(mcp.env["TZ_KEY"], "MY_TZ_KEY");
    assert_eq!(
        time.allow.as_deref(),
        Some(&["get_current_time".to_string()][..])
    );
    assert_eq!(time.overrides["get_current_time"].idempotent, Some(false));
    let web = c.tools["web"].mcp.as_ref().unwrap();
    assert_eq!(web.bearer_env.as_deref(), Some("WEB_TOKEN"));
}

#[test]
fn bad_mcp_keys_are_named_with_the_fix() {
    let cases = [
        ("t", "mcp = {}", "tools.t.mcp", "needs `command`"),
        (
            "t",
            "mcp = { command = [\"x\"], url = \"http://h/mcp\" }",
            "tools.t.mcp",
            "remove one of them",
        ),
        (
            "t",
            "mcp = { url = \"ftp://h/mcp\" }",
            "tools.t.mcp",
            "http:// or https://",
        ),
        (
            "t",
            "mcp = { command = [\"x\"], headers_env = { A = \"B\" } }",
            "tools.t.mcp",
            "give a stdio server its keys with `env`",
        ),
        (
            "t",
            "mcp = { url = \"http://h/mcp\", env = { A = \"B\" } }",
            "tools.t.mcp",
            "`headers_env` or `bearer_env`",
        ),
        (
            "t",
            "mcp = { command = [\"x\"], env = { KEY = \"sk-live-123\" } }",
            "tools.t.mcp",
            "never the keys themselves",
        ),
        (
            "t",
            "mcp = { command = [\"x\"] }\ncommand = [\"y\"]",
            "tools.t.command",
            "cannot be used together with `mcp`",
        ),
        (
            "t",
            "mcp = { command = [\"x\"] }\nschema = { type = \"object\" }",
            "tools.t.schema",
            "given by the MCP server",
        ),
        (
            "t",
            "mcp = { command = [\"x\"] }\nallow_hosts = [\"a.com\"]",
            "tools.t.allow_hosts",
            "only to built-in tools",
        ),
        (
            "t",
            "mcp = { command = [\"x\"], tokens = 1 }",
            "tokens",
            "unknown field",
        ),
        (
            "a__b",
            "mcp = { command = [\"x\"] }",
            "tools.a__b.mcp",
            "no `__`",
        ),
        (
            "t",
            "command = [\"x\"]\nidempotent = true\nallow = [\"a\"]",
            "tools.t.allow",
            "only to MCP servers",
        ),
    ];
    for (name, keys, key, fix) in cases {
        let err = tool_error(name, keys);
        assert!(err.contains(key) && err.contains(fix), "{keys}: {err}");
    }
}
