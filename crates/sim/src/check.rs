//! Property tests of a mechanism under random faults, with failure reports a learner can act
//! on: the property, the seed, the shrunk fault plan, the stretch of timeline where it broke,
//! and one command that replays exactly that case.
//!
//! Runs are deterministic: proptest's generator is seeded from the property's name, failures
//! are not persisted to files, and every case is a (seed, plan) pair that replays byte for byte.
//!
//! Three environment variables change what a check does, never what one case does:
//!
//! - `SIM_SEED=N` (a whole number) is mixed into every property's generator seed, so the same
//!   properties explore other fault plans. Unset, each property uses its fixed seed. A failure
//!   report names the `SIM_SEED` it was found with.
//! - `SIM_CASES=N` overrides every property's number of cases (more for a soak, fewer for a
//!   quick look).
//! - `SIM_REPLAY='...'`, printed by every failure report, runs that one case instead.

use crate::clock::ClockSpec;
use crate::net::{Latency, NetConfig};
use crate::plan::{Fault, FaultPlan, Partition, TimedFault, Trigger, TriggeredFault};
use crate::render::text;
use crate::time::{NodeId, Time};
use crate::trace::Trace;
use proptest::prelude::*;
use proptest::strategy::{BoxedStrategy, Union};
use proptest::test_runner::{
    Config as RunnerConfig, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner,
};
use serde::{Deserialize, Serialize};
use std::fmt::{self, Write};
use std::time::Duration;

/// The environment variable that replays one saved case instead of generating new ones.
pub const REPLAY_VAR: &str = "SIM_REPLAY";
/// The environment variable mixed into every property's generator seed.
pub const SEED_VAR: &str = "SIM_SEED";
/// The environment variable that overrides every property's number of cases.
pub const CASES_VAR: &str = "SIM_CASES";

/// A whole number from the environment variable `name`, if it is set. Anything else in it is
/// a mistake worth stopping for: a typo would otherwise run the default search in silence.
fn number_from_env(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    Some(
        text.parse()
            .unwrap_or_else(|_| panic!("{name} must be a whole number, got {text:?}")),
    )
}

/// `SIM_SEED`, if set.
pub fn seed_from_env() -> Option<u64> {
    number_from_env(SEED_VAR)
}

/// `SIM_CASES`, if set.
pub fn cases_from_env() -> Option<u32> {
    number_from_env(CASES_VAR).map(|n| u32::try_from(n).unwrap_or(u32::MAX).max(1))
}

/// One generated case: the seed of the run and its fault plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Case {
    pub seed: u64,
    pub plan: FaultPlan,
}

/// A property that did not hold in one run.
#[derive(Clone, Debug)]
pub struct Failure {
    /// What went wrong, in the learner's terms ("n1 was never suspected after it crashed").
    pub message: String,
    /// When it went wrong, to pick the stretch of timeline to show.
    pub at: Option<Time>,
    /// The run's trace (empty if the test did not keep it).
    pub trace: Trace,
}

impl Failure {
    /// A failure with a message and nothing else yet.
    pub fn new(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            at: None,
            trace: Trace::default(),
        }
    }

    /// When the property broke.
    pub fn at(mut self, at: Time) -> Failure {
        self.at = Some(at);
        self
    }

    /// The run's trace, to show the timeline.
    pub fn trace(mut self, trace: &Trace) -> Failure {
        self.trace = trace.clone();
        self
    }
}

impl From<crate::engine::Halt> for Failure {
    fn from(halt: crate::engine::Halt) -> Failure {
        Failure {
            message: halt.to_string(),
            at: Some(halt.time),
            trace: Trace::default(),
        }
    }
}

/// A named property, checked over many generated fault plans.
#[derive(Clone, Debug)]
pub struct Property {
    name: String,
    cases: u32,
    replay: String,
    book: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Replay {
    property: String,
    seed: u64,
    plan: FaultPlan,
}

/// What a passing check explored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Explored {
    /// How many fault schedules (seed and plan pairs) ran.
    pub cases: u32,
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Property {
    /// A property called `name` (say what must hold: "a crashed node is suspected within 3 s"),
    /// checked over 64 cases.
    pub fn new(name: impl Into<String>) -> Property {
        Property {
            name: name.into(),
            cases: 64,
            replay: "cargo test".into(),
            book: None,
        }
    }

    /// How many fault plans to try (`SIM_CASES` overrides it).
    pub fn cases(mut self, cases: u32) -> Property {
        self.cases = cases;
        self
    }

    /// The name, as reports print it after `property violated: `.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many cases a check runs: `SIM_CASES` if set, else what [`Property::cases`] said.
    pub fn case_count(&self) -> u32 {
        cases_from_env().unwrap_or(self.cases)
    }

    /// The generator seed: fixed by the name, and mixed with `SIM_SEED` when it is set.
    fn generator_seed(&self) -> [u8; 32] {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&fnv(&self.name).to_le_bytes());
        if let Some(extra) = seed_from_env() {
            seed[8..16].copy_from_slice(&extra.to_le_bytes());
            seed[16] = 1;
        }
        seed
    }

    /// The command that runs just this test, e.g. `cargo test --test properties completeness`.
    pub fn replay_command(mut self, command: impl Into<String>) -> Property {
        self.replay = command.into();
        self
    }

    /// Where the book explains the property.
    pub fn book(mut self, section: impl Into<String>) -> Property {
        self.book = Some(section.into());
        self
    }

    /// Runs `test` on `cases` generated plans (or on the one case in `SIM_REPLAY`). Panics with
    /// a full report on the smallest failing case proptest can shrink to.
    pub fn check(
        &self,
        plans: impl Strategy<Value = FaultPlan>,
        test: impl Fn(&Case) -> Result<(), Failure>,
    ) -> Explored {
        if let Some(case) = self.replayed_case() {
            match test(&case) {
                Ok(()) => {
                    println!("replayed case of \"{}\" passes", self.name);
                    return Explored { cases: 1 };
                }
                Err(failure) => panic!("{}", self.report(&case, &failure, true)),
            }
        }
        let cases = self.case_count();
        let config = RunnerConfig {
            cases,
            failure_persistence: None,
            max_shrink_iters: 2_000,
            ..RunnerConfig::default()
        };
        let seed = self.generator_seed();
        let mut runner =
            TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed));
        let strategy = (any::<u64>(), plans).prop_map(|(seed, plan)| Case { seed, plan });
        let outcome = crate::engine::quietly(|| {
            runner
                .run(&strategy, |case| {
                    test(&case).map_err(|failure| TestCaseError::fail(failure.message))
                })
                .map_err(Box::new)
        });
        match outcome.map_err(|e| *e) {
            Ok(()) => Explored { cases },
            Err(TestError::Fail(_, case)) => {
                let failure = test(&case).expect_err("a failing case fails again on replay");
                panic!("{}", self.report(&case, &failure, false))
            }
            Err(TestError::Abort(why)) => panic!("property \"{}\": {why}", self.name),
        }
    }

    /// Runs `test` on generated inputs that are not fault plans: for rules about pure functions
    /// (a decision, a piece of arithmetic) checked over many inputs. Panics with a report on
    /// the smallest failing input proptest can shrink to. `SIM_SEED` and `SIM_CASES` apply.
    pub fn check_inputs<T: fmt::Debug>(
        &self,
        inputs: impl Strategy<Value = T>,
        test: impl Fn(&T) -> Result<(), String>,
    ) -> Explored {
        let cases = self.case_count();
        let config = RunnerConfig {
            cases,
            failure_persistence: None,
            max_shrink_iters: 2_000,
            ..RunnerConfig::default()
        };
        let seed = self.generator_seed();
        let mut runner =
            TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed));
        let outcome = crate::engine::quietly(|| {
            runner
                .run(&inputs, |input| test(&input).map_err(TestCaseError::fail))
                .map_err(Box::new)
        });
        match outcome.map_err(|e| *e) {
            Ok(()) => Explored { cases },
            Err(TestError::Fail(_, input)) => {
                let message = test(&input).expect_err("a failing input fails again");
                let mut out = String::new();
                let _ = writeln!(out, "\nproperty violated: {}", self.name);
                let _ = writeln!(out, "  {}", message.replace('\n', "\n  "));
                let _ = writeln!(out, "\ninput (shrunk to a smallest failing case):");
                let _ = writeln!(out, "  {}", format!("{input:#?}").replace('\n', "\n  "));
                if let Some(extra) = seed_from_env() {
                    let _ = writeln!(out, "\nfound with {SEED_VAR}={extra}");
                }
                let _ = writeln!(out, "\nrun just this test:\n  {}", self.replay);
                if let Some(book) = &self.book {
                    let _ = writeln!(out, "read: {book}");
                }
                panic!("{out}")
            }
            Err(TestError::Abort(why)) => panic!("property \"{}\": {why}", self.name),
        }
    }

    fn replayed_case(&self) -> Option<Case> {
        let text = std::env::var(REPLAY_VAR).ok()?;
        let replay: Replay = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{REPLAY_VAR} is not a case this test can read: {e}"));
        (replay.property == self.name).then_some(Case {
            seed: replay.seed,
            plan: replay.plan,
        })
    }

    /// The report a learner reads when the property fails.
    pub fn report(&self, case: &Case, failure: &Failure, whole_timeline: bool) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "\nproperty violated: {}", self.name);
        let _ = writeln!(out, "  {}", failure.message.replace('\n', "\n  "));
        let _ = writeln!(out, "\nseed: {}", case.seed);
        if !whole_timeline && let Some(extra) = seed_from_env() {
            let _ = writeln!(
                out,
                "found with {SEED_VAR}={extra} (the same search again: {SEED_VAR}={extra} {})",
                self.replay
            );
        }
        let _ = writeln!(
            out,
            "fault plan{}:",
            if whole_timeline {
                ""
            } else {
                " (shrunk to a smallest failing case; faults the test always adds stay in it)"
            }
        );
        let _ = writeln!(out, "  {}", case.plan.to_string().replace('\n', "\n  "));
        if !failure.trace.events.is_empty() {
            if whole_timeline {
                let _ = writeln!(out, "\nthe whole timeline:");
                out.push_str(&text::render(&failure.trace));
            } else {
                let at = failure
                    .at
                    .unwrap_or_else(|| failure.trace.events.last().map_or(Time::ZERO, |e| e.time));
                let _ = writeln!(out, "\ntimeline around {at}:");
                out.push_str(&text::around(&failure.trace, at, 30, 5));
            }
        }
        let replay = Replay {
            property: self.name.clone(),
            seed: case.seed,
            plan: case.plan.clone(),
        };
        let json = serde_json::to_string(&replay).expect("a case always serializes");
        let _ = writeln!(
            out,
            "\nreplay exactly this case (while it fails, the report shows the whole timeline):\n  \
             {REPLAY_VAR}='{json}' {}",
            self.replay
        );
        if let Some(book) = &self.book {
            let _ = writeln!(out, "read: {book}");
        }
        out
    }
}

/// The limits within which [`plans`] generates fault plans.
#[derive(Clone, Debug)]
pub struct PlanBounds {
    pub nodes: u32,
    /// Faults start within this long after the start of the run.
    pub horizon: Duration,
    /// At most this many timed faults.
    pub max_faults: usize,
    /// The longest a pause, slowness, partition or crash downtime lasts.
    pub max_fault_duration: Duration,
    pub crashes: bool,
    /// Whether crashed nodes may stay down for good (otherwise every crash restarts).
    pub permanent_crashes: bool,
    /// At most this many nodes crashed at one instant (for a majority to stay up, `(n-1)/2`).
    pub max_down_at_once: u32,
    pub pauses: bool,
    pub slow_nodes: bool,
    pub partitions: bool,
    pub clock_steps: bool,
    /// The latency distributions to choose from.
    pub latencies: Vec<Latency>,
    pub max_loss: f64,
    pub max_duplicate: f64,
    pub max_reorder: f64,
    /// Monotonic and wall clock drift stay within plus or minus this.
    pub max_drift_ppm: u32,
    /// Wall clock offsets and steps stay within plus or minus this.
    pub max_wall_error: Duration,
    /// The nodes that timed faults may name: they crash, pause, slow down or step their clocks,
    /// and every link a partition cuts touches one of them. Empty: every node.
    pub targets: Vec<NodeId>,
    /// Each node starts at a random offset up to this (zero: all start together, so periodic
    /// timers line up across nodes).
    pub max_start_offset: Duration,
    /// Triggers that generated [triggered faults](crate::plan::TriggeredFault) may use; each
    /// such fault is one of the kinds above, aimed at the trigger's subject.
    pub triggers: Vec<Trigger>,
    /// At most this many triggered faults (when there are triggers).
    pub max_triggered: usize,
    /// A triggered fault starts at most this long after its trigger.
    pub max_trigger_delay: Duration,
}

impl PlanBounds {
    /// Every kind of fault, a minority crashed at once, faults within `horizon`, each lasting
    /// at most a fifth of it; 1 ms network latency with up to 5% loss, duplication and reordering.
    pub fn new(nodes: u32, horizon: Duration) -> PlanBounds {
        PlanBounds {
            nodes,
            horizon,
            max_faults: 6,
            max_fault_duration: horizon / 5,
            crashes: true,
            permanent_crashes: true,
            max_down_at_once: nodes.saturating_sub(1) / 2,
            pauses: true,
            slow_nodes: true,
            partitions: true,
            clock_steps: true,
            latencies: vec![
                Latency::Constant(Duration::from_millis(1)),
                Latency::Uniform {
                    min: Duration::from_micros(500),
                    max: Duration::from_millis(5),
                },
            ],
            max_loss: 0.05,
            max_duplicate: 0.05,
            max_reorder: 0.05,
            max_drift_ppm: 0,
            max_wall_error: Duration::ZERO,
            targets: Vec::new(),
            max_start_offset: Duration::ZERO,
            triggers: Vec::new(),
            max_triggered: 2,
            max_trigger_delay: Duration::ZERO,
        }
    }

    /// Only network faults with no crashes, pauses, slowness or clock trouble.
    pub fn network_only(mut self) -> PlanBounds {
        self.crashes = false;
        self.pauses = false;
        self.slow_nodes = false;
        self.clock_steps = false;
        self
    }
}

fn millis(range: std::ops::RangeInclusive<u64>) -> impl Strategy<Value = Duration> {
    range.prop_map(Duration::from_millis)
}

/// Which nodes a fault may name: the targets (or every node) for timed faults, the trigger's
/// subject for triggered ones.
#[derive(Clone)]
enum Aim {
    Nodes(Vec<NodeId>),
    Subject,
}

impl Aim {
    fn node(&self) -> BoxedStrategy<NodeId> {
        match self {
            Aim::Nodes(nodes) => proptest::sample::select(nodes.clone()).boxed(),
            Aim::Subject => Just(NodeId::SUBJECT).boxed(),
        }
    }
}

fn fault_kinds(b: &PlanBounds, aim: &Aim) -> Vec<BoxedStrategy<Fault>> {
    let all: Vec<NodeId> = (0..b.nodes.max(1)).map(NodeId).collect();
    let node = |aim: &Aim| aim.node();
    let longest = (b.max_fault_duration.as_millis() as u64).max(1);
    let mut kinds: Vec<BoxedStrategy<Fault>> = Vec::new();
    if b.crashes {
        let restart = if b.permanent_crashes {
            proptest::option::weighted(0.8, millis(1..=longest)).boxed()
        } else {
            millis(1..=longest).prop_map(Some).boxed()
        };
        kinds.push(
            (node(aim), restart)
                .prop_map(|(node, restart_after)| Fault::Crash {
                    node,
                    restart_after,
                })
                .boxed(),
        );
    }
    if b.pauses {
        kinds.push(
            (node(aim), millis(1..=longest))
                .prop_map(|(node, duration)| Fault::Pause { node, duration })
                .boxed(),
        );
    }
    if b.slow_nodes {
        kinds.push(
            (node(aim), millis(1..=20), millis(1..=longest))
                .prop_map(|(node, per_event, duration)| Fault::Slow {
                    node,
                    per_event,
                    duration,
                })
                .boxed(),
        );
    }
    if b.partitions && b.nodes >= 2 {
        let partition = match aim {
            Aim::Nodes(targets) => {
                let targets = targets.clone();
                // Each target picks a side; shrinking moves nodes toward side 0, toward no
                // partition. Nodes that are not targets stay together in one more group.
                let split = proptest::collection::vec(0..3u32, targets.len()).prop_map({
                    let targets = targets.clone();
                    move |sides| {
                        let groups: Vec<Vec<NodeId>> = (0..3)
                            .map(|side| {
                                targets
                                    .iter()
                                    .zip(&sides)
                                    .filter(|(_, s)| **s == side)
                                    .map(|(n, _)| *n)
                                    .collect::<Vec<_>>()
                            })
                            .filter(|g| !g.is_empty())
                            .collect();
                        Partition::Split(groups)
                    }
                });
                let pair = (
                    proptest::sample::select(targets),
                    proptest::sample::select(all.clone()),
                );
                let one_way = pair.clone().prop_map(|(a, b)| Partition::OneWay {
                    from: vec![a],
                    to: vec![b],
                });
                let link = pair.prop_map(|(a, b)| Partition::Links(vec![(a, b)]));
                prop_oneof![3 => split, 1 => one_way, 1 => link].boxed()
            }
            Aim::Subject => {
                // Cut the subject off both ways, or only what it sends, or only what it hears.
                let s = NodeId::SUBJECT;
                prop_oneof![
                    2 => Just(Partition::Split(vec![vec![s]])),
                    1 => Just(Partition::OneWay { from: vec![s], to: all.clone() }),
                    1 => Just(Partition::OneWay { from: all.clone(), to: vec![s] }),
                ]
                .boxed()
            }
        };
        kinds.push(
            (partition, millis(1..=longest))
                .prop_map(|(partition, duration)| Fault::Partition {
                    partition,
                    duration,
                })
                .boxed(),
        );
    }
    if b.clock_steps && !b.max_wall_error.is_zero() {
        let e = b.max_wall_error.as_nanos() as i64;
        kinds.push(
            (node(aim), -e..=e)
                .prop_map(|(node, by_ns)| Fault::ClockStep { node, by_ns })
                .boxed(),
        );
    }
    kinds
}

/// Drops crashes that would leave more than `max_down` nodes down at one instant (checked at
/// each crash's start, against the crashes kept so far).
fn limit_crashes(mut faults: Vec<TimedFault>, max_down: u32) -> Vec<TimedFault> {
    faults.sort_by_key(|f| f.at);
    let mut down: Vec<(NodeId, Time)> = Vec::new();
    faults.retain(|tf| {
        let Fault::Crash {
            node,
            restart_after,
        } = &tf.fault
        else {
            return true;
        };
        down.retain(|(_, until)| *until > tf.at);
        if down.iter().any(|(n, _)| n == node) {
            return false;
        }
        if down.len() as u32 >= max_down {
            return false;
        }
        let until = restart_after.map_or(Time::MAX, |d| tf.at + d);
        down.push((*node, until));
        true
    });
    faults
}

/// A strategy for fault plans within `bounds`. Failing plans shrink toward fewer, shorter
/// faults, earlier starts, fewer triggered faults and a calmer network.
pub fn plans(bounds: PlanBounds) -> impl Strategy<Value = FaultPlan> {
    let targets = if bounds.targets.is_empty() {
        (0..bounds.nodes.max(1)).map(NodeId).collect()
    } else {
        bounds.targets.clone()
    };
    let kinds = fault_kinds(&bounds, &Aim::Nodes(targets));
    let horizon = (bounds.horizon.as_millis() as u64).max(1);
    let faults = if kinds.is_empty() || bounds.max_faults == 0 {
        Just(Vec::new()).boxed()
    } else {
        proptest::collection::vec(
            (0..horizon, Union::new(kinds)).prop_map(|(at, fault)| TimedFault {
                at: Time::from_millis(at),
                fault,
            }),
            0..=bounds.max_faults,
        )
        .boxed()
    };
    let latencies = if bounds.latencies.is_empty() {
        vec![Latency::default()]
    } else {
        bounds.latencies.clone()
    };
    let network = (
        proptest::sample::select(latencies),
        0.0..=bounds.max_loss.max(0.0),
        0.0..=bounds.max_duplicate.max(0.0),
        0.0..=bounds.max_reorder.max(0.0),
    )
        .prop_map(|(latency, loss, duplicate, reorder)| NetConfig {
            latency,
            loss,
            duplicate,
            reorder,
            ..NetConfig::default()
        });
    let drift = bounds.max_drift_ppm as i32;
    let wall = bounds.max_wall_error.as_nanos() as i64;
    let clocks = proptest::collection::vec(
        (-drift..=drift, -wall..=wall, -drift..=drift).prop_map(
            |(drift_ppm, wall_offset_ns, wall_drift_ppm)| ClockSpec {
                drift_ppm,
                wall_offset_ns,
                wall_drift_ppm,
            },
        ),
        bounds.nodes as usize,
    );
    let triggered = triggered_faults(&bounds);
    let starts = if bounds.max_start_offset.is_zero() {
        Just(Vec::new()).boxed()
    } else {
        let longest = bounds.max_start_offset.as_micros() as u64;
        proptest::collection::vec(
            (0..=longest).prop_map(Duration::from_micros),
            bounds.nodes as usize,
        )
        .boxed()
    };
    let max_down = bounds.max_down_at_once;
    (network, clocks, faults, triggered, starts).prop_map(
        move |(network, clocks, faults, triggered, starts)| FaultPlan {
            network,
            clocks,
            faults: limit_crashes(faults, max_down),
            triggered,
            starts,
        },
    )
}

/// Triggered faults for `bounds.triggers`: each picks a trigger, an arming time within the
/// horizon, a delay, and a fault of the allowed kinds aimed at the trigger's subject.
fn triggered_faults(bounds: &PlanBounds) -> BoxedStrategy<Vec<TriggeredFault>> {
    let kinds = fault_kinds(bounds, &Aim::Subject);
    if bounds.triggers.is_empty() || bounds.max_triggered == 0 || kinds.is_empty() {
        return Just(Vec::new()).boxed();
    }
    let horizon = (bounds.horizon.as_millis() as u64).max(1);
    let delay = bounds.max_trigger_delay.as_micros() as u64;
    proptest::collection::vec(
        (
            proptest::sample::select(bounds.triggers.clone()),
            0..horizon,
            0..=delay,
            Union::new(kinds),
        )
            .prop_map(|(when, from, delay, fault)| TriggeredFault {
                when,
                from: Time::from_millis(from),
                delay: Duration::from_micros(delay),
                fault,
            }),
        0..=bounds.max_triggered,
    )
    .boxed()
}

/// Faults of the kinds `bounds` allows, aimed at a trigger's subject ([`NodeId::SUBJECT`]), for
/// a test that builds its own [`TriggeredFault`]s.
pub fn subject_faults(bounds: &PlanBounds) -> BoxedStrategy<Fault> {
    let kinds = fault_kinds(bounds, &Aim::Subject);
    assert!(!kinds.is_empty(), "the bounds allow no kind of fault");
    Union::new(kinds).boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::ValueTree;

    fn sample_plans(bounds: PlanBounds, count: usize) -> Vec<FaultPlan> {
        let mut runner = TestRunner::deterministic();
        let strategy = plans(bounds);
        (0..count)
            .map(|_| strategy.new_tree(&mut runner).unwrap().current())
            .collect()
    }

    #[test]
    fn generated_plans_never_crash_more_than_the_bound_at_once() {
        let bounds = PlanBounds {
            max_faults: 12,
            ..PlanBounds::new(5, Duration::from_secs(2))
        };
        let mut crashes = 0;
        for plan in sample_plans(bounds, 300) {
            let mut down: Vec<(Time, Time)> = Vec::new();
            for tf in plan.sorted_faults() {
                if let Fault::Crash { restart_after, .. } = tf.fault {
                    crashes += 1;
                    down.retain(|(_, until)| *until > tf.at);
                    down.push((tf.at, restart_after.map_or(Time::MAX, |d| tf.at + d)));
                    assert!(down.len() <= 2, "more than a minority down: {plan}");
                }
            }
        }
        assert!(
            crashes > 100,
            "the strategy should generate crashes ({crashes})"
        );
    }

    #[test]
    fn generated_plans_stay_within_their_bounds() {
        let bounds = PlanBounds {
            max_drift_ppm: 500,
            max_wall_error: Duration::from_millis(100),
            ..PlanBounds::new(3, Duration::from_secs(1))
        };
        let mut kinds = std::collections::BTreeSet::new();
        for plan in sample_plans(bounds, 300) {
            assert!(plan.network.loss <= 0.05);
            for c in &plan.clocks {
                assert!(c.drift_ppm.abs() <= 500 && c.wall_offset_ns.abs() <= 100_000_000);
            }
            for tf in &plan.faults {
                assert!(tf.at < Time::from_millis(1000));
                kinds.insert(
                    format!("{:?}", tf.fault)
                        .split(' ')
                        .next()
                        .unwrap()
                        .to_string(),
                );
            }
        }
        assert_eq!(
            kinds.into_iter().collect::<Vec<_>>(),
            ["ClockStep", "Crash", "Partition", "Pause", "Slow"]
        );
    }

    #[test]
    fn network_only_bounds_generate_no_process_faults() {
        let bounds = PlanBounds::new(3, Duration::from_secs(1)).network_only();
        for plan in sample_plans(bounds, 100) {
            for tf in &plan.faults {
                assert!(
                    matches!(tf.fault, Fault::Partition { .. }),
                    "{:?}",
                    tf.fault
                );
            }
        }
    }
}
