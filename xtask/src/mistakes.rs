//! `cargo xtask mistakes`: how reliably the exercises' tests reject each classic mistake. Each
//! mistake (a feature of the solution) runs the exercise's tests at several generator seeds
//! (`SIM_SEED`), and counts the seeds at which its named property rejected it; the solution
//! without any mistake runs at the same seeds and must pass at every one.

use course::{Chapter, Course, Mistake};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The generator seeds of a measurement of `count` seeds: the default one (no `SIM_SEED`, what
/// a learner's `cargo test` uses) and `SIM_SEED=1` to `count - 1`.
pub fn seeds(count: u32) -> Vec<Option<u64>> {
    std::iter::once(None)
        .chain((1..u64::from(count.max(1))).map(Some))
        .collect()
}

fn seed_name(seed: Option<u64>) -> String {
    seed.map_or("default".to_string(), |s| format!("SIM_SEED={s}"))
}

/// Builds the solution's test binaries with `feature` (or none) and returns their paths: only
/// the exercise's test files, not the solution's own unit tests.
pub fn test_binaries(
    root: &Path,
    chapter: &Chapter,
    feature: Option<&str>,
) -> Result<Vec<PathBuf>, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = chapter.solution.join("Cargo.toml");
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
        .args(["test", "--no-run", "--locked", "--message-format=json"])
        .arg("--manifest-path")
        .arg(&manifest)
        .args(["--target-dir", "target/solutions", "-p"])
        .arg(chapter.solution_package())
        .arg("--tests");
    if let Some(feature) = feature {
        command.args(["--features", feature]);
    }
    let output = command
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{} with {}: does not build:\n{}",
            chapter.slug,
            feature.unwrap_or("no mistake"),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let mut binaries = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let is_test_target = message["target"]["kind"]
            .as_array()
            .is_some_and(|kinds| kinds.iter().any(|k| k == "test"));
        if let (true, Some(exe)) = (is_test_target, message["executable"].as_str()) {
            binaries.push(PathBuf::from(exe));
        }
    }
    binaries.sort();
    if binaries.is_empty() {
        return Err(format!("{}: no test binaries were built", chapter.slug));
    }
    Ok(binaries)
}

/// What one run of every test binary at one seed printed, and whether all passed.
struct Run {
    passed: bool,
    output: String,
}

fn run_at(root: &Path, binaries: &[PathBuf], seed: Option<u64>) -> Run {
    let mut passed = true;
    let mut output = String::new();
    for binary in binaries {
        let mut command = Command::new(binary);
        command
            .current_dir(root)
            .env("INSTA_UPDATE", "no")
            .env_remove("SIM_SEED")
            .env_remove("SIM_REPLAY");
        if let Some(seed) = seed {
            command.env("SIM_SEED", seed.to_string());
        }
        match command.output() {
            Ok(out) => {
                passed &= out.status.success();
                output.push_str(&String::from_utf8_lossy(&out.stdout));
                output.push_str(&String::from_utf8_lossy(&out.stderr));
            }
            Err(e) => {
                passed = false;
                output.push_str(&format!("cannot run {}: {e}\n", binary.display()));
            }
        }
    }
    Run { passed, output }
}

/// Runs `binaries` at every seed, a few at once, and returns the runs in seed order.
fn run_all(root: &Path, binaries: &[PathBuf], seeds: &[Option<u64>]) -> Vec<Run> {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let next = Mutex::new(0usize);
    let results: Mutex<Vec<(usize, Run)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..workers.min(seeds.len()) {
            scope.spawn(|| {
                loop {
                    let index = {
                        let mut next = next.lock().expect("not poisoned");
                        let index = *next;
                        *next += 1;
                        index
                    };
                    let Some(seed) = seeds.get(index) else {
                        break;
                    };
                    let run = run_at(root, binaries, *seed);
                    results.lock().expect("not poisoned").push((index, run));
                }
            });
        }
    });
    let mut results = results.into_inner().expect("not poisoned");
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, run)| run).collect()
}

/// The short names of the properties a run's reports say were violated, and the snapshots
/// that failed.
fn rejections(output: &str) -> Vec<String> {
    let mut names: Vec<String> = output
        .lines()
        .filter_map(|line| {
            if let Some(rest) = line.strip_prefix("property violated: ") {
                return Some(rest.split(':').next().unwrap_or(rest).trim().to_string());
            }
            line.strip_prefix("Snapshot: ")
                .map(|name| format!("snapshot {}", name.trim()))
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Whether the run's output says `rejected_by` rejected it (a property's short name, or the
/// name of a snapshot).
pub fn rejected_by(output: &str, rejected_by: &str) -> bool {
    rejections(output)
        .iter()
        .any(|r| r == rejected_by || r.strip_prefix("snapshot ") == Some(rejected_by))
}

/// Measures every classic mistake of the chosen chapters (all when `slug` is `None`; only the
/// mistake named `only`, with or without its `mistake-` prefix, when given) at `count` seeds,
/// and the solution at the same seeds. True if every mistake was rejected by
/// its named property at every seed and the solution passed at every seed.
pub fn measure(
    root: &Path,
    course: &Course,
    slug: Option<&str>,
    only: Option<&str>,
    count: u32,
) -> bool {
    let chapters: Vec<&Chapter> = match slug {
        Some(slug) => match course.chapter(slug) {
            Ok(chapter) => vec![chapter],
            Err(e) => {
                println!("{e}");
                return false;
            }
        },
        None => course.chapters.iter().collect(),
    };
    let seeds = seeds(count);
    let total = seeds.len();
    let mut ok = true;
    for chapter in chapters {
        // Measuring one mistake leaves the solution's own runs to a whole measurement.
        if only.is_none() {
            ok &= solution_passes(root, chapter, &seeds);
        }
        let wanted = |feature: &str| {
            only.is_none_or(|o| feature == o || feature.strip_prefix("mistake-") == Some(o))
        };
        if let Some(name) = only
            && !chapter.mistakes.iter().any(|m| wanted(&m.feature))
            && !chapter.drills.iter().any(|d| wanted(&d.feature))
        {
            println!("{}: no mistake named {name}", chapter.slug);
            ok = false;
        }
        // The drills' broken variants must be rejected as surely as the classic mistakes.
        let variants = chapter
            .mistakes
            .iter()
            .map(|m| ("mistake", &m.feature, &m.rejected_by))
            .chain(
                chapter
                    .drills
                    .iter()
                    .map(|d| ("drill", &d.feature, &d.rejected_by)),
            );
        for (kind, feature, named) in variants.filter(|(_, f, _)| wanted(f)) {
            let mistake = Mistake {
                feature: feature.clone(),
                rejected_by: named.clone(),
                what: String::new(),
            };
            let binaries = match test_binaries(root, chapter, Some(&mistake.feature)) {
                Ok(binaries) => binaries,
                Err(e) => {
                    ok = false;
                    println!("{e}");
                    continue;
                }
            };
            let runs = run_all(root, &binaries, &seeds);
            let caught: Vec<bool> = runs
                .iter()
                .map(|r| !r.passed && rejected_by(&r.output, &mistake.rejected_by))
                .collect();
            let count = caught.iter().filter(|c| **c).count();
            let mut others: Vec<String> = runs.iter().flat_map(|r| rejections(&r.output)).collect();
            others.sort();
            others.dedup();
            others.retain(|o| o != &mistake.rejected_by);
            let also = if others.is_empty() {
                String::new()
            } else {
                format!("; also rejected by {}", others.join(", "))
            };
            println!(
                "{kind} {}/{}: rejected by {} at {count}/{total} seeds{also}",
                chapter.slug, mistake.feature, mistake.rejected_by
            );
            if count < total {
                ok = false;
                let missed: Vec<String> = seeds
                    .iter()
                    .zip(&caught)
                    .filter(|(_, c)| !**c)
                    .map(|(s, _)| seed_name(*s))
                    .collect();
                println!("  missed at: {}", missed.join(", "));
                if let Some((run, _)) = runs.iter().zip(&caught).find(|(_, c)| !**c) {
                    let summary = if run.passed {
                        "every test passed".to_string()
                    } else {
                        format!("failed, but through: {:?}", rejections(&run.output))
                    };
                    println!("  at the first of them, {summary}");
                }
            }
        }
    }
    ok
}

/// Runs the solution without any mistake at every seed; true if it passes at each.
fn solution_passes(root: &Path, chapter: &Chapter, seeds: &[Option<u64>]) -> bool {
    let mut ok = true;
    let total = seeds.len();
    match test_binaries(root, chapter, None) {
        Ok(binaries) => {
            let runs = run_all(root, &binaries, seeds);
            let passed = runs.iter().filter(|r| r.passed).count();
            println!(
                "solution {}: passes at {passed}/{total} seeds",
                chapter.slug
            );
            for (seed, run) in seeds.iter().zip(&runs).filter(|(_, r)| !r.passed) {
                ok = false;
                println!("  FAILS at {}:\n{}", seed_name(*seed), indent(&run.output));
            }
        }
        Err(e) => {
            ok = false;
            println!("{e}");
        }
    }
    ok
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_seed_is_the_default_one() {
        assert_eq!(seeds(3), vec![None, Some(1), Some(2)]);
        assert_eq!(seeds(1), vec![None]);
    }

    #[test]
    fn rejections_are_read_from_reports_and_snapshot_failures() {
        let output = "property violated: one-leader: at no real instant ...\n\
                      noise\nproperty violated: fencing: the storage ...\n\
                      Snapshot: lease_timeline\n";
        assert_eq!(
            rejections(output),
            vec!["fencing", "one-leader", "snapshot lease_timeline"]
        );
        assert!(rejected_by(output, "one-leader"));
        assert!(rejected_by(output, "lease_timeline"));
        assert!(!rejected_by(output, "failover"));
    }
}
