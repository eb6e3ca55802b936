use super::*;
use std::str::FromStr;
use std::sync::Mutex;

fn config(allow_hosts: &[&str], allow_private: bool) -> ToolConfig {
    ToolConfig {
        builtin: Some(crate::tools::Builtin::HttpGet),
        allow_hosts: Some(allow_hosts.iter().map(|h| h.to_string()).collect()),
        allow_private: Some(allow_private),
        ..ToolConfig::default()
    }
}

fn tool(allow_hosts: &[&str], allow_private: bool) -> HttpGetTool {
    HttpGetTool::new("fetch", &config(allow_hosts, allow_private))
}

fn get(url: &str) -> String {
    json!({ "url": url }).to_string()
}

#[test]
fn internal_addresses_are_refused_and_public_ones_are_not() {
    let refused = [
        ("127.0.0.1", "loopback"),
        ("127.1.2.3", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("100.64.0.1", "shared"),
        ("100.100.100.200", "shared"),
        ("224.0.0.1", "multicast"),
        ("255.255.255.255", "broadcast"),
        ("240.0.0.1", "reserved"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fc00::1", "unique local"),
        ("fd12:3456::1", "unique local"),
        ("fe80::1", "link-local"),
        ("fec0::1", "site-local"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback address in IPv4-mapped form"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::ffff:10.0.0.1", "private"),
        ("::127.0.0.1", "IPv4-compatible"),
        ("64:ff9b::7f00:1", "loopback address in NAT64 form"),
        ("64:ff9b:1::1", "local-use NAT64"),
        ("2002:a9fe:a9fe::1", "link-local address in 6to4 form"),
        ("100::1", "discard-only"),
    ];
    for (ip, kind) in refused {
        let why = refused_address(ip.parse().unwrap());
        assert!(
            why.as_deref().is_some_and(|w| w.contains(kind)),
            "{ip}: {why:?}"
        );
    }
    for ip in [
        "93.184.216.34",
        "8.8.8.8",
        "172.32.0.1",
        "100.128.0.1",
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::1",
    ] {
        assert_eq!(refused_address(ip.parse().unwrap()), None, "{ip}");
    }
}

/// Each IPv6 form that embeds or translates an IPv4 address, with the
/// internal address it stands for; and the same forms around a public
/// address, where the form itself is not refused.
#[test]
fn translated_and_embedded_forms_of_internal_addresses_are_refused() {
    let refused = [
        // SIIT, IPv4-translated (::ffff:0:0/96, RFC 2765).
        (
            "::ffff:0:7f00:1",
            "loopback address in IPv4-translated (SIIT) form (127.0.0.1)",
        ),
        (
            "::ffff:0:a00:1",
            "private address in IPv4-translated (SIIT) form (10.0.0.1)",
        ),
        (
            "::ffff:0:a9fe:a9fe",
            "link-local address in IPv4-translated (SIIT) form",
        ),
        // IPv4-mapped (::ffff:0:0/96 with the other word).
        ("::ffff:192.168.0.1", "private address in IPv4-mapped form"),
        // IPv4-compatible (::/96, deprecated): refused whatever it embeds.
        ("::10.0.0.1", "IPv4-compatible"),
        ("::8.8.8.8", "IPv4-compatible"),
        // NAT64, well-known prefix (64:ff9b::/96, RFC 6052).
        ("64:ff9b::a00:1", "private address in NAT64 form (10.0.0.1)"),
        (
            "64:ff9b::a9fe:a9fe",
            "link-local address in NAT64 form (169.254.169.254)",
        ),
        (
            "64:ff9b::c0a8:1",
            "private address in NAT64 form (192.168.0.1)",
        ),
        // NAT64, local-use prefix (64:ff9b:1::/48, RFC 8215): refused whole.
        ("64:ff9b:1::a00:1", "local-use NAT64"),
        ("64:ff9b:1:7f00:1::", "local-use NAT64"),
        // 6to4 (2002::/16, RFC 3056).
        (
            "2002:7f00:1::1",
            "loopback address in 6to4 form (127.0.0.1)",
        ),
        ("2002:a00:1::", "private address in 6to4 form (10.0.0.1)"),
        (
            "2002:c0a8:101:1::1",
            "private address in 6to4 form (192.168.1.1)",
        ),
        // Teredo (2001::/32, RFC 4380): server, then client (bits inverted).
        (
            "2001:0:7f00:1::",
            "loopback address in Teredo form (127.0.0.1)",
        ),
        (
            "2001:0:4136:e378:8000:63bf:f5ff:fffe",
            "private address in Teredo form (10.0.0.1)",
        ),
        ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", "a Teredo address"),
        // ISATAP (interface ID 0:5efe or 200:5efe, RFC 5214), any prefix.
        (
            "2001:db9::5efe:a00:1",
            "private address in ISATAP form (10.0.0.1)",
        ),
        (
            "2600::200:5efe:7f00:1",
            "loopback address in ISATAP form (127.0.0.1)",
        ),
        // Ranges that are not reachable on the internet.
        ("2001:db8::1", "documentation"),
        ("3fff::1", "documentation"),
        ("2001:2::1", "benchmarking"),
        ("2001:10::1", "ORCHID"),
        ("5f00::1", "SRv6"),
        ("192.0.2.1", "documentation"),
        ("198.51.100.7", "documentation"),
        ("203.0.113.9", "documentation"),
        ("192.88.99.1", "6to4 relay"),
    ];
    for (ip, kind) in refused {
        let why = refused_address(ip.parse().unwrap());
        assert!(
            why.as_deref().is_some_and(|w| w.contains(kind)),
            "{ip}: {why:?}"
        );
    }
    for ip in [
        "::ffff:0:808:808",
        "64:ff9b::808:808",
        "2002:808:808::1",
        "2600::5efe:808:808",
        "2001:4860:4860::8888",
        "2001:20::1",
        "192.0.3.1",
        "203.0.114.1",
    ] {
        assert_eq!(refused_address(ip.parse().unwrap()), None, "{ip}");
    }
}

#[test]
fn host_patterns_parse_and_match() {
    let host = |url: &str| UrlHost::of(&reqwest::Url::parse(url).unwrap()).unwrap();
    let exact = HostPattern::parse("Example.COM.").unwrap();
    assert!(exact.matches(&host("https://example.com/x")));
    assert!(exact.matches(&host("https://EXAMPLE.com.:8443/x")));
    assert!(!exact.matches(&host("https://www.example.com/")));
    assert!(!exact.matches(&host("https://example.com.evil.org/")));
    let below = HostPattern::parse("*.example.org").unwrap();
    assert!(below.matches(&host("http://a.example.org/")));
    assert!(below.matches(&host("http://a.b.example.org/")));
    assert!(!below.matches(&host("http://example.org/")));
    assert!(!below.matches(&host("http://badexample.org/")));
    let ip = HostPattern::parse("127.0.0.1").unwrap();
    // Every spelling of the address is the address.
    assert!(ip.matches(&host("http://127.0.0.1:8080/")));
    assert!(ip.matches(&host("http://2130706433/")));
    assert!(ip.matches(&host("http://0x7f.1/")));
    assert!(!ip.matches(&host("http://localhost/")));
    let v6 = HostPattern::parse("[::1]").unwrap();
    assert!(v6.matches(&host("http://[::1]:80/")));
    assert_eq!(HostPattern::parse("::1").unwrap(), v6);
    for bad in [
        "",
        "*",
        "*.",
        "http://example.com",
        "example.com:80",
        "a/b",
        "a..b",
        "*.*.x",
    ] {
        assert!(HostPattern::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn urls_are_checked_before_any_lookup() {
    let t = tool(&["example.com", "127.0.0.1"], false);
    let refused = |url: &str, needle: &str| {
        let err = t.check_url(url).unwrap_err().to_string();
        assert!(err.contains(needle), "{url}: {err}");
        assert!(err.contains("tool `fetch`"), "{err}");
    };
    refused("ftp://example.com/", "only http:// and https://");
    refused("file:///etc/passwd", "only http:// and https://");
    refused("https://user:pw@example.com/", "credentials");
    refused("not a url", "not a valid URL");
    refused(
        "https://evil.example/",
        "host `evil.example` is not in `allow_hosts` under [tools.fetch]; to allow it, add \"evil.example\"",
    );
    refused(
        &format!("https://example.com/{}", "a".repeat(MAX_URL_BYTES)),
        "over the limit of 8192",
    );
    let empty = tool(&[], true);
    let err = empty
        .check_url("https://example.com/")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the list is empty, so no host is allowed"),
        "{err}"
    );
    assert!(t.check_url("https://example.com/a#frag").is_ok());
}

#[test]
fn the_pinned_resolver_answers_only_the_checked_host() {
    use reqwest::dns::{Name, Resolve};
    let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let pinned = Pinned {
        host: "example.com".into(),
        addr,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let addrs: Vec<_> = pinned
            .resolve(Name::from_str("EXAMPLE.com").unwrap())
            .await
            .unwrap()
            .collect();
        assert_eq!(addrs, vec![addr]);
        assert!(
            pinned
                .resolve(Name::from_str("other.example").unwrap())
                .await
                .is_err()
        );
    });
}

/// A server on 127.0.0.1 that records the paths it was asked for.
async fn server() -> (String, Arc<Mutex<Vec<String>>>) {
    use axum::response::IntoResponse;
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let log = log.clone();
        async move {
            log.lock().unwrap().push(uri.path().to_string());
            match uri.path() {
                "/big" => "é".repeat(2000).into_response(),
                "/bin" => vec![0u8, 159, 146, 150].into_response(),
                "/redirect" => (
                    axum::http::StatusCode::FOUND,
                    [("location", "/secret"), ("set-cookie", "a=b")],
                )
                    .into_response(),
                "/slow" => {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late".into_response()
                }
                _ => (
                    [("content-type", "text/plain"), ("x-private", "no")],
                    "hello",
                )
                    .into_response(),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("127.0.0.1:{}", addr.port()), seen)
}

fn ctx() -> ToolContext {
    ToolContext {
        run_id: "r1".into(),
        seq: 1,
        idempotency_key: "relive-r1-1".into(),
        max_result_bytes: crate::config::limits::DEFAULT_MAX_CALL_BYTES as usize,
        used_before: false,
    }
}

#[tokio::test]
async fn loopback_is_refused_even_when_allow_listed_and_up() {
    let (addr, seen) = server().await;
    let t = tool(
        &[
            "127.0.0.1",
            "localhost",
            "::ffff:127.0.0.1",
            "::ffff:0:7f00:1",
        ],
        false,
    );
    let port = addr.rsplit(':').next().unwrap();
    for (url, needle) in [
        (format!("http://{addr}/"), "127.0.0.1 is a loopback address"),
        (
            format!("http://localhost:{port}/"),
            "`localhost` resolves to",
        ),
        (
            format!("http://2130706433:{port}/"),
            "127.0.0.1 is a loopback address",
        ),
        (
            format!("http://[::ffff:127.0.0.1]:{port}/"),
            "IPv4-mapped form",
        ),
        (
            format!("http://[::ffff:0:7f00:1]:{port}/"),
            "IPv4-translated (SIIT) form",
        ),
    ] {
        let err = t.call(&ctx(), &get(&url)).await.unwrap_err().to_string();
        assert!(err.contains(needle), "{url}: {err}");
        assert!(
            err.contains("`allow_private = true` under [tools.fetch]"),
            "{err}"
        );
    }
    assert!(
        seen.lock().unwrap().is_empty(),
        "no request reached the server"
    );
}

#[tokio::test]
async fn allowed_private_host_is_fetched_with_a_header_subset() {
    let (addr, seen) = server().await;
    let t = tool(&["127.0.0.1"], true);
    let out = t
        .call(&ctx(), &get(&format!("http://{addr}/hello")))
        .await
        .unwrap();
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["status"], 200);
    assert_eq!(v["body"], "hello");
    assert_eq!(v["truncated"], false);
    assert_eq!(v["headers"]["content-type"], "text/plain");
    assert!(v["headers"].get("x-private").is_none(), "{v}");
    assert_eq!(*seen.lock().unwrap(), vec!["/hello".to_string()]);
}

#[tokio::test]
async fn redirects_are_returned_not_followed() {
    let (addr, seen) = server().await;
    let t = tool(&["127.0.0.1"], true);
    let out = t
        .call(&ctx(), &get(&format!("http://{addr}/redirect")))
        .await
        .unwrap();
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["status"], 302);
    assert_eq!(v["headers"]["location"], "/secret");
    assert!(v["headers"].get("set-cookie").is_none());
    assert_eq!(*seen.lock().unwrap(), vec!["/redirect".to_string()]);
}

#[tokio::test]
async fn long_bodies_are_cut_on_a_character_boundary_and_bytes_come_as_base64() {
    let (addr, _) = server().await;
    let mut c = config(&["127.0.0.1"], true);
    c.max_bytes = Some(1001);
    let t = HttpGetTool::new("fetch", &c);
    let out = t
        .call(&ctx(), &get(&format!("http://{addr}/big")))
        .await
        .unwrap();
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["truncated"], true);
    // 1001 bytes end in the middle of a two-byte `é`: 500 whole ones remain.
    assert_eq!(v["body"].as_str().unwrap(), "é".repeat(500));
    let out = t
        .call(&ctx(), &get(&format!("http://{addr}/bin")))
        .await
        .unwrap();
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["body_base64"], "AJ+Slg==");
    assert!(v.get("body").is_none());
    assert_eq!(v["truncated"], false);
}

#[tokio::test]
async fn slow_servers_time_out_naming_the_key() {
    let (addr, _) = server().await;
    let mut c = config(&["127.0.0.1"], true);
    c.timeout_secs = Some(1);
    let t = HttpGetTool::new("fetch", &c);
    let err = t
        .call(&ctx(), &get(&format!("http://{addr}/slow")))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("within 1 s"), "{err}");
    assert!(err.contains("`timeout_secs` under [tools.fetch]"), "{err}");
}

#[tokio::test]
async fn bad_arguments_are_explained() {
    let t = tool(&["127.0.0.1"], true);
    for args in [
        "{}",
        r#"{"url": 1}"#,
        r#"{"url": "http://x/", "method": "POST"}"#,
    ] {
        let err = t.call(&ctx(), args).await.unwrap_err();
        assert!(matches!(err, ToolError::InvalidArguments(_)), "{err}");
        assert!(err.to_string().contains("{\"url\""), "{err}");
    }
}

#[test]
fn spec_lists_the_allowed_hosts_and_the_tool_is_idempotent() {
    let t = tool(&["example.com", "*.example.org"], false);
    assert!(t.spec().description.contains("example.com, *.example.org"));
    assert!(t.idempotent());
    assert!(
        tool(&[], false)
            .spec()
            .description
            .contains("Allowed hosts: none")
    );
}
