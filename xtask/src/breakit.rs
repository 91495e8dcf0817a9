//! `cargo xtask break SLUG [NAME]`: break the reference mechanism on purpose. Without a name it
//! lists the chapter's classic mistakes (not which property rejects each: that is for the
//! learner to predict); with one it runs the exercise's tests against the reference solution
//! with that mistake switched in, and shows the reports they print.

use crate::mistakes::test_binaries;
use course::{Chapter, Course, Mistake};
use std::path::Path;
use std::process::Command;

/// The mistake called `name`, with or without its `mistake-` prefix.
fn find<'a>(chapter: &'a Chapter, name: &str) -> Option<&'a Mistake> {
    let name = name.strip_prefix("mistake-").unwrap_or(name);
    chapter
        .mistakes
        .iter()
        .find(|m| m.feature.strip_prefix("mistake-").unwrap_or(&m.feature) == name)
}

/// The mistake's description up to where it starts telling what goes wrong: the learner is to
/// predict that.
fn short(what: &str) -> &str {
    [": ", ", so "]
        .iter()
        .filter_map(|cut| what.find(cut))
        .min()
        .map_or(what, |end| &what[..end])
}

fn list(chapter: &Chapter) {
    println!(
        "The classic mistakes of {} (run one with `cargo xtask break {} NAME`):\n",
        chapter.slug, chapter.slug
    );
    let width = chapter
        .mistakes
        .iter()
        .map(|m| m.feature.len())
        .max()
        .unwrap_or(0);
    for mistake in &chapter.mistakes {
        let name = mistake
            .feature
            .strip_prefix("mistake-")
            .unwrap_or(&mistake.feature);
        println!("  {name:<width$}  {}", short(&mistake.what));
    }
    println!(
        "\nBefore you run one, predict: which property fails, at what moment of the run, and why. \
         The chapter's \"Break it\" section has the answers."
    );
}

/// The body of each failed test in libtest's output: what its `---- NAME stdout ----`
/// section printed, up to the next section or the final list.
fn failed_sections(output: &str) -> Vec<(String, String)> {
    let mut sections = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in output.lines() {
        if let Some(name) = line
            .strip_prefix("---- ")
            .and_then(|l| l.strip_suffix(" stdout ----"))
        {
            sections.extend(current.take());
            current = Some((name.to_string(), String::new()));
        } else if line.starts_with("failures:") && current.is_some() {
            sections.extend(current.take());
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    sections.extend(current);
    sections
}

/// The reports the exercise's tests print against the reference with `mistake` switched in,
/// one section per failed test (empty if every test passed).
pub fn reports(root: &Path, chapter: &Chapter, mistake: &Mistake) -> Result<String, String> {
    let binaries = test_binaries(root, chapter, Some(&mistake.feature))?;
    // A property's report names the rule, the plan and the moment; a snapshot diff only shows
    // lines that differ. Properties first, each group in the order of the steps.
    let mut properties = String::new();
    let mut snapshots = String::new();
    for binary in &binaries {
        let output = Command::new(binary)
            .current_dir(root)
            .env("INSTA_UPDATE", "no")
            .env("RUST_BACKTRACE", "0")
            .env_remove("SIM_REPLAY")
            .env_remove("SIM_SEED")
            .env_remove("SIM_CASES")
            .output()
            .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let step = binary
            .file_name()
            .and_then(|f| f.to_str())
            .and_then(|f| f.rsplit_once('-').map(|(stem, _)| stem.to_string()))
            .unwrap_or_default();
        for (test, body) in failed_sections(&text) {
            let out = if body.contains("property violated: ") {
                &mut properties
            } else {
                &mut snapshots
            };
            out.push_str(&format!("\n━━━ {step}: {test} ━━━\n"));
            out.push_str(body.trim_end_matches('\n'));
            out.push('\n');
        }
    }
    Ok(properties + &snapshots)
}

/// Lists the mistakes of `slug`, or runs the one named `name`. Ok(false) if the run found
/// nothing to report (which would mean the tests let the mistake through).
pub fn run(root: &Path, course: &Course, slug: &str, name: Option<&str>) -> Result<bool, String> {
    let chapter = course.chapter(slug)?;
    let Some(name) = name else {
        list(chapter);
        return Ok(true);
    };
    let Some(mistake) = find(chapter, name) else {
        list(chapter);
        return Err(format!("{slug} has no classic mistake called {name:?}"));
    };
    if !root.join(&chapter.solution).exists() {
        return Err(format!(
            "cargo xtask break runs the reference solution with the mistake switched in, and \
             {} is not in this copy of the workbook (a clone of the repository has it). The \
             page's \"Break it\" answers say what the run would show.",
            chapter.solution.display()
        ));
    }
    println!(
        "Building the reference solution of {slug} with {} ...",
        mistake.feature
    );
    let text = reports(root, chapter, mistake)?;
    if text.is_empty() {
        println!(
            "\nEvery test passed with {}: the tests do not reject it. Please report this.",
            mistake.feature
        );
        return Ok(false);
    }
    print!("{text}");
    println!(
        "\n{} test(s) failed. The replay commands above run the exercise's own tests; to \
         replay a case against this broken reference instead, run from the workspace root:\n  \
         SIM_REPLAY='...' cargo test --manifest-path solutions/Cargo.toml -p {} --features {} \
         --test STEP TEST",
        text.matches("\n━━━ ").count(),
        chapter.solution_package(),
        mistake.feature
    );
    Ok(true)
}

/// The check `cargo xtask test` runs: for each chapter, `break` on its first mistake shows the
/// report of the property that must reject it.
pub fn check(root: &Path, course: &Course) -> bool {
    let mut ok = true;
    for chapter in &course.chapters {
        let Some(mistake) = chapter.mistakes.first() else {
            println!("break {}: the chapter has no classic mistake", chapter.slug);
            ok = false;
            continue;
        };
        match reports(root, chapter, mistake) {
            Ok(text) if crate::mistakes::rejected_by(&text, &mistake.rejected_by) => println!(
                "break {} {}: shows the {} report",
                chapter.slug, mistake.feature, mistake.rejected_by
            ),
            Ok(text) => {
                ok = false;
                println!(
                    "break {} {}: no {} report in:\n{text}",
                    chapter.slug, mistake.feature, mistake.rejected_by
                );
            }
            Err(e) => {
                ok = false;
                println!("break {} {}: {e}", chapter.slug, mistake.feature);
            }
        }
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_keeps_what_the_mistake_is_not_what_it_breaks() {
        assert_eq!(
            short("the storage trusts the lease check, so a stale leader writes"),
            "the storage trusts the lease check"
        );
        assert_eq!(short("no drift margin: a slow holder"), "no drift margin");
        assert_eq!(short("plain"), "plain");
    }

    #[test]
    fn each_failed_test_s_report_is_found_whole() {
        let output = "running 2 tests\ntest a ... FAILED\ntest b ... ok\n\nfailures:\n\n\
            ---- a stdout ----\n\nproperty violated: order: ...\n  detail\n\n\
            failures:\n    a\n\ntest result: FAILED.";
        let sections = failed_sections(output);
        assert_eq!(sections.len(), 1);
        assert_eq!(sections[0].0, "a");
        assert!(sections[0].1.contains("property violated: order"));
        assert!(sections[0].1.contains("  detail"));
        assert!(!sections[0].1.contains("test result"));
    }
}
