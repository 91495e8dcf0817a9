//! Step 2: one replica among its peers. A timeline the specification in `src/lib.rs` fully
//! determines (two writes to one key, a wall clock stepped back between them, another stepped
//! back while a round trip is being measured); `durations`: every round trip a replica
//! measures is the time that really passed on its own clock, across clock steps; and
//! `replicated`: every write reaches every replica, through loss, partitions and pauses.
//!
//! `cargo test --test step2_replica` runs just this step.

mod common;

use clocks::{Key, Replica, RoundTrip, RoundTrips, StoreConfig, Write};
use common::{run, smoke, with_predicates};
use sim::check::{Case, Failure, PlanBounds, Property, plans};
use sim::proptest::prelude::*;
use sim::{
    ClockSpec, Config, EventKind, Fault, FaultPlan, Latency, NetConfig, NodeId, Partition, Side,
    Simulation, Time, Trigger, TriggeredFault,
};
use std::collections::BTreeMap;
use std::time::Duration;

/// Two writes to `k0`. n0's wall clock runs 50 ms ahead; it takes `k0=0` at 10 ms, and its
/// clock is stepped back a second while the replications are in flight. n2's acknowledgement
/// is lost, so n0 sends the write to n2 again, and n2 gets it twice. n1 gets the write, then
/// its own clock is stepped back 100 ms, and it takes `k0=1` at 40 ms: by its wall clock long
/// before the first write, by its hybrid clock after it.
#[test]
fn replica_timeline() {
    let plan = FaultPlan::with_network(NetConfig::default())
        .clock(
            NodeId(0),
            ClockSpec {
                wall_offset_ns: 50_000_000,
                ..ClockSpec::default()
            },
        )
        .at(
            Time(10_500_000),
            Fault::ClockStep {
                node: NodeId(0),
                by_ns: -1_000_000_000,
            },
        )
        .at(
            Time::from_millis(12),
            Fault::ClockStep {
                node: NodeId(1),
                by_ns: -100_000_000,
            },
        )
        .at(
            Time(11_500_000),
            Fault::Partition {
                partition: Partition::OneWay {
                    from: vec![NodeId(2)],
                    to: vec![NodeId(0)],
                },
                duration: Duration::from_millis(1),
            },
        );
    let mut sim = with_predicates(Simulation::new(Config::new(3, 1).plan(plan), |_, _| {
        Replica::new(StoreConfig::default())
    }));
    sim.invoke(
        Time::from_millis(10),
        NodeId(0),
        Write {
            key: Key(0),
            value: 0,
        },
    );
    sim.invoke(
        Time::from_millis(40),
        NodeId(1),
        Write {
            key: Key(0),
            value: 1,
        },
    );
    if let Err(halt) = sim.run_until(Time::from_millis(80)) {
        panic!("{halt}");
    }
    let mut events: Vec<&sim::Event> = sim
        .trace()
        .events
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::Request { .. }
                    | EventKind::Response { .. }
                    | EventKind::Deliver { .. }
                    | EventKind::Note { .. }
                    | EventKind::ClockStep { .. }
            )
        })
        .collect();
    events.sort_by_key(|e| (e.time, e.kind.node()));
    let out: String = events
        .iter()
        .map(|e| sim::render::text::line(e) + "\n")
        .collect();
    insta::with_settings!({
        description => "rules: Hlc::now, Hlc::observe, Replica::apply and the handlers of \
                        Replica in src/lib.rs (what each event stamps, keeps, sends and notes)",
        omit_expression => true,
    }, {
        insta::assert_snapshot!("replica_timeline", out);
    });
}

/// A wall-clock step at a node right after it sent a write, while the round trip is being
/// measured: back or forward, by a millisecond to a second.
fn step_after_send() -> impl Strategy<Value = TriggeredFault> {
    (
        0..1_000u64,
        prop_oneof![-1_000_000_000i64..=-1_000_000, 1_000_000i64..=1_000_000_000],
    )
        .prop_map(|(from, by_ns)| TriggeredFault {
            when: Trigger::send("replicate", Side::Sender),
            from: Time::from_millis(from),
            delay: Duration::ZERO,
            fault: Fault::ClockStep {
                node: NodeId::SUBJECT,
                by_ns,
            },
        })
}

/// How many replicas the runs of this step have.
const NODES: u32 = 3;

/// Faults within the first second: pauses, partitions, wall clocks offset by up to a second
/// and stepped, clocks drifting, a lossy network, and one to three clock steps aimed at a
/// round trip. No crashes (a replica keeps its data in memory) and no slow nodes: a node slowed
/// for a few hundred milliseconds under this many resends builds a queue that takes longer
/// than the run to drain, which says nothing about the store's rules.
fn replica_plans() -> impl Strategy<Value = FaultPlan> {
    let random = plans(PlanBounds {
        crashes: false,
        slow_nodes: false,
        max_fault_duration: Duration::from_millis(300),
        latencies: vec![
            Latency::Constant(Duration::from_millis(1)),
            Latency::Uniform {
                min: Duration::from_micros(500),
                max: Duration::from_millis(10),
            },
        ],
        max_loss: 0.2,
        max_duplicate: 0.1,
        max_reorder: 0.1,
        max_drift_ppm: 500,
        max_wall_error: Duration::from_secs(1),
        max_start_offset: Duration::from_millis(20),
        ..PlanBounds::new(NODES, Duration::from_secs(1))
    });
    let aimed = sim::proptest::collection::vec(step_after_send(), 1..=3);
    (random, aimed).prop_map(|(mut plan, aimed)| {
        plan.triggered.extend(aimed);
        plan
    })
}

const LAST_WRITE: Time = Time::from_millis(1_000);
const END: Time = Time::from_millis(3_000);

fn replica_run(case: &Case) -> Result<Simulation<Replica>, Failure> {
    let mut sim = run(NODES, case.seed, &case.plan, 40.0, LAST_WRITE);
    if let Err(halt) = sim.run_until(END) {
        return Err(Failure::from(halt).trace(sim.trace()));
    }
    Ok(sim)
}

/// A write's replication from one replica to a peer, as the trace shows it.
#[derive(Clone, Debug, Default)]
struct Sends {
    /// When the writer sent it, each time.
    sent: Vec<Time>,
    /// Where in the trace each send is.
    sent_index: Vec<usize>,
    /// When the first acknowledgement of it reached the writer.
    acked: Option<Time>,
    /// Where in the trace that acknowledgement is.
    acked_index: Option<usize>,
    /// Whether the peer got it.
    delivered: bool,
}

/// Every write's replication, by (writer, peer, value).
fn replications(trace: &sim::Trace) -> BTreeMap<(NodeId, NodeId, u64), Sends> {
    let mut out: BTreeMap<(NodeId, NodeId, u64), Sends> = BTreeMap::new();
    for (index, event) in trace.events.iter().enumerate() {
        match &event.kind {
            EventKind::Send { from, to, msg, .. } if msg.starts_with("Replicate") => {
                if let Some(value) = common::number_after(msg, "value: ") {
                    let entry = out.entry((*from, *to, value)).or_default();
                    entry.sent.push(event.time);
                    entry.sent_index.push(index);
                }
            }
            EventKind::Deliver { from, to, msg, .. } if msg.starts_with("Replicate") => {
                if let Some(value) = common::number_after(msg, "value: ") {
                    out.entry((*from, *to, value)).or_default().delivered = true;
                }
            }
            EventKind::Deliver { from, to, msg, .. } if msg.starts_with("Ack") => {
                if let Some(value) = common::number_after(msg, "value: ") {
                    let entry = out.entry((*to, *from, value)).or_default();
                    if entry.acked.is_none() {
                        entry.acked = Some(event.time);
                        entry.acked_index = Some(index);
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// The smoothed round trip to each peer that `measured`, taken in in order, gives.
fn expected_round_trips(measured: &[RoundTrip]) -> BTreeMap<NodeId, RoundTrips> {
    let mut out: BTreeMap<NodeId, RoundTrips> = BTreeMap::new();
    for trip in measured {
        out.entry(trip.peer).or_default().record(trip.took);
    }
    out
}

#[test]
fn durations() {
    smoke();
    Property::new(
        "durations: every round trip a replica records is exactly the time that passed on its \
         own monotonic clock from sending a write to the first acknowledgement, across wall-clock \
         steps; it records one for every write it sent once and none for a write it resent, and \
         takes each into the peer's round_trips",
    )
    .cases(60)
    .replay_command("cargo test -p clocks --test step2_replica durations")
    .book("book/src/06-clocks.md#durations")
    .check(replica_plans(), |case| {
        let (nodes, sim, plan) = (NODES, replica_run(case)?, &case.plan);
        let sends = replications(sim.trace());
        for node in (0..nodes).map(NodeId) {
            let spec = plan.clocks.get(node.index()).copied().unwrap_or_default();
            let Some(replica) = sim.node(node) else {
                continue;
            };
            let mut recorded: BTreeMap<(NodeId, u64), Duration> = BTreeMap::new();
            for trip in &replica.measured {
                let Some(s) = sends.get(&(node, trip.peer, trip.value)) else {
                    return Err(Failure::new(format!(
                        "{node} recorded a round trip of {:?} to {} for write {}, which it never \
                         sent there",
                        trip.took, trip.peer, trip.value
                    ))
                    .trace(sim.trace()));
                };
                if s.sent.len() > 1 {
                    return Err(Failure::new(format!(
                        "{node} recorded a round trip of {:?} to {} for write {}, which it sent \
                         {} times (at {:?}): after a resend nobody can tell which copy the \
                         acknowledgement answers, so the round trip is not measured",
                        trip.took,
                        trip.peer,
                        trip.value,
                        s.sent.len(),
                        s.sent
                    ))
                    .at(s.sent[1])
                    .trace(sim.trace()));
                }
                let Some(acked) = s.acked else {
                    return Err(Failure::new(format!(
                        "{node} recorded a round trip to {} for write {} that was never \
                         acknowledged",
                        trip.peer, trip.value
                    ))
                    .trace(sim.trace()));
                };
                let real = spec.monotonic_at(acked) - spec.monotonic_at(s.sent[0]);
                if trip.took != real {
                    return Err(Failure::new(format!(
                        "{node} recorded a round trip of {:?} to {} for write {}, sent at {} and \
                         acknowledged at {}: on its own monotonic clock {:?} passed. A duration \
                         on one node is measured on the clock that never jumps",
                        trip.took, trip.peer, trip.value, s.sent[0], acked, real
                    ))
                    .at(acked)
                    .trace(sim.trace()));
                }
                recorded.insert((trip.peer, trip.value), trip.took);
            }
            for (peer, smoothed) in expected_round_trips(&replica.measured) {
                let held = replica
                    .round_trips
                    .get(&peer)
                    .and_then(|r| r.smoothed());
                if held != smoothed.smoothed() {
                    return Err(Failure::new(format!(
                        "{node} measured round trips to {peer} of {:?} and its round_trips holds                          a smoothed {held:?}; recorded one by one they give {:?}: every round                          trip it measures is also taken into the peer's round_trips, which set                          its resend timeout",
                        replica
                            .measured
                            .iter()
                            .filter(|t| t.peer == peer)
                            .map(|t| t.took)
                            .collect::<Vec<_>>(),
                        smoothed.smoothed()
                    ))
                    .trace(sim.trace()));
                }
            }
            for ((writer, peer, value), s) in &sends {
                if *writer == node
                    && s.sent.len() == 1
                    && let Some(acked) = s.acked
                    && !recorded.contains_key(&(*peer, *value))
                {
                    return Err(Failure::new(format!(
                        "{node} sent write {value} to {peer} once, at {}, and the \
                         acknowledgement arrived at {acked}; it recorded no round trip for it",
                        s.sent[0]
                    ))
                    .at(acked)
                    .trace(sim.trace()));
                }
            }
        }
        Ok(())
    });
}

#[test]
fn replicated() {
    smoke();
    let config = StoreConfig::default();
    Property::new(
        "replicated: when the faults are over, every write has reached every replica and every \
         replica has heard each acknowledgement; a write is resent only while it waits, and \
         never sooner than the resend timeout its peer's measured round trips give",
    )
    .cases(60)
    .replay_command("cargo test -p clocks --test step2_replica replicated")
    .book("book/src/06-clocks.md#replicated")
    .check(replica_plans(), |case| {
        let (nodes, sim, plan) = (NODES, replica_run(case)?, &case.plan);
        let sends = replications(sim.trace());
        let (writes, _) = common::causal_order(sim.trace());
        for write in writes.values() {
            for peer in (0..nodes).map(NodeId).filter(|p| *p != write.node) {
                let s = sends.get(&(write.node, peer, write.value));
                if !s.is_some_and(|s| s.delivered) {
                    return Err(Failure::new(format!(
                        "write {} (k{}={}), taken by {} at {}, never reached {peer} by {END}: a \
                         write is sent again until the peer acknowledges it",
                        write.value, write.key, write.value, write.node, write.at
                    ))
                    .at(write.at)
                    .trace(sim.trace()));
                }
            }
        }
        // The round trips each writer measured to each peer, by when the acknowledgement came:
        // the first acknowledgement of a write sent once.
        let mut samples: BTreeMap<(NodeId, NodeId), Vec<(usize, Duration)>> = BTreeMap::new();
        for ((writer, peer, _), s) in &sends {
            if let (1, Some(acked), Some(index)) = (s.sent.len(), s.acked, s.acked_index) {
                let spec = plan.clocks.get(writer.index()).copied().unwrap_or_default();
                let took = spec.monotonic_at(acked) - spec.monotonic_at(s.sent[0]);
                samples
                    .entry((*writer, *peer))
                    .or_default()
                    .push((index, took));
            }
        }
        for list in samples.values_mut() {
            list.sort();
        }
        for ((writer, peer, value), s) in &sends {
            let spec = plan.clocks.get(writer.index()).copied().unwrap_or_default();
            for (k, pair) in s.sent.windows(2).enumerate() {
                let gap = spec.monotonic_at(pair[1]) - spec.monotonic_at(pair[0]);
                let mut trips = RoundTrips::default();
                for (_, took) in samples
                    .get(&(*writer, *peer))
                    .into_iter()
                    .flatten()
                    .filter(|(acked, _)| *acked < s.sent_index[k])
                {
                    trips.record(*took);
                }
                let wait = trips.resend_after(&config);
                if gap < wait {
                    return Err(Failure::new(format!(
                        "{writer} sent write {value} to {peer} at {} and again at {}, {gap:?} \
                         later on its clock; the round trips to {peer} it had measured by then \
                         give a resend timeout of {wait:?}: a resend waits for the timeout its \
                         peer's round trips set",
                        pair[0], pair[1]
                    ))
                    .at(pair[1])
                    .trace(sim.trace()));
                }
                if let Some(acked) = s.acked
                    && pair[1] > acked
                {
                    return Err(Failure::new(format!(
                        "{writer} sent write {value} to {peer} again at {}, after the \
                         acknowledgement reached it at {acked}: an acknowledged write is not \
                         sent again",
                        pair[1]
                    ))
                    .at(pair[1])
                    .trace(sim.trace()));
                }
            }
            if s.delivered && s.acked.is_none() {
                return Err(Failure::new(format!(
                    "write {value} reached {peer}, and no acknowledgement of it ever reached \
                     {writer} by {END}: a replica acknowledges every copy it gets, so that a \
                     lost acknowledgement is made good by the next resend"
                ))
                .trace(sim.trace()));
            }
        }
        for node in (0..nodes).map(NodeId) {
            if let Some(replica) = sim.node(node)
                && let Some(((peer, value), _)) = replica.unacked.iter().next()
            {
                return Err(Failure::new(format!(
                    "when the run ends ({END}) {node} still waits for {peer} to acknowledge \
                     write {value}"
                ))
                .trace(sim.trace()));
            }
        }
        Ok(())
    });
}
