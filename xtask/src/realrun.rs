//! `cargo xtask real SLUG`: a chapter's nodes as real processes on loopback, through the
//! conductor of `crates/real` (its `real` binary, run through cargo like the book's, so that
//! other xtask commands compile none of it); and the check `cargo xtask test` runs: real runs
//! of the reference whose timelines must show what the chapter teaches, within bounds derived
//! from the configuration, with no process left behind.

use course::{Chapter, Course};
use sim::{EventKind, NodeId, Time, Trace};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Whose code the processes run.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Whose {
    Mine,
    Reference,
}

/// What `cargo xtask real` was asked.
pub struct Request<'a> {
    pub slug: &'a str,
    pub whose: Whose,
    pub nodes: Option<u32>,
    pub duration: Option<&'a str>,
    pub script: Option<&'a Path>,
    pub plan: Option<&'a Path>,
    pub seed: u64,
}

fn chapter<'c>(course: &'c Course, slug: &str) -> Result<(&'c Chapter, u32), String> {
    let chapter = course
        .chapters
        .iter()
        .find(|c| c.slug == slug)
        .ok_or_else(|| format!("no chapter {slug:?}"))?;
    let with_real: Vec<&str> = course
        .chapters
        .iter()
        .filter(|c| c.real_nodes.is_some())
        .map(|c| c.slug.as_str())
        .collect();
    let nodes = chapter.real_nodes.ok_or_else(|| {
        format!(
            "chapter {slug} has no real run yet; these do: {}",
            with_real.join(", ")
        )
    })?;
    Ok((chapter, nodes))
}

/// Builds the chapter's node binary, the learner's or the reference's, and returns its path.
fn build(root: &Path, chapter: &Chapter, whose: Whose) -> Result<PathBuf, String> {
    let example = format!("{}-real", chapter.slug);
    let (args, binary): (Vec<String>, PathBuf) = match whose {
        Whose::Mine => (
            vec![
                "build".into(),
                "--quiet".into(),
                "-p".into(),
                chapter.slug.clone(),
                "--features".into(),
                "real".into(),
                "--example".into(),
                example.clone(),
            ],
            root.join("target/debug/examples").join(&example),
        ),
        Whose::Reference => (
            vec![
                "build".into(),
                "--quiet".into(),
                "--manifest-path".into(),
                "solutions/Cargo.toml".into(),
                "--target-dir".into(),
                "target/solutions".into(),
                "-p".into(),
                chapter.solution_package(),
                "--example".into(),
                example.clone(),
            ],
            root.join("target/solutions/debug/examples").join(&example),
        ),
    };
    eprintln!("$ cargo {}", args.join(" "));
    let built = Command::new(crate::cargo())
        .args(&args)
        .current_dir(root)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !built.success() {
        return Err(format!("the node binary {example} does not build"));
    }
    Ok(binary)
}

fn out_dir(root: &Path, slug: &str, whose: Whose) -> PathBuf {
    let name = match whose {
        Whose::Mine => slug.to_string(),
        Whose::Reference => format!("{slug}-reference"),
    };
    root.join("target/real").join(name)
}

/// Runs the conductor; true if it ended cleanly (no process left behind).
fn conduct(
    root: &Path,
    binary: &Path,
    nodes: u32,
    extra: &[String],
    out: &Path,
) -> Result<bool, String> {
    let mut args: Vec<String> = [
        "run", "--quiet", "--locked", "-p", "real", "--bin", "real", "--",
    ]
    .map(String::from)
    .into();
    args.extend([
        "--binary".into(),
        binary.display().to_string(),
        "--nodes".into(),
        nodes.to_string(),
        "--out".into(),
        out.display().to_string(),
    ]);
    args.extend(extra.iter().cloned());
    let status = Command::new(crate::cargo())
        .args(&args)
        .current_dir(root)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    Ok(status.success())
}

/// `cargo xtask real SLUG`.
pub fn run(root: &Path, course: &Course, request: &Request) -> Result<bool, String> {
    let (chapter, default_nodes) = chapter(course, request.slug)?;
    let binary = build(root, chapter, request.whose)?;
    let mut extra = vec!["--seed".to_string(), request.seed.to_string()];
    if let Some(duration) = request.duration {
        extra.extend(["--for".into(), duration.into()]);
    }
    for (flag, path) in [("--script", request.script), ("--plan", request.plan)] {
        if let Some(path) = path {
            let absolute = std::env::current_dir()
                .map(|d| d.join(path))
                .unwrap_or_else(|_| path.to_path_buf());
            extra.extend([flag.to_string(), absolute.display().to_string()]);
        }
    }
    let out = out_dir(root, request.slug, request.whose);
    let nodes = request.nodes.unwrap_or(default_nodes);
    let ok = conduct(root, &binary, nodes, &extra, &out)?;
    let stderr_logs = (0..nodes)
        .map(|n| out.join(format!("n{n}.stderr")))
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .any(|t| t.contains("not yet implemented"));
    if stderr_logs {
        eprintln!(
            "A node stopped at a todo!(): the real run needs the steps the tests check first \
             (cargo test in exercises/{}).",
            chapter
                .exercise
                .file_name()
                .map(|f| f.to_string_lossy().to_string())
                .unwrap_or_default()
        );
    }
    Ok(ok)
}

/// The real runs `cargo xtask test` makes of the reference, `runs` times each; prints each
/// run's measurements and returns whether every run showed what it must.
pub fn check(root: &Path, course: &Course, runs: u32) -> bool {
    let mut ok = true;
    let mut failures = Vec::new();
    // The runs the page tells a learner to make, from the files in the exercise's `real/`.
    let runs_made: [(&str, Judge, &str, &str); 2] = [
        (
            "failure-detector",
            judge_detector,
            "--script=real/freeze-n2.script",
            "3200ms",
        ),
        (
            "leader-lease",
            judge_lease,
            "--plan=real/freeze-holder.plan.json",
            "3500ms",
        ),
    ];
    for (slug, judge, input, run_for) in runs_made {
        let (chapter, nodes) = match chapter(course, slug) {
            Ok(found) => found,
            Err(e) => {
                println!("real: {e}");
                return false;
            }
        };
        let binary = match build(root, chapter, Whose::Reference) {
            Ok(binary) => binary,
            Err(e) => {
                println!("real: {e}");
                return false;
            }
        };
        let dir = root.join("target/real-check").join(slug);
        let _ = std::fs::create_dir_all(&dir);
        let (flag, file) = input.split_once('=').unwrap_or((input, ""));
        let file = root.join(&chapter.exercise).join(file);
        let extra = vec![
            "--quiet".to_string(),
            "--for".to_string(),
            run_for.to_string(),
            flag.to_string(),
            file.display().to_string(),
        ];
        let mut figures = Vec::new();
        for run in 1..=runs {
            let out = dir.join(format!("run-{run}"));
            let clean = conduct(root, &binary, nodes, &extra, &out).unwrap_or(false);
            let strays = strays(&binary);
            let verdict = std::fs::read_to_string(out.join("trace.json"))
                .map_err(|e| format!("no trace: {e}"))
                .and_then(|t| serde_json::from_str::<Trace>(&t).map_err(|e| e.to_string()))
                .and_then(|trace| judge(&trace));
            match (clean && strays == 0, verdict) {
                (true, Ok(figure)) => {
                    println!("real {slug} run {run}: ok: {figure}");
                    figures.push(figure);
                }
                (clean, verdict) => {
                    ok = false;
                    let why = match verdict {
                        Err(e) => e,
                        Ok(_) if !clean => "the conductor reported processes left behind".into(),
                        Ok(_) => format!("{strays} node processes still running after the run"),
                    };
                    println!(
                        "real {slug} run {run}: FAILED: {why}\n  (timeline: {})",
                        out.join("timeline.txt").display()
                    );
                    failures.push(format!("{slug} run {run}"));
                }
            }
        }
        println!(
            "real {slug}: {} of {runs} runs showed it; SVG of the last: {}",
            figures.len(),
            dir.join(format!("run-{runs}/timeline.svg")).display()
        );
    }
    // The learner's path: the exercise as shipped builds its real binary, and a run of it
    // stops at the stub's todo!() and says so, rather than hanging or drawing nothing.
    for chapter in course.chapters.iter().filter(|c| c.real_nodes.is_some()) {
        let stopped = build(root, chapter, Whose::Mine).and_then(|binary| {
            let out = root.join("target/real-check/stub").join(&chapter.slug);
            let ended = conduct(
                root,
                &binary,
                2,
                &["--quiet".into(), "--for".into(), "2s".into()],
                &out,
            )?;
            let said: String = (0..2)
                .filter_map(|n| std::fs::read_to_string(out.join(format!("n{n}.stderr"))).ok())
                .collect();
            if ended || !said.contains("not yet implemented") {
                return Err(format!(
                    "the stub's real run did not stop at a todo!() (see {})",
                    out.display()
                ));
            }
            Ok(())
        });
        match stopped {
            Ok(()) => println!("real {}: the stub's run stops at its todo!()", chapter.slug),
            Err(e) => {
                ok = false;
                println!("real {}: {e}", chapter.slug);
            }
        }
    }
    if !failures.is_empty() {
        println!("real: failed runs: {}", failures.join(", "));
    }
    ok
}

type Judge = fn(&Trace) -> Result<String, String>;

/// The reference configuration of the real binary (`DetectorConfig::default()`): the bounds
/// are derived from it.
const INTERVAL_MS: f64 = 100.0;
const MIN_STD_DEV_MS: f64 = 10.0;
const CHECK_EVERY_MS: f64 = 10.0;
/// How many deviations past the mean a silence must run for phi to pass 8 (a normal tail of
/// 10^-8): the detector's own arithmetic, for a regular heartbeat.
const Z_AT_PHI_8: f64 = 5.61;

fn first_note_after(trace: &Trace, node: NodeId, text: &str, after: Time) -> Option<Time> {
    trace
        .notes(node)
        .into_iter()
        .find(|(at, t)| *at >= after && *t == text)
        .map(|(at, _)| at)
}

fn pause_of(trace: &Trace) -> Option<(NodeId, Time, Time)> {
    trace.events.iter().find_map(|e| match e.kind {
        EventKind::Pause { node, until } => Some((node, e.time, until)),
        _ => None,
    })
}

/// The run of `real/freeze-n2.script` (n2 frozen with SIGSTOP from 1 s to 2.2 s): each live
/// peer suspects the frozen node within the time a regular heartbeat's silence takes
/// to pass phi 8, with slack for a loaded machine, and trusts it again soon after it runs.
fn judge_detector(trace: &Trace) -> Result<String, String> {
    let (paused, from, until) = pause_of(trace).ok_or("no pause on the timeline")?;
    if paused != NodeId(2) {
        return Err(format!("{paused} was paused, not n2"));
    }
    // The last heartbeat came at most one interval before the pause; phi passes 8 one mean
    // and 5.6 deviations after it, seen at the next check. Three times that is the bound.
    let expected_ms = 2.0 * INTERVAL_MS + Z_AT_PHI_8 * MIN_STD_DEV_MS + CHECK_EVERY_MS;
    let suspect_bound = Duration::from_secs_f64(3.0 * expected_ms / 1_000.0);
    // After SIGCONT n2's overdue beat goes out at once; a peer trusts it at its next check.
    let trust_bound = Duration::from_secs_f64(3.0 * (INTERVAL_MS + CHECK_EVERY_MS) / 1_000.0);
    let mut figures = Vec::new();
    for peer in [NodeId(0), NodeId(1)] {
        let suspected = first_note_after(trace, peer, "suspect n2", from)
            .ok_or_else(|| format!("{peer} never noted `suspect n2` after n2 froze at {from}"))?;
        if suspected > from + suspect_bound || suspected > until {
            return Err(format!(
                "{peer} suspected n2 only at {suspected}, {:.0} ms after it froze (bound {:.0} ms)",
                (suspected - from).as_secs_f64() * 1e3,
                suspect_bound.as_secs_f64() * 1e3
            ));
        }
        let trusted = first_note_after(trace, peer, "trust n2", until).ok_or_else(|| {
            format!("{peer} never noted `trust n2` after n2 was continued at {until}")
        })?;
        if trusted > until + trust_bound {
            return Err(format!(
                "{peer} trusted n2 again only {:.0} ms after it was continued (bound {:.0} ms)",
                (trusted - until).as_secs_f64() * 1e3,
                trust_bound.as_secs_f64() * 1e3
            ));
        }
        // What phi measures: the silence since n2's last heartbeat reached this peer.
        let last_heard = trace
            .events
            .iter()
            .filter(|e| e.time <= suspected)
            .filter_map(|e| match e.kind {
                EventKind::Deliver {
                    from: NodeId(2),
                    to,
                    ..
                } if to == peer => Some(e.time),
                _ => None,
            })
            .next_back()
            .unwrap_or(Time::ZERO);
        figures.push(format!(
            "{peer} suspected {:.1} ms after SIGSTOP ({:.1} ms after n2's last heartbeat), trusted {:.1} ms after SIGCONT",
            (suspected - from).as_secs_f64() * 1e3,
            (suspected - last_heard).as_secs_f64() * 1e3,
            (trusted - until).as_secs_f64() * 1e3
        ));
    }
    Ok(figures.join("; "))
}

/// The run of `real/freeze-holder.plan.json`: whoever renews lease 1 first after 1.1 s freezes
/// right after the renewal, for longer than a lease (600 ms). By then the lease is steady:
/// each renewal answers the request a leader's tick sends right after preparing a write (due
/// 50 ms later), so the write is still pending. (Earlier, a renewal may answer requests that
/// queued at the grantor while it was quiet, with no write prepared: a loaded machine showed
/// that.) Another candidate takes lease 2 and writes, and the frozen node's write, sent when
/// it runs again, must be refused by its token.
fn judge_lease(trace: &Trace) -> Result<String, String> {
    let (holder, from, until) = pause_of(trace).ok_or("no pause on the timeline")?;
    let storage = NodeId(1);
    let notes = trace.notes(storage);
    let newer = notes
        .iter()
        .find(|(at, t)| *at > from && t.contains("with token 2 accepted"))
        .map(|(at, t)| (*at, t.to_string()))
        .ok_or("no write with token 2 was accepted while the holder of lease 1 was frozen")?;
    if newer.1.contains(&format!("from {holder} ")) {
        return Err(format!(
            "the frozen {holder} wrote with token 2: {}",
            newer.1
        ));
    }
    let stale_text = format!("write from {holder} with token 1 rejected (seen 2)");
    let stale = notes
        .iter()
        .find(|(at, t)| *at >= until && *t == stale_text)
        .map(|(at, _)| *at)
        .ok_or_else(|| {
            format!("the storage never noted `{stale_text}` after {holder} ran again")
        })?;
    if let Some((at, text)) = notes
        .iter()
        .find(|(at, t)| *at > newer.0 && t.contains("token 1 accepted"))
    {
        return Err(format!(
            "the storage accepted a stale write at {at}: {text}"
        ));
    }
    let bound = Duration::from_millis(300);
    if stale > until + bound {
        return Err(format!(
            "the stale write arrived {:.0} ms after {holder} ran again (bound {} ms)",
            (stale - until).as_secs_f64() * 1e3,
            bound.as_millis()
        ));
    }
    Ok(format!(
        "{holder} froze at {from} for {:.0} ms; `{}` at {}; its stale write refused {:.1} ms after SIGCONT",
        (until - from).as_secs_f64() * 1e3,
        newer.1,
        newer.0,
        (stale - until).as_secs_f64() * 1e3
    ))
}

/// Processes still running this binary (the conductor must have ended them all).
fn strays(binary: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let target = binary.display().to_string();
    entries
        .flatten()
        .filter(|entry| {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let first = cmdline.split(|b| *b == 0).next().unwrap_or_default();
            !first.is_empty() && String::from_utf8_lossy(first) == target
        })
        .count()
}
