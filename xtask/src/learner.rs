//! What a learner runs: `progress` (which exercises pass) and `hint` (the next hint).

use course::Course;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// How an exercise's tests went.
#[derive(Debug, PartialEq, Eq)]
pub enum Status {
    Passing,
    /// Every failure is a `todo!()` still standing.
    NotStarted,
    /// Some tests fail for other reasons (or it does not compile).
    Failing {
        failed: usize,
    },
}

/// Failed test names and whether each failure came from a `todo!()`.
pub fn failures(output: &str) -> Vec<(String, bool)> {
    let mut failures = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in output.lines() {
        if let Some(name) = line
            .strip_prefix("---- ")
            .and_then(|l| l.strip_suffix(" stdout ----"))
        {
            if let Some((n, body)) = current.take() {
                failures.push((n, body.contains("not yet implemented")));
            }
            current = Some((name.to_string(), String::new()));
        } else if line.starts_with("failures:") && current.is_some() {
            let (n, body) = current.take().expect("checked");
            failures.push((n, body.contains("not yet implemented")));
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    if let Some((n, body)) = current {
        failures.push((n, body.contains("not yet implemented")));
    }
    failures
}

/// Runs a package's tests and returns (success, combined output).
pub fn cargo_test(root: &Path, args: &[&str]) -> (bool, String) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    match Command::new(cargo)
        .current_dir(root)
        .env("INSTA_UPDATE", "no")
        .args(["test", "--no-fail-fast"])
        .args(args)
        .output()
    {
        Ok(out) => {
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            (out.status.success(), text)
        }
        Err(e) => (false, format!("cannot run cargo: {e}")),
    }
}

pub fn status(root: &Path, slug: &str) -> Status {
    let (ok, output) = cargo_test(root, &["-p", slug]);
    if ok {
        return Status::Passing;
    }
    let failed = failures(&output);
    if !failed.is_empty() && failed.iter().all(|(_, todo)| *todo) {
        Status::NotStarted
    } else {
        Status::Failing {
            failed: failed.len().max(1),
        }
    }
}

pub fn progress(root: &Path) -> Result<(), String> {
    let course = Course::load(root)?;
    let width = course
        .chapters
        .iter()
        .map(|c| c.title.len())
        .max()
        .unwrap_or(0);
    println!("{:<4} {:<width$} {:<22} exercise", "#", "chapter", "status");
    for chapter in &course.chapters {
        let status = match status(root, &chapter.slug) {
            Status::Passing => "passing".to_string(),
            Status::NotStarted => "not started".to_string(),
            Status::Failing { failed } => format!("{failed} test(s) failing"),
        };
        println!(
            "{:<4} {:<width$} {:<22} {}",
            chapter.number,
            chapter.title,
            status,
            chapter.exercise.display()
        );
    }
    Ok(())
}

fn hints_file(root: &Path) -> std::path::PathBuf {
    root.join("target/xtask/hints.json")
}

pub fn hint(root: &Path, slug: &str, reset: bool) -> Result<(), String> {
    let course = Course::load(root)?;
    let chapter = course.chapter(slug)?;
    let path = hints_file(root);
    let mut shown: BTreeMap<String, usize> = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    if reset {
        shown.remove(slug);
    } else {
        let count = shown.entry(slug.to_string()).or_insert(0);
        *count = (*count + 1).min(chapter.hints.len());
        for (i, hint) in chapter.hints.iter().take(*count).enumerate() {
            println!("hint {} of {}: {hint}\n", i + 1, chapter.hints.len());
        }
        if *count == chapter.hints.len() {
            println!("That was the last hint. The chapter page explains the mechanism in full.");
        } else {
            println!("Run it again for the next hint.");
        }
    }
    std::fs::create_dir_all(path.parent().expect("has a parent"))
        .and_then(|()| std::fs::write(&path, serde_json::to_string_pretty(&shown).unwrap()))
        .map_err(|e| format!("cannot save {}: {e}", path.display()))?;
    if reset {
        println!("hints for {slug} reset");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_told_apart_by_their_cause() {
        let output = "running 2 tests\n\
            test a ... FAILED\ntest b ... FAILED\n\nfailures:\n\n\
            ---- a stdout ----\nnode n0 panicked at 0.000ms while handling start: not yet implemented: send a ping\n\n\
            ---- b stdout ----\nproperty violated: order: acks in order\n\n\
            failures:\n    a\n    b\n";
        assert_eq!(
            failures(output),
            vec![("a".to_string(), true), ("b".to_string(), false)]
        );
    }
}
