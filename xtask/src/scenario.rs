//! `cargo xtask scenario SLUG/NAME [--mine | --compare]`: one of the book's scenarios, run
//! against the reference solution (what the figure shows), against the learner's own exercise
//! crate (`--mine`), or both, printing the first event where they part (`--compare`).
//!
//! Both runs build the same scenario file (the exercise's `examples/scenario/scenarios.rs`),
//! and the simulator is deterministic, so a learner whose mechanism makes the reference's
//! decisions gets the reference's timeline event for event.

use course::scenario::{self, Mechanism};
use course::{Chapter, Course};
use std::path::{Path, PathBuf};

/// How the timeline is printed or written.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    Text,
    Svg,
    Perfetto,
    /// The scenario's chart of metrics over time (SVG), for scenarios that draw one.
    Chart,
}

/// What to run: whose mechanism, or the reference and the learner's side by side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which<'a> {
    Reference,
    /// The reference with one of its features: a drill's broken variant or a classic mistake.
    Variant(&'a str),
    Mine,
    Compare,
}

/// One run against `mechanism`: its trace, and what (if anything) it fails to show of the
/// scenario's title. A run that reached a `todo!()` is an error pointing at it.
fn run(
    root: &Path,
    chapter: &Chapter,
    mechanism: Mechanism<'_>,
    name: &str,
    seed: Option<u64>,
) -> Result<(sim::Trace, Option<String>), String> {
    if mechanism == Mechanism::Mine {
        eprintln!(
            "building the scenario against your crate ({})...",
            chapter.exercise.display()
        );
    }
    let ran = scenario::any_trace_json(root, chapter, mechanism, name, seed)
        .map_err(|stderr| failed(root, chapter, mechanism, name, &stderr))?;
    let trace: sim::Trace = serde_json::from_str(&ran.trace_json)
        .map_err(|e| format!("bad trace from {}/{name}: {e}", chapter.slug))?;
    if mechanism == Mechanism::Mine {
        // The run's verdict quotes the halt with the panic's source location; the trace's halt
        // event has only its message.
        let in_todo = ran
            .unshown
            .clone()
            .filter(|why| why.contains("not yet implemented"))
            .or_else(|| halted_in_todo(&trace));
        if let Some(reason) = in_todo {
            return Err(scenario::todo_message(chapter, &reason));
        }
    }
    Ok((trace, ran.unshown))
}

/// The reason of the run's halt, if a node's handler reached a `todo!()`.
fn halted_in_todo(trace: &sim::Trace) -> Option<String> {
    trace.events.iter().find_map(|e| match &e.kind {
        sim::EventKind::Halt { reason } if reason.contains("not yet implemented") => {
            Some(reason.clone())
        }
        _ => None,
    })
}

/// Why the scenario binary failed, in the terms of whoever has to act on it.
fn failed(
    root: &Path,
    chapter: &Chapter,
    mechanism: Mechanism<'_>,
    name: &str,
    stderr: &str,
) -> String {
    match mechanism {
        Mechanism::Mine if scenario::todo_panic(stderr).is_some() => {
            scenario::todo_message(chapter, &scenario::todo_panic(stderr).unwrap_or_default())
        }
        Mechanism::Mine if stderr.contains("could not compile") => format!(
            "your crate does not compile with the scenario (it builds {}'s public API as the \
             exercise ships it; keep the names and signatures):\n{stderr}",
            chapter.slug
        ),
        Mechanism::Mine => format!("the scenario failed against your crate:\n{stderr}"),
        Mechanism::Reference | Mechanism::Variant(_) if !root.join(&chapter.solution).exists() => {
            format!(
                "scenario {}/{name} runs the reference solution, and {} is not here: run it with \
             --mine to draw your own crate's run",
                chapter.slug,
                chapter.solution.display()
            )
        }
        Mechanism::Reference | Mechanism::Variant(_) => {
            format!("scenario {}/{name} failed:\n{stderr}", chapter.slug)
        }
    }
}

fn render(trace: &sim::Trace, format: Format) -> String {
    match format {
        Format::Text => sim::render::text::render(trace),
        Format::Svg => sim::render::svg::render_default(trace),
        Format::Perfetto => sim::render::perfetto::render(trace),
        Format::Chart => unreachable!("a chart is drawn from the scenario's chart, not its trace"),
    }
}

/// Where two text timelines part: the 0-based line, or `None` if they are the same.
fn first_difference(reference: &str, mine: &str) -> Option<usize> {
    let (a, b): (Vec<&str>, Vec<&str>) = (reference.lines().collect(), mine.lines().collect());
    (0..a.len().max(b.len())).find(|i| a.get(*i) != b.get(*i))
}

/// The report of `--compare`: the same, or the lines just before the first departure, then
/// the reference's line and the learner's.
fn comparison(reference: &str, mine: &str) -> String {
    let Some(at) = first_difference(reference, mine) else {
        return format!(
            "Your run is the reference's, event for event ({} events).\n",
            reference.lines().count()
        );
    };
    let (a, b): (Vec<&str>, Vec<&str>) = (reference.lines().collect(), mine.lines().collect());
    let mut out = format!(
        "Your run follows the reference's for {at} events, then parts at event {}:\n\n",
        at + 1
    );
    for line in &a[at.saturating_sub(4)..at] {
        out.push_str(&format!("  both       {line}\n"));
    }
    let shown =
        |line: Option<&&str>| line.map_or("(no more events)".to_string(), |l| l.to_string());
    out.push_str(&format!("  reference  {}\n", shown(a.get(at))));
    out.push_str(&format!("  yours      {}\n", shown(b.get(at))));
    out.push_str(
        "\nAsk which rule decides what happens at that event, and why your node decided \
         otherwise. The whole timelines: add --mine for yours, leave it out for the \
         reference's.\n",
    );
    out
}

/// The `scenario` command.
pub fn command(
    root: &Path,
    reference: &str,
    seed: Option<u64>,
    format: Format,
    out: Option<PathBuf>,
    which: Which<'_>,
) -> Result<(), String> {
    let course = Course::load(root)?;
    let (slug, name) = scenario::split(reference)?;
    let chapter = course.chapter(slug)?;
    if which == Which::Compare {
        let (theirs, _) = run(root, chapter, Mechanism::Reference, name, seed)?;
        let (mine, _) = run(root, chapter, Mechanism::Mine, name, seed)?;
        print!(
            "{}",
            comparison(&render(&theirs, Format::Text), &render(&mine, Format::Text))
        );
        return Ok(());
    }
    let mechanism = match which {
        Which::Mine => Mechanism::Mine,
        Which::Variant(feature) => Mechanism::Variant(feature),
        Which::Reference | Which::Compare => Mechanism::Reference,
    };
    if matches!(format, Format::Chart) {
        let json = scenario::any_chart_json(root, chapter, mechanism, name, seed)
            .map_err(|stderr| failed(root, chapter, mechanism, name, &stderr))?;
        let chart: sim::metrics::Chart = serde_json::from_str(&json)
            .map_err(|e| format!("bad chart from {}/{name}: {e}", chapter.slug))?;
        let svg = sim::render::chart::svg(&chart);
        return match out {
            Some(path) => {
                std::fs::write(&path, svg).map_err(|e| format!("{}: {e}", path.display()))?;
                println!(
                    "wrote {} ({}); open it in a browser",
                    path.display(),
                    chart.title
                );
                Ok(())
            }
            None => {
                print!("{svg}");
                Ok(())
            }
        };
    }
    let (trace, unshown) = run(root, chapter, mechanism, name, seed)?;
    let text = render(&trace, format);
    match out {
        Some(path) => {
            std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
            println!("wrote {} (seed {})", path.display(), trace.seed);
            if matches!(format, Format::Perfetto) {
                println!("open it in https://ui.perfetto.dev or chrome://tracing");
            }
        }
        None => print!("{text}"),
    }
    if let Some(why) = unshown {
        let next = if mechanism == Mechanism::Mine {
            "\n(--compare prints the first event where it departs from the reference's.)"
        } else {
            ""
        };
        eprintln!("\nThis run does not show what the book's figure shows: {why}{next}");
    }
    Ok(())
}

/// The main workspace, without the solutions: what `--mine` builds.
const WORKSPACE: [&str; 6] = [
    "Cargo.toml",
    "Cargo.lock",
    "course.toml",
    "crates",
    "exercises",
    "xtask",
];

/// The reference's `src/` in place of the exercise's, in the copy at `tree`: what a learner has
/// who wrote exactly the reference's code.
fn copy_reference_source(root: &Path, chapter: &Chapter, tree: &Path) -> Result<(), String> {
    let from = root.join(&chapter.solution).join("src");
    let to = tree.join(&chapter.exercise).join("src");
    for entry in std::fs::read_dir(&from).map_err(|e| format!("{}: {e}", from.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if let Some(file) = path.file_name() {
            std::fs::copy(&path, to.join(file)).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    Ok(())
}

/// The check `cargo xtask test` runs: with the reference's source in place of the exercise's,
/// `--mine` draws exactly the reference's timeline, for every scenario of every chapter; and
/// with the exercise as shipped, it stops at a `todo!()` and says so.
pub fn check(root: &Path, course: &Course) -> bool {
    let tree = root.join("target/mine-check/tree");
    if let Err(e) = crate::mutants::copy_sources(root, &tree, &WORKSPACE) {
        println!("scenario --mine: {e}");
        return false;
    }
    let mut ok = true;
    for chapter in &course.chapters {
        let listed = match scenario::list_json(root, chapter).and_then(|json| {
            serde_json::from_str::<Vec<serde_json::Value>>(&json).map_err(|e| e.to_string())
        }) {
            Ok(listed) => listed,
            Err(e) => {
                println!("scenario --mine {}: no list: {e}", chapter.slug);
                ok = false;
                continue;
            }
        };
        let names: Vec<String> = listed
            .iter()
            .filter_map(|s| s["name"].as_str().map(String::from))
            .collect();
        // As shipped: the first scenario reaches a todo!() and the message says so.
        if let Some(first) = names.first() {
            match run(root, chapter, Mechanism::Mine, first, None) {
                Err(e) if e.contains("still has a todo!()") => println!(
                    "scenario {}/{first} --mine on the stub: points at the todo!()",
                    chapter.slug
                ),
                other => {
                    ok = false;
                    println!(
                        "scenario {}/{first} --mine on the stub: expected a todo!() message, got {:?}",
                        chapter.slug,
                        other.map(|(t, _)| t.events.len())
                    );
                }
            }
        }
        if let Err(e) = copy_reference_source(root, chapter, &tree) {
            println!(
                "scenario --mine {}: copying the reference: {e}",
                chapter.slug
            );
            ok = false;
            continue;
        }
        for name in &names {
            let mine = run(&tree, chapter, Mechanism::Mine, name, None);
            let theirs = run(root, chapter, Mechanism::Reference, name, None);
            match (mine, theirs) {
                (Ok((mine, None)), Ok((theirs, None)))
                    if render(&mine, Format::Text) == render(&theirs, Format::Text) =>
                {
                    println!(
                        "scenario {}/{name} --mine with the reference's code: the reference's \
                         timeline ({} events)",
                        chapter.slug,
                        mine.events.len()
                    )
                }
                (mine, theirs) => {
                    ok = false;
                    let describe = |r: &Result<(sim::Trace, Option<String>), String>| match r {
                        Ok((t, unshown)) => {
                            format!("{} events, unshown: {unshown:?}", t.events.len())
                        }
                        Err(e) => e.clone(),
                    };
                    println!(
                        "scenario {}/{name} --mine with the reference's code differs from the \
                         reference: mine {}; reference {}",
                        chapter.slug,
                        describe(&mine),
                        describe(&theirs)
                    );
                    if let (Ok((m, _)), Ok((t, _))) = (&mine, &theirs) {
                        print!(
                            "{}",
                            comparison(&render(t, Format::Text), &render(m, Format::Text))
                        );
                    }
                }
            }
        }
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_comparison_names_the_first_event_that_differs() {
        let reference = "a\nb\nc\nd\n";
        assert_eq!(first_difference(reference, reference), None);
        assert_eq!(first_difference(reference, "a\nb\nx\nd\n"), Some(2));
        assert_eq!(first_difference(reference, "a\nb\n"), Some(2));
        let report = comparison(reference, "a\nb\nx\n");
        assert!(
            report.contains("for 2 events, then parts at event 3"),
            "{report}"
        );
        assert!(report.contains("reference  c"), "{report}");
        assert!(report.contains("yours      x"), "{report}");
        assert!(comparison(reference, reference).contains("event for event (4 events)"));
    }
}
