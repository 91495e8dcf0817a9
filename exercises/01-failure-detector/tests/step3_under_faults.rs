//! Step 3: the detector under faults. What Chandra and Toueg call completeness (a crashed node
//! ends up suspected) and accuracy (a live node does not), plus recovery (a node that was only
//! paused is trusted again once it speaks) and the rule that a node never heard from is never
//! suspected.
//!
//! Every run has three to five nodes with the default [`DetectorConfig`], started up to
//! [`MAX_START`] apart so that their timers do not line up. `n0` is the node under watch and
//! every other node watches it. `n2` and up (the scenery) suffer random crashes, pauses,
//! slowness and partitions, to show that trouble elsewhere does not confuse the detectors of
//! healthy nodes. The network is random but bounded: no message is lost or duplicated and none
//! takes longer than [`MAX_LATENCY`]. Those bounds are what make the time bounds below provable;
//! see each property.
//!
//! Every node's wall clock is off by up to 10 s, drifts by up to 5%, and gets stepped forwards
//! and backwards: at random, and where a detector that read it would go wrong (forwards on a
//! healthy observer after the warm-up, backwards on the observers right after the watched node
//! crashes). A correct node never reads its wall clock, so a step disqualifies no observer.
//! Monotonic clocks drift by at most 100 ppm, which the bounds allow for.
//!
//! `cargo test --test step3_under_faults` runs just this step.

use failure_detector::{DetectorConfig, HeartbeatNode};
use sim::check::{Case, Failure, PlanBounds, Property, plans};
use sim::proptest;
use sim::proptest::prelude::*;
use sim::{
    ClockSpec, Config, Fault, FaultPlan, Latency, NodeId, Side, Simulation, Time, TimedFault,
    Trigger, TriggeredFault,
};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

/// The node under watch.
const TARGET: NodeId = NodeId(0);
/// Every heartbeat takes at most this long (the simulator caps each latency draw here).
const MAX_LATENCY: Duration = Duration::from_millis(30);
/// Nodes start up to this long after the beginning of the run.
const MAX_START: Duration = Duration::from_millis(250);
/// Slack for monotonic clock drift (at most 100 ppm: well under 1 ms per run) and for rounding
/// the bounds.
const SLACK: Duration = Duration::from_millis(1);
/// Fault plans per property: under a second each in a debug build, and enough that each
/// classic mistake is caught every time (checked over 20 generator seeds).
const CASES: u32 = 80;

fn config() -> DetectorConfig {
    DetectorConfig::default()
}

/// How many standard deviations past the mean the next heartbeat must be late for phi to pass
/// `threshold`: the `y` at which the specification's formula gives `phi = threshold`, found by
/// bisection (phi only grows with `y`). About 5.23 for a threshold of 8.
fn sigmas_at(threshold: f64) -> f64 {
    let phi = |y: f64| {
        let e = (-y * (1.5976 + 0.070566 * y * y)).exp();
        -(e / (1.0 + e)).log10()
    };
    let (mut low, mut high) = (0.0, 40.0);
    for _ in 0..100 {
        let mid = (low + high) / 2.0;
        if phi(mid) > threshold {
            high = mid;
        } else {
            low = mid;
        }
    }
    high
}

/// Every node's clocks: a monotonic clock within 100 ppm, and a wall clock up to 10 s off that
/// drifts by up to 5%.
fn clocks(nodes: u32) -> impl Strategy<Value = Vec<ClockSpec>> {
    proptest::collection::vec(
        (
            -100i32..=100,
            -10_000_000_000i64..=10_000_000_000,
            -50_000i32..=50_000,
        )
            .prop_map(|(drift_ppm, wall_offset_ns, wall_drift_ppm)| ClockSpec {
                drift_ppm,
                wall_offset_ns,
                wall_drift_ppm,
            }),
        nodes as usize,
    )
}

/// Up to three steps of any node's wall clock, at any time, by up to 5 s either way.
fn wall_steps(nodes: u32, horizon: Duration) -> impl Strategy<Value = Vec<TimedFault>> {
    let horizon = horizon.as_millis() as u64;
    proptest::collection::vec(
        (0..horizon, 0..nodes, 1..=5_000i64, any::<bool>()).prop_map(
            move |(at, node, by_ms, forwards)| TimedFault {
                at: Time::from_millis(at),
                fault: Fault::ClockStep {
                    node: NodeId(node),
                    by_ns: if forwards { by_ms } else { -by_ms } * 1_000_000,
                },
            },
        ),
        0..=3,
    )
}

/// Mostly steady latencies, two of them with a tail: a few heartbeats take ten times the
/// median. The cap bounds every draw.
fn latencies() -> Vec<Latency> {
    vec![
        Latency::Constant(Duration::from_millis(2)),
        Latency::Uniform {
            min: Duration::from_millis(1),
            max: Duration::from_millis(5),
        },
        Latency::LogNormal {
            median: Duration::from_millis(3),
            sigma: 0.8,
        },
        Latency::Pareto {
            min: Duration::from_millis(2),
            shape: 1.5,
        },
    ]
}

/// A run of `nodes` nodes: start offsets, clocks, random wall-clock steps on every node, the
/// network, and the faults of the scenery (`n2` and up). A partition then never separates
/// `n0` from `n1`: nodes a split does not name end up together in one more group.
fn background(nodes: u32) -> impl Strategy<Value = FaultPlan> {
    let horizon = Duration::from_secs(3);
    let bounds = PlanBounds {
        targets: (2..nodes).map(NodeId).collect(),
        max_faults: 4,
        max_fault_duration: Duration::from_millis(800),
        max_down_at_once: nodes - 2,
        latencies: latencies(),
        // A lost heartbeat is a silence the detector is right to grow suspicious of, and a
        // reordered one is held for a second latency draw, past the cap: both would break the
        // premise of the bounds, so this network only delays.
        max_loss: 0.0,
        max_duplicate: 0.0,
        max_reorder: 0.0,
        max_start_offset: MAX_START,
        ..PlanBounds::new(nodes, horizon)
    };
    (plans(bounds), clocks(nodes), wall_steps(nodes, horizon)).prop_map(
        |(mut plan, clocks, steps)| {
            plan.network.max_latency = MAX_LATENCY;
            plan.clocks = clocks;
            plan.faults.extend(steps);
            plan
        },
    )
}

/// The message predicate, registered for every node, that names `node`'s heartbeats.
fn heartbeat_of(node: NodeId) -> String {
    format!("heartbeat from {node}")
}

/// Whether `node` runs undisturbed: it never crashes, pauses or slows down. A step of its wall
/// clock does not count: a correct node never reads it. Every trigger in these plans names a
/// heartbeat of `subject`, so that is whom a triggered fault's `n*` stands for.
fn undisturbed(plan: &FaultPlan, node: NodeId, subject: NodeId) -> bool {
    let triggered = plan.triggered.iter().map(|t| t.fault.resolve(subject));
    plan.faults
        .iter()
        .map(|t| t.fault.clone())
        .chain(triggered)
        .all(|fault| match fault {
            Fault::Crash { node: n, .. }
            | Fault::Pause { node: n, .. }
            | Fault::Slow { node: n, .. } => n != node,
            Fault::ClockStep { .. } | Fault::Partition { .. } => true,
        })
}

/// Whether some partition of the plan ever cuts the link that carries `from`'s heartbeats to
/// `to`.
fn cut(plan: &FaultPlan, from: NodeId, to: NodeId) -> bool {
    let nodes = plan.clocks.len() as u32;
    plan.faults.iter().any(|timed| match &timed.fault {
        Fault::Partition { partition, .. } => partition.blocked_links(nodes).contains(&(from, to)),
        _ => false,
    })
}

/// The nodes held to a property as observers of `TARGET`: undisturbed, and never cut off from
/// its heartbeats. The others are scenery.
fn observers(plan: &FaultPlan) -> Vec<NodeId> {
    let nodes = plan.clocks.len() as u32;
    (1..nodes)
        .map(NodeId)
        .filter(|o| undisturbed(plan, *o, TARGET) && !cut(plan, TARGET, *o))
        .collect()
}

/// The latest start of any node.
fn last_start(plan: &FaultPlan) -> Time {
    plan.starts
        .iter()
        .map(|s| Time::ZERO + *s)
        .max()
        .unwrap_or(Time::ZERO)
}

/// One change of mind: `observer` started (or stopped) suspecting `peer` at real time `at`.
#[derive(Clone, Copy, Debug)]
struct Change {
    at: Time,
    observer: NodeId,
    peer: NodeId,
    suspects: bool,
}

/// Runs the case to `end` and returns the simulation with every change of suspicion, read
/// from [`HeartbeatNode::suspects`] after every event. A crashed node suspects nobody.
fn run(case: &Case, end: Time) -> Result<(Simulation<HeartbeatNode>, Vec<Change>), Failure> {
    let nodes = case.plan.clocks.len().max(1) as u32;
    let changes = Rc::new(RefCell::new(Vec::new()));
    let log = Rc::clone(&changes);
    let mut state = vec![false; (nodes * nodes) as usize];
    let config = Config::new(nodes, case.seed).plan(case.plan.clone());
    let mut sim = Simulation::new(config, |_, _| HeartbeatNode::new(self::config()));
    for node in (0..nodes).map(NodeId) {
        sim = sim.message_predicate(heartbeat_of(node), move |from, _, _| from == node);
    }
    let mut sim = sim.monitor("record who suspects whom", move |view| {
        for o in 0..nodes {
            let node = view.node(NodeId(o));
            for p in 0..nodes {
                if p == o {
                    continue;
                }
                let suspects = node.is_some_and(|n| n.suspects(NodeId(p)));
                let was = &mut state[(o * nodes + p) as usize];
                if suspects != *was {
                    *was = suspects;
                    log.borrow_mut().push(Change {
                        at: view.time(),
                        observer: NodeId(o),
                        peer: NodeId(p),
                        suspects,
                    });
                }
            }
        }
        Ok(())
    });
    if let Err(halt) = sim.run_until(end) {
        return Err(Failure::from(halt).trace(sim.trace()));
    }
    let changes = changes.borrow().clone();
    Ok((sim, changes))
}

/// Runs one calm case before the random ones, so that a handler that panics (a `todo!()` still
/// standing) is reported once and plainly, not through hundreds of shrinking attempts.
fn smoke() {
    let calm = Case {
        seed: 0,
        plan: FaultPlan {
            clocks: vec![ClockSpec::default(); 4],
            ..FaultPlan::default()
        },
    };
    if let Err(failure) = run(&calm, Time::from_millis(300)) {
        panic!("a fault-free run of four nodes failed: {}", failure.message);
    }
}

/// Whether `observer` suspects `peer` at `at`, by the changes recorded up to then.
fn suspects_at(changes: &[Change], observer: NodeId, peer: NodeId, at: Time) -> bool {
    changes
        .iter()
        .rfind(|c| c.observer == observer && c.peer == peer && c.at <= at)
        .is_some_and(|c| c.suspects)
}

/// The range of one heartbeat's latency in a case: from the fastest to the slowest a message
/// can take under the plan's latency distribution and the cap.
struct Latencies {
    slowest: Duration,
    /// `J`: the slowest minus the fastest.
    jitter: Duration,
}

fn latencies_of(plan: &FaultPlan) -> Latencies {
    let cap = plan.network.max_latency;
    let (fastest, slowest) = match plan.network.latency {
        Latency::Constant(d) => (d, d),
        Latency::Uniform { min, max } => (min, max),
        Latency::Pareto { min, .. } => (min, cap),
        Latency::LogNormal { .. } => (Duration::ZERO, cap),
    };
    let slowest = slowest.min(cap);
    Latencies {
        slowest,
        jitter: slowest - fastest.min(slowest),
    }
}

/// How long after a crash every healthy observer must suspect the crashed node.
///
/// The last heartbeat of the crashed node arrives at most `slowest` after the crash. Every gap
/// between two arrivals is the interval plus the difference of two latencies, so it lies within
/// `interval ± J`: the mean of the window is at most `interval + J` and its standard deviation
/// at most `J`, however few gaps it holds. So phi passes the threshold once the silence exceeds
/// `interval + J + z * max(J, floor)`, with `z` = [`sigmas_at`]`(threshold)`, and the next
/// check comes within `check_every`. With the default configuration that is
/// 2 + 100 + 0 + 5.23 * 10 + 10 ms = 165 ms on a constant 2 ms network, and
/// 30 + 130 + 5.23 * 30 + 10 ms = 327 ms when latencies range up to 30 ms.
fn completeness_bound(network: &Latencies) -> Duration {
    let c = config();
    let spread = network.jitter.max(c.min_std_dev);
    let z = sigmas_at(c.threshold);
    let silence = c.interval + network.jitter + spread.mul_f64(z);
    network.slowest + silence + c.check_every + SLACK
}

/// The most any case allows (the name of the property states it).
fn worst_case() -> Latencies {
    Latencies {
        slowest: MAX_LATENCY,
        jitter: MAX_LATENCY,
    }
}

/// The last moment the target's crash may be armed: early enough that the bound and a stretch
/// after it fit before the end of the run.
const LATEST_CRASH: Time = Time::from_millis(2_400);

#[test]
fn completeness() {
    smoke();
    let end = Time::from_millis(3_500);
    let property = Property::new(format!(
        "completeness: a node that crashes for good is suspected by every healthy node within \
         {} ms (less on a steadier network), and stays suspected",
        completeness_bound(&worst_case()).as_millis()
    ))
    .cases(CASES)
    .replay_command("cargo test -p failure-detector --test step3_under_faults completeness")
    .book("book/src/01-failure-detector.md#completeness");
    // The crash comes once every observer has heard two heartbeats from the target (one gap is
    // all the bound needs), right after the target sent its heartbeats (the worst moment: the
    // silence starts as late as it can) or a random fraction of an interval later. A backward
    // step of an observer's wall clock follows, once the target's last heartbeat has landed.
    let cases = (3u32..=5)
        .prop_flat_map(|nodes| {
            let step = (35_000..=100_000u64, 600..=5_000i64);
            (
                background(nodes),
                0u64..=1_000,
                prop_oneof![Just(0u64), 0..100_000u64],
                proptest::collection::vec(
                    proptest::option::weighted(0.75, step),
                    nodes as usize - 1,
                ),
            )
        })
        .prop_map(|(mut plan, fraction, delay_us, steps)| {
            let earliest = last_start(&plan) + config().interval * 2 + SLACK;
            let span = LATEST_CRASH.saturating_since(earliest);
            let from = earliest + span.mul_f64(fraction as f64 / 1_000.0);
            let when = Trigger::send(heartbeat_of(TARGET), Side::Sender);
            let delay = Duration::from_micros(delay_us);
            plan.triggered.push(TriggeredFault {
                when: when.clone(),
                from,
                delay,
                fault: Fault::Crash {
                    node: NodeId::SUBJECT,
                    restart_after: None,
                },
            });
            for (i, step) in steps.into_iter().enumerate() {
                if let Some((after_us, back_ms)) = step {
                    plan.triggered.push(TriggeredFault {
                        when: when.clone(),
                        from,
                        delay: delay + Duration::from_micros(after_us),
                        fault: Fault::ClockStep {
                            node: NodeId(i as u32 + 1),
                            by_ns: -back_ms * 1_000_000,
                        },
                    });
                }
            }
            plan
        });
    property.check(cases, |case| {
        let (sim, changes) = run(case, end)?;
        let Some(crash) = sim.trace().events.iter().find_map(|e| match e.kind {
            sim::EventKind::Crash { node } if node == TARGET => Some(e.time),
            _ => None,
        }) else {
            return Err(
                Failure::new(format!("{TARGET} never crashed: the test is broken"))
                    .trace(sim.trace()),
            );
        };
        let bound = completeness_bound(&latencies_of(&case.plan));
        let deadline = crash + bound;
        for observer in observers(&case.plan) {
            if !suspects_at(&changes, observer, TARGET, deadline) {
                return Err(Failure::new(format!(
                    "{TARGET} crashed for good at {crash}, but {observer} still did not suspect \
                     it at {deadline}, {} ms later",
                    bound.as_millis()
                ))
                .at(deadline)
                .trace(sim.trace()));
            }
            if let Some(change) = changes.iter().find(|c| {
                c.observer == observer && c.peer == TARGET && c.at > deadline && !c.suspects
            }) {
                return Err(Failure::new(format!(
                    "{TARGET} crashed for good at {crash}, yet {observer} trusted it again at {}",
                    change.at
                ))
                .at(change.at)
                .trace(sim.trace()));
            }
        }
        Ok(())
    });
}

/// When the accuracy property starts to hold: once every window is full.
///
/// An observer hears a peer's heartbeats at the latest from the first one the peer sends after
/// both have started, within an interval of the later start; ten gaps later its window is full.
/// A gap is `interval ± J` (see [`completeness_bound`]) and the mean of `n` consecutive gaps
/// is at least `interval - J / n` (their sum telescopes to `n * interval` plus the difference
/// of two latencies). The silence a live peer can cause is at most `interval + J`, so `y` stays
/// below `J * (1 + 1/n) / floor`: 3.3 with a full window of 10 (30 ms of jitter, a 10 ms
/// floor), well under the 5.23 that phi 8 needs. With 1 gap it could reach 6: early on, too
/// few samples make a jittery network look alarming, which is why detectors warm up.
fn warm_up(plan: &FaultPlan) -> Time {
    let c = config();
    last_start(plan) + c.interval * (c.window as u32 + 1) + MAX_LATENCY + SLACK
}

/// The warm-up in the worst case, from the start of the run (the name of the property states
/// it).
fn longest_warm_up() -> Duration {
    let c = config();
    MAX_START + c.interval * (c.window as u32 + 1) + MAX_LATENCY + SLACK
}

#[test]
fn accuracy() {
    smoke();
    let end = Time::from_millis(4_000);
    let property = Property::new(format!(
        "accuracy: once every window is full (at most {} ms into the run), no healthy node \
         suspects another while every heartbeat takes at most {} ms",
        longest_warm_up().as_millis(),
        MAX_LATENCY.as_millis()
    ))
    .cases(CASES)
    .replay_command("cargo test -p failure-detector --test step3_under_faults accuracy")
    .book("book/src/01-failure-detector.md#accuracy");
    // Each node's wall clock may also jump forwards, by 300 ms to 5 s, some time after the
    // warm-up: a detector that measured silences on it would see every peer fall silent.
    let cases = (3u32..=5)
        .prop_flat_map(|nodes| {
            (
                background(nodes),
                proptest::collection::vec(
                    proptest::option::weighted(0.5, (0u64..=1_000, 300..=5_000i64)),
                    nodes as usize,
                ),
            )
        })
        .prop_map(move |(mut plan, steps)| {
            let from = warm_up(&plan);
            let span = (end - Duration::from_millis(200)).saturating_since(from);
            for (i, step) in steps.into_iter().enumerate() {
                if let Some((fraction, ahead_ms)) = step {
                    plan.faults.push(TimedFault {
                        at: from + span.mul_f64(fraction as f64 / 1_000.0),
                        fault: Fault::ClockStep {
                            node: NodeId(i as u32),
                            by_ns: ahead_ms * 1_000_000,
                        },
                    });
                }
            }
            plan
        });
    property.check(cases, |case| {
        let (sim, changes) = run(case, end)?;
        let from = warm_up(&case.plan);
        let nodes = case.plan.clocks.len() as u32;
        let healthy = |o: NodeId, p: NodeId| {
            o != p
                && undisturbed(&case.plan, o, TARGET)
                && undisturbed(&case.plan, p, TARGET)
                && !cut(&case.plan, p, o)
        };
        let pairs: Vec<(NodeId, NodeId)> = (0..nodes)
            .flat_map(|o| (0..nodes).map(move |p| (NodeId(o), NodeId(p))))
            .filter(|(o, p)| healthy(*o, *p))
            .collect();
        // A suspicion raised during the warm-up and still standing after it counts, as does
        // any raised later.
        let standing = pairs
            .iter()
            .filter(|(o, p)| suspects_at(&changes, *o, *p, from))
            .map(|(o, p)| (from, *o, *p));
        let later = changes
            .iter()
            .filter(|c| c.suspects && c.at >= from && pairs.contains(&(c.observer, c.peer)))
            .map(|c| (c.at, c.observer, c.peer));
        if let Some((at, observer, peer)) = standing.chain(later).min() {
            return Err(Failure::new(format!(
                "{observer} suspects {peer} at {at}, but neither of them crashed, paused or \
                 slowed down, no partition cut {peer}'s heartbeats to {observer}, every window \
                 was full by {from}, and no heartbeat took longer than {} ms",
                MAX_LATENCY.as_millis()
            ))
            .at(at)
            .trace(sim.trace()));
        }
        Ok(())
    });
}

/// How soon after a paused node resumes every healthy observer trusts it again.
///
/// A pause longer than the interval leaves the node's `Beat` timer waiting, so it heartbeats
/// the moment it resumes; that heartbeat arrives within the slowest latency, and the
/// observer's next check, within `check_every`, finds the silence just ended (`y` below 0, so
/// phi below 0.31).
/// From then on the window is full and the argument of [`warm_up`] keeps phi low: the long gap
/// the pause left in the window only makes phi more lenient, until it slides out.
fn recovery_bound(network: &Latencies) -> Duration {
    network.slowest + config().check_every + SLACK
}

#[test]
fn recovery() {
    smoke();
    let end = Time::from_millis(4_200);
    let property = Property::new(format!(
        "recovery: once a paused node resumes, every healthy node trusts it within {} ms, and \
         keeps trusting it",
        recovery_bound(&worst_case()).as_millis()
    ))
    .cases(CASES)
    .replay_command("cargo test -p failure-detector --test step3_under_faults recovery")
    .book("book/src/01-failure-detector.md#recovery");
    // Pauses long enough to be suspected (over the completeness bound), after the warm-up, and
    // a second of run after the latest resume to see the trust hold.
    let cases = (3u32..=5)
        .prop_flat_map(|nodes| (background(nodes), 1_400..=2_000u64, 400..=1_200u64))
        .prop_map(|(plan, at, len)| {
            plan.at(
                Time::from_millis(at),
                Fault::Pause {
                    node: TARGET,
                    duration: Duration::from_millis(len),
                },
            )
        });
    property.check(cases, |case| {
        let (sim, changes) = run(case, end)?;
        let resumed = case
            .plan
            .faults
            .iter()
            .find_map(|f| match f.fault {
                Fault::Pause { node, duration } if node == TARGET => Some(f.at + duration),
                _ => None,
            })
            .expect("the case pauses the target");
        let bound = recovery_bound(&latencies_of(&case.plan));
        let deadline = resumed + bound;
        for observer in observers(&case.plan) {
            if suspects_at(&changes, observer, TARGET, deadline) {
                return Err(Failure::new(format!(
                    "{TARGET} resumed at {resumed} and heartbeats again, but {observer} still \
                     suspected it at {deadline}, {} ms later",
                    bound.as_millis()
                ))
                .at(deadline)
                .trace(sim.trace()));
            }
            if let Some(change) = changes.iter().find(|c| {
                c.observer == observer && c.peer == TARGET && c.at > deadline && c.suspects
            }) {
                return Err(Failure::new(format!(
                    "{TARGET} resumed at {resumed}, but {observer} suspected it again at {}",
                    change.at
                ))
                .at(change.at)
                .trace(sim.trace()));
            }
        }
        Ok(())
    });
}

/// How a node of the `unheard` property stays unheard.
#[derive(Clone, Copy, Debug)]
enum Silence {
    /// It never starts.
    Never,
    /// It crashes for good right after its first heartbeats: its peers hear it once, which
    /// gives no gap to learn from.
    Once,
    /// It starts this long after the beginning of the run.
    Late(Duration),
}

#[test]
fn unheard() {
    smoke();
    let end = Time::from_millis(2_000);
    let property = Property::new(
        "unheard: no node suspects a peer it has never heard from, or heard from only once \
         (there is no gap to compare its silence with)",
    )
    .cases(48)
    .replay_command("cargo test -p failure-detector --test step3_under_faults unheard")
    .book("book/src/01-failure-detector.md#unheard");
    // One node, the ghost, stays silent; the others are started at random offsets, and any of
    // them may crash and restart, pause, slow down or be cut off, on a lossy network.
    let cases = (3u32..=5)
        .prop_flat_map(|nodes| {
            let silence = prop_oneof![
                Just(Silence::Never),
                Just(Silence::Once),
                (300..=1_500u64).prop_map(|ms| Silence::Late(Duration::from_millis(ms))),
            ];
            (0..nodes, silence).prop_flat_map(move |(ghost, silence)| {
                let bounds = PlanBounds {
                    targets: (0..nodes).filter(|n| *n != ghost).map(NodeId).collect(),
                    max_faults: 3,
                    max_fault_duration: Duration::from_millis(400),
                    max_down_at_once: 1,
                    latencies: latencies(),
                    // A duplicated heartbeat would be heard twice.
                    max_duplicate: 0.0,
                    max_start_offset: MAX_START,
                    ..PlanBounds::new(nodes, (end - Time::ZERO) - Duration::from_millis(500))
                };
                (
                    plans(bounds),
                    clocks(nodes),
                    wall_steps(nodes, end - Time::ZERO),
                    Just((NodeId(ghost), silence)),
                )
            })
        })
        .prop_map(move |(mut plan, clocks, steps, (ghost, silence))| {
            plan.network.max_latency = MAX_LATENCY;
            plan.clocks = clocks;
            plan.faults.extend(steps);
            match silence {
                Silence::Never => plan = plan.start(ghost, Duration::from_secs(60)),
                Silence::Late(after) => plan = plan.start(ghost, after),
                Silence::Once => plan.triggered.push(TriggeredFault {
                    when: Trigger::send(heartbeat_of(ghost), Side::Sender),
                    from: Time::ZERO,
                    delay: Duration::ZERO,
                    fault: Fault::Crash {
                        node: NodeId::SUBJECT,
                        restart_after: None,
                    },
                }),
            }
            plan
        });
    property.check(cases, |case| {
        let (sim, changes) = run(case, end)?;
        // The ghost: the node that starts last (past the end, or late), or the one that
        // crashes on its first heartbeat.
        let nodes = case.plan.clocks.len() as u32;
        let (ghost, until, why) = match case.plan.triggered.first() {
            Some(t) => {
                let Trigger::Send { message, .. } = &t.when else {
                    unreachable!("only heartbeat triggers here")
                };
                let ghost = (0..nodes)
                    .map(NodeId)
                    .find(|n| heartbeat_of(*n) == *message)
                    .expect("the trigger names a node");
                (
                    ghost,
                    end,
                    format!(
                        "{ghost} crashed right after its first heartbeats, so it was heard at \
                         most once, and one heartbeat gives no gap to compare a silence with"
                    ),
                )
            }
            None => {
                let ghost = (0..nodes)
                    .map(NodeId)
                    .max_by_key(|n| case.plan.start_of(*n))
                    .expect("there are nodes");
                let start = case.plan.start_of(ghost);
                (
                    ghost,
                    start.min(end),
                    if start > end {
                        format!("{ghost} never started, so no one ever heard from it")
                    } else {
                        format!("{ghost} only starts at {start}, so no one had heard from it")
                    },
                )
            }
        };
        if let Some(c) = changes
            .iter()
            .find(|c| c.peer == ghost && c.suspects && c.at < until)
        {
            return Err(Failure::new(format!(
                "{} suspects {ghost} at {}, but {why}: a peer that was never heard from is \
                 never suspected",
                c.observer, c.at
            ))
            .at(c.at)
            .trace(sim.trace()));
        }
        Ok(())
    });
}
