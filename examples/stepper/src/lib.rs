//! `stepper`: a deterministic agent for crash tests and benchmarks.
//!
//! Input: a number of steps `N` (decimal). Each step `i` (from 1) reads the
//! wall clock, the monotonic clock and a random `u64` — all supplied and
//! journaled by the host — then calls the tool `tally` with
//! `{"step":i,"wall_ns":W,"random":"R"}`; every 10th step it also logs
//! `step i/N`. Every observed value (wall-clock ns, monotonic ns since the
//! first step, the random number, the tool's result text) is folded into an
//! FNV-1a digest, and the output is `steps=N digest=<16 hex digits>`.
//!
//! The output is a pure function of the host's answers: a run resumed after a
//! kill -9 must print exactly what an uninterrupted run with the same answers
//! prints. Built with the feature `changed`, step 3 sends an extra
//! `"variant":"changed"` argument, so replaying a journal of the default
//! build diverges at that `tally` call.

mod digest;

pub use digest::Digest;

use relive_sdk::{log, random, tools};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The tool called once per step.
pub const TOOL: &str = "tally";

/// Every this many steps, a progress line is logged.
pub const LOG_EVERY: u64 = 10;

/// The step whose arguments the `changed` feature alters.
pub const CHANGED_STEP: u64 = 3;

/// The agent: the component's `run` export.
pub struct Stepper;

impl relive_sdk::Agent for Stepper {
    fn run(input: String) -> Result<String, String> {
        let steps = parse_steps(&input)?;
        let digest = run_steps(steps)?;
        Ok(output(steps, &digest))
    }
}

relive_sdk::export_agent!(Stepper);

/// Parses the input: a decimal number of steps, surrounding whitespace
/// allowed.
pub fn parse_steps(input: &str) -> Result<u64, String> {
    let text = input.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "stepper: the input must be a number of steps (decimal digits, e.g. 100), got {input:?}"
        ));
    }
    text.parse().map_err(|_| {
        format!(
            "stepper: {text} steps is more than the maximum, {}",
            u64::MAX
        )
    })
}

/// The `tally` arguments of step `step`, as compact JSON with a fixed key
/// order (built by hand so no serializer setting can change them).
pub fn tally_arguments(step: u64, wall_ns: u64, random: u64) -> String {
    let variant = if (cfg!(feature = "changed") || patch_applies(step)) && step == CHANGED_STEP {
        r#","variant":"changed""#
    } else {
        ""
    };
    format!(r#"{{"step":{step},"wall_ns":{wall_ns},"random":"{random}"{variant}}}"#)
}

/// With the feature `patched`, step 3's change is guarded by a patch marker
/// (old runs keep the old arguments when replayed); with `retired`, the
/// patch is retired: the change is unconditional and only the marker of runs
/// that recorded it is accepted.
fn patch_applies(step: u64) -> bool {
    if step != CHANGED_STEP {
        return false;
    }
    if cfg!(feature = "retired") {
        relive_sdk::deprecate_patch("variant");
        true
    } else if cfg!(feature = "patched") {
        relive_sdk::patched("variant")
    } else {
        false
    }
}

/// The agent's output for `steps` steps ending with `digest`.
pub fn output(steps: u64, digest: &Digest) -> String {
    format!("steps={steps} digest={:016x}", digest.value())
}

/// Runs `steps` steps against the host and returns the digest of what they
/// observed.
fn run_steps(steps: u64) -> Result<Digest, String> {
    let mut digest = Digest::new();
    let mut first: Option<Instant> = None;
    for step in 1..=steps {
        let wall_ns = wall_clock_ns(step)?;
        let now = Instant::now();
        let monotonic_ns = match first {
            Some(first) => nanos(now.duration_since(first).as_nanos(), step)?,
            None => {
                first = Some(now);
                0
            }
        };
        let random = random::u64();

        let arguments = tally_arguments(step, wall_ns, random);
        let result = tools::call_json(TOOL, &arguments)
            .map_err(|e| format!("stepper: step {step}/{steps}: tool {TOOL} {}", e.describe()))?;
        if let Err(e) = serde_json::from_str::<serde_json::Value>(&result) {
            return Err(format!(
                "stepper: step {step}/{steps}: tool {TOOL} returned invalid JSON ({e}): {result:?}"
            ));
        }

        digest.u64(wall_ns);
        digest.u64(monotonic_ns);
        digest.u64(random);
        digest.text(&result);

        if step % LOG_EVERY == 0 {
            log::info(&format!("step {step}/{steps}"));
        }
    }
    Ok(digest)
}

/// The wall clock, in ns since the Unix epoch.
fn wall_clock_ns(step: u64) -> Result<u64, String> {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| format!("stepper: step {step}: the wall clock is before 1970: {e}"))?;
    nanos(since_epoch.as_nanos(), step)
}

fn nanos(ns: u128, step: u64) -> Result<u64, String> {
    u64::try_from(ns).map_err(|_| format!("stepper: step {step}: {ns} ns does not fit in 64 bits"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_decimal_digits() {
        assert_eq!(parse_steps("0"), Ok(0));
        assert_eq!(parse_steps(" 1000\n"), Ok(1000));
        assert_eq!(parse_steps("007"), Ok(7));
        for bad in ["", "  ", "-1", "+1", "1e3", "ten", "1 2", "0x10"] {
            let err = parse_steps(bad).unwrap_err();
            assert!(err.contains("number of steps"), "{bad:?}: {err}");
        }
        let err = parse_steps("99999999999999999999").unwrap_err();
        assert!(err.contains("more than"), "{err}");
    }

    #[test]
    fn arguments_are_fixed_compact_json() {
        let args = tally_arguments(1, 1_700_000_000_000_000_000, u64::MAX);
        assert_eq!(
            args,
            r#"{"step":1,"wall_ns":1700000000000000000,"random":"18446744073709551615"}"#
        );
        let value: serde_json::Value = serde_json::from_str(&args).unwrap();
        assert_eq!(value["step"], 1);
    }

    #[test]
    fn only_the_changed_build_alters_step_3() {
        let args = tally_arguments(CHANGED_STEP, 5, 6);
        assert_eq!(
            args.contains(r#""variant":"changed""#),
            cfg!(feature = "changed")
        );
        assert!(!tally_arguments(CHANGED_STEP + 1, 5, 6).contains("variant"));
    }

    #[test]
    fn output_has_sixteen_hex_digits() {
        assert_eq!(output(0, &Digest::new()), "steps=0 digest=cbf29ce484222325");
        let mut d = Digest::new();
        d.u64(1);
        assert_eq!(output(1, &d).len(), "steps=1 digest=".len() + 16);
    }
}
