//! Named scenarios: small fixed runs of a chapter's solution that the book draws at build time
//! and an instructor replays live (`cargo xtask scenario SLUG/NAME`).
//!
//! A solution crate lists its scenarios and exposes them through a tiny example binary:
//!
//! ```no_run
//! # fn all() -> Vec<sim::scenario::Scenario> { Vec::new() }
//! fn main() {
//!     sim::scenario::main(&all());
//! }
//! ```
//!
//! The binary speaks a two-command protocol that xtask uses: with no arguments it prints the
//! list of scenarios as JSON; with `NAME [SEED]` it prints that run's trace as JSON.

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
    /// Runs the scenario with a seed and returns its trace. A scenario that cannot show what it
    /// is meant to show returns an error saying why, which fails the book build.
    pub run: fn(u64) -> Result<Trace, String>,
}

#[derive(Serialize)]
struct Listed<'a> {
    name: &'a str,
    title: &'a str,
    seed: u64,
}

/// The scenario binary's entry point (see the module docs for the protocol).
pub fn main(scenarios: &[Scenario]) {
    let args: Vec<String> = std::env::args().skip(1).collect();
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
    let seed = match args.get(1) {
        Some(text) => text.parse().unwrap_or_else(|_| {
            eprintln!("the seed must be a whole number, got {text:?}");
            std::process::exit(2);
        }),
        None => scenario.seed,
    };
    match (scenario.run)(seed) {
        Ok(trace) => println!("{}", serde_json::to_string(&trace).expect("serializable")),
        Err(why) => {
            eprintln!("scenario {name} (seed {seed}) failed: {why}");
            std::process::exit(1);
        }
    }
}
