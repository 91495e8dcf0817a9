//! The register under random faults: every history is linearizable (safety), and operations
//! complete whenever a majority of replicas can talk (liveness).
//!
//! Every run has several closed-loop clients that send reads and writes to random nodes; each
//! write writes a value no other write uses, so the checker's explanation names exactly which
//! write a read saw. The network loses, duplicates, delays and reorders messages; partitions
//! come and go; nodes crash (a minority at a time, some for good), restart from their durable
//! state, and pause. Wall clocks are skewed and stepped: a correct register never reads them.

use quorum::{QuorumConfig, QuorumNode, Request, Response};
use sim::check::{Case, Failure, PlanBounds, Property, plans};
use sim::lincheck::{self, Register, RegisterOp, RegisterRet, Verdict};
use sim::proptest::prelude::*;
use sim::rand::RngExt;
use sim::{
    Config, Fault, FaultPlan, History, Invocation, Latency, NodeId, Outcome, Partition, SimRng,
    Simulation, Time, TimedFault,
};
use std::time::Duration;

/// Concurrent clients in every run.
const CLIENTS: u32 = 4;
/// A client gives up on an operation after this long; longer than the register's deadline, so
/// a coordinator that is up always answers first (with a value, or with `Failed`).
const CLIENT_TIMEOUT: Duration = Duration::from_millis(400);
/// Fault plans per property (the safety property on three replicas runs more: the anomaly of
/// a register that does not write back needs a write cut off at the right moment and then two
/// reads in the right order, which about one plan in twenty produces).
const CASES: u32 = 48;
const LINEARIZABLE_CASES: u32 = 160;
/// The share of reads among the operations.
const READ_SHARE: f64 = 0.75;

type Ops = History<Request, Response>;

/// Each client in turn: a random node, a read or a write (half and half) of a value no other
/// write uses, after up to 4 ms of think time; nothing is invoked after `until`.
fn workload(
    nodes: u32,
    until: Time,
) -> impl FnMut(u32, Time, &mut SimRng) -> Option<Invocation<Request>> {
    let mut written = vec![0i64; CLIENTS as usize];
    move |client, now, rng| {
        if now >= until {
            return None;
        }
        let request = if rng.random_bool(READ_SHARE) {
            Request::Read
        } else {
            written[client as usize] += 1;
            Request::Write(i64::from(client + 1) * 1_000 + written[client as usize])
        };
        Some(Invocation {
            node: NodeId(rng.random_range(0..nodes)),
            request,
            after: Duration::from_micros(rng.random_range(0..4_000)),
        })
    }
}

/// Runs `nodes` nodes with majority quorums under the case's plan until `end`, with clients
/// invoking operations until `until`. Tracing is off unless `trace` (a failing case runs again
/// with it, to show the timeline).
fn run(
    case: &Case,
    nodes: u32,
    until: Time,
    end: Time,
    trace: bool,
) -> Result<Simulation<QuorumNode>, Failure> {
    let config = Config::new(nodes, case.seed)
        .plan(case.plan.clone())
        .trace(trace)
        .client_timeout(CLIENT_TIMEOUT);
    let quorums = QuorumConfig::majority(nodes as usize);
    let mut sim = Simulation::new(config, move |_, _| QuorumNode::new(quorums))
        .clients(CLIENTS, workload(nodes, until));
    match sim.run_until(end) {
        Ok(()) => Ok(sim),
        Err(halt) => Err(Failure::from(halt).trace(sim.trace())),
    }
}

/// Runs one calm case first, so that a handler that panics (a `todo!()` still standing) is
/// reported once and plainly, not through hundreds of shrinking attempts.
fn smoke() {
    let calm = Case {
        seed: 0,
        plan: FaultPlan::default(),
    };
    if let Err(failure) = run(
        &calm,
        3,
        Time::from_millis(50),
        Time::from_millis(500),
        false,
    ) {
        panic!(
            "a fault-free run of three nodes failed: {}",
            failure.message
        );
    }
}

/// One operation in the learner's terms: `c1#4 at n2: Write(2004) -> Written (12.000ms..14.500ms)`.
fn describe(history: &Ops, index: usize) -> String {
    let rec = &history.ops[index];
    let outcome = match &rec.outcome {
        Outcome::Ok { at, response } => format!("{response:?} ({}..{at})", rec.invoked),
        Outcome::TimedOut { at } => format!("? (client gave up) ({}..{at})", rec.invoked),
        Outcome::Pending => format!("? (never answered) ({}..)", rec.invoked),
    };
    format!("{} at {}: {:?} -> {outcome}", rec.op, rec.node, rec.request)
}

/// The checker's verdict on a run's history. A `Failed` response, like a timeout, has an
/// unknown outcome: the write may or may not have reached replicas.
fn check_history(history: &Ops) -> Result<(), (String, Time)> {
    let ops = history.to_lincheck(|req, resp| {
        let input = match req {
            Request::Read => RegisterOp::Read,
            Request::Write(v) => RegisterOp::Write(*v),
        };
        // An answer of the wrong kind (a read answered "written") is kept as it is, and the
        // checker rejects it.
        let output = resp.and_then(|r| match r {
            Response::Value(v) => Some(RegisterRet::Read(*v)),
            Response::Written => Some(RegisterRet::Write),
            Response::Failed => None,
        });
        (input, output)
    });
    // The checker wants a known outcome to have a return time: to_lincheck keeps the return
    // time of a Failed answer, so drop it (unknown outcome, unknown end).
    let ops: Vec<_> = ops
        .into_iter()
        .map(|mut op| {
            if op.output.is_none() {
                op.ret = None;
            }
            op
        })
        .collect();
    let Verdict::NotLinearizable(why) = lincheck::check(&Register, &ops) else {
        return Ok(());
    };
    // Name the stuck operations in the simulator's terms: "[client C] ... (CALL..RET)".
    let mut named = Vec::new();
    let mut at = None;
    for stuck in &why.stuck {
        let client = stuck
            .strip_prefix("[client ")
            .and_then(|s| s.split(']').next())
            .and_then(|s| s.parse::<u32>().ok());
        let call = stuck
            .rsplit('(')
            .next()
            .and_then(|s| s.split("..").next())
            .and_then(|s| s.parse::<u64>().ok());
        if let Some(index) = history
            .ops
            .iter()
            .position(|r| Some(r.op.client) == client && Some(r.invoked.as_nanos()) == call)
        {
            named.push(format!("  {}", describe(history, index)));
            if let Outcome::Ok { at: done, .. } = history.ops[index].outcome {
                at = Some(at.map_or(done, |a: Time| a.min(done)));
            }
        }
    }
    let unknown = history
        .ops
        .iter()
        .filter(|r| !matches!(r.response(), Some(Response::Value(_) | Response::Written)))
        .count();
    let message = format!(
        "the clients' history ({} operations, {unknown} of them with an unknown outcome) is not \
         linearizable: no order of the operations agrees with both real time and a single \
         register. The checker got stuck on:\n{}\n\nthe checker's explanation (times in ns):\n{why}",
        history.ops.len(),
        named.join("\n"),
    );
    let at = at.unwrap_or_else(|| history.ops.last().map_or(Time::ZERO, |r| r.invoked));
    Err((message, at))
}

/// The faults of the safety property: everything the simulator has, within `horizon`...
fn chaos(nodes: u32) -> impl Strategy<Value = FaultPlan> {
    let bounds = PlanBounds {
        max_faults: 6,
        max_fault_duration: Duration::from_millis(150),
        // Skewed and stepped wall clocks, and drifting monotonic ones.
        max_drift_ppm: 200,
        max_wall_error: Duration::from_millis(50),
        latencies: vec![
            Latency::Constant(Duration::from_millis(1)),
            Latency::Uniform {
                min: Duration::from_micros(500),
                max: Duration::from_millis(5),
            },
            // A long tail: a few messages take tens of milliseconds.
            Latency::LogNormal {
                median: Duration::from_millis(2),
                sigma: 1.0,
            },
        ],
        ..PlanBounds::new(nodes, Duration::from_millis(500))
    };
    // ...plus up to four coordinators cut off in the middle of whatever they were doing.
    let cut_offs = sim::proptest::collection::vec(cut_off(nodes), 0..=8);
    (plans(bounds), cut_offs).prop_map(|(mut plan, cut_offs)| {
        plan.faults.extend(cut_offs.into_iter().flatten());
        plan
    })
}

/// A targeted fault: for a few milliseconds nothing `node` sends reaches anyone else (its
/// messages to itself still arrive), then it crashes, and restarts from its durable state a
/// little later. A write it was storing at that moment reaches its own replica and nobody
/// else's, and the crash stops the retries that would have repaired that: a write held by a
/// minority, which a read sees or misses depending on which replicas answer it. Random plans
/// make this rare (two messages lost together, then a crash before the next retry); a register
/// that returns a value without writing it back is caught by it.
fn cut_off(nodes: u32) -> impl Strategy<Value = Vec<TimedFault>> {
    (0..nodes, 0..500u64, 1..=CUT_MS, 1..=DOWN_MS).prop_map(move |(node, at, cut, down)| {
        let node = NodeId(node);
        let others: Vec<NodeId> = (0..nodes).map(NodeId).filter(|n| *n != node).collect();
        vec![
            TimedFault {
                at: Time::from_millis(at),
                fault: Fault::Partition {
                    partition: Partition::OneWay {
                        from: vec![node],
                        to: others,
                    },
                    duration: Duration::from_millis(cut),
                },
            },
            TimedFault {
                at: Time::from_millis(at + cut),
                fault: Fault::Crash {
                    node,
                    restart_after: Some(Duration::from_millis(down)),
                },
            },
        ]
    })
}
/// The longest a cut-off lasts before its node crashes, and the longest it then stays down.
const CUT_MS: u64 = 5;
const DOWN_MS: u64 = 5;

fn linearizable_on(nodes: u32, cases: u32, test_name: &str) {
    smoke();
    let until = Time::from_millis(700);
    let end = until + CLIENT_TIMEOUT + Duration::from_millis(50);
    let property = Property::new(format!(
        "linearizable: with {nodes} replicas and majority quorums, every history of reads and \
         writes is linearizable, whatever the network, crashes, pauses and clocks do"
    ))
    .cases(cases)
    .replay_command(format!(
        "cargo test -p quorum --test properties {test_name}"
    ))
    .book("book/src/02-quorum.md#linearizable");
    property.check(chaos(nodes), |case| {
        let sim = run(case, nodes, until, end, false)?;
        if let Err((message, at)) = check_history(sim.history()) {
            let traced = run(case, nodes, until, end, true)?;
            return Err(Failure::new(message).at(at).trace(traced.trace()));
        }
        Ok(())
    });
}

#[test]
fn linearizable() {
    linearizable_on(3, LINEARIZABLE_CASES, "linearizable");
}

#[test]
fn linearizable_five() {
    linearizable_on(5, CASES, "linearizable_five");
}

/// Faults start within this long after the start of a run of the liveness property...
const HORIZON: Duration = Duration::from_millis(400);
/// ...and each lasts at most this long (a partition, a pause, a crashed node's downtime).
const LONGEST: Duration = Duration::from_millis(150);

/// The faults of the liveness property: the network loses, duplicates and reorders messages
/// (at most 5% each) with latencies of at most 5 ms; within [`HORIZON`], partitions, pauses and
/// crashes, at most one node of three down at once, and at most one for good. No slow node: a
/// node that takes 20 ms per event keeps a backlog for seconds after it recovers, and is
/// reachable in name only.
fn turbulence() -> impl Strategy<Value = FaultPlan> {
    let bounds = PlanBounds {
        max_faults: 6,
        max_fault_duration: LONGEST,
        slow_nodes: false,
        clock_steps: false,
        ..PlanBounds::new(3, HORIZON)
    };
    plans(bounds)
}

/// The nodes that crash for good under `plan`.
fn lost_for_good(plan: &FaultPlan) -> Vec<NodeId> {
    plan.faults
        .iter()
        .filter_map(|tf| match tf.fault {
            Fault::Crash {
                node,
                restart_after: None,
            } => Some(node),
            _ => None,
        })
        .collect()
}

#[test]
fn available() {
    smoke();
    // Every fault has ended by `calm`: partitions healed, pauses over, crashed nodes restarted
    // (or down for good, a minority). From then on, two of three replicas and every live
    // coordinator can talk over a network that loses at most 5% of messages.
    let calm = Time::ZERO + HORIZON + LONGEST;
    let until = calm + Duration::from_millis(300);
    let end = until + CLIENT_TIMEOUT + Duration::from_millis(50);
    let deadline = QuorumConfig::majority(3).deadline;
    let property = Property::new(format!(
        "available: once every partition has healed and a majority of replicas is up, every \
         operation sent to a live node answers with a value or \"written\" within its {} ms \
         deadline",
        deadline.as_millis()
    ))
    .cases(CASES)
    .replay_command("cargo test -p quorum --test properties available")
    .book("book/src/02-quorum.md#available");
    property.check(turbulence(), |case| {
        let sim = run(case, 3, until, end, false)?;
        let dead = lost_for_good(&case.plan);
        let blocked = sim.history().ops.iter().position(|r| {
            r.invoked >= calm
                && !dead.contains(&r.node)
                && !matches!(
                    r.outcome,
                    Outcome::Ok {
                        response: Response::Value(_) | Response::Written,
                        ..
                    }
                )
        });
        if let Some(index) = blocked {
            let traced = run(case, 3, until, end, true)?;
            let rec = &traced.history().ops[index];
            return Err(Failure::new(format!(
                "{} was invoked at {}, after every fault had ended ({calm}), at a live node \
                 with a majority of replicas reachable, but did not succeed:\n  {}",
                rec.op,
                rec.invoked,
                describe(traced.history(), index)
            ))
            .at(rec.invoked + deadline)
            .trace(traced.trace()));
        }
        Ok(())
    });
}
