//! The lab behind `cargo xtask serve`: a figure's controls rerun its scenario with the reader's
//! values, against the reference or the reader's own crate, and the page redraws the figure.
//!
//! It builds and runs code on the reader's machine, so it is narrow by construction: it
//! answers only requests addressed to the served book (`Host`) from the book's own pages
//! (`Origin`), as JSON a browser cannot send across sites without asking first; it takes a
//! scenario the course lists and values for the knobs that scenario declares, each within its
//! declared range, never a path, a command or code; it runs one job at a time, under a time
//! budget (the child is killed) and a step budget (the simulator stops a run that never
//! yields).

use crate::scenario::Listed;
use course::scenario::{self as runner, Mechanism};
use course::{Chapter, Course};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most a request body may hold: a scenario name and a few numbers.
pub const MAX_BODY: usize = 4096;

/// How long a job may take before its child process is killed.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// One run of a built scenario binary.
    pub run: Duration,
    /// Building the reader's crate (or the reference, the first time).
    pub build: Duration,
    /// Events one simulation may handle (`--step-budget=`).
    pub steps: u64,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget {
            run: Duration::from_secs(20),
            build: Duration::from_secs(600),
            steps: 2_000_000,
        }
    }
}

/// A scenario the lab may run.
#[derive(Clone, Debug)]
struct Offered {
    slug: String,
    listed: Listed,
}

pub struct Lab {
    root: PathBuf,
    port: u16,
    chapters: BTreeMap<String, Chapter>,
    /// By `SLUG/NAME`.
    offered: BTreeMap<String, Offered>,
    budget: Budget,
    /// Held while a job runs: one at a time.
    job: Mutex<()>,
    /// The reference's scenario binaries, by slug, once built.
    binaries: Mutex<BTreeMap<String, PathBuf>>,
}

/// What the lab needs of one HTTP request.
#[derive(Debug, Default)]
pub struct Asked {
    pub method: String,
    pub url: String,
    pub host: Option<String>,
    pub origin: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// An answer: the status and a JSON body.
#[derive(Debug, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub json: String,
}

fn refused(status: u16, why: impl Into<String>) -> Answer {
    #[derive(Serialize)]
    struct Refusal {
        error: String,
    }
    Answer {
        status,
        json: serde_json::to_string(&Refusal { error: why.into() }).expect("serializable"),
    }
}

/// What a page asks to run.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunRequest {
    /// `SLUG/NAME`.
    scenario: String,
    /// "reference" or "mine".
    mechanism: String,
    /// "timeline" or "chart".
    #[serde(default = "timeline")]
    figure: String,
    seed: Option<u64>,
    #[serde(default)]
    values: BTreeMap<String, i64>,
}

fn timeline() -> String {
    "timeline".into()
}

/// A request that passed every check.
#[derive(Debug, PartialEq)]
struct Job {
    slug: String,
    name: String,
    mine: bool,
    chart: bool,
    seed: u64,
    values: Vec<(String, i64)>,
}

#[derive(Serialize)]
struct State<'a> {
    after: usize,
    node: String,
    state: &'a str,
}

#[derive(Serialize)]
struct Ran<'a> {
    svg: String,
    title: &'a str,
    /// What the run fails to show of the title's claim, if anything.
    unshown: Option<String>,
    /// Why the simulation stopped early (a panic, the step budget), if it did.
    halt: Option<String>,
    states: Vec<State<'a>>,
    /// Seconds the run took, and the build before it (0 when nothing was rebuilt).
    run_seconds: f64,
    build_seconds: f64,
}

impl Lab {
    /// The lab for the course's chapters whose reference solution is here; their scenario
    /// lists come from the reference binaries (built with the book).
    pub fn new(root: &Path, course: &Course, port: u16) -> Result<Lab, String> {
        let mut offered = BTreeMap::new();
        for chapter in &course.chapters {
            if !root.join(&chapter.solution).exists() {
                continue;
            }
            for listed in crate::scenario::list(root, chapter)? {
                offered.insert(
                    format!("{}/{}", chapter.slug, listed.name),
                    Offered {
                        slug: chapter.slug.clone(),
                        listed,
                    },
                );
            }
        }
        Ok(Lab::with(root, course, port, offered, Budget::default()))
    }

    fn with(
        root: &Path,
        course: &Course,
        port: u16,
        offered: BTreeMap<String, Offered>,
        budget: Budget,
    ) -> Lab {
        Lab {
            root: root.to_path_buf(),
            port,
            chapters: course
                .chapters
                .iter()
                .map(|c| (c.slug.clone(), c.clone()))
                .collect(),
            offered,
            budget,
            job: Mutex::new(()),
            binaries: Mutex::new(BTreeMap::new()),
        }
    }

    /// Whether `host` (a `Host` header) names the served book: a DNS-rebinding page reaches
    /// 127.0.0.1 under its own name, which this refuses.
    fn own_host(&self, host: Option<&str>) -> bool {
        host.is_some_and(|h| {
            h == format!("127.0.0.1:{}", self.port) || h == format!("localhost:{}", self.port)
        })
    }

    fn own_origin(&self, origin: Option<&str>) -> bool {
        origin.is_some_and(|o| {
            o == format!("http://127.0.0.1:{}", self.port)
                || o == format!("http://localhost:{}", self.port)
        })
    }

    /// The answer to a request under `/lab/`.
    pub fn answer(&self, asked: &Asked) -> Answer {
        if !self.own_host(asked.host.as_deref()) {
            return refused(
                403,
                format!(
                    "the lab answers only requests addressed to the served book \
                     (Host: 127.0.0.1:{port} or localhost:{port})",
                    port = self.port
                ),
            );
        }
        let path = asked.url.split(['?', '#']).next().unwrap_or("");
        match (asked.method.as_str(), path) {
            ("GET", "/lab/ping") => Answer {
                status: 200,
                json: r#"{"lab":true}"#.into(),
            },
            ("POST", "/lab/run") => match self.job(asked) {
                Ok(job) => self.run(&job),
                Err(answer) => answer,
            },
            (_, "/lab/ping" | "/lab/run") => refused(405, "method not allowed here"),
            _ => refused(404, format!("the lab has no {path}")),
        }
    }

    /// The job a run request asks for, or why it is refused.
    fn job(&self, asked: &Asked) -> Result<Job, Answer> {
        if !self.own_origin(asked.origin.as_deref()) {
            return Err(refused(
                403,
                "the lab runs only what the served book's own pages ask for (Origin)",
            ));
        }
        let json = asked
            .content_type
            .as_deref()
            .is_some_and(|c| c.split(';').next().unwrap_or("").trim() == "application/json");
        if !json {
            return Err(refused(
                415,
                "a run request is JSON (Content-Type: application/json)",
            ));
        }
        if asked.body.len() > MAX_BODY {
            return Err(refused(
                413,
                format!("a run request is at most {MAX_BODY} bytes"),
            ));
        }
        let request: RunRequest = serde_json::from_slice(&asked.body).map_err(|e| {
            refused(
                400,
                format!(
                    "a run request is {{\"scenario\": \"SLUG/NAME\", \"mechanism\": \"reference\" \
                     or \"mine\", \"figure\": \"timeline\" or \"chart\", \"seed\": a whole \
                     number, \"values\": {{NAME: whole number}}}}: {e}"
                ),
            )
        })?;
        let Some(offered) = self.offered.get(&request.scenario) else {
            return Err(refused(
                404,
                format!("the course has no scenario {:?}", request.scenario),
            ));
        };
        let mine = match request.mechanism.as_str() {
            "reference" => false,
            "mine" => true,
            other => {
                return Err(refused(
                    400,
                    format!("the mechanism is \"reference\" or \"mine\", not {other:?}"),
                ));
            }
        };
        let chart = match request.figure.as_str() {
            "timeline" => false,
            "chart" => true,
            other => {
                return Err(refused(
                    400,
                    format!("the figure is \"timeline\" or \"chart\", not {other:?}"),
                ));
            }
        };
        let params = &offered.listed.params;
        let mut values = Vec::new();
        for (name, value) in &request.values {
            let Some(param) = params.iter().find(|p| &p.name == name) else {
                let names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
                return Err(refused(
                    400,
                    format!(
                        "{} has no parameter {name:?}; it has: {}",
                        request.scenario,
                        if names.is_empty() {
                            "none".into()
                        } else {
                            names.join(", ")
                        }
                    ),
                ));
            };
            if !(param.min..=param.max).contains(value) {
                return Err(refused(
                    400,
                    format!(
                        "{name} ({}) must lie in {}..={} {}, got {value}",
                        param.label, param.min, param.max, param.unit
                    ),
                ));
            }
            values.push((name.clone(), *value));
        }
        Ok(Job {
            slug: offered.slug.clone(),
            name: offered.listed.name.clone(),
            mine,
            chart,
            seed: request.seed.unwrap_or(offered.listed.seed),
            values,
        })
    }

    /// Runs a checked job, if no other is running.
    fn run(&self, job: &Job) -> Answer {
        let Ok(_running) = self.job.try_lock() else {
            return refused(
                409,
                "another run is still going (the lab runs one at a time); try again when it ends",
            );
        };
        let Some(chapter) = self.chapters.get(&job.slug) else {
            return refused(404, format!("the course has no chapter {:?}", job.slug));
        };
        let built = Instant::now();
        let binary = match self.binary(chapter, job.mine) {
            Ok(binary) => binary,
            Err(why) => return refused(422, why),
        };
        let build_seconds = if job.mine {
            built.elapsed().as_secs_f64()
        } else {
            0.0
        };
        let mut args = vec![
            job.name.clone(),
            job.seed.to_string(),
            "--any".into(),
            format!("--step-budget={}", self.budget.steps),
        ];
        args.push(if job.chart { "--chart" } else { "--states" }.into());
        for (name, value) in &job.values {
            args.push(format!("--set={name}={value}"));
        }
        let started = Instant::now();
        let ran = match bounded(Command::new(&binary).args(&args), self.budget.run) {
            Ok(ran) => ran,
            Err(why) => return refused(500, why),
        };
        let run_seconds = started.elapsed().as_secs_f64();
        if !ran.success {
            if job.mine
                && let Some(panic) = runner::todo_panic(&ran.stderr)
            {
                return refused(422, runner::todo_message(chapter, &panic));
            }
            return refused(
                500,
                format!("the scenario failed:\n{}", ran.stderr.trim_end()),
            );
        }
        let unshown = runner::unshown(&ran.stderr);
        let title = &self.offered[&format!("{}/{}", job.slug, job.name)]
            .listed
            .title;
        if job.chart {
            let chart: sim::metrics::Chart = match serde_json::from_str(&ran.stdout) {
                Ok(chart) => chart,
                Err(e) => return refused(500, format!("bad chart from the scenario: {e}")),
            };
            return answered(&Ran {
                svg: sim::render::chart::svg(&chart),
                title,
                unshown,
                halt: None,
                states: Vec::new(),
                run_seconds,
                build_seconds,
            });
        }
        let trace: sim::Trace = match serde_json::from_str(&ran.stdout) {
            Ok(trace) => trace,
            Err(e) => return refused(500, format!("bad trace from the scenario: {e}")),
        };
        let halt = trace.events.iter().find_map(|e| match &e.kind {
            sim::EventKind::Halt { reason } => Some(reason.clone()),
            _ => None,
        });
        if job.mine
            && let Some(reason) = halt
                .as_deref()
                .filter(|r| r.contains("not yet implemented"))
        {
            return refused(422, runner::todo_message(chapter, reason));
        }
        answered(&Ran {
            svg: crate::build::fitted_svg(&trace),
            title,
            unshown,
            halt,
            states: trace
                .states
                .iter()
                .map(|s| State {
                    after: s.after,
                    node: s.node.to_string(),
                    state: &s.state,
                })
                .collect(),
            run_seconds,
            build_seconds,
        })
    }

    /// The scenario binary of the reference (built once) or of the reader's crate (built every
    /// time: cargo rebuilds only what the reader changed).
    fn binary(&self, chapter: &Chapter, mine: bool) -> Result<PathBuf, String> {
        if !mine
            && let Some(binary) = self
                .binaries
                .lock()
                .expect("not poisoned")
                .get(&chapter.slug)
        {
            return Ok(binary.clone());
        }
        let mechanism = if mine {
            Mechanism::Mine
        } else {
            Mechanism::Reference
        };
        let mut command = runner::cargo_command(&self.root, chapter, mechanism, "build");
        command.arg("--message-format=json-render-diagnostics");
        let built = bounded(&mut command, self.budget.build)?;
        if !built.success {
            return Err(if mine {
                format!(
                    "your crate does not build with the scenario (it uses {}'s public API as the \
                     exercise ships it; keep the names and signatures):\n{}",
                    chapter.slug,
                    built.stderr.trim_end()
                )
            } else {
                format!("the reference does not build:\n{}", built.stderr.trim_end())
            });
        }
        let binary = executable(&built.stdout, &chapter.scenario_example())
            .ok_or_else(|| "cargo built no scenario binary".to_string())?;
        if mine {
            return Ok(binary);
        }
        // Cargo's path is a link that the next build of the same example with a drill's or a
        // mistake's feature repoints: the lab keeps a copy of the reference's own.
        let kept = self
            .root
            .join("target/lab")
            .join(chapter.scenario_example());
        std::fs::create_dir_all(self.root.join("target/lab"))
            .and_then(|()| std::fs::copy(&binary, &kept))
            .map_err(|e| format!("cannot keep the reference's scenario binary: {e}"))?;
        self.binaries
            .lock()
            .expect("not poisoned")
            .insert(chapter.slug.clone(), kept.clone());
        Ok(kept)
    }
}

fn answered(ran: &Ran<'_>) -> Answer {
    Answer {
        status: 200,
        json: serde_json::to_string(ran).expect("serializable"),
    }
}

/// The executable cargo's JSON messages name for the example `example`.
fn executable(messages: &str, example: &str) -> Option<PathBuf> {
    #[derive(Deserialize)]
    struct Target {
        name: String,
    }
    #[derive(Deserialize)]
    struct Message {
        reason: String,
        target: Option<Target>,
        executable: Option<PathBuf>,
    }
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<Message>(line).ok())
        .filter(|m| m.reason == "compiler-artifact")
        .filter(|m| m.target.as_ref().is_some_and(|t| t.name == example))
        .find_map(|m| m.executable)
}

struct Finished {
    success: bool,
    stdout: String,
    stderr: String,
}

/// Runs `command` to its end, or kills it after `limit`.
fn bounded(command: &mut Command, limit: Duration) -> Result<Finished, String> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {:?}: {e}", command.get_program()))?;
    // Both pipes drain on their own threads, so a child that writes a lot never blocks.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "stopped after {} s, the lab's time budget: does a handler never return?",
                    limit.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => return Err(format!("waiting for the run: {e}")),
        }
    };
    Ok(Finished {
        success: status.success(),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Param;

    const PORT: u16 = 3999;

    fn lab() -> Lab {
        let offered = Offered {
            slug: "demo".into(),
            listed: Listed {
                name: "knob".into(),
                title: "a knob".into(),
                seed: 7,
                params: vec![Param {
                    name: "pause".into(),
                    label: "how long n2 freezes".into(),
                    unit: "ms".into(),
                    default: 350,
                    min: 0,
                    max: 800,
                }],
            },
        };
        let course = Course {
            chapters: Vec::new(),
        };
        Lab::with(
            Path::new("."),
            &course,
            PORT,
            BTreeMap::from([("demo/knob".to_string(), offered)]),
            Budget::default(),
        )
    }

    /// A run request as the book's own page sends it.
    fn asked(body: &str) -> Asked {
        Asked {
            method: "POST".into(),
            url: "/lab/run".into(),
            host: Some(format!("127.0.0.1:{PORT}")),
            origin: Some(format!("http://127.0.0.1:{PORT}")),
            content_type: Some("application/json".into()),
            body: body.as_bytes().to_vec(),
        }
    }

    const GOOD: &str =
        r#"{"scenario":"demo/knob","mechanism":"reference","seed":3,"values":{"pause":90}}"#;

    fn error(answer: &Answer) -> String {
        let value: serde_json::Value = serde_json::from_str(&answer.json).expect("json");
        value["error"].as_str().unwrap_or_default().to_string()
    }

    #[test]
    fn a_good_request_becomes_exactly_its_job() {
        let job = lab().job(&asked(GOOD)).expect("accepted");
        assert_eq!(
            job,
            Job {
                slug: "demo".into(),
                name: "knob".into(),
                mine: false,
                chart: false,
                seed: 3,
                values: vec![("pause".into(), 90)],
            }
        );
        let defaults = lab()
            .job(&asked(r#"{"scenario":"demo/knob","mechanism":"mine"}"#))
            .expect("accepted");
        assert!(defaults.mine && defaults.seed == 7 && defaults.values.is_empty());
    }

    #[test]
    fn another_host_is_refused_even_on_loopback() {
        // A DNS-rebinding page reaches 127.0.0.1 under its own name.
        for host in [
            None,
            Some("evil.example:3999"),
            Some("127.0.0.1:4000"),
            Some("127.0.0.1"),
        ] {
            let mut request = asked(GOOD);
            request.host = host.map(String::from);
            let answer = lab().answer(&request);
            assert_eq!(answer.status, 403, "{host:?}");
            assert!(error(&answer).contains("Host"), "{}", answer.json);
        }
        let mut ping = asked("");
        ping.method = "GET".into();
        ping.url = "/lab/ping".into();
        assert_eq!(lab().answer(&ping).status, 200);
        ping.host = Some("rebound.example:3999".into());
        assert_eq!(lab().answer(&ping).status, 403);
    }

    #[test]
    fn another_origin_is_refused() {
        for origin in [
            None,
            Some("http://evil.example"),
            Some("http://127.0.0.1:4000"),
            Some("null"),
            Some("https://127.0.0.1:3999"),
        ] {
            let mut request = asked(GOOD);
            request.origin = origin.map(String::from);
            let answer = lab().answer(&request);
            assert_eq!(answer.status, 403, "{origin:?}");
            assert!(error(&answer).contains("Origin"), "{}", answer.json);
        }
        let mut request = asked(GOOD);
        request.origin = Some(format!("http://localhost:{PORT}"));
        request.host = Some(format!("localhost:{PORT}"));
        assert!(lab().job(&request).is_ok());
    }

    #[test]
    fn only_json_posts_run_anything() {
        // A form on another site can post text/plain without asking first; JSON it cannot.
        let mut request = asked(GOOD);
        request.content_type = Some("text/plain".into());
        assert_eq!(lab().answer(&request).status, 415);
        request.content_type = None;
        assert_eq!(lab().answer(&request).status, 415);
        let mut request = asked(GOOD);
        request.method = "GET".into();
        assert_eq!(lab().answer(&request).status, 405);
        let mut request = asked(GOOD);
        request.url = "/lab/../serve".into();
        assert_eq!(lab().answer(&request).status, 404);
        let big = format!(
            r#"{{"scenario":"demo/knob","mechanism":"reference","pad":"{}"}}"#,
            "x".repeat(MAX_BODY)
        );
        assert_eq!(lab().answer(&asked(&big)).status, 413);
    }

    #[test]
    fn only_listed_scenarios_and_declared_values_in_range_are_taken() {
        let refusal = |body: &str| {
            let answer = lab().answer(&asked(body));
            (answer.status, error(&answer))
        };
        let cases = [
            (
                r#"{"scenario":"../../etc/passwd","mechanism":"reference"}"#,
                404,
                "no scenario",
            ),
            (
                r#"{"scenario":"demo/other","mechanism":"reference"}"#,
                404,
                "no scenario",
            ),
            (
                r#"{"scenario":"demo/knob","mechanism":"sh -c true"}"#,
                400,
                "mechanism",
            ),
            (
                r#"{"scenario":"demo/knob","mechanism":"reference","figure":"x"}"#,
                400,
                "figure",
            ),
            (
                r#"{"scenario":"demo/knob","mechanism":"reference","command":"ls"}"#,
                400,
                "unknown field",
            ),
            (
                r#"{"scenario":"demo/knob","mechanism":"reference","values":{"loss":3}}"#,
                400,
                "no parameter \"loss\"; it has: pause",
            ),
            (
                r#"{"scenario":"demo/knob","mechanism":"reference","values":{"pause":801}}"#,
                400,
                "must lie in 0..=800 ms, got 801",
            ),
            (
                r#"{"scenario":"demo/knob","mechanism":"reference","values":{"pause":-1}}"#,
                400,
                "must lie in",
            ),
            (
                r#"{"scenario":"demo/knob","mechanism":"reference","values":{"pause":1.5}}"#,
                400,
                "whole number",
            ),
            (
                r#"{"scenario":"demo/knob","mechanism":"reference","values":{"pause":"9; rm"}}"#,
                400,
                "a run request is",
            ),
            (
                r#"{"scenario":"demo/knob","mechanism":"reference","seed":-4}"#,
                400,
                "a run request is",
            ),
            ("not json", 400, "a run request is"),
        ];
        for (body, status, says) in cases {
            let (got, why) = refusal(body);
            assert_eq!(got, status, "{body}: {why}");
            assert!(why.contains(says), "{body}: {why}");
        }
    }

    #[test]
    fn one_job_at_a_time() {
        let lab = lab();
        let running = lab.job.lock().expect("free");
        let answer = lab.answer(&asked(GOOD));
        assert_eq!(answer.status, 409);
        assert!(error(&answer).contains("one at a time"));
        drop(running);
        // Free again, the job goes on to run (here it finds no such chapter).
        assert_eq!(lab.answer(&asked(GOOD)).status, 404);
    }

    #[test]
    fn a_run_past_its_time_budget_is_killed() {
        // Unkilled, `sleep` would end well and the run would be Ok.
        let outcome = bounded(Command::new("sleep").arg("30"), Duration::from_millis(200));
        assert!(outcome.is_err_and(|why| why.contains("time budget")));
    }

    #[test]
    fn the_built_example_is_found_in_cargo_messages() {
        let messages = concat!(
            r#"{"reason":"compiler-artifact","target":{"name":"sim"},"executable":null}"#,
            "\n",
            r#"{"reason":"compiler-artifact","target":{"name":"quorum-scenario"},"executable":"/t/quorum-scenario"}"#,
            "\n",
            r#"{"reason":"build-finished","success":true}"#,
        );
        assert_eq!(
            executable(messages, "quorum-scenario"),
            Some(PathBuf::from("/t/quorum-scenario"))
        );
        assert_eq!(executable(messages, "lease-scenario"), None);
    }
}
