//! The checks `cargo xtask test` runs beyond fmt, clippy and the crates' tests: exercises fail
//! only through `todo!()`, and solutions pass the exercises' tests. (Classic mistakes are in
//! `mistakes`; the book's links and the browser check are the book crate's own, in
//! `crates/book/src/checks.rs`.)

use crate::learner::{cargo_test, failures};
use course::Course;
use std::path::Path;

/// Each exercise as shipped compiles, fails, and fails only where a `todo!()` stands.
pub fn exercises_fail_only_through_todo(root: &Path, course: &Course) -> bool {
    let mut ok = true;
    for chapter in &course.chapters {
        let (passed, output) = cargo_test(root, &["-p", &chapter.slug]);
        let failed = failures(&output);
        let problem = if passed {
            Some("passes as shipped: its tests check nothing the stubs leave undone".to_string())
        } else if failed.is_empty() {
            Some(format!("does not compile or run:\n{output}"))
        } else {
            let other: Vec<&str> = failed
                .iter()
                .filter(|(_, todo)| !todo)
                .map(|(name, _)| name.as_str())
                .collect();
            (!other.is_empty()).then(|| format!("fails other than through todo!(): {other:?}"))
        };
        match problem {
            None => println!(
                "exercise {}: {} tests fail, all through todo!()",
                chapter.slug,
                failed.len()
            ),
            Some(why) => {
                ok = false;
                println!("exercise {}: {why}", chapter.slug);
            }
        }
    }
    ok
}

fn solutions_args<'a>(
    manifest: &'a str,
    package: &'a str,
    features: Option<&'a str>,
) -> Vec<&'a str> {
    let mut args = vec![
        "--manifest-path",
        manifest,
        "--target-dir",
        "target/solutions",
        "--locked",
        "-p",
        package,
    ];
    if let Some(f) = features {
        args.extend(["--features", f]);
    }
    args
}

/// Each solution passes its exercise's tests, unchanged.
pub fn solutions_pass(root: &Path, course: &Course) -> bool {
    let mut ok = true;
    for chapter in &course.chapters {
        let package = chapter.solution_package();
        let manifest = chapter.solution.join("Cargo.toml").display().to_string();
        let (passed, output) = cargo_test(root, &solutions_args(&manifest, &package, None));
        if passed {
            let count: usize = output
                .lines()
                .filter_map(|l| l.strip_prefix("test result: ok. "))
                .filter_map(|l| l.split(' ').next()?.parse::<usize>().ok())
                .sum();
            println!("solution {package}: {count} tests pass");
        } else {
            ok = false;
            println!("solution {package} FAILS its exercise's tests:\n{output}");
        }
    }
    ok
}
