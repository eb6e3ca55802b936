//! Figures, their targets, and how a run of the benchmark is shown: a table
//! for people, or one JSON document for scripts (`-- --json`).

use serde_json::{Value, json};

/// The unit a figure is given in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Us,
    Ms,
    /// Runs per second.
    PerSec,
    MiB,
    KiB,
}

impl Unit {
    fn shown(self) -> &'static str {
        match self {
            Unit::Us => "µs",
            Unit::Ms => "ms",
            Unit::PerSec => "/s",
            Unit::MiB => "MiB",
            Unit::KiB => "KiB",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Unit::Us => "us",
            Unit::Ms => "ms",
            Unit::PerSec => "per_s",
            Unit::MiB => "mib",
            Unit::KiB => "kib",
        }
    }
}

/// Whose number a figure is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A raw floor, measured in the same run: what the hardware and the
    /// libraries cost without relive.
    Floor,
    /// relive, measured through its library API or its binary.
    Relive,
    /// A part of a relive figure, shown to explain it.
    Detail,
}

impl Role {
    fn key(self) -> &'static str {
        match self {
            Role::Floor => "floor",
            Role::Relive => "relive",
            Role::Detail => "detail",
        }
    }
}

/// A DESIGN §9 target and whether the figure meets it.
#[derive(Clone, Debug)]
pub struct Target {
    /// As printed, e.g. "≤ 2× batched insert".
    pub text: String,
    /// The floor the figure is held against, if any.
    pub floor: Option<String>,
    /// The figure divided by that floor.
    pub ratio: Option<f64>,
    /// `None` for a comparison that is not a target.
    pub met: Option<bool>,
}

/// One measured number: the median of its samples.
#[derive(Clone, Debug)]
pub struct Figure {
    /// Stable key for scripts, e.g. `local.clock_read`.
    pub id: String,
    pub role: Role,
    pub label: String,
    pub unit: Unit,
    pub value: f64,
    pub samples: Vec<f64>,
    pub target: Option<Target>,
}

impl Figure {
    fn new(role: Role, id: &str, label: &str, unit: Unit, samples: Vec<f64>) -> Figure {
        Figure {
            id: id.to_string(),
            role,
            label: label.to_string(),
            unit,
            value: median(&samples),
            samples,
            target: None,
        }
    }

    pub fn floor(id: &str, label: &str, unit: Unit, samples: Vec<f64>) -> Figure {
        Figure::new(Role::Floor, id, label, unit, samples)
    }

    pub fn relive(id: &str, label: &str, unit: Unit, samples: Vec<f64>) -> Figure {
        Figure::new(Role::Relive, id, label, unit, samples)
    }

    pub fn detail(id: &str, label: &str, unit: Unit, samples: Vec<f64>) -> Figure {
        Figure::new(Role::Detail, id, label, unit, samples)
    }

    /// The target "at most `max_ratio` × `floor`".
    pub fn within(mut self, max_ratio: f64, floor: &Figure, text: &str) -> Figure {
        let ratio = self.in_unit(floor.unit) / floor.value;
        self.target = Some(Target {
            text: text.to_string(),
            floor: Some(floor.id.clone()),
            ratio: Some(ratio),
            met: Some(ratio <= max_ratio),
        });
        self
    }

    /// A comparison with `floor` that is not a target.
    pub fn versus(mut self, floor: &Figure, text: &str) -> Figure {
        self.target = Some(Target {
            text: text.to_string(),
            floor: Some(floor.id.clone()),
            ratio: Some(self.in_unit(floor.unit) / floor.value),
            met: None,
        });
        self
    }

    /// The target "below `limit`" (in the figure's unit).
    pub fn below(mut self, limit: f64, text: &str) -> Figure {
        self.target = Some(Target {
            text: text.to_string(),
            floor: None,
            ratio: None,
            met: Some(self.value < limit),
        });
        self
    }

    /// The value converted to `unit`.
    pub fn in_unit(&self, unit: Unit) -> f64 {
        match (self.unit, unit) {
            (Unit::Us, Unit::Ms) => self.value / 1000.0,
            (Unit::Ms, Unit::Us) => self.value * 1000.0,
            _ => self.value,
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "role": self.role.key(),
            "label": self.label,
            "value": round(self.value),
            "unit": self.unit.key(),
            "samples": self.samples.iter().map(|s| round(*s)).collect::<Vec<_>>(),
            "target": self.target.as_ref().map(|t| json!({
                "text": t.text,
                "floor": t.floor,
                "ratio": t.ratio.map(round),
                "met": t.met,
            })),
        })
    }
}

/// The median of `samples` (NaN when there are none).
pub fn median(samples: &[f64]) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// What became of one section.
#[derive(Clone, Debug)]
pub enum Status {
    Measured,
    /// Not built yet (a placeholder), with what will go there.
    NotMeasured(String),
    /// The section failed; the others still ran.
    Failed(String),
}

/// One section of the benchmark, as run.
#[derive(Clone, Debug)]
pub struct SectionReport {
    pub letter: &'static str,
    pub key: &'static str,
    pub title: &'static str,
    pub status: Status,
    pub figures: Vec<Figure>,
    /// Lines printed under the section: how it was measured, comparisons.
    pub notes: Vec<String>,
}

/// Prints the table.
pub fn print_table(header: &str, sections: &[SectionReport]) {
    println!("{header}");
    for s in sections {
        println!();
        println!("{}. {}", s.letter, s.title);
        match &s.status {
            Status::NotMeasured(why) => {
                println!("   not measured yet — {why}");
                continue;
            }
            Status::Failed(why) => {
                println!("   FAILED: {why}");
                continue;
            }
            Status::Measured => {}
        }
        println!(
            "   {:<7} {:<60} {:>10}  {:>7}  {:<30} met?",
            "", "", "median", "ratio", "target (DESIGN §9)"
        );
        for f in &s.figures {
            let value = format!("{} {}", number(f.value), f.unit.shown());
            let (ratio, target, met) = match &f.target {
                Some(t) => (
                    t.ratio.map(|r| format!("{r:.2}×")).unwrap_or_default(),
                    t.text.clone(),
                    match t.met {
                        Some(true) => "yes",
                        Some(false) => "NO",
                        None => "",
                    }
                    .to_string(),
                ),
                None => Default::default(),
            };
            println!(
                "   {:<7} {:<60} {:>10}  {:>7}  {:<30} {}",
                f.role.key(),
                f.label,
                value,
                ratio,
                target,
                met
            );
        }
        for note in &s.notes {
            println!("   · {note}");
        }
    }
}

/// A number with about three significant digits.
fn number(x: f64) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    let a = x.abs();
    if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

/// The whole run as one JSON document.
pub fn to_json(context: Value, sections: &[SectionReport]) -> Value {
    let sections: Vec<Value> = sections
        .iter()
        .map(|s| {
            let (status, reason) = match &s.status {
                Status::Measured => ("measured", None),
                Status::NotMeasured(why) => ("not measured yet", Some(why.clone())),
                Status::Failed(why) => ("failed", Some(why.clone())),
            };
            json!({
                "letter": s.letter,
                "key": s.key,
                "title": s.title,
                "status": status,
                "reason": reason,
                "figures": s.figures.iter().map(Figure::to_json).collect::<Vec<_>>(),
                "notes": s.notes,
            })
        })
        .collect();
    json!({ "benchmark": "relive", "format": 1, "context": context, "sections": sections })
}
