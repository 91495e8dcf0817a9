//! The lease system under random faults: at most one leader at any real instant while clocks
//! drift within the assumed bound (`one-leader`), the storage never lets a stale leader write
//! after a newer one (`fencing`), and a crashed leader is replaced within a bound (`failover`).
//!
//! Every run has five nodes with the default [`LeaseConfig`]: `n0` grants leases, `n1` is the
//! storage, `n2`, `n3` and `n4` compete for the lease. Each property states its assumptions;
//! the bounds are derived in the comments from the configuration.

use leader_lease::{GRANTOR, LeaseConfig, LeaseNode, STORAGE};
use sim::check::{Case, Failure, PlanBounds, Property, plans};
use sim::proptest::prelude::*;
use sim::{ClockSpec, Config, Fault, FaultPlan, Latency, NodeId, Simulation, Time};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

const NODES: u32 = 5;
const CANDIDATES: [NodeId; 3] = [NodeId(2), NodeId(3), NodeId(4)];
/// Fault schedules per property: enough that each classic mistake is caught, and a whole run
/// of the three properties stays within a few seconds in a debug build.
const CASES: u32 = 96;

fn config() -> LeaseConfig {
    LeaseConfig::default()
}

fn new_sim(case: &Case) -> Simulation<LeaseNode> {
    let config = Config::new(NODES, case.seed).plan(case.plan.clone());
    Simulation::new(config, |id, _| LeaseNode::new(id, self::config()))
}

/// Runs one calm case before the random ones, so that a handler that panics (a `todo!()` still
/// standing) is reported once and plainly, not through hundreds of shrinking attempts.
fn smoke() {
    let mut sim = new_sim(&Case {
        seed: 0,
        plan: FaultPlan::default(),
    });
    if let Err(halt) = sim.run_until(Time::from_millis(1_500)) {
        panic!("a fault-free run of five nodes failed: {halt}");
    }
    let leaders = CANDIDATES
        .iter()
        .filter(|c| sim.node(**c).is_some_and(|n| n.lease().is_some()))
        .count();
    assert_eq!(
        leaders, 1,
        "after 1.5 s without any fault, exactly one candidate should hold the lease"
    );
}

/// Drift inside the assumed bound, with the clocks pushed to its edges half of the time: a
/// slow holder and a fast grantor are where a missing margin shows.
fn clocks_within_bound() -> impl Strategy<Value = Vec<i32>> {
    let bound = config().max_drift_ppm as i32;
    sim::proptest::collection::vec(
        prop_oneof![Just(-bound), Just(bound), -bound..=bound],
        NODES as usize,
    )
}

fn with_drifts(mut plan: FaultPlan, drifts: Vec<i32>) -> FaultPlan {
    plan.clocks.resize(NODES as usize, ClockSpec::default());
    for (clock, drift) in plan.clocks.iter_mut().zip(drifts) {
        clock.drift_ppm = drift;
    }
    plan
}

/// Every fault the simulator has, on every node: crashes (the grantor's too), pauses longer
/// than a lease, slow nodes, partitions, loss, duplication, reordering, long latency tails and
/// wall-clock steps. None of them may make two leaders; only drift beyond the bound could.
fn anything_but_excess_drift(horizon: Duration) -> impl Strategy<Value = FaultPlan> {
    let bounds = PlanBounds {
        max_faults: 6,
        max_fault_duration: Duration::from_millis(1_500),
        latencies: vec![
            Latency::Constant(Duration::from_millis(1)),
            Latency::Uniform {
                min: Duration::from_micros(500),
                max: Duration::from_millis(10),
            },
            Latency::LogNormal {
                median: Duration::from_millis(3),
                sigma: 1.5,
            },
        ],
        max_drift_ppm: config().max_drift_ppm,
        max_wall_error: Duration::from_millis(200),
        ..PlanBounds::new(NODES, horizon)
    };
    (plans(bounds), clocks_within_bound()).prop_map(|(plan, drifts)| with_drifts(plan, drifts))
}

/// Which candidates believe they lead at this instant, each judged on its own monotonic clock
/// read at this real instant (a crashed node believes nothing).
fn believers(view: &sim::View<'_, LeaseNode>) -> Vec<NodeId> {
    CANDIDATES
        .iter()
        .copied()
        .filter(|c| {
            view.node(*c)
                .is_some_and(|n| n.believes_leader(view.monotonic(*c)))
        })
        .collect()
}

fn failure_of(halt: sim::Halt, sim: &Simulation<LeaseNode>) -> Failure {
    let message = match &halt.reason {
        sim::HaltReason::Monitor { message, .. } => message.clone(),
        _ => halt.to_string(),
    };
    Failure::new(message).at(halt.time).trace(sim.trace())
}

#[test]
fn one_leader() {
    smoke();
    let c = config();
    let property = Property::new(format!(
        "one-leader: at no real instant do two nodes believe they hold the lease, while every \
         clock drifts by at most {} ppm (the margin is {:?})",
        c.max_drift_ppm,
        c.margin()
    ))
    .cases(CASES)
    .replay_command("cargo test -p leader-lease --test properties one_leader")
    .book("book/src/03-leader-lease.md#one-leader");
    property.check(anything_but_excess_drift(Duration::from_secs(4)), |case| {
        // A node's belief can only start in one of its handlers, and between two events it
        // only shrinks (its clock moves on, its deadline stays). So if at most one node
        // believes right after every event, at most one does at every real instant between.
        let mut sim = new_sim(case).monitor("one-leader", |view| {
            let leaders = believers(view);
            if leaders.len() < 2 {
                return Ok(());
            }
            let beliefs: Vec<String> = leaders
                .iter()
                .map(|n| {
                    let node = view.node(*n).expect("a believer is up");
                    let lease = node.lease().expect("a believer holds a lease");
                    format!(
                        "{n} holds lease {} until {} and its clock reads {}",
                        lease.token,
                        lease.valid_until,
                        view.monotonic(*n)
                    )
                })
                .collect();
            Err(format!(
                "{} nodes believe they hold the lease at once: {}",
                leaders.len(),
                beliefs.join("; ")
            ))
        });
        match sim.run_until(Time::from_millis(5_000)) {
            Ok(()) => Ok(()),
            Err(halt) => Err(failure_of(halt, &sim)),
        }
    });
}

/// One lease as the grantor gave it out, in the order of real time: a new holder or a new
/// token starts a new lease; a renewal does not.
#[derive(Clone, Copy, Debug)]
struct Epoch {
    holder: NodeId,
    token: u64,
    granted: Time,
}

/// The grantor crashes once (and restarts), and each candidate pauses once for longer than a
/// lease, on top of random faults anywhere.
fn fencing_cases() -> impl Strategy<Value = FaultPlan> {
    let lease = config().lease.as_millis() as u64;
    let pause = (600..=2_800u64, lease..=3 * lease);
    (
        anything_but_excess_drift(Duration::from_secs(3)),
        (600..=2_000u64, 1..=400u64),
        [pause.clone(), pause.clone(), pause],
    )
        .prop_map(|(plan, (crash_at, restart_after), pauses)| {
            let mut plan = plan.at(
                Time::from_millis(crash_at),
                Fault::Crash {
                    node: GRANTOR,
                    restart_after: Some(Duration::from_millis(restart_after)),
                },
            );
            for (node, (at, duration)) in CANDIDATES.iter().zip(pauses) {
                plan = plan.at(
                    Time::from_millis(at),
                    Fault::Pause {
                        node: *node,
                        duration: Duration::from_millis(duration),
                    },
                );
            }
            plan
        })
}

#[test]
fn fencing() {
    smoke();
    let property = Property::new(
        "fencing: the storage never accepts a write made under a lease after it has accepted a \
         write made under a newer lease, whatever pauses, crashes and restarts happen",
    )
    .cases(CASES)
    .replay_command("cargo test -p leader-lease --test properties fencing")
    .book("book/src/03-leader-lease.md#fencing");
    property.check(fencing_cases(), |case| {
        let mut epochs: Vec<Epoch> = Vec::new();
        let mut seen = 0;
        // The newest lease (index in `epochs`) under which an accepted write was made so far.
        let mut newest: Option<usize> = None;
        let mut sim = new_sim(case).monitor("fencing", move |view| {
            if let Some(current) = view.node(GRANTOR).and_then(|g| g.grantor()?.current())
                && epochs
                    .last()
                    .is_none_or(|e| (e.holder, e.token) != (current.holder, current.token))
            {
                epochs.push(Epoch {
                    holder: current.holder,
                    token: current.token,
                    granted: view.time(),
                });
            }
            let entries = view.durable(STORAGE).resource.entries();
            for entry in &entries[seen..] {
                // The write belongs to the latest lease given to its writer with its token.
                let Some(epoch) = epochs
                    .iter()
                    .rposition(|e| e.holder == entry.from && e.token == entry.token)
                else {
                    return Err(format!(
                        "the storage accepted a write from {} with token {}, a lease the \
                         grantor never gave {}",
                        entry.from, entry.token, entry.from
                    ));
                };
                if let Some(newer) = newest.filter(|n| *n > epoch) {
                    let (old, new) = (epochs[epoch], epochs[newer]);
                    return Err(format!(
                        "the storage accepted a write from {} with token {} (a lease granted at \
                         {}) after it had accepted one from {} with token {} (a newer lease, \
                         granted at {}): a stale leader wrote over the new one",
                        entry.from, entry.token, old.granted, new.holder, new.token, new.granted
                    ));
                }
                newest = newest.max(Some(epoch));
            }
            seen = entries.len();
            Ok(())
        });
        match sim.run_until(Time::from_millis(5_000)) {
            Ok(()) => Ok(()),
            Err(halt) => Err(failure_of(halt, &sim)),
        }
    });
}

/// Every message takes at most this long in the failover cases.
const MAX_LATENCY: Duration = Duration::from_millis(10);

/// `d / (1 - drift)`, rounded up: the longest real time a clock that runs slow by the assumed
/// bound takes to measure `d`.
fn slowest(d: Duration) -> Duration {
    let ppm = u128::from(config().max_drift_ppm);
    let nanos = (d.as_nanos() * 1_000_000).div_ceil(1_000_000 - ppm);
    Duration::from_nanos(nanos as u64)
}

/// How long after the leader crashes another node must hold the lease.
///
/// The last renewal the grantor handled came at most one latency after the crash (a request
/// still in flight), and the grantor's lease runs out `lease` later on its clock, at most
/// `slowest(lease)` of real time. A candidate without the lease asks every `retry_every` on
/// its clock (at most `slowest(retry_every)`), its request and the grant take one latency
/// each, and the grant makes it leader at once. With the defaults, 3 × 10 + 606.1 + 20.2 ms,
/// plus 1 ms for rounding: 657 ms.
fn failover_bound() -> Duration {
    let c = config();
    MAX_LATENCY * 3 + slowest(c.lease) + slowest(c.retry_every) + Duration::from_millis(1)
}

/// Clocks drift within the bound and messages take up to [`MAX_LATENCY`]; nothing is lost and
/// nothing else fails, so the only trouble is the crash. The tuple's second part is when.
fn failover_cases() -> impl Strategy<Value = FaultPlan> {
    let bounds = PlanBounds {
        max_faults: 0,
        latencies: vec![
            Latency::Constant(Duration::from_millis(1)),
            Latency::Uniform {
                min: Duration::from_micros(500),
                max: MAX_LATENCY,
            },
            Latency::LogNormal {
                median: Duration::from_millis(2),
                sigma: 1.0,
            },
        ],
        max_loss: 0.0,
        max_duplicate: 0.0,
        max_reorder: 0.0,
        max_drift_ppm: config().max_drift_ppm,
        ..PlanBounds::new(NODES, Duration::from_secs(1))
    };
    (plans(bounds), clocks_within_bound(), 1_500..=3_500u64).prop_map(|(plan, drifts, at)| {
        let mut plan = with_drifts(plan, drifts);
        plan.network.max_latency = MAX_LATENCY;
        // A marker the test replaces with a crash of whoever leads at that instant.
        plan.at(
            Time::from_millis(at),
            Fault::Crash {
                node: NodeId(NODES),
                restart_after: None,
            },
        )
    })
}

/// Records, after every event, which candidates believe they lead.
fn watch_leaders(sim: Simulation<LeaseNode>) -> (Simulation<LeaseNode>, LeaderLog) {
    let log: LeaderLog = Rc::new(RefCell::new(Vec::new()));
    let writer = Rc::clone(&log);
    let sim = sim.monitor("record the leaders", move |view| {
        writer.borrow_mut().push((view.time(), believers(view)));
        Ok(())
    });
    (sim, log)
}

type LeaderLog = Rc<RefCell<Vec<(Time, Vec<NodeId>)>>>;

#[test]
fn failover() {
    smoke();
    let bound = failover_bound();
    let property = Property::new(format!(
        "failover: when the leader crashes for good, another node holds the lease within {} ms \
         (a lease plus a retry, on clocks {} ppm slow, plus three latencies of at most {} ms)",
        bound.as_millis(),
        config().max_drift_ppm,
        MAX_LATENCY.as_millis()
    ))
    .cases(CASES)
    .replay_command("cargo test -p leader-lease --test properties failover")
    .book("book/src/03-leader-lease.md#failover");
    property.check(failover_cases(), |case| {
        let crash_at = case
            .plan
            .faults
            .iter()
            .find(|f| matches!(f.fault, Fault::Crash { node, .. } if node.0 >= NODES))
            .map(|f| f.at)
            .expect("the case has a crash marker");
        let mut calm = case.clone();
        calm.plan.faults.clear();
        // First run up to the crash, to see who leads then (the same seed and plan replay the
        // same run, so the second run is identical up to the crash).
        let (mut before, log) = watch_leaders(new_sim(&calm));
        if let Err(halt) = before.run_until(Time(crash_at.as_nanos() - 1)) {
            return Err(failure_of(halt, &before));
        }
        let Some(leader) = log
            .borrow()
            .last()
            .and_then(|(_, leaders)| leaders.first().copied())
        else {
            return Err(Failure::new(format!(
                "nothing has failed, yet no node holds the lease at {crash_at}"
            ))
            .at(crash_at)
            .trace(before.trace()));
        };
        let mut crash = calm.clone();
        crash.plan = crash.plan.at(
            crash_at,
            Fault::Crash {
                node: leader,
                restart_after: None,
            },
        );
        let deadline = crash_at + bound;
        let (mut after, log) = watch_leaders(new_sim(&crash));
        if let Err(halt) = after.run_until(deadline + Duration::from_millis(100)) {
            return Err(failure_of(halt, &after));
        }
        let successor = log
            .borrow()
            .iter()
            .find(|(at, leaders)| *at >= crash_at && leaders.iter().any(|n| *n != leader))
            .map(|(at, _)| *at);
        match successor {
            Some(at) if at <= deadline => Ok(()),
            _ => Err(Failure::new(format!(
                "the leader {leader} crashed for good at {crash_at} (the plan's `crash n{NODES}` \
                 stands for \"crash whoever leads\"), but no other node held the lease by \
                 {deadline}, {} ms later",
                bound.as_millis()
            ))
            .at(deadline)
            .trace(after.trace())),
        }
    });
}
