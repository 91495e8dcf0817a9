//! The detector under random faults: what Chandra and Toueg call completeness (a crashed node
//! ends up suspected) and accuracy (a live node does not), plus recovery (a node that was only
//! paused is trusted again once it speaks).
//!
//! Every run has four nodes with the default [`DetectorConfig`]. `n0` is the node under watch
//! and `n1` a healthy observer; neither suffers any fault but the one a property gives `n0`.
//! `n2` and `n3` suffer random crashes, pauses, slowness and partitions, to show that trouble
//! elsewhere does not confuse the detectors of healthy nodes. The network is random but
//! bounded: no message is lost or duplicated and none takes longer than [`MAX_LATENCY`]. Those
//! bounds are what make the time bounds below provable; see each property.

use failure_detector::{DetectorConfig, HeartbeatNode};
use sim::check::{Case, Failure, PlanBounds, Property, plans};
use sim::proptest::prelude::*;
use sim::{Config, Fault, FaultPlan, Latency, NodeId, Partition, Simulation, Time};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

const NODES: u32 = 4;
/// The node under watch.
const TARGET: NodeId = NodeId(0);
/// Every heartbeat takes at most this long (the simulator caps each latency draw here).
const MAX_LATENCY: Duration = Duration::from_millis(30);
/// Slack for clock drift (at most 100 ppm on `n0` and `n1`: well under 1 ms per run) and for
/// rounding the bounds.
const SLACK: Duration = Duration::from_millis(1);
/// Fault plans per property: about a second each in a debug build, and enough that each
/// classic mistake is caught every time (checked over several generator seeds).
const CASES: u32 = 100;

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

/// The network and the faults of `n2` and `n3`, generated as the faults of a two-node run and
/// then moved to `n2` and `n3`. A partition then never separates `n0` from `n1`: nodes a split
/// does not name end up together in one more group.
fn background() -> impl Strategy<Value = FaultPlan> {
    let bounds = PlanBounds {
        max_faults: 4,
        max_fault_duration: Duration::from_millis(800),
        max_down_at_once: 2,
        clock_steps: false,
        // Mostly steady latencies, two of them with a tail: a few heartbeats take ten times
        // the median. The cap below bounds every draw.
        latencies: vec![
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
        ],
        // A lost heartbeat is a silence the detector is right to grow suspicious of, and a
        // reordered one is held for a second latency draw, past the cap: both would break the
        // premise of the bounds, so this network only delays.
        max_loss: 0.0,
        max_duplicate: 0.0,
        max_reorder: 0.0,
        // Clocks list `n0` and `n1` (the first two nodes): they drift, a little.
        max_drift_ppm: 100,
        ..PlanBounds::new(2, Duration::from_secs(3))
    };
    plans(bounds).prop_map(|mut plan| {
        plan.network.max_latency = MAX_LATENCY;
        for timed in &mut plan.faults {
            move_to_n2_n3(&mut timed.fault);
        }
        plan
    })
}

fn shifted(node: &mut NodeId) {
    node.0 += 2;
}

fn move_to_n2_n3(fault: &mut Fault) {
    match fault {
        Fault::Crash { node, .. }
        | Fault::Pause { node, .. }
        | Fault::Slow { node, .. }
        | Fault::ClockStep { node, .. } => shifted(node),
        Fault::Partition { partition, .. } => match partition {
            Partition::Split(groups) => groups.iter_mut().flatten().for_each(shifted),
            Partition::OneWay { from, to } => from.iter_mut().chain(to).for_each(shifted),
            Partition::Links(links) => links.iter_mut().for_each(|(a, b)| {
                shifted(a);
                shifted(b);
            }),
        },
    }
}

/// Whether no fault of the plan touches `node`: it never crashes, pauses or slows down, and
/// no partition cuts any of its links. Only such nodes are held to the properties as
/// observers; the others are scenery.
fn untouched(plan: &FaultPlan, node: NodeId) -> bool {
    plan.faults.iter().all(|timed| match &timed.fault {
        Fault::Crash { node: n, .. }
        | Fault::Pause { node: n, .. }
        | Fault::Slow { node: n, .. }
        | Fault::ClockStep { node: n, .. } => *n != node,
        Fault::Partition { partition, .. } => partition
            .blocked_links(NODES)
            .iter()
            .all(|(a, b)| *a != node && *b != node),
    })
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
    let changes = Rc::new(RefCell::new(Vec::new()));
    let log = Rc::clone(&changes);
    let mut state = vec![false; (NODES * NODES) as usize];
    let config = Config::new(NODES, case.seed).plan(case.plan.clone());
    let mut sim = Simulation::new(config, |_, _| HeartbeatNode::new(self::config())).monitor(
        "record who suspects whom",
        move |view| {
            for observer in (0..NODES).map(NodeId) {
                for peer in (0..NODES).map(NodeId).filter(|p| *p != observer) {
                    let suspects = view.node(observer).is_some_and(|n| n.suspects(peer));
                    let was = &mut state[(observer.0 * NODES + peer.0) as usize];
                    if suspects != *was {
                        *was = suspects;
                        log.borrow_mut().push(Change {
                            at: view.time(),
                            observer,
                            peer,
                            suspects,
                        });
                    }
                }
            }
            Ok(())
        },
    );
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
        plan: FaultPlan::default(),
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

fn latencies(plan: &FaultPlan) -> Latencies {
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
/// at most `J`. So phi passes the threshold once the silence exceeds
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
    .replay_command("cargo test -p failure-detector --test properties completeness")
    .book("book/src/01-failure-detector.md#completeness");
    // The crash comes after every observer has heard enough heartbeats to have a window,
    // and early enough that the bound and a stretch after it fit before `end`.
    let cases = (background(), 1_200..=2_400u64).prop_map(|(plan, crash_ms)| {
        plan.at(
            Time::from_millis(crash_ms),
            Fault::Crash {
                node: TARGET,
                restart_after: None,
            },
        )
    });
    property.check(cases, |case| {
        let (sim, changes) = run(case, end)?;
        let crash = case
            .plan
            .faults
            .iter()
            .find(|f| matches!(f.fault, Fault::Crash { node, .. } if node == TARGET))
            .map(|f| f.at)
            .expect("the case crashes the target");
        let bound = completeness_bound(&latencies(&case.plan));
        let deadline = crash + bound;
        let observers = (1..NODES).map(NodeId).filter(|n| untouched(&case.plan, *n));
        for observer in observers {
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
/// A gap is `interval ± J` (see [`completeness_bound`]) and the mean of `n` consecutive gaps
/// is at least `interval - J / n` (their sum telescopes to `n * interval` plus the difference
/// of two latencies). The silence a live peer can cause is at most `interval + J`, so `y` stays
/// below `J * (1 + 1/n) / floor`: 3.3 with a full window of 10 (30 ms of jitter, a 10 ms
/// floor), well under the 5.23 that phi 8 needs. With 1 gap it could reach 6: early on, too
/// few samples make a jittery network look alarming, which is why detectors warm up.
fn warm_up() -> Time {
    let c = config();
    Time::ZERO + c.interval * (c.window as u32) + MAX_LATENCY + SLACK
}

#[test]
fn accuracy() {
    smoke();
    let from = warm_up();
    let end = Time::from_millis(4_000);
    let property = Property::new(format!(
        "accuracy: after a warm-up of {} ms, no healthy node suspects another while every \
         heartbeat takes at most {} ms",
        from.as_nanos() / 1_000_000,
        MAX_LATENCY.as_millis()
    ))
    .cases(CASES)
    .replay_command("cargo test -p failure-detector --test properties accuracy")
    .book("book/src/01-failure-detector.md#accuracy");
    property.check(background(), |case| {
        let (sim, changes) = run(case, end)?;
        let healthy: Vec<NodeId> = (0..NODES)
            .map(NodeId)
            .filter(|n| untouched(&case.plan, *n))
            .collect();
        let pair = |o: NodeId, p: NodeId| o != p && healthy.contains(&o) && healthy.contains(&p);
        // A suspicion raised during the warm-up and still standing after it counts, as does
        // any raised later.
        let standing = healthy
            .iter()
            .flat_map(|o| healthy.iter().map(move |p| (*o, *p)))
            .filter(|(o, p)| o != p && suspects_at(&changes, *o, *p, from))
            .map(|(o, p)| (from, o, p));
        let later = changes
            .iter()
            .filter(|c| c.suspects && c.at >= from && pair(c.observer, c.peer))
            .map(|c| (c.at, c.observer, c.peer));
        if let Some((at, observer, peer)) = standing.chain(later).min() {
            return Err(Failure::new(format!(
                "{observer} suspects {peer} at {at}, but no fault touched either of them and \
                 no heartbeat took longer than {} ms",
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
    let end = Time::from_millis(5_000);
    let property = Property::new(format!(
        "recovery: once a paused node resumes, every healthy node trusts it within {} ms, and \
         keeps trusting it",
        recovery_bound(&worst_case()).as_millis()
    ))
    .cases(CASES)
    .replay_command("cargo test -p failure-detector --test properties recovery")
    .book("book/src/01-failure-detector.md#recovery");
    // Pauses long enough to be suspected (over the completeness bound), after the warm-up.
    let cases = (background(), 1_200..=2_000u64, 400..=1_500u64).prop_map(|(plan, at, len)| {
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
        let bound = recovery_bound(&latencies(&case.plan));
        let deadline = resumed + bound;
        for observer in (1..NODES).map(NodeId).filter(|n| untouched(&case.plan, *n)) {
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
