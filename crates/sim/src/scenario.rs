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
//!
//! A scenario may declare [`Param`]s (a pause, a loss rate, a quorum size): the knobs the served
//! book shows beside its figure. `--set NAME=VALUE` runs it with other values, each refused
//! unless the scenario declares it and it lies in the declared range; `--states` asks the run
//! to record each node's state after every event (if the scenario supports it), for the
//! book's step-through; `--step-budget=N` caps every run's budget of handled events (the lab
//! runs a learner's code, which may never yield).

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
    /// The knobs a reader may turn, with the values the book draws as defaults.
    pub params: &'static [Param],
    /// Runs the scenario: its trace, and whether it shows what the title claims. A run with
    /// other values than the defaults may well not: the claim then says what changed.
    pub run: fn(&Setting) -> Shown,
}

/// A knob of a scenario: a whole number in a range, in a unit.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Param {
    /// The name in `--set NAME=VALUE`: lowercase letters, digits and `-`.
    pub name: &'static str,
    /// What it is, for the control's label ("how long n2 freezes").
    pub label: &'static str,
    /// The unit the value is in ("ms", "%", "nodes"), or "".
    pub unit: &'static str,
    /// The value the book's figure uses.
    pub default: i64,
    pub min: i64,
    pub max: i64,
}

/// The values one run of a scenario uses: its seed and each declared parameter's value.
#[derive(Clone, Debug)]
pub struct Setting {
    pub seed: u64,
    /// Whether to record each node's state after every event ([`Simulation::record_states`]).
    ///
    /// [`Simulation::record_states`]: crate::Simulation::record_states
    pub states: bool,
    values: Vec<(&'static str, i64)>,
}

impl Setting {
    /// The declared defaults, with `seed`.
    pub fn defaults(params: &[Param], seed: u64) -> Setting {
        Setting {
            seed,
            states: false,
            values: params.iter().map(|p| (p.name, p.default)).collect(),
        }
    }

    /// Sets `name` to `value`, refusing a name `params` does not declare or a value outside
    /// its range.
    pub fn set(&mut self, params: &[Param], name: &str, value: i64) -> Result<(), String> {
        let Some(param) = params.iter().find(|p| p.name == name) else {
            let names: Vec<&str> = params.iter().map(|p| p.name).collect();
            return Err(if names.is_empty() {
                format!("this scenario has no parameters, so not {name:?}")
            } else {
                format!("no parameter {name:?}; there are: {}", names.join(", "))
            });
        };
        if !(param.min..=param.max).contains(&value) {
            return Err(format!(
                "{name} must be from {} to {}{}, got {value}",
                param.min,
                param.max,
                unit_suffix(param.unit)
            ));
        }
        if let Some(slot) = self.values.iter_mut().find(|(n, _)| *n == name) {
            slot.1 = value;
        }
        Ok(())
    }

    /// The value of a declared parameter. Panics on a name the scenario does not declare: that
    /// is a bug in the scenario, which the book's build runs.
    pub fn get(&self, name: &str) -> i64 {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| {
                panic!("the scenario reads a parameter {name:?} it does not declare")
            })
    }

    /// A parameter in milliseconds, as a duration (negative values count as zero).
    pub fn millis(&self, name: &str) -> std::time::Duration {
        std::time::Duration::from_millis(u64::try_from(self.get(name)).unwrap_or(0))
    }

    /// A parameter in percent, as a probability.
    pub fn percent(&self, name: &str) -> f64 {
        self.get(name) as f64 / 100.0
    }

    /// Each parameter's value, in declaration order.
    pub fn values(&self) -> &[(&'static str, i64)] {
        &self.values
    }
}

fn unit_suffix(unit: &str) -> String {
    if unit.is_empty() {
        String::new()
    } else {
        format!(" {unit}")
    }
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
    params: &'a [Param],
}

/// The setting the arguments after a scenario's name ask for: an optional seed, `--set
/// NAME=VALUE` (or `--set=NAME=VALUE`) for declared parameters, `--states`; other flags are
/// the caller's.
pub fn setting_from_args(scenario: &Scenario, args: &[String]) -> Result<Setting, String> {
    let mut setting = Setting::defaults(scenario.params, scenario.seed);
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let assignment = if arg == "--set" {
            Some(args.next().ok_or("--set needs NAME=VALUE")?.as_str())
        } else {
            arg.strip_prefix("--set=")
        };
        if let Some(assignment) = assignment {
            let (name, value) = assignment
                .split_once('=')
                .ok_or_else(|| format!("--set needs NAME=VALUE, got {assignment:?}"))?;
            let value: i64 = value
                .parse()
                .map_err(|_| format!("{name} must be a whole number, got {value:?}"))?;
            setting.set(scenario.params, name, value)?;
        } else if arg == "--states" {
            setting.states = true;
        } else if !arg.starts_with("--") {
            setting.seed = arg
                .parse()
                .map_err(|_| format!("the seed must be a whole number, got {arg:?}"))?;
        }
    }
    Ok(setting)
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
                params: s.params,
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
    if let Some(steps) = args.iter().find_map(|a| a.strip_prefix("--step-budget=")) {
        let Ok(steps) = steps.parse() else {
            eprintln!("scenario {name}: --step-budget= needs a whole number, got {steps:?}");
            std::process::exit(2);
        };
        crate::cap_step_budget(steps);
    }
    let chart = args.iter().any(|a| a == "--chart");
    let setting = setting_from_args(scenario, &args[1..]).unwrap_or_else(|why| {
        eprintln!("scenario {name}: {why}");
        std::process::exit(2);
    });
    let seed = setting.seed;
    let shown = (scenario.run)(&setting);
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

#[cfg(test)]
mod tests {
    use super::*;

    const PARAMS: &[Param] = &[Param {
        name: "pause",
        label: "how long n2 freezes",
        unit: "ms",
        default: 350,
        min: 0,
        max: 2000,
    }];

    fn scenario() -> Scenario {
        Scenario {
            name: "s",
            title: "t",
            seed: 7,
            params: PARAMS,
            run: |_| Shown::checking(Trace::default(), |_| Ok(())),
        }
    }

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn declared_values_in_range_are_taken_and_others_refused() {
        let s = scenario();
        let setting = setting_from_args(&s, &args("3 --set pause=90 --states --any")).unwrap();
        assert_eq!(
            (setting.seed, setting.get("pause"), setting.states),
            (3, 90, true)
        );
        assert_eq!(
            setting.millis("pause"),
            std::time::Duration::from_millis(90)
        );
        let default = setting_from_args(&s, &[]).unwrap();
        assert_eq!(
            (default.seed, default.get("pause"), default.states),
            (7, 350, false)
        );
        let refused = |text: &str| setting_from_args(&s, &args(text)).unwrap_err();
        assert_eq!(
            refused("--set pause=2001"),
            "pause must be from 0 to 2000 ms, got 2001"
        );
        assert_eq!(
            refused("--set=pause=-1"),
            "pause must be from 0 to 2000 ms, got -1"
        );
        assert!(refused("--set loss=5").contains("no parameter \"loss\"; there are: pause"));
        assert!(refused("--set pause=1e3").contains("whole number"));
        assert!(refused("--set pause").contains("NAME=VALUE"));
        assert!(refused("x").contains("seed"));
    }
}
