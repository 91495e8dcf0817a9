//! Runs a chapter's scenario binary (its `SLUG-scenario` example, built from the exercise's
//! `examples/scenario/`), which speaks the small protocol of `sim::scenario`: the list of
//! scenarios, one run's trace, or one table, each as text. The binary is built either against
//! the reference solution (what the book draws) or against the learner's own exercise crate
//! (`--mine`). Callers that need the trace as a value parse the JSON with `sim`.

use crate::Chapter;
use std::path::Path;
use std::process::Command;

/// Whose mechanism a scenario runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mechanism<'a> {
    /// The reference solution, as the book draws it.
    Reference,
    /// The reference solution with one of its features (a diagnosis drill's broken variant, or
    /// a classic mistake).
    Variant(&'a str),
    /// The learner's exercise crate, as it stands.
    Mine,
}

/// What the scenario binary printed, or why it failed.
pub struct Output {
    pub stdout: String,
    pub stderr: String,
}

/// `cargo VERB` (`run` or `build`) of the scenario binary against `mechanism`, from `root`.
pub fn cargo_command(
    root: &Path,
    chapter: &Chapter,
    mechanism: Mechanism<'_>,
    verb: &str,
) -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(root).args([verb, "--quiet"]);
    match mechanism {
        Mechanism::Reference | Mechanism::Variant(_) => {
            command
                .arg("--manifest-path")
                .arg(chapter.solution.join("Cargo.toml"))
                .args(["--target-dir", "target/solutions"])
                .args(["-p", &chapter.solution_package()]);
            if let Mechanism::Variant(feature) = mechanism {
                command.args(["--features", feature]);
            }
        }
        Mechanism::Mine => {
            command.args(["-p", &chapter.slug, "--features", "scenarios"]);
        }
    }
    command.arg("--example").arg(chapter.scenario_example());
    command
}

/// Runs the scenario binary built against `mechanism` with `args`.
fn run_binary(
    root: &Path,
    chapter: &Chapter,
    mechanism: Mechanism<'_>,
    args: &[String],
) -> Result<Output, Output> {
    let mut command = cargo_command(root, chapter, mechanism, "run");
    command.arg("--").args(args);
    let output = command.output().map_err(|e| Output {
        stdout: String::new(),
        stderr: format!("cannot run cargo: {e}"),
    })?;
    let printed = Output {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    if output.status.success() {
        Ok(printed)
    } else {
        Err(printed)
    }
}

/// What the reference's scenario binary printed for `args`.
fn run(root: &Path, chapter: &Chapter, args: &[String]) -> Result<String, String> {
    run_binary(root, chapter, Mechanism::Reference, args)
        .map(|o| o.stdout)
        .map_err(|o| {
            format!(
                "scenario {}/{} failed:\n{}",
                chapter.slug,
                args.first().map_or("(list)", |s| s.as_str()),
                o.stderr
            )
        })
}

/// The scenarios a chapter's solution offers, as JSON (`[{"name", "title", "seed"}, ...]`).
pub fn list_json(root: &Path, chapter: &Chapter) -> Result<String, String> {
    run(root, chapter, &[])
}

fn run_args(name: &str, seed: Option<u64>) -> Vec<String> {
    let mut args = vec![name.to_string()];
    if let Some(seed) = seed {
        args.push(seed.to_string());
    }
    args
}

/// The trace of one scenario of the reference, with its own seed or the one given, as JSON (a
/// `sim::Trace`). Fails if the run does not show what the scenario's title claims.
pub fn trace_json(
    root: &Path,
    chapter: &Chapter,
    name: &str,
    seed: Option<u64>,
) -> Result<String, String> {
    run(root, chapter, &run_args(name, seed))
}

/// One run of a scenario, whatever it shows.
pub struct AnyRun {
    /// The trace, as JSON.
    pub trace_json: String,
    /// What the run fails to show of its title's claim, if anything.
    pub unshown: Option<String>,
}

/// The trace of one scenario run against `mechanism`, even if it does not show what its title
/// claims (a learner's mechanism may be wrong: that is what they want to see).
pub fn any_trace_json(
    root: &Path,
    chapter: &Chapter,
    mechanism: Mechanism<'_>,
    name: &str,
    seed: Option<u64>,
) -> Result<AnyRun, String> {
    let mut args = run_args(name, seed);
    args.push("--any".into());
    match run_binary(root, chapter, mechanism, &args) {
        Ok(out) => Ok(AnyRun {
            trace_json: out.stdout,
            unshown: unshown(&out.stderr),
        }),
        Err(out) => Err(out.stderr),
    }
}

/// The chart of one scenario of the reference, as JSON (a `sim::metrics::Chart`). Fails if the
/// run does not show what its title claims, or draws no chart.
pub fn chart_json(root: &Path, chapter: &Chapter, name: &str) -> Result<String, String> {
    run(root, chapter, &[name.to_string(), "--chart".to_string()])
}

/// The chart a scenario draws (JSON), run against `mechanism`, whether or not the run shows
/// what its title claims (an instructor may well want the chart of a broken variant).
pub fn any_chart_json(
    root: &Path,
    chapter: &Chapter,
    mechanism: Mechanism<'_>,
    name: &str,
    seed: Option<u64>,
) -> Result<String, String> {
    let mut args = run_args(name, seed);
    args.extend(["--any".to_string(), "--chart".to_string()]);
    run_binary(root, chapter, mechanism, &args)
        .map(|o| o.stdout)
        .map_err(|o| o.stderr)
}

/// The Markdown of one table a chapter's solution measures.
pub fn table(root: &Path, chapter: &Chapter, name: &str) -> Result<String, String> {
    run(root, chapter, &["--table".to_string(), name.to_string()])
}

/// What a run with `--any` failed to show of its title's claim, from the binary's stderr.
pub fn unshown(stderr: &str) -> Option<String> {
    stderr
        .split_once("does not show what its title claims: ")
        .map(|(_, why)| why.trim_end().to_string())
}

/// The panic (message and place) of a run that reached a `todo!()`, from the binary's stderr.
pub fn todo_panic(stderr: &str) -> Option<String> {
    stderr.contains("not yet implemented").then(|| {
        stderr
            .lines()
            .skip_while(|l| !l.contains("panicked at"))
            .take(2)
            .collect::<Vec<_>>()
            .join("\n  ")
    })
}

/// What to tell a learner whose crate reached `what`, a `todo!()`, on a scenario's path.
pub fn todo_message(chapter: &Chapter, what: &str) -> String {
    // The halt's own report goes on with the seed and the timeline: the panic and its place
    // are what matter here.
    let what = what.split("\nseed: ").next().unwrap_or(what);
    format!(
        "your crate still has a todo!() on this scenario's path:\n  {}\n\
         Replace it (the tests say where to start: `cargo test` in {}; `cargo xtask hint {}` \
         if you are stuck), then run this again.",
        what.trim(),
        chapter.exercise.display(),
        chapter.slug
    )
}

/// `SLUG/NAME` split in two.
pub fn split(reference: &str) -> Result<(&str, &str), String> {
    reference
        .split_once('/')
        .filter(|(a, b)| !a.is_empty() && !b.is_empty())
        .ok_or_else(|| format!("a scenario is named SLUG/NAME, got {reference:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_is_a_slug_and_a_name() {
        assert_eq!(split("quorum/stale-read"), Ok(("quorum", "stale-read")));
        assert!(split("quorum").is_err());
        assert!(split("/x").is_err());
    }
}
