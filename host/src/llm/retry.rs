//! Retrying a call to a network provider.
//!
//! A provider makes one *attempt* at a time and classifies its failure as an
//! [`AttemptError`]: worth retrying (connection failure, timeout, 408, 409,
//! 429, 5xx, a stream cut short) or not (a 4xx that sending again cannot fix,
//! such as a bad key or a bad request). [`with_retries`] repeats retryable
//! attempts up to [`RetryPolicy::max_attempts`], waiting between them with
//! exponential backoff and full jitter, or as long as the server's
//! `Retry-After` says (capped at [`RetryPolicy::max_delay`]). Every attempt of
//! a call sends the same idempotency key, so a server that honours
//! `Idempotency-Key` runs the call once however often it is sent.
//!
//! Each failed attempt that will be retried is reported as
//! [`ProviderEvent::Retrying`] before the wait. A streamed attempt that fails
//! half-way has already reported some [`ProviderEvent::Token`]s; the retry
//! streams the answer again from its start, so an observer that shows the
//! text should start over after `Retrying`. The journal only ever records the
//! final result.

use super::{CallContext, LlmError, ProviderEvent};
use reqwest::header::HeaderMap;
use std::future::Future;
use std::time::{Duration, SystemTime};

/// Attempts per call when `max_attempts` is absent (the first one included).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 4;
/// First backoff ceiling when `retry_base_ms` is absent, in milliseconds.
pub const DEFAULT_RETRY_BASE_MS: u64 = 500;
/// Longest wait between attempts when `retry_max_ms` is absent, in
/// milliseconds; also caps a server's `Retry-After`.
pub const DEFAULT_RETRY_MAX_MS: u64 = 30_000;

/// How often, and how patiently, a call is retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per call, the first one included (at least 1).
    pub max_attempts: u32,
    /// The backoff ceiling after the first failure; it doubles with each
    /// further failure.
    pub base_delay: Duration,
    /// The longest wait between two attempts, `Retry-After` included.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            base_delay: Duration::from_millis(DEFAULT_RETRY_BASE_MS),
            max_delay: Duration::from_millis(DEFAULT_RETRY_MAX_MS),
        }
    }
}

impl RetryPolicy {
    /// How long to wait after attempt `attempt` (from 1) failed: the server's
    /// `retry_after` if it sent one, else a random duration between zero and
    /// `base_delay * 2^(attempt - 1)` ("full jitter"); never more than
    /// `max_delay`.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(after) = retry_after {
            return after.min(self.max_delay);
        }
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        let ceiling = self.base_delay.saturating_mul(factor).min(self.max_delay);
        let ceiling_ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rand::random_range(0..=ceiling_ms))
    }
}

/// Why one attempt failed, and whether another one may succeed.
#[derive(Clone, Debug, PartialEq)]
pub struct AttemptError {
    /// What the guest sees if this is the last attempt.
    pub error: LlmError,
    /// Whether sending the same request again may succeed.
    pub retryable: bool,
    /// How long the server asked us to wait (`Retry-After`).
    pub retry_after: Option<Duration>,
}

impl AttemptError {
    /// A failure that sending again cannot cure.
    pub fn fatal(error: LlmError) -> Self {
        AttemptError {
            error,
            retryable: false,
            retry_after: None,
        }
    }

    /// A failure that sending again may cure.
    pub fn retryable(error: LlmError) -> Self {
        AttemptError {
            error,
            retryable: true,
            retry_after: None,
        }
    }

    /// The same failure, with the server's requested wait.
    pub fn with_retry_after(self, retry_after: Option<Duration>) -> Self {
        AttemptError {
            retry_after,
            ..self
        }
    }
}

impl From<LlmError> for AttemptError {
    fn from(error: LlmError) -> Self {
        AttemptError::fatal(error)
    }
}

/// Runs `attempt(1)`, `attempt(2)`, … until one succeeds, one fails for
/// good, or `policy.max_attempts` have failed; reports each retry on `ctx`
/// and sleeps before it. The last error names the number of attempts made.
pub async fn with_retries<T, F, Fut>(
    policy: &RetryPolicy,
    ctx: &CallContext,
    mut attempt: F,
) -> Result<T, LlmError>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, AttemptError>>,
{
    let max_attempts = policy.max_attempts.max(1);
    let mut n = 1;
    loop {
        let failure = match attempt(n).await {
            Ok(value) => return Ok(value),
            Err(failure) => failure,
        };
        if !failure.retryable {
            return Err(failure.error);
        }
        if n >= max_attempts {
            return Err(gave_up(failure.error, n));
        }
        let retry_in = policy.delay(n, failure.retry_after);
        ctx.emit(ProviderEvent::Retrying {
            attempt: n,
            error: failure.error,
            retry_in,
        });
        tokio::time::sleep(retry_in).await;
        n += 1;
    }
}

/// `error`, saying that it was the last of `attempts`.
fn gave_up(error: LlmError, attempts: u32) -> LlmError {
    if attempts < 2 {
        return error;
    }
    let note = |message: String| {
        format!(
            "{message} (gave up after {attempts} attempts; `max_attempts` of the model in relive.toml sets how many)"
        )
    };
    match error {
        LlmError::Denied(m) => LlmError::Denied(note(m)),
        LlmError::InvalidRequest(m) => LlmError::InvalidRequest(note(m)),
        LlmError::Unavailable(m) => LlmError::Unavailable(note(m)),
    }
}

/// The wait a response asks for: `retry-after-ms` (milliseconds, sent by
/// OpenAI), else `Retry-After` in seconds or as an HTTP date (relative to
/// `now`; a date in the past means no wait).
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let header = |name: &str| headers.get(name)?.to_str().ok().map(str::trim);
    let non_negative = |v: &str| v.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0);
    // A day is far beyond any sane `retry_max_ms`; clamping keeps
    // `Duration::from_secs_f64` from panicking on absurd numbers.
    let secs = |s: f64| Duration::from_secs_f64(s.min(86_400.0));
    if let Some(ms) = header("retry-after-ms").and_then(non_negative) {
        return Some(secs(ms / 1000.0));
    }
    let value = header("retry-after")?;
    if let Some(s) = non_negative(value) {
        return Some(secs(s));
    }
    let at = parse_http_date(value)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Parses an IMF-fixdate such as `Sun, 06 Nov 1994 08:49:37 GMT`, the only
/// date format RFC 9110 lets servers send.
pub fn parse_http_date(text: &str) -> Option<SystemTime> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (_weekday, rest) = text.trim().split_once(", ")?;
    let parts: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, time, "GMT"] = parts[..] else {
        return None;
    };
    let day: u32 = day.parse().ok().filter(|d| (1..=31).contains(d))?;
    let month = 1 + MONTHS.iter().position(|m| *m == month)? as u32;
    let year: i64 = year.parse().ok().filter(|y| (1970..=9999).contains(y))?;
    let time: Vec<u64> = time
        .split(':')
        .map(|n| n.parse().ok())
        .collect::<Option<_>>()?;
    let [hours @ 0..24, minutes @ 0..60, seconds @ 0..61] = time[..] else {
        return None;
    };
    let days = u64::try_from(days_from_civil(year, month, day)).ok()?;
    let secs = days * 86_400 + hours * 3600 + minutes * 60 + seconds;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

/// Days from 1970-01-01 to the given date of the proleptic Gregorian
/// calendar (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn policy(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        }
    }

    /// A context whose events are collected.
    fn context() -> (CallContext, Arc<Mutex<Vec<ProviderEvent>>>) {
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        let ctx = CallContext {
            run_id: "r".into(),
            seq: 1,
            call_index: 0,
            idempotency_key: "k".into(),
            events: Some(Arc::new(move |e| sink.lock().unwrap().push(e))),
        };
        (ctx, events)
    }

    fn down(n: u32) -> AttemptError {
        AttemptError::retryable(LlmError::Unavailable(format!("down {n}")))
    }

    #[tokio::test]
    async fn retryable_failures_are_retried_and_reported_until_success() {
        let (ctx, events) = context();
        let result = with_retries(&policy(4), &ctx, |n| async move {
            if n < 3 { Err(down(n)) } else { Ok(n) }
        })
        .await;
        assert_eq!(result, Ok(3));
        let events = events.lock().unwrap();
        assert_eq!(events.len(), 2);
        for (i, event) in events.iter().enumerate() {
            let ProviderEvent::Retrying {
                attempt,
                error,
                retry_in,
            } = event
            else {
                panic!("{event:?}")
            };
            assert_eq!(*attempt, i as u32 + 1);
            assert_eq!(*error, down(*attempt).error);
            assert!(*retry_in <= Duration::from_millis(5), "{retry_in:?}");
        }
    }

    #[tokio::test]
    async fn the_last_failure_names_the_attempts_and_fatal_ones_stop_at_once() {
        let (ctx, events) = context();
        let result: Result<(), _> =
            with_retries(&policy(3), &ctx, |n| async move { Err(down(n)) }).await;
        let LlmError::Unavailable(message) = result.unwrap_err() else {
            panic!()
        };
        assert!(
            message.starts_with("down 3 (gave up after 3 attempts;"),
            "{message}"
        );
        assert!(message.contains("max_attempts"), "{message}");
        assert_eq!(events.lock().unwrap().len(), 2);

        let (ctx, events) = context();
        let fatal = LlmError::InvalidRequest("bad key".into());
        let result: Result<(), _> = with_retries(&policy(3), &ctx, |_| async {
            Err(AttemptError::fatal(fatal.clone()))
        })
        .await;
        assert_eq!(result, Err(fatal));
        assert!(events.lock().unwrap().is_empty());

        let (ctx, _) = context();
        let result: Result<(), _> =
            with_retries(&policy(1), &ctx, |n| async move { Err(down(n)) }).await;
        assert_eq!(result, Err(down(1).error), "one attempt: no note");
    }

    #[test]
    fn delays_grow_exponentially_with_full_jitter_and_honour_retry_after() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
        };
        for attempt in 1..=10u32 {
            let ceiling = Duration::from_millis((100u64 << (attempt - 1)).min(1000));
            let delays: Vec<_> = (0..50).map(|_| policy.delay(attempt, None)).collect();
            assert!(
                delays.iter().all(|d| *d <= ceiling),
                "{attempt}: {delays:?}"
            );
            assert!(delays.iter().any(|d| *d != delays[0]), "jitter: {delays:?}");
        }
        let after = |secs| policy.delay(1, Some(Duration::from_secs(secs)));
        assert_eq!(after(0), Duration::ZERO);
        assert_eq!(
            after(60),
            Duration::from_millis(1000),
            "capped at max_delay"
        );
        let small = policy.delay(1, Some(Duration::from_millis(300)));
        assert_eq!(small, Duration::from_millis(300));
    }

    #[test]
    fn retry_after_reads_seconds_milliseconds_and_http_dates() {
        let now = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        let unix = now.duration_since(SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(unix, Duration::from_secs(784_111_777));
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (k, v) in pairs {
                map.insert(*k, v.parse().unwrap());
            }
            retry_after(&map, now)
        };
        assert_eq!(headers(&[]), None);
        assert_eq!(
            headers(&[("retry-after", "2")]),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            headers(&[("retry-after", " 1.5 ")]),
            Some(Duration::from_millis(1500))
        );
        let both = [("retry-after", "2"), ("retry-after-ms", "250")];
        assert_eq!(headers(&both), Some(Duration::from_millis(250)));
        let later = [("retry-after", "Sun, 06 Nov 1994 08:50:07 GMT")];
        assert_eq!(headers(&later), Some(Duration::from_secs(30)));
        let past = [("retry-after", "Sat, 05 Nov 1994 08:49:37 GMT")];
        assert_eq!(headers(&past), Some(Duration::ZERO));
        assert_eq!(headers(&[("retry-after", "-3")]), None);
        assert_eq!(headers(&[("retry-after", "soon")]), None);
        assert_eq!(
            headers(&[("retry-after", "1e300")]),
            Some(Duration::from_secs(86_400))
        );
        let leap = parse_http_date("Thu, 29 Feb 2024 00:00:00 GMT").unwrap();
        let unix = leap.duration_since(SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(unix, Duration::from_secs(1_709_164_800));
        for bad in [
            "06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:00:00 GMT",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }
}
