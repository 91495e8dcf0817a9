//! Runs a chapter's solution's scenario binary (its `SLUG-scenario` example), which speaks the
//! small protocol of `sim::scenario`: the list of scenarios, one run's trace, or one table, each
//! as text. Callers that need the trace as a value parse the JSON with `sim`.

use crate::Chapter;
use std::path::Path;
use std::process::Command;

/// What the scenario binary printed for `args`.
fn run(root: &Path, chapter: &Chapter, args: &[String]) -> Result<String, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(root)
        .args(["run", "--quiet", "--manifest-path"])
        .arg(chapter.solution.join("Cargo.toml"))
        .args(["--target-dir", "target/solutions"])
        .args(["-p", &chapter.solution_package(), "--example"])
        .arg(chapter.scenario_example())
        .arg("--")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "scenario {}/{} failed:\n{}",
            chapter.slug,
            args.first().map_or("(list)", |s| s.as_str()),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The scenarios a chapter's solution offers, as JSON (`[{"name", "title", "seed"}, ...]`).
pub fn list_json(root: &Path, chapter: &Chapter) -> Result<String, String> {
    run(root, chapter, &[])
}

/// The trace of one scenario, with its own seed or the one given, as JSON (a `sim::Trace`).
pub fn trace_json(
    root: &Path,
    chapter: &Chapter,
    name: &str,
    seed: Option<u64>,
) -> Result<String, String> {
    let mut args = vec![name.to_string()];
    if let Some(seed) = seed {
        args.push(seed.to_string());
    }
    run(root, chapter, &args)
}

/// The Markdown of one table a chapter's solution measures.
pub fn table(root: &Path, chapter: &Chapter, name: &str) -> Result<String, String> {
    run(root, chapter, &["--table".to_string(), name.to_string()])
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
