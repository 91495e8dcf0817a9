//! `cargo xtask mutants [SLUG]`: mutation testing of each solution's mechanism code with
//! cargo-mutants, using the exercise's test files as the suite (not the solution's own unit
//! tests). The results go to `solutions/NN-slug/mutants.md`, which keeps the written reason for
//! every missed mutant across runs and marks the ones nobody has explained yet.

use course::{Chapter, Course};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The cargo-mutants release the summaries were made with.
const VERSION: &str = "27.1.0";

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Installs the pinned cargo-mutants unless it is there already.
fn ensure_installed() -> Result<(), String> {
    let installed = Command::new(cargo())
        .args(["mutants", "--version"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if installed.as_deref() == Some(&format!("cargo-mutants {VERSION}")) {
        return Ok(());
    }
    println!("installing cargo-mutants {VERSION} (once; a few minutes)");
    let status = Command::new(cargo())
        .args(["install", "cargo-mutants", "--locked", "--version", VERSION])
        .status()
        .map_err(|e| format!("cannot run cargo install: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo install cargo-mutants {VERSION} failed"))
    }
}

/// Copies `paths` of the working tree (without build output) to `dest`, replacing whatever
/// was there: a tree that can be changed (mutated, or given another crate's source) without
/// touching the working tree.
pub fn copy_sources(root: &Path, dest: &Path, paths: &[&str]) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(dest);
    std::fs::create_dir_all(dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    // `-m`: the copies get the current time, not the originals'. Builds of earlier copies stay
    // in a shared target folder, and cargo, which compares times, would otherwise take a build
    // of a mutated file (newer than the original it restored) for the build of this copy.
    let script = format!(
        "set -o pipefail; tar -C '{}' --exclude=target -cf - {} | tar -C '{}' -xmf -",
        root.display(),
        paths.join(" "),
        dest.display()
    );
    let status = Command::new("bash")
        .args(["-c", &script])
        .status()
        .map_err(|e| format!("cannot run tar: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "copying {} to {} failed",
            paths.join(", "),
            dest.display()
        ))
    }
}

/// What cargo-mutants needs to build a solution and run its exercise's tests (the warm-up's
/// scenarios read a page of the book).
const MUTANTS_TREE: [&str; 7] = [
    "Cargo.toml",
    "Cargo.lock",
    "course.toml",
    "book/src",
    "crates",
    "exercises",
    "solutions",
];

/// The names of the solution's test targets: the exercise's test files.
fn test_targets(root: &Path, chapter: &Chapter) -> Result<Vec<String>, String> {
    let output = Command::new(cargo())
        .current_dir(root)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--manifest-path",
        ])
        .arg(root.join("solutions/Cargo.toml"))
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("cargo metadata printed no JSON: {e}"))?;
    let package = chapter.solution_package();
    let targets = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["name"] == package.as_str())
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .filter(|t| {
            t["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "test"))
        })
        .filter_map(|t| t["name"].as_str().map(str::to_string))
        .collect::<Vec<_>>();
    if targets.is_empty() {
        return Err(format!("{package} has no test targets"));
    }
    Ok(targets)
}

/// The lines of one of cargo-mutants' result lists.
fn listed(out: &Path, name: &str) -> Vec<String> {
    std::fs::read_to_string(out.join("mutants.out").join(name))
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// A mutant's name without its `:line:col`, which moves whenever the code above it changes.
fn without_position(mutant: &str) -> String {
    match mutant.split_once(": ") {
        Some((place, what)) => {
            let file = place.split(':').next().unwrap_or(place);
            format!("{file}: {what}")
        }
        None => mutant.to_string(),
    }
}

/// The reasons written in an earlier summary, by mutant (`- `MUTANT`: reason` lines).
fn reasons(summary: &str) -> BTreeMap<String, String> {
    summary
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("- `")?;
            let (mutant, reason) = rest.split_once("`: ")?;
            Some((mutant.to_string(), reason.trim().to_string()))
        })
        .filter(|(_, reason)| !reason.starts_with("UNEXPLAINED"))
        .collect()
}

fn summary_path(root: &Path, chapter: &Chapter) -> PathBuf {
    root.join(&chapter.solution).join("mutants.md")
}

/// Runs cargo-mutants on one chapter and rewrites its summary. True if every missed or
/// timed-out mutant has a written reason.
fn chapter(root: &Path, chapter: &Chapter) -> Result<bool, String> {
    let started = Instant::now();
    let work = root.join("target/mutants").join(&chapter.slug);
    let tree = work.join("tree");
    copy_sources(root, &tree, &MUTANTS_TREE)?;
    let folder = chapter
        .solution
        .file_name()
        .and_then(|f| f.to_str())
        .ok_or("a solution folder")?
        .to_string();
    let mut command = Command::new(cargo());
    command
        .current_dir(&tree)
        .env("INSTA_UPDATE", "no")
        .env("CARGO_TARGET_DIR", root.join("target/mutants/target"))
        .args(["mutants", "--in-place", "--no-shuffle", "--manifest-path"])
        .arg(tree.join("solutions/Cargo.toml"))
        .args(["-p", &chapter.solution_package()])
        .args(["-f", &format!("{folder}/src/lib.rs")])
        .arg("-o")
        .arg(&work);
    for target in test_targets(root, chapter)? {
        command.arg(format!("--cargo-test-arg=--test={target}"));
    }
    println!("$ cargo mutants ... ({}; this takes a while)", chapter.slug);
    // cargo-mutants exits non-zero when mutants are missed; the lists tell what happened.
    let status = command
        .status()
        .map_err(|e| format!("cannot run cargo mutants: {e}"))?;
    let (caught, missed, timeout, unviable) = (
        listed(&work, "caught.txt"),
        listed(&work, "missed.txt"),
        listed(&work, "timeout.txt"),
        listed(&work, "unviable.txt"),
    );
    let total = caught.len() + missed.len() + timeout.len() + unviable.len();
    if total == 0 {
        return Err(format!(
            "cargo mutants tested nothing for {} (exit {status}); see {}",
            chapter.slug,
            work.join("mutants.out").display()
        ));
    }
    let path = summary_path(root, chapter);
    let old = reasons(&std::fs::read_to_string(&path).unwrap_or_default());
    let old_loose: BTreeMap<String, &String> = old
        .iter()
        .map(|(mutant, reason)| (without_position(mutant), reason))
        .collect();
    let minutes = started.elapsed().as_secs_f64() / 60.0;
    let mut text = format!(
        "# Mutation testing: {}\n\n\
         `cargo xtask mutants {}` runs cargo-mutants {VERSION} over `{}/src/lib.rs`, the \
         mechanism (not the scenarios the book draws), with the exercise's test files as the \
         suite. Each missed mutant below is either harmless, with the reason, or names the test \
         that now catches it.\n\n\
         Last run: {total} mutants, {} caught, {} missed, {} timed out, {} unviable \
         ({minutes:.0} minutes on the machine that ran it).\n",
        chapter.slug,
        chapter.slug,
        chapter.solution.display(),
        caught.len(),
        missed.len(),
        timeout.len(),
        unviable.len()
    );
    let mut unexplained = 0;
    for (title, list) in [("Missed", &missed), ("Timed out", &timeout)] {
        if list.is_empty() {
            continue;
        }
        text.push_str(&format!("\n## {title}\n\n"));
        for mutant in list {
            let reason = old
                .get(mutant)
                .or_else(|| old_loose.get(&without_position(mutant)).copied());
            match reason {
                Some(reason) => text.push_str(&format!("- `{mutant}`: {reason}\n")),
                None => {
                    unexplained += 1;
                    text.push_str(&format!("- `{mutant}`: UNEXPLAINED\n"));
                }
            }
        }
    }
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    println!(
        "mutants {}: {total} generated, {} caught, {} missed, {} timed out, {} unviable, \
         {unexplained} unexplained ({minutes:.1} min); wrote {}",
        chapter.slug,
        caught.len(),
        missed.len(),
        timeout.len(),
        unviable.len(),
        path.display()
    );
    Ok(unexplained == 0)
}

/// Runs the chosen chapter (or every one) and reports whether every survivor is explained.
pub fn run(root: &Path, course: &Course, slug: Option<&str>) -> Result<bool, String> {
    ensure_installed()?;
    let chapters: Vec<&Chapter> = match slug {
        Some(slug) => vec![course.chapter(slug)?],
        None => course.chapters.iter().collect(),
    };
    let mut ok = true;
    for c in chapters {
        ok &= chapter(root, c)?;
    }
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_survive_a_move_of_the_code_but_not_an_unexplained_mark() {
        let summary = "# x\n\n## Missed\n\n\
            - `a/src/lib.rs:10:5: replace f -> bool with true`: f is only used by the book\n\
            - `a/src/lib.rs:20:9: replace < with <= in g`: UNEXPLAINED\n";
        let old = reasons(summary);
        assert_eq!(old.len(), 1);
        assert_eq!(
            without_position("a/src/lib.rs:12:5: replace f -> bool with true"),
            without_position("a/src/lib.rs:10:5: replace f -> bool with true")
        );
    }
}
