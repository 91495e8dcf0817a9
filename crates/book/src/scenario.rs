//! Runs a named scenario of a chapter's solution (through the solution's `scenario` example)
//! and renders its trace.

use crate::course::Chapter;
use serde::Deserialize;
use sim::Trace;
use std::path::Path;
use std::process::Command;

#[derive(Debug, Deserialize)]
pub struct Listed {
    pub name: String,
    pub title: String,
    #[allow(dead_code)]
    pub seed: u64,
}

fn scenario_command(root: &Path, chapter: &Chapter, args: &[String]) -> Result<String, String> {
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

/// The scenarios a chapter's solution offers.
pub fn list(root: &Path, chapter: &Chapter) -> Result<Vec<Listed>, String> {
    let json = scenario_command(root, chapter, &[])?;
    serde_json::from_str(&json).map_err(|e| format!("bad scenario list from {}: {e}", chapter.slug))
}

/// The trace of one scenario, with its own seed or the one given.
pub fn trace(
    root: &Path,
    chapter: &Chapter,
    name: &str,
    seed: Option<u64>,
) -> Result<Trace, String> {
    let mut args = vec![name.to_string()];
    if let Some(seed) = seed {
        args.push(seed.to_string());
    }
    let json = scenario_command(root, chapter, &args)?;
    serde_json::from_str(&json).map_err(|e| format!("bad trace from {}/{name}: {e}", chapter.slug))
}

/// The Markdown of one table a chapter's solution measures.
pub fn table(root: &Path, chapter: &Chapter, name: &str) -> Result<String, String> {
    scenario_command(root, chapter, &["--table".to_string(), name.to_string()])
}

/// `SLUG/NAME` split in two.
pub fn split(reference: &str) -> Result<(&str, &str), String> {
    reference
        .split_once('/')
        .filter(|(a, b)| !a.is_empty() && !b.is_empty())
        .ok_or_else(|| format!("a scenario is named SLUG/NAME, got {reference:?}"))
}
