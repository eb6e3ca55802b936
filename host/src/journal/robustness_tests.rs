//! Arbitrary, truncated and reordered input to the journal readers gives a
//! clear error and never a panic.

use super::SyncPolicy;
use super::export::{self, JournalFile};
use super::sqlite::SqliteJournal;
use super::*;

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn sample_file() -> Vec<u8> {
    let mut entries = Vec::new();
    for seq in 0..12u64 {
        let kind = [
            EntryKind::Clock,
            EntryKind::Random,
            EntryKind::Tool,
            EntryKind::Llm,
        ][seq as usize % 4];
        let mut e = Entry::new(
            seq,
            kind,
            "n",
            format!(
                "{{\"seq\":{seq},\"pad\":\"{}\"}}",
                "p".repeat(seq as usize * 7)
            ),
        );
        e.response = Some(format!("{{\"Ok\":{seq}}}"));
        e.state = EntryState::Completed;
        entries.push(e);
    }
    let file = JournalFile {
        run: RunRecord {
            id: "r".into(),
            agent: "a".into(),
            component_digest: "sha256:00".into(),
            input: "in".into(),
            status: RunStatus::Completed,
            output: Some("out".into()),
            error: None,
            config_path: None,
            created_at_ms: 1,
            updated_at_ms: 2,
            policy: None,
            parent: None,
        },
        entries,
    };
    let mut out = Vec::new();
    export::write(&file, &mut out).unwrap();
    out
}

#[test]
fn journal_file_reader_never_panics_on_mutated_input() {
    let original = sample_file();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut ok, mut err) = (0, 0);
    for _ in 0..3000 {
        let mut bytes = original.clone();
        match rng.below(5) {
            0 => bytes.truncate(rng.below(bytes.len())),
            1 => {
                for _ in 0..=rng.below(8) {
                    let i = rng.below(bytes.len());
                    bytes[i] = rng.next() as u8;
                }
            }
            2 => {
                let mut lines: Vec<&[u8]> = original.split(|b| *b == b'\n').collect();
                let (a, b) = (rng.below(lines.len()), rng.below(lines.len()));
                lines.swap(a, b);
                bytes = lines.join(&b'\n');
            }
            3 => {
                let mut lines: Vec<&[u8]> = original.split(|b| *b == b'\n').collect();
                lines.remove(rng.below(lines.len()));
                bytes = lines.join(&b'\n');
            }
            _ => bytes = (0..rng.below(4096)).map(|_| rng.next() as u8).collect(),
        }
        match std::panic::catch_unwind(|| export::read(&mut bytes.as_slice())) {
            Ok(Ok(_)) => ok += 1,
            Ok(Err(e)) => {
                assert!(!e.to_string().is_empty());
                err += 1;
            }
            Err(_) => panic!(
                "the reader panicked on input {:?}",
                String::from_utf8_lossy(&bytes)
            ),
        }
    }
    assert!(
        err > 2000,
        "most mutations must be rejected ({ok} accepted, {err} rejected)"
    );
}

#[test]
fn database_reader_never_panics_on_damaged_files() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.db");
    {
        let j = SqliteJournal::open(&good, SyncPolicy::Critical).unwrap();
        j.put_component("sha256:c", b"x").wait_blocking().unwrap();
        j.create_run(NewRun {
            id: "r".into(),
            agent: "a".into(),
            component_digest: "sha256:c".into(),
            input: "i".into(),
            config_path: None,
            policy: None,
            parent: None,
            lease: None,
        })
        .wait_blocking()
        .unwrap();
        for seq in 0..200 {
            let mut e = Entry::new(
                seq,
                EntryKind::Tool,
                "t",
                format!("{{\"n\":\"{}\"}}", "q".repeat(3000)),
            );
            e.response = Some("{\"Ok\":\"r\"}".into());
            e.state = EntryState::Completed;
            j.append(&fence("r"), e, Durability::Commit)
                .wait_blocking()
                .unwrap();
        }
    }
    let original = std::fs::read(&good).unwrap();
    let mut rng = Rng(42);
    for round in 0..60 {
        let mut bytes = original.clone();
        if round % 3 == 0 {
            bytes.truncate(100 + rng.below(bytes.len() - 100));
        } else {
            for _ in 0..=rng.below(64) {
                let i = 100 + rng.below(bytes.len() - 100);
                bytes[i] = rng.next() as u8;
            }
        }
        let path = dir.path().join(format!("bad{round}.db"));
        std::fs::write(&path, &bytes).unwrap();
        let outcome = std::panic::catch_unwind(|| match SqliteJournal::open_existing(&path) {
            Err(e) => Err(e.to_string()),
            Ok(j) => match (j.find_run("r"), j.entries("r")) {
                (Ok(_), Ok(entries)) => Ok(entries.len()),
                (Err(e), _) | (_, Err(e)) => Err(e.to_string()),
            },
        });
        let result = outcome.unwrap_or_else(|_| panic!("reading damaged file #{round} panicked"));
        if let Err(message) = result {
            assert!(!message.is_empty());
        }
    }
}
