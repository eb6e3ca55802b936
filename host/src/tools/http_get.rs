//! The built-in `http_get` tool: GET over http or https, to allow-listed
//! hosts only, with the address checked after DNS resolution.
//!
//! The rules, in the order they are applied (each refusal names the rule and
//! the key under `[tools.NAME]` that changes it):
//!
//! 1. the URL is `http://` or `https://`, without credentials, at most
//!    [`MAX_URL_BYTES`] long;
//! 2. its host matches `allow_hosts` (deny by default: an empty list allows
//!    nothing). `example.com` matches that host only, `*.example.org` any
//!    name below `example.org` (but not `example.org` itself), an IP address
//!    that address only; any port;
//! 3. relive resolves the name itself and refuses it if any of its addresses
//!    is loopback, private, link-local (169.254.169.254, where cloud metadata
//!    lives), unspecified, multicast, shared, reserved, for documentation or
//!    benchmarks, or one of those in an IPv6 form that embeds or translates
//!    IPv4 (mapped, SIIT `::ffff:0:0/96`, NAT64 `64:ff9b::/96`, 6to4,
//!    ISATAP), or in a form refused whatever it embeds (IPv4-compatible
//!    `::/96`, local-use NAT64 `64:ff9b:1::/48`, Teredo `2001::/32`) — see
//!    [`refused_address`] — unless `allow_private = true`. A NAT64 prefix a
//!    network chose for itself cannot be recognised: such networks should
//!    keep `allow_hosts` to names they trust;
//! 4. the connection goes to the address that was checked: the client's
//!    resolver answers only that host, with only that address, so a DNS
//!    answer that changes between check and connect (rebinding) cannot
//!    redirect it. Proxies from the environment are ignored, and redirects
//!    are not followed: a 3xx comes back to the agent with its `location`
//!    header, and fetching that is a new, checked call.
//!
//! The result is `{"status": 200, "headers": {...}, "body": "...",
//! "truncated": false}`: a few headers ([`KEPT_HEADERS`]); the body as text
//! when it is UTF-8, else as `body_base64`; at most `max_bytes` of it (a
//! longer body is cut and `truncated` is true). Bodies are not decompressed.
//! The whole call, DNS included, must finish within `timeout_secs`.
//!
//! GET is idempotent, so a call interrupted by a crash is simply made again
//! on resume.

use super::{Tool, ToolContext, ToolError};
use crate::config::ToolConfig;
use crate::llm::{BoxFuture, ToolSpec};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

/// Largest body kept when `max_bytes` is absent.
pub const DEFAULT_HTTP_MAX_BYTES: u64 = 1 << 20;
/// Time a call may take, DNS included, when `timeout_secs` is absent.
pub const DEFAULT_HTTP_TIMEOUT_SECS: u64 = 30;
/// Longest URL the tool accepts.
pub const MAX_URL_BYTES: usize = 8192;
/// Response headers passed on to the agent; the others are dropped.
pub const KEPT_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "content-language",
    "location",
    "last-modified",
    "etag",
    "retry-after",
];

/// One entry of `allow_hosts`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostPattern {
    /// `example.com`: that name only.
    Exact(String),
    /// `*.example.org`: any name ending in `.example.org`.
    Below(String),
    /// `127.0.0.1`, `::1` or `[::1]`: that address only.
    Ip(IpAddr),
}

impl HostPattern {
    /// Parses one entry of `allow_hosts`; the error says what is wrong.
    pub fn parse(text: &str) -> Result<HostPattern, String> {
        let trimmed = text.trim();
        let bare = trimmed.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(HostPattern::Ip(ip));
        }
        let lower = trimmed.to_ascii_lowercase();
        let lower = lower.strip_suffix('.').unwrap_or(&lower);
        let (below, name) = match lower.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, lower),
        };
        let valid_label = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if name.is_empty() || name.len() > 253 || !name.split('.').all(valid_label) {
            return Err(format!(
                "`{text}` is not a host name; write a name such as \"example.com\", a wildcard such as \"*.example.org\", or an IP address, without scheme, port or path"
            ));
        }
        Ok(if below {
            HostPattern::Below(format!(".{name}"))
        } else {
            HostPattern::Exact(name.to_string())
        })
    }

    fn matches(&self, host: &UrlHost) -> bool {
        match (self, host) {
            (HostPattern::Exact(name), UrlHost::Domain(d)) => d == name,
            (HostPattern::Below(suffix), UrlHost::Domain(d)) => {
                d.len() > suffix.len() && d.ends_with(suffix.as_str())
            }
            (HostPattern::Ip(ip), UrlHost::Ip(addr)) => ip == addr,
            _ => false,
        }
    }
}

/// The host of a URL: a name (lowercase, without a trailing dot) or an
/// address. The URL parser has already turned every spelling of an IPv4
/// address (`2130706433`, `0x7f.1`) into dotted form.
#[derive(Clone, Debug, PartialEq, Eq)]
enum UrlHost {
    Domain(String),
    Ip(IpAddr),
}

impl UrlHost {
    fn of(url: &reqwest::Url) -> Option<UrlHost> {
        let host = url.host_str().filter(|h| !h.is_empty())?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        Some(match bare.parse::<IpAddr>() {
            Ok(ip) => UrlHost::Ip(ip),
            Err(_) => UrlHost::Domain(host.trim_end_matches('.').to_ascii_lowercase()),
        })
    }
}

impl std::fmt::Display for UrlHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UrlHost::Domain(d) => f.write_str(d),
            UrlHost::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// Why `ip` may not be reached without `allow_private = true` ("a loopback
/// address", …), or `None` for a public address.
pub fn refused_address(ip: IpAddr) -> Option<String> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4).map(str::to_string),
        IpAddr::V6(v6) => refused_v6(v6),
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    let kind = if ip.is_loopback() {
        "a loopback address"
    } else if ip.is_private() {
        "a private address"
    } else if ip.is_link_local() {
        "a link-local address"
    } else if a == 0 {
        "an unspecified address"
    } else if a == 100 && (b & 0xc0) == 64 {
        "a shared (carrier-grade NAT) address"
    } else if ip.is_multicast() {
        "a multicast address"
    } else if a >= 240 {
        "a reserved or broadcast address"
    } else if a == 192 && b == 0 && c == 0 {
        "a reserved (IETF protocol) address"
    } else if a == 198 && (b & 0xfe) == 18 {
        "a benchmarking address"
    } else if [(192, 0, 2), (198, 51, 100), (203, 0, 113)].contains(&(a, b, c)) {
        "a documentation address"
    } else if (a, b, c) == (192, 88, 99) {
        "a 6to4 relay address (deprecated)"
    } else {
        return None;
    };
    Some(kind)
}

fn refused_v6(ip: Ipv6Addr) -> Option<String> {
    let s = ip.segments();
    let embedded = |v4: Ipv4Addr, form: &str| {
        refused_v4(v4).map(|kind| format!("{kind} in {form} form ({v4})"))
    };
    let v4_at = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    let kind = if ip.is_loopback() {
        "a loopback address"
    } else if ip.is_unspecified() {
        "an unspecified address"
    } else if let Some(v4) = ip.to_ipv4_mapped() {
        return embedded(v4, "IPv4-mapped");
    } else if s[..6] == [0, 0, 0, 0, 0xffff, 0] {
        // ::ffff:0:0/96 (RFC 2765), which a SIIT translator turns into IPv4.
        return embedded(v4_at(s[6], s[7]), "IPv4-translated (SIIT)");
    } else if s[..6] == [0; 6] {
        "an IPv4-compatible address (deprecated)"
    } else if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return embedded(v4_at(s[6], s[7]), "NAT64");
    } else if s[..3] == [0x64, 0xff9b, 1] {
        // RFC 8215: the IPv4 address may sit at several places; all refused.
        "a local-use NAT64 address"
    } else if s[0] == 0x2002 {
        return embedded(v4_at(s[1], s[2]), "6to4");
    } else if s[..2] == [0x2001, 0] {
        // RFC 4380: the server's IPv4 address, then the client's, inverted.
        // A tunnel into IPv4 that no web server needs: refused whatever it
        // embeds, naming an internal address when there is one.
        let (server, client) = (v4_at(s[2], s[3]), v4_at(!s[6], !s[7]));
        return Some(
            embedded(server, "Teredo")
                .or_else(|| embedded(client, "Teredo"))
                .unwrap_or_else(|| "a Teredo address (a tunnel into IPv4)".to_string()),
        );
    } else if s[..3] == [0x2001, 2, 0] {
        "a benchmarking address"
    } else if s[0] == 0x2001 && (s[1] & 0xfff0) == 0x10 {
        "an ORCHID address (deprecated)"
    } else if s[..2] == [0x2001, 0xdb8] || (s[0] == 0x3fff && s[1] < 0x1000) {
        "a documentation address"
    } else if s[0] == 0x5f00 {
        "an SRv6 segment identifier (not routed on the internet)"
    } else if (s[0] & 0xfe00) == 0xfc00 {
        "a unique local (private) address"
    } else if (s[0] & 0xffc0) == 0xfe80 {
        "a link-local address"
    } else if (s[0] & 0xffc0) == 0xfec0 {
        "a site-local (private) address"
    } else if (s[0] & 0xff00) == 0xff00 {
        "a multicast address"
    } else if s[..4] == [0x100, 0, 0, 0] {
        "a discard-only address"
    } else if (s[4] & 0xfdff) == 0 && s[5] == 0x5efe {
        // RFC 5214: an ISATAP interface ID, under any prefix, ends in the
        // IPv4 address the site's router tunnels to.
        return embedded(v4_at(s[6], s[7]), "ISATAP");
    } else {
        return None;
    };
    Some(kind.to_string())
}

/// The `http_get` tool of one `[tools.NAME]` table.
pub struct HttpGetTool {
    name: String,
    description: String,
    allow_hosts: Vec<HostPattern>,
    allow_private: bool,
    max_bytes: u64,
    timeout: Duration,
}

/// The arguments of a call.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    url: String,
}

/// A DNS resolver that knows one name: the host whose address was checked.
struct Pinned {
    host: String,
    addr: SocketAddr,
}

impl reqwest::dns::Resolve for Pinned {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let answer: Result<reqwest::dns::Addrs, Box<dyn std::error::Error + Send + Sync>> = if name
            .as_str()
            .trim_end_matches('.')
            .eq_ignore_ascii_case(self.host.trim_end_matches('.'))
        {
            Ok(Box::new(std::iter::once(self.addr)))
        } else {
            Err(format!("`{}` was not checked by http_get", name.as_str()).into())
        };
        Box::pin(std::future::ready(answer))
    }
}

impl HttpGetTool {
    /// The tool of a validated `[tools.NAME]` table with `builtin = "http_get"`.
    pub fn new(name: &str, config: &ToolConfig) -> HttpGetTool {
        let allow_hosts: Vec<HostPattern> = config
            .allow_hosts
            .iter()
            .flatten()
            .filter_map(|h| HostPattern::parse(h).ok())
            .collect();
        let description = if config.description.is_empty() {
            let hosts = config.allow_hosts.clone().unwrap_or_default();
            format!(
                "Fetch a URL with HTTP GET and return {{status, headers, body}} (body_base64 for binary; truncated is true when the body was cut at {} bytes). Allowed hosts: {}. Redirects are not followed.",
                config.max_bytes.unwrap_or(DEFAULT_HTTP_MAX_BYTES),
                if hosts.is_empty() {
                    "none".to_string()
                } else {
                    hosts.join(", ")
                }
            )
        } else {
            config.description.clone()
        };
        HttpGetTool {
            name: name.to_string(),
            description,
            allow_hosts,
            allow_private: config.allow_private.unwrap_or(false),
            max_bytes: config.max_bytes.unwrap_or(DEFAULT_HTTP_MAX_BYTES),
            timeout: Duration::from_secs(config.timeout_secs.unwrap_or(DEFAULT_HTTP_TIMEOUT_SECS)),
        }
    }

    fn failed(&self, message: impl std::fmt::Display) -> ToolError {
        ToolError::Failed(format!("tool `{}` {message}", self.name))
    }

    async fn run(&self, arguments: &str) -> Result<String, ToolError> {
        let args: Args = serde_json::from_str(arguments).map_err(|e| {
            ToolError::InvalidArguments(format!(
                "tool `{}` takes {{\"url\": \"https://...\"}}: {e}",
                self.name
            ))
        })?;
        match tokio::time::timeout(self.timeout, self.fetch(&args.url)).await {
            Ok(result) => result.map(|value| value.to_string()),
            Err(_) => Err(self.failed(format!(
                "did not finish within {} s (raise `timeout_secs` under [tools.{}])",
                self.timeout.as_secs(),
                self.name
            ))),
        }
    }

    /// Rules 1 and 2: the URL's form and its host.
    fn check_url(&self, text: &str) -> Result<reqwest::Url, ToolError> {
        if text.len() > MAX_URL_BYTES {
            return Err(self.failed(format!(
                "refused a URL of {} bytes, over the limit of {MAX_URL_BYTES}",
                text.len()
            )));
        }
        let mut url = reqwest::Url::parse(text)
            .map_err(|e| self.failed(format!("refused `{text}`: not a valid URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(self.failed(format!(
                "refused {url}: only http:// and https:// URLs can be fetched"
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(self.failed(format!(
                "refused {}: URLs with credentials (user:password@) are not allowed",
                url.host_str().unwrap_or_default()
            )));
        }
        url.set_fragment(None);
        let Some(host) = UrlHost::of(&url) else {
            return Err(self.failed(format!("refused {url}: it names no host")));
        };
        if !self.allow_hosts.iter().any(|p| p.matches(&host)) {
            let name = &self.name;
            return Err(self.failed(format!(
                "refused {url}: host `{host}` is not in `allow_hosts` under [tools.{name}]{}; to allow it, add \"{host}\" to that list",
                if self.allow_hosts.is_empty() {
                    " (the list is empty, so no host is allowed)"
                } else {
                    ""
                }
            )));
        }
        Ok(url)
    }

    /// Rule 3: the addresses the host stands for; returns the one to connect to.
    async fn check_address(&self, url: &reqwest::Url) -> Result<SocketAddr, ToolError> {
        let port = url.port_or_known_default().unwrap_or(80);
        let (what, addrs) = match UrlHost::of(url) {
            Some(UrlHost::Ip(ip)) => (ip.to_string(), vec![SocketAddr::new(ip, port)]),
            Some(UrlHost::Domain(domain)) => {
                let lookup = domain.clone();
                let addrs = tokio::task::spawn_blocking(move || {
                    (lookup.as_str(), port)
                        .to_socket_addrs()
                        .map(Iterator::collect::<Vec<_>>)
                })
                .await
                .map_err(|e| self.failed(format!("could not resolve `{domain}`: {e}")))?
                .map_err(|e| self.failed(format!("could not resolve `{domain}`: {e}")))?;
                (format!("`{domain}`"), addrs)
            }
            None => return Err(self.failed(format!("refused {url}: it names no host"))),
        };
        let Some(first) = addrs.first().copied() else {
            return Err(self.failed(format!("could not resolve {what}: no address")));
        };
        if !self.allow_private {
            for addr in &addrs {
                if let Some(kind) = refused_address(addr.ip()) {
                    let is = if what.starts_with('`') {
                        format!("{what} resolves to {}, {kind}", addr.ip())
                    } else {
                        format!("{what} is {kind}")
                    };
                    return Err(self.failed(format!(
                        "refused {url}: {is}; loopback, private, link-local and other internal addresses are refused unless `allow_private = true` under [tools.{}]",
                        self.name
                    )));
                }
            }
        }
        Ok(first)
    }

    async fn fetch(&self, text: &str) -> Result<Value, ToolError> {
        let url = self.check_url(text)?;
        let addr = self.check_address(&url).await?;
        // Rule 4: this client reaches `addr` and nothing else.
        let pinned = Pinned {
            host: url.host_str().unwrap_or_default().to_string(),
            addr,
        };
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .dns_resolver(Arc::new(pinned))
            .user_agent(concat!("relive/", env!("CARGO_PKG_VERSION"), " (http_get)"))
            .build()
            .map_err(|e| self.failed(format!("could not build an HTTP client: {e}")))?;
        let mut response = client
            .get(url.clone())
            .send()
            .await
            .map_err(|e| self.failed(format!("could not fetch {url}: {}", chain(&e))))?;
        let mut headers = Map::new();
        for name in KEPT_HEADERS {
            if let Some(value) = response.headers().get(*name)
                && let Ok(value) = value.to_str()
            {
                headers.insert((*name).to_string(), Value::String(value.to_string()));
            }
        }
        let status = response.status().as_u16();
        let max = usize::try_from(self.max_bytes).unwrap_or(usize::MAX);
        let mut body: Vec<u8> = Vec::new();
        let mut truncated = false;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.failed(format!("could not read the body of {url}: {}", chain(&e))))?
        {
            let room = max - body.len();
            if chunk.len() > room {
                body.extend_from_slice(&chunk[..room]);
                truncated = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        let mut result = json!({ "status": status, "headers": headers });
        match String::from_utf8(body) {
            Ok(text) => result["body"] = Value::String(text),
            // A cut through a multi-byte character: drop its first bytes.
            Err(e) if truncated && e.utf8_error().error_len().is_none() => {
                let valid = e.utf8_error().valid_up_to();
                let mut bytes = e.into_bytes();
                bytes.truncate(valid);
                result["body"] = Value::String(String::from_utf8(bytes).expect("valid prefix"));
            }
            Err(e) => result["body_base64"] = Value::String(super::base64::encode(e.as_bytes())),
        }
        result["truncated"] = Value::Bool(truncated);
        Ok(result)
    }
}

/// An error and its causes, on one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

impl Tool for HttpGetTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: self.name.clone(),
            description: self.description.clone(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "url": { "type": "string", "description": "an http:// or https:// URL on an allowed host" }
                },
                "required": ["url"],
                "additionalProperties": false
            })
            .to_string(),
        }
    }

    fn idempotent(&self) -> bool {
        true
    }

    fn call<'a>(
        &'a self,
        _ctx: &'a ToolContext,
        arguments: &'a str,
    ) -> BoxFuture<'a, Result<String, ToolError>> {
        Box::pin(self.run(arguments))
    }
}

#[cfg(test)]
mod tests;
