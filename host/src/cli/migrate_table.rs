//! The summary `relive migrate` prints: what the source and the
//! destination hold, side by side, each row marked `ok` or `DIFFERS`.

use crate::journal::RunStatus;
use crate::journal::migrate::Verification;
use std::fmt::Write;

/// Characters of the journal digest shown (the full one is in `--json`).
const DIGEST_SHOWN: usize = 16;

/// The table, one row per total, ending with the journal digest.
pub(super) fn render(v: &Verification) -> String {
    let (s, d) = (&v.source, &v.destination);
    let mut rows: Vec<(String, String, String)> = vec![
        ("".into(), "source".into(), "destination".into()),
        ("runs".into(), s.runs.to_string(), d.runs.to_string()),
    ];
    for status in RunStatus::ALL {
        let key = status.as_str();
        let (a, b) = (s.statuses.get(key), d.statuses.get(key));
        if a.is_some() || b.is_some() {
            rows.push((
                format!("  {key}"),
                a.copied().unwrap_or(0).to_string(),
                b.copied().unwrap_or(0).to_string(),
            ));
        }
    }
    rows.push((
        "entries".into(),
        s.entries.to_string(),
        d.entries.to_string(),
    ));
    rows.push((
        "components".into(),
        s.components.to_string(),
        d.components.to_string(),
    ));
    let differing = v.differences.iter().filter(|x| x.run.is_some()).count();
    rows.push((
        "runs differing".into(),
        String::new(),
        differing.to_string(),
    ));
    rows.push((
        "journal digest".into(),
        s.digest.chars().take(DIGEST_SHOWN).collect(),
        d.digest.chars().take(DIGEST_SHOWN).collect(),
    ));
    let width = |f: fn(&(String, String, String)) -> &String| {
        rows.iter().map(|r| f(r).len()).max().unwrap_or(0)
    };
    let (w0, w1, w2) = (width(|r| &r.0), width(|r| &r.1), width(|r| &r.2));
    let mut out = format!("from {}\nto   {}\n", s.location, d.location);
    for (i, (name, a, b)) in rows.iter().enumerate() {
        let mark = match (i, name.as_str()) {
            (0, _) => "",
            (_, "runs differing") if b == "0" => "ok",
            (_, "runs differing") => "DIFFERS",
            _ if a == b => "ok",
            _ => "DIFFERS",
        };
        let line = format!("{name:<w0$}  {a:>w1$}  {b:>w2$}  {mark}");
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}
