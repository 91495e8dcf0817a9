//! Step 3: the register under faults. Every history is linearizable, with 3, 4 and 5 replicas
//! (`linearizable`); operations complete whenever a majority of replicas can talk
//! (`available`); every operation at a coordinator that stays up is answered by its deadline,
//! if only with "failed" (`fails-cleanly`), and a failed one is over (`failed-is-final`); the
//! counters a coordinator gave its writes survive its crashes (`issued`); when nothing fails,
//! every operation finishes in two round trips (`prompt`); and once no operation runs, the
//! nodes go quiet (`quiet`). `cargo test --test step3_under_faults` runs just this step.
//!
//! Every run has several closed-loop clients that send reads and writes to random nodes; each
//! write writes a value no other write uses, so the checker's explanation names exactly which
//! write a read saw. The network loses, duplicates, delays and reorders messages; partitions
//! come and go; nodes crash (a minority at a time, some for good), restart from their durable
//! state, and pause; nodes start at different times. Wall clocks are skewed and stepped: a
//! correct register never reads them. On top of the random faults, triggered faults aim at the
//! moments where a register's mistakes show: a coordinator cut off and crashed just after its
//! write left, so that the write reaches one replica only; a replica crashed just after it
//! stored a write.

use quorum::{Msg, QuorumConfig, QuorumNode, Request, Response};
use sim::check::{Case, Failure, PlanBounds, Property, plans};
use sim::lincheck::{self, Register, RegisterOp, RegisterRet, Verdict};
use sim::proptest::prelude::*;
use sim::rand::RngExt;
use sim::{
    Config, EventKind, Fault, FaultPlan, History, Invocation, Latency, NodeId, Outcome, Partition,
    Side, SimRng, Simulation, Time, Trigger, TriggeredFault,
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
        .clients(CLIENTS, workload(nodes, until))
        .message_predicate("put", |_, _, msg| matches!(msg, Msg::Put { .. }))
        .message_predicate("get", |_, _, msg| matches!(msg, Msg::Get { .. }));
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

/// The faults of the safety property: everything the simulator has, within 500 ms, nodes that
/// start up to 20 ms apart...
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
        max_start_offset: Duration::from_millis(20),
        // Duplicates are common: a coordinator must count replicas, not answers.
        max_duplicate: 0.25,
        ..PlanBounds::new(nodes, Duration::from_millis(500))
    };
    // ...plus up to four coordinators cut off just after a write or write-back left them, and
    // up to two replicas crashed just after they stored one.
    let aimed = (
        sim::proptest::collection::vec(cut_off(nodes), 0..=4),
        sim::proptest::collection::vec(forgetful_replica(), 0..=2),
    );
    (plans(bounds), aimed).prop_map(|(mut plan, (cut_offs, crashes))| {
        plan.triggered.extend(cut_offs.into_iter().flatten());
        plan.triggered.extend(crashes);
        plan
    })
}

/// A targeted fault: the moment a node sends a `Put` (a write's or a read's write-back),
/// everything it sends stops reaching the other nodes (its messages to itself still arrive),
/// except perhaps one node; a few milliseconds later it crashes, and restarts from its durable
/// state a little after. The `Put` reaches its own replica, and maybe one more, and nobody
/// else's; the crash stops the retries that would have repaired that. A write held by a
/// minority, which a read sees or misses depending on which replicas answer it: random plans
/// make this rare (several messages lost together, then a crash before the next retry), and a
/// register that returns a value without writing it back is caught by it.
fn cut_off(nodes: u32) -> impl Strategy<Value = Vec<TriggeredFault>> {
    (0..500u64, 0..nodes, 1..=CUT_MS, 1..=DOWN_MS).prop_map(move |(from, spared, cut, down)| {
        let when = Trigger::send("put", Side::Sender);
        let from = Time::from_millis(from);
        let others: Vec<NodeId> = (0..nodes).map(NodeId).filter(|n| n.0 != spared).collect();
        vec![
            TriggeredFault {
                when: when.clone(),
                from,
                delay: Duration::ZERO,
                fault: Fault::Partition {
                    partition: Partition::OneWay {
                        from: vec![NodeId::SUBJECT],
                        to: others,
                    },
                    duration: Duration::from_millis(cut),
                },
            },
            TriggeredFault {
                when,
                from,
                delay: Duration::from_millis(cut),
                fault: Fault::Crash {
                    node: NodeId::SUBJECT,
                    restart_after: Some(Duration::from_millis(down)),
                },
            },
        ]
    })
}
/// The longest a cut-off lasts before its node crashes, and the longest it then stays down.
const CUT_MS: u64 = 5;
const DOWN_MS: u64 = 5;

/// A targeted fault: a replica crashes just after it handled a `Put`, and restarts at once. A
/// replica that keeps its value in durable state still holds the write it acknowledged; one
/// that kept it in memory has taken back an acknowledgement a quorum counted on.
fn forgetful_replica() -> impl Strategy<Value = TriggeredFault> {
    (0..500u64, 1..=DOWN_MS).prop_map(|(from, down)| TriggeredFault {
        when: Trigger::deliver("put", Side::Receiver),
        from: Time::from_millis(from),
        delay: Duration::ZERO,
        fault: Fault::Crash {
            node: NodeId::SUBJECT,
            restart_after: Some(Duration::from_millis(down)),
        },
    })
}

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
        "cargo test -p quorum --test step3_under_faults {test_name}"
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

/// An even number of replicas: "half, rounded up" is a majority of three and of five, but not
/// of four.
#[test]
fn linearizable_four() {
    linearizable_on(4, CASES, "linearizable_four");
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
    .replay_command("cargo test -p quorum --test step3_under_faults available")
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

/// Whether a process fault of `node` in `plan` could hold up its handlers at some time in
/// `from..=to`: it pauses, slows down (and works off its backlog for a while after), or is
/// down.
fn held_up(plan: &FaultPlan, node: NodeId, from: Time, to: Time) -> bool {
    plan.faults.iter().any(|tf| {
        let (faulty, end) = match &tf.fault {
            Fault::Pause { node, duration } => (*node, tf.at + *duration),
            Fault::Slow { node, duration, .. } => {
                (*node, tf.at + *duration + Duration::from_secs(1))
            }
            Fault::Crash {
                node,
                restart_after,
            } => (*node, restart_after.map_or(Time::MAX, |d| tf.at + d)),
            _ => return false,
        };
        faulty == node && tf.at <= to && end >= from
    })
}

/// The chaos plans without their triggered crashes (the process faults a check must be able to
/// read from the plan, see [`held_up`]), and with a node cut off from the others for longer than
/// a deadline: once at a fixed time, and once the moment it sends a `Put`, so that operations
/// fail in their query phase and in their store phase alike. Random partitions are too short to
/// outlast a deadline. And the moment a coordinator starts a query, its wall clock steps back,
/// which a deadline measured on the wall clock would take for more time left.
fn failing_cases() -> impl Strategy<Value = FaultPlan> {
    let deadline = QuorumConfig::majority(3).deadline.as_millis() as u64;
    let longer = move || deadline + 50..=3 * deadline;
    let steps = sim::proptest::collection::vec((0..500u64, 100..=300i64), 1..=3);
    (
        (chaos(3), 0..3u32, 0..500u64, longer()),
        (0..500u64, longer(), steps),
    )
        .prop_map(|((mut plan, node, at, ms), (from, storing_ms, steps))| {
            plan.triggered.clear();
            for (step_from, back_ms) in steps {
                plan.triggered.push(TriggeredFault {
                    when: Trigger::send("get", Side::Sender),
                    from: Time::from_millis(step_from),
                    delay: Duration::ZERO,
                    fault: Fault::ClockStep {
                        node: NodeId::SUBJECT,
                        by_ns: -back_ms * 1_000_000,
                    },
                });
            }
            plan.triggered.push(TriggeredFault {
                when: Trigger::send("put", Side::Sender),
                from: Time::from_millis(from),
                delay: Duration::ZERO,
                fault: Fault::Partition {
                    partition: Partition::Split(vec![vec![NodeId::SUBJECT]]),
                    duration: Duration::from_millis(storing_ms),
                },
            });
            plan.at(
                Time::from_millis(at),
                Fault::Partition {
                    partition: Partition::Split(vec![vec![NodeId(node)]]),
                    duration: Duration::from_millis(ms),
                },
            )
        })
}

#[test]
fn fails_cleanly() {
    smoke();
    let until = Time::from_millis(700);
    let end = until + CLIENT_TIMEOUT + Duration::from_millis(50);
    let deadline = QuorumConfig::majority(3).deadline;
    // The deadline runs on the coordinator's monotonic clock, at most 200 ppm slow.
    let bound = deadline.mul_f64(1.0 / (1.0 - 200e-6)) + Duration::from_millis(1);
    let property = Property::new(format!(
        "fails-cleanly: every operation sent to a coordinator that stays up is answered within \
         its {} ms deadline (on the coordinator's clock), with \"failed\" if no quorum answered \
         in time",
        deadline.as_millis()
    ))
    .cases(CASES)
    .replay_command("cargo test -p quorum --test step3_under_faults fails_cleanly")
    .book("book/src/02-quorum.md#failing-cleanly");
    property.check(failing_cases(), |case| {
        let sim = run(case, 3, until, end, false)?;
        let late = sim.history().ops.iter().position(|r| {
            let answered_in_time =
                matches!(r.outcome, Outcome::Ok { at, .. } if at <= r.invoked + bound);
            !answered_in_time
                && r.invoked >= case.plan.start_of(r.node)
                && !held_up(&case.plan, r.node, r.invoked, r.invoked + bound)
        });
        if let Some(index) = late {
            let traced = run(case, 3, until, end, true)?;
            let rec = &traced.history().ops[index];
            return Err(Failure::new(format!(
                "{} reached {} at {}, which stayed up and unpaused, but had no answer by {}: a \
                 coordinator that cannot reach a quorum must say so, with Response::Failed, when \
                 its deadline passes:\n  {}",
                rec.op,
                rec.node,
                rec.invoked,
                rec.invoked + bound,
                describe(traced.history(), index)
            ))
            .at(rec.invoked + bound)
            .trace(traced.trace()));
        }
        Ok(())
    });
}

#[test]
fn quiet() {
    smoke();
    let calm = Time::ZERO + HORIZON + LONGEST;
    let until = calm + Duration::from_millis(300);
    let config = QuorumConfig::majority(3);
    // Every operation ends by its deadline (its coordinator is up by then, or crashed and lost
    // its timers); the timers it set fire at most one retry period after that, and then
    // nothing is left to do.
    let quiet_from = until + config.deadline + config.retry_every + Duration::from_millis(5);
    let end = quiet_from + Duration::from_millis(200);
    let property = Property::new(format!(
        "quiet: once every operation has ended, the nodes fall silent and forget it: no message \
         and no timer from {} ms after the last invocation on (a retry stops with its \
         operation), and no operation left running",
        (quiet_from - until).as_millis()
    ))
    .cases(CASES)
    .replay_command("cargo test -p quorum --test step3_under_faults quiet")
    .book("book/src/02-quorum.md#failing-cleanly");
    property.check(turbulence(), |case| {
        // Untraced first, counting messages and timers from `quiet_from` on; only a run that
        // breaks the rule runs again with its timeline.
        let mut sim = run(case, 3, until, quiet_from, false)?;
        let work = |sim: &Simulation<QuorumNode>| sim.sends() + sim.timers_fired();
        let before = work(&sim);
        if let Err(halt) = sim.run_until(end) {
            return Err(Failure::from(halt));
        }
        let holding = (0..3)
            .map(NodeId)
            .filter_map(|n| Some((n, sim.node(n)?.running())))
            .find(|(_, running)| *running > 0);
        if let Some((node, running)) = holding {
            return Err(Failure::new(format!(
                "every operation ended long ago, yet {node} still coordinates {running}: an \
                 operation that has answered or failed must be forgotten"
            ))
            .at(end)
            .trace(run(case, 3, until, end, true)?.trace()));
        }
        if work(&sim) == before {
            return Ok(());
        }
        let sim = run(case, 3, until, end, true)?;
        let busy = sim.trace().events.iter().find(|e| {
            e.time >= quiet_from
                && matches!(e.kind, EventKind::Send { .. } | EventKind::Timer { .. })
        });
        if let Some(event) = busy {
            return Err(Failure::new(format!(
                "the last operation was invoked before {until} and every fault had ended by \
                 {calm}, yet at {} there is still work: {}. An operation's retries must stop \
                 once it has answered or failed",
                event.time,
                sim::render::text::line(event).trim()
            ))
            .at(event.time)
            .trace(sim.trace()));
        }
        Ok(())
    });
}

/// The slowest one-way latency of the `prompt` cases.
const PROMPT_LATENCY: Duration = Duration::from_millis(4);

#[test]
fn prompt() {
    smoke();
    // A phase is a message to every replica and an answer back: two one-way latencies. A read
    // whose replies agree has one phase; every other operation two.
    let bound = PROMPT_LATENCY * 4;
    let retry = QuorumConfig::majority(3).retry_every;
    assert!(
        bound < retry,
        "the bound must tell a finished phase from a retried one"
    );
    let property = Property::new(format!(
        "prompt: when no message is lost and nothing fails, every operation finishes within \
         two round trips ({} ms at latencies of at most {} ms), without waiting for a retry",
        bound.as_millis(),
        PROMPT_LATENCY.as_millis()
    ))
    .cases(CASES)
    .replay_command("cargo test -p quorum --test step3_under_faults prompt")
    .book("book/src/02-quorum.md#prompt");
    let bounds = PlanBounds {
        max_faults: 0,
        max_loss: 0.0,
        max_duplicate: 0.0,
        max_reorder: 0.0,
        latencies: vec![
            Latency::Constant(Duration::from_millis(1)),
            Latency::Uniform {
                min: Duration::from_micros(500),
                max: PROMPT_LATENCY,
            },
        ],
        max_drift_ppm: 200,
        max_wall_error: Duration::from_millis(50),
        ..PlanBounds::new(3, Duration::from_millis(500))
    };
    let until = Time::from_millis(400);
    let end = until + CLIENT_TIMEOUT;
    property.check(plans(bounds), |case| {
        let sim = run(case, 3, until, end, false)?;
        let slow = sim.history().ops.iter().position(|r| {
            !matches!(r.outcome, Outcome::Ok { at, response: Response::Value(_) | Response::Written }
                if at <= r.invoked + bound)
        });
        if let Some(index) = slow {
            let traced = run(case, 3, until, end, true)?;
            let rec = &traced.history().ops[index];
            return Err(Failure::new(format!(
                "{} at {} took longer than two round trips on a network that lost nothing: \
                 {}. A read whose replies agree is done at once; otherwise it is done when \
                 w replicas hold its value, counting those that replied with it",
                rec.op,
                rec.node,
                describe(traced.history(), index)
            ))
            .at(rec.invoked + bound)
            .trace(traced.trace()));
        }
        Ok(())
    });
}

/// The operation a `Get` or `Put`'s `Debug` text names (`Put { op: c1#4, .. }`), as
/// `(client, seq)`.
fn message_op(msg: &str) -> Option<(u32, u64)> {
    let rest = msg
        .strip_prefix("Get { op: c")
        .or_else(|| msg.strip_prefix("Put { op: c"))?;
    let (client, rest) = rest.split_once('#')?;
    let seq: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((client.parse().ok()?, seq.parse().ok()?))
}

#[test]
fn failed_is_final() {
    smoke();
    let until = Time::from_millis(700);
    let end = until + CLIENT_TIMEOUT + Duration::from_millis(50);
    let property = Property::new(
        "failed-is-final: once a coordinator has answered \"failed\", the operation is over: it \
         sends no more Get or Put for it",
    )
    .cases(CASES)
    .replay_command("cargo test -p quorum --test step3_under_faults failed_is_final")
    .book("book/src/02-quorum.md#failing-cleanly");
    property.check(failing_cases(), |case| {
        let sim = run(case, 3, until, end, true)?;
        let mut failed: Vec<(NodeId, u32, u64, Time)> = Vec::new();
        for event in &sim.trace().events {
            match &event.kind {
                EventKind::Response {
                    node,
                    client,
                    op,
                    response,
                } if response == "Failed" => failed.push((*node, *client, *op, event.time)),
                // A crash forgets every operation: what its next life sends is not about them.
                EventKind::Crash { node } => failed.retain(|f| f.0 != *node),
                EventKind::Send { from, msg, .. } => {
                    let Some((client, seq)) = message_op(msg) else {
                        continue;
                    };
                    if let Some((_, _, _, at)) = failed
                        .iter()
                        .find(|f| f.0 == *from && (f.1, f.2) == (client, seq))
                    {
                        return Err(Failure::new(format!(
                            "{from} answered c{client}#{seq} \"failed\" at {at}, but at {} it \
                             still sent {msg}: an operation that failed must be forgotten, or a \
                             client that gave up on it may see it take effect much later",
                            event.time
                        ))
                        .at(event.time)
                        .trace(sim.trace()));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    });
}

#[test]
fn issued() {
    smoke();
    let until = Time::from_millis(700);
    let end = until + CLIENT_TIMEOUT + Duration::from_millis(50);
    let property = Property::new(
        "issued: the counter a coordinator gives a write is in its durable last_issued before \
         any replica holds the write, so no crash can make it issue that counter again",
    )
    .cases(CASES)
    .replay_command("cargo test -p quorum --test step3_under_faults issued")
    .book("book/src/02-quorum.md#versions");
    property.check(chaos(3), |case| {
        let config = Config::new(3, case.seed)
            .plan(case.plan.clone())
            .client_timeout(CLIENT_TIMEOUT);
        let quorums = QuorumConfig::majority(3);
        let mut sim = Simulation::new(config, move |_, _| QuorumNode::new(quorums))
            .clients(CLIENTS, workload(3, until))
            .message_predicate("put", |_, _, msg| matches!(msg, Msg::Put { .. }))
            .monitor("issued", |view| {
                for replica in (0..3).map(NodeId) {
                    let held = view.durable(replica).stored;
                    let coordinator = held.version.node;
                    if held.version.counter == 0 || coordinator.0 >= 3 {
                        continue;
                    }
                    let issued = view.durable(coordinator).last_issued;
                    if issued < held.version.counter {
                        return Err(format!(
                            "{replica} holds a write with version {:?}, but {coordinator}'s \
                             durable last_issued is {issued}: a coordinator that crashed now \
                             would give a later write the same counter",
                            held.version
                        ));
                    }
                }
                Ok(())
            });
        match sim.run_until(end) {
            Ok(()) => Ok(()),
            Err(halt) => {
                let message = match &halt.reason {
                    sim::HaltReason::Monitor { message, .. } => message.clone(),
                    _ => halt.to_string(),
                };
                Err(Failure::new(message).at(halt.time).trace(sim.trace()))
            }
        }
    });
}
