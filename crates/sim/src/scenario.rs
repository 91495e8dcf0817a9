//! Named scenarios: small fixed runs of a chapter's mechanism that the book draws at build time,
//! an instructor replays live (`cargo xtask scenario SLUG/NAME`), and a learner runs against
//! their own crate (`cargo xtask scenario SLUG/NAME --mine`).
//!
//! A chapter's scenarios live in one file, its exercise's `examples/scenario.rs`, which both the
//! exercise crate and the reference solution build as an example binary, so the same scenario
//! runs either mechanism:
//!
//! ```no_run
//! # fn all() -> Vec<sim::scenario::Scenario> { Vec::new() }
//! fn main() {
//!     sim::scenario::main(&all());
//! }
//! ```
//!
//! The binary speaks a small protocol that xtask uses: with no arguments it prints the list of
//! scenarios as JSON; with `NAME [SEED]` it prints that run's trace as JSON, and fails if the run
//! does not show what its title claims (so a figure can never quietly stop illustrating its
//! paragraph). With `--any` after the name and seed it prints the trace whatever the run shows,
//! and says on stderr what the run failed to show: that is how a learner's mechanism, which
//! may be wrong, is drawn. A solution can also offer [`Table`]s (measurements the page shows as
//! a table, computed at build time) through [`main_with_tables`]; `--table NAME` prints one as
//! Markdown. A run may also carry a [`Chart`] of its metrics over time: `NAME [SEED] --chart`
//! prints it as JSON (what `{{#chart SLUG/NAME}}` draws beside the timeline).

use crate::metrics::Chart;
use crate::trace::Trace;
use serde::Serialize;

/// One named run.
#[derive(Clone, Copy, Debug)]
pub struct Scenario {
    /// The name in `{{#timeline SLUG/NAME}}` and `cargo xtask scenario SLUG/NAME`.
    pub name: &'static str,
    /// One line saying what it shows.
    pub title: &'static str,
    /// The seed the book uses.
    pub seed: u64,
    /// Runs the scenario with a seed: its trace, and whether it shows what the title claims.
    pub run: fn(u64) -> Shown,
}

/// What one run of a scenario produced.
#[derive(Clone, Debug)]
pub struct Shown {
    /// The run's trace, whatever happened in it.
    pub trace: Trace,
    /// `Err` says what the run failed to show; the book's build refuses to draw such a run.
    pub claim: Result<(), String>,
    /// The run's metrics over time, if the page charts them.
    pub chart: Option<Chart>,
}

impl Shown {
    /// The trace, and the verdict of `claim` on it.
    pub fn checking(trace: Trace, claim: impl FnOnce(&Trace) -> Result<(), String>) -> Shown {
        let claim = claim(&trace);
        Shown {
            trace,
            claim,
            chart: None,
        }
    }

    /// With a chart of the run's metrics.
    pub fn with_chart(mut self, chart: Chart) -> Shown {
        self.chart = Some(chart);
        self
    }

    /// The trace if the run shows what it claims, else why not.
    pub fn into_result(self) -> Result<Trace, String> {
        self.claim.map(|()| self.trace)
    }
}

/// A named table of measurements, computed by running the solution at build time
/// (`{{#table SLUG/NAME}}` in a page).
#[derive(Clone, Copy, Debug)]
pub struct Table {
    pub name: &'static str,
    /// Runs the measurement and returns a Markdown table, or an error saying why it could not.
    pub run: fn() -> Result<String, String>,
}

#[derive(Serialize)]
struct Listed<'a> {
    name: &'a str,
    title: &'a str,
    seed: u64,
}

/// The scenario binary's entry point (see the module docs for the protocol).
pub fn main(scenarios: &[Scenario]) {
    main_with_tables(scenarios, &[]);
}

/// The entry point of a scenario binary that also offers tables.
pub fn main_with_tables(scenarios: &[Scenario], tables: &[Table]) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "--table") {
        let name = args.get(1).map(String::as_str).unwrap_or("");
        let Some(table) = tables.iter().find(|t| t.name == name) else {
            let names: Vec<&str> = tables.iter().map(|t| t.name).collect();
            eprintln!("no table named {name:?}; there are: {}", names.join(", "));
            std::process::exit(2);
        };
        match (table.run)() {
            Ok(markdown) => print!("{markdown}"),
            Err(why) => {
                eprintln!("table {name} failed: {why}");
                std::process::exit(1);
            }
        }
        return;
    }
    let Some(name) = args.first() else {
        let list: Vec<Listed> = scenarios
            .iter()
            .map(|s| Listed {
                name: s.name,
                title: s.title,
                seed: s.seed,
            })
            .collect();
        println!("{}", serde_json::to_string(&list).expect("serializable"));
        return;
    };
    let Some(scenario) = scenarios.iter().find(|s| s.name == name) else {
        let names: Vec<&str> = scenarios.iter().map(|s| s.name).collect();
        eprintln!(
            "no scenario named {name:?}; there are: {}",
            names.join(", ")
        );
        std::process::exit(2);
    };
    let any = args.iter().any(|a| a == "--any");
    let chart = args.iter().any(|a| a == "--chart");
    let seed = match args.iter().skip(1).find(|a| !a.starts_with("--")) {
        Some(text) => text.parse().unwrap_or_else(|_| {
            eprintln!("the seed must be a whole number, got {text:?}");
            std::process::exit(2);
        }),
        None => scenario.seed,
    };
    let shown = (scenario.run)(seed);
    if let Err(why) = &shown.claim {
        eprintln!("scenario {name} (seed {seed}) does not show what its title claims: {why}");
        if !any {
            std::process::exit(1);
        }
    }
    if chart {
        let Some(chart) = &shown.chart else {
            eprintln!("scenario {name} draws no chart");
            std::process::exit(2);
        };
        println!("{}", serde_json::to_string(chart).expect("serializable"));
        return;
    }
    println!(
        "{}",
        serde_json::to_string(&shown.trace).expect("serializable")
    );
}
