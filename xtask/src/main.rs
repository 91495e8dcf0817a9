//! The project's automation: `cargo xtask serve` shows the book, `cargo xtask test` runs every
//! check CI runs, and a learner's `progress`, `hint` and an instructor's `scenario`.
//!
//! xtask does not depend on mdBook: the book is built, served and checked by the book crate's
//! own binary, which xtask runs through cargo only for those commands, so a learner's first
//! `cargo xtask hint` compiles only what it needs.

mod breakit;
mod checks;
mod learner;
mod mistakes;
mod mutants;
mod porcupine;
mod realrun;
mod scenario;

use clap::{Parser, Subcommand};
use course::Course;
use scenario::Format;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

#[derive(Parser)]
#[command(about = "Automation for the workbook: book, checks, hints, scenarios")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Build the book and serve it on 127.0.0.1.
    Serve {
        /// The first port to try.
        #[arg(long, default_value_t = 3000)]
        port: u16,
    },
    /// Build the book's HTML into target/book.
    Book,
    /// Which exercises pass.
    Progress,
    /// The next hint for an exercise.
    Hint {
        /// The chapter's slug, e.g. failure-detector.
        slug: String,
        /// Forget which hints were shown.
        #[arg(long)]
        reset: bool,
    },
    /// Break the reference mechanism: list a chapter's classic mistakes, or run the exercise's
    /// tests against the reference with one of them and show the reports.
    Break {
        /// The chapter's slug, e.g. leader-lease.
        slug: String,
        /// The mistake, with or without its `mistake-` prefix (omit it for the list).
        name: Option<String>,
    },
    /// Run one of the book's scenarios and print or write its timeline: the reference's (what
    /// the book draws), your own crate's (--mine), or where yours departs from it (--compare).
    Scenario {
        /// SLUG/NAME, e.g. failure-detector/gc-pause.
        reference: String,
        /// Run your exercise crate instead of the reference solution.
        #[arg(long, conflicts_with = "compare")]
        mine: bool,
        /// Run both and print the first event where your run departs from the reference's.
        #[arg(long)]
        compare: bool,
        /// Run the reference with this feature of the solution: a drill's broken variant
        /// (drill-...) or a classic mistake (mistake-...).
        #[arg(long, conflicts_with_all = ["mine", "compare"])]
        variant: Option<String>,
        #[arg(long)]
        seed: Option<u64>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Write to this file instead of printing.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// How reliably the tests reject each classic mistake: runs the exercise's tests against
    /// the solution with each mistake at several generator seeds (SIM_SEED), and the solution
    /// without any at the same seeds.
    Mistakes {
        /// Only this chapter's mistakes (its slug, e.g. quorum).
        slug: Option<String>,
        /// How many seeds: the default one, then SIM_SEED=1, 2, ...
        #[arg(long, default_value_t = 20)]
        seeds: u32,
        /// Only this mistake (its feature, with or without the `mistake-` prefix).
        #[arg(long)]
        mistake: Option<String>,
    },
    /// Mutation testing (cargo-mutants, installed if missing) of each solution's mechanism
    /// code with the exercise's tests; writes solutions/NN-slug/mutants.md.
    Mutants {
        /// Only this chapter (its slug).
        slug: Option<String>,
    },
    /// Run a chapter's nodes as real processes on loopback (UDP, real clocks, real signals):
    /// the merged timeline prints as it goes; without --for or --script it takes commands
    /// (pause n2, resume n2, crash n2, restart n2, partition n0 | n1 n2, heal, loss 0.2,
    /// stop). Writes the trace, SVG and Perfetto files to target/real/SLUG when it ends.
    Real {
        /// The chapter's slug: failure-detector or leader-lease.
        slug: String,
        /// Run the reference solution instead of your exercise crate.
        #[arg(long)]
        reference: bool,
        /// How many processes (default: the chapter's).
        #[arg(long)]
        nodes: Option<u32>,
        /// Stop after this long (`10s`, `2500ms`).
        #[arg(long = "for")]
        duration: Option<String>,
        /// Commands at times, one per line: `2s pause n2`.
        #[arg(long)]
        script: Option<PathBuf>,
        /// A fault plan (the simulator's JSON): network faults, timed faults, note triggers.
        #[arg(long)]
        plan: Option<PathBuf>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// The real runs of the reference that `cargo xtask test` makes, `--runs` times each, with
    /// each run's detection times: how flaky they are on this machine.
    RealCheck {
        #[arg(long, default_value_t = 20)]
        runs: u32,
    },
    /// Every check, as CI runs them.
    Test {
        /// Run only the checks whose name contains this text (e.g. "book", "mistakes").
        #[arg(long)]
        only: Option<String>,
    },
    /// Check the linearizability checker against the published Porcupine verdicts.
    Porcupine {
        /// The folder holding `jepsen/` and `kv/` (default: ../shared/data/porcupine).
        #[arg(long)]
        data: Option<PathBuf>,
    },
}

/// The workspace root (xtask lives one level below it).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace")
        .to_path_buf()
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Runs cargo in the workspace root, streaming its output; true if it succeeded.
fn run_cargo(args: &[&str]) -> bool {
    eprintln!("$ cargo {}", args.join(" "));
    Command::new(cargo())
        .args(args)
        .current_dir(root())
        .env("INSTA_UPDATE", "no")
        .status()
        .is_ok_and(|s| s.success())
}

/// How many generator seeds `cargo xtask test` rejects each classic mistake at: enough that a
/// mistake caught only at one lucky seed fails CI (`cargo xtask mistakes` measures more).
const CI_SEEDS: u32 = 3;

fn test(only: Option<&str>) -> Result<bool, String> {
    let root = root();
    let course = Course::load(&root)?;
    let mut exclude = Vec::new();
    for chapter in &course.chapters {
        exclude.extend(["--exclude".to_string(), chapter.slug.clone()]);
    }
    let mut crate_tests = vec!["test", "--workspace", "--locked"];
    crate_tests.extend(exclude.iter().map(String::as_str));
    let solutions = [
        "--manifest-path",
        "solutions/Cargo.toml",
        "--target-dir",
        "target/solutions",
        "--workspace",
        "--locked",
        "--all-targets",
    ];
    let mut clippy_solutions = vec!["clippy"];
    clippy_solutions.extend(solutions);
    let mut clippy_mistakes = clippy_solutions.clone();
    clippy_mistakes.push("--all-features");
    for args in [&mut clippy_solutions, &mut clippy_mistakes] {
        args.extend(["--", "-D", "warnings"]);
    }
    type Check<'a> = (&'a str, Box<dyn Fn() -> bool + 'a>);
    let checks: Vec<Check> = vec![
        (
            "fmt",
            Box::new(|| run_cargo(&["fmt", "--all", "--", "--check"])),
        ),
        (
            "fmt (solutions)",
            Box::new(|| {
                run_cargo(&[
                    "fmt",
                    "--manifest-path",
                    "solutions/Cargo.toml",
                    "--all",
                    "--",
                    "--check",
                ])
            }),
        ),
        (
            "clippy",
            Box::new(|| {
                run_cargo(&[
                    "clippy",
                    "--workspace",
                    "--all-targets",
                    "--locked",
                    "--",
                    "-D",
                    "warnings",
                ])
            }),
        ),
        (
            "clippy (solutions)",
            Box::new(|| run_cargo(&clippy_solutions)),
        ),
        (
            "clippy (solutions with every mistake)",
            Box::new(|| run_cargo(&clippy_mistakes)),
        ),
        ("crate tests", Box::new(|| run_cargo(&crate_tests))),
        (
            "solutions pass their exercises' tests",
            Box::new(|| checks::solutions_pass(&root, &course)),
        ),
        (
            "exercises fail only through todo!()",
            Box::new(|| checks::exercises_fail_only_through_todo(&root, &course)),
        ),
        (
            "classic mistakes and drill variants are rejected at every seed",
            Box::new(|| mistakes::measure(&root, &course, None, None, CI_SEEDS)),
        ),
        (
            "cargo xtask break shows the reports",
            Box::new(|| breakit::check(&root, &course)),
        ),
        (
            "cargo xtask scenario --mine draws the reference's timelines from its code",
            Box::new(|| scenario::check(&root, &course)),
        ),
        (
            "real runs on loopback: a frozen node is suspected and trusted again, a frozen lease holder is fenced",
            Box::new(|| realrun::check(&root, &course, 1)),
        ),
        (
            "lincheck gives the published verdicts",
            Box::new(|| porcupine::check(&porcupine::default_data(&root))),
        ),
        (
            "the book builds with its timelines",
            Box::new(|| book_command(&["build"])),
        ),
        (
            "the book's links resolve",
            Box::new(|| book_command(&["links"])),
        ),
        (
            "a browser renders every page",
            Box::new(|| book_command(&["browser"])),
        ),
        (
            "the lab reruns figures in a browser (controls, step-through, refusals)",
            Box::new(|| book_command(&["lab"])),
        ),
    ];
    let mut failed = Vec::new();
    let mut passed = 0;
    let all = Instant::now();
    let selected = checks
        .iter()
        .filter(|(name, _)| only.is_none_or(|o| name.contains(o)));
    for (name, check) in selected {
        // Host time only reports how long each check took; nothing is decided by it.
        let started = Instant::now();
        eprintln!("\n== {name}");
        if check() {
            passed += 1;
            eprintln!("== {name}: ok ({:.1}s)", started.elapsed().as_secs_f64());
        } else {
            failed.push(*name);
            eprintln!(
                "== {name}: FAILED ({:.1}s)",
                started.elapsed().as_secs_f64()
            );
        }
    }
    eprintln!("\nall checks took {:.1}s", all.elapsed().as_secs_f64());
    if !failed.is_empty() {
        eprintln!("failed: {}", failed.join("; "));
    }
    println!("checks: {passed} passed, {} failed", failed.len());
    Ok(failed.is_empty())
}

/// Runs the book crate's binary (`crates/book/src/main.rs`) with `args`, streaming its output:
/// the only place that compiles mdBook.
fn book_command(args: &[&str]) -> bool {
    let mut all = vec!["run", "--quiet", "--locked", "-p", "book", "--"];
    all.extend(args);
    run_cargo(&all)
}

fn main() -> ExitCode {
    let outcome = match Cli::parse().command {
        Task::Test { only } => test(only.as_deref()),
        Task::Serve { port } => Ok(book_command(&["serve", "--port", &port.to_string()])),
        Task::Book => Ok(book_command(&["build"])),
        Task::Progress => learner::progress(&root()).map(|()| true),
        Task::Hint { slug, reset } => learner::hint(&root(), &slug, reset).map(|()| true),
        Task::Scenario {
            reference,
            mine,
            compare,
            variant,
            seed,
            format,
            out,
        } => {
            let which = match (mine, compare, variant.as_deref()) {
                (_, true, _) => scenario::Which::Compare,
                (true, false, _) => scenario::Which::Mine,
                (false, false, Some(feature)) => scenario::Which::Variant(feature),
                (false, false, None) => scenario::Which::Reference,
            };
            scenario::command(&root(), &reference, seed, format, out, which).map(|()| true)
        }
        Task::Break { slug, name } => Course::load(&root())
            .and_then(|course| breakit::run(&root(), &course, &slug, name.as_deref())),
        Task::Mistakes {
            slug,
            seeds,
            mistake,
        } => Course::load(&root()).map(|course| {
            mistakes::measure(&root(), &course, slug.as_deref(), mistake.as_deref(), seeds)
        }),
        Task::Mutants { slug } => {
            Course::load(&root()).and_then(|course| mutants::run(&root(), &course, slug.as_deref()))
        }
        Task::Real {
            slug,
            reference,
            nodes,
            duration,
            script,
            plan,
            seed,
        } => Course::load(&root()).and_then(|course| {
            let whose = if reference {
                realrun::Whose::Reference
            } else {
                realrun::Whose::Mine
            };
            let request = realrun::Request {
                slug: &slug,
                whose,
                nodes,
                duration: duration.as_deref(),
                script: script.as_deref(),
                plan: plan.as_deref(),
                seed,
            };
            realrun::run(&root(), &course, &request)
        }),
        Task::RealCheck { runs } => {
            Course::load(&root()).map(|course| realrun::check(&root(), &course, runs))
        }
        Task::Porcupine { data } => Ok(porcupine::check(
            &data.unwrap_or_else(|| porcupine::default_data(&root())),
        )),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
