//! What the tests share: how a run of the store is built, what they read back from its trace
//! (every stamp a replica issued, from the `at` of the messages it sent; which write each
//! message carries), a causal order computed from the trace alone (`sim::causality`'s vector
//! clocks, which the store does not have), every node's wall clock at any instant, and the checks more than one
//! step makes. The trace records messages as their `Debug` text, so `Msg`, `Stamp`, `Version`
//! and `Key` must keep the `Debug` of `src/lib.rs`.

#![allow(dead_code)]

use clocks::{Key, Msg, Replica, Stamp, StoreConfig, Write};
use sim::check::Failure;
use sim::rand::RngExt;
use sim::{ClockSpec, Config, EventKind, FaultPlan, NodeId, Simulation, Time, Trace, WallTime};
use std::collections::{BTreeMap, BTreeSet};

/// How many keys the writes go to: few, so that writes to one key follow each other closely.
pub const KEYS: u32 = 2;

/// The number that follows `key` in `text` (`value: ` in `Replicate { .., value: 7, .. }`).
pub fn number_after(text: &str, key: &str) -> Option<u64> {
    let rest = &text[text.find(key)? + key.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Reads a stamp as `Stamp`'s `Debug` writes it (`-12.000250ms+3`) at the start of `text`.
pub fn parse_stamp(text: &str) -> Option<Stamp> {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (ms, rest) = rest.split_once('.')?;
    let (ns, rest) = rest.split_once("ms+")?;
    let logical: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let abs: i64 = ms.parse::<i64>().ok()? * 1_000_000 + ns.parse::<i64>().ok()?;
    Some(Stamp {
        wall: WallTime(if negative { -abs } else { abs }),
        logical: logical.parse().ok()?,
    })
}

/// The stamp after `field` (`"at: "`, `"version: "`) in a message's text.
pub fn stamp_after(text: &str, field: &str) -> Option<Stamp> {
    parse_stamp(&text[text.find(field)? + field.len()..])
}

/// Registers the message names the tests' triggered faults use.
pub fn with_predicates(sim: Simulation<Replica>) -> Simulation<Replica> {
    sim.message_predicate("replicate", |_, _, m| matches!(m, Msg::Replicate { .. }))
        .message_predicate("ack", |_, _, m| matches!(m, Msg::Ack { .. }))
}

/// A run of `nodes` replicas under `plan`: clients' writes arrive at `rate` a second until
/// `last_write`, each to a replica and one of [`KEYS`] keys drawn at random, and write the
/// number of the write (so every value is one write).
pub fn run(
    nodes: u32,
    seed: u64,
    plan: &FaultPlan,
    rate: f64,
    last_write: Time,
) -> Simulation<Replica> {
    let sim = Simulation::new(Config::new(nodes, seed).plan(plan.clone()), |_, _| {
        Replica::new(StoreConfig::default())
    })
    .arrivals(
        vec![(Time::ZERO, rate), (last_write, 0.0)],
        move |n, _, rng| {
            Some((
                NodeId(rng.random_range(0..nodes)),
                Write {
                    key: Key(rng.random_range(0..KEYS)),
                    value: n,
                },
            ))
        },
    );
    with_predicates(sim)
}

/// Runs a fault-free half second of writes before the random cases, so that a handler that
/// panics (a `todo!()` still standing) is reported once and plainly, not through hundreds of
/// shrinking attempts.
pub fn smoke() {
    let mut sim = run(3, 0, &FaultPlan::default(), 40.0, Time::from_millis(500));
    if let Err(halt) = sim.run_until(Time::from_millis(1_000)) {
        panic!("a fault-free run of the store failed: {halt}");
    }
}

/// One event of a node that stamped what it sent: when, at which node, the stamp, and the
/// stamps of the messages that node had received before it (since its previous stamped event).
#[derive(Clone, Debug)]
pub struct Stamped {
    /// Where the event is in the trace.
    pub index: usize,
    pub at: Time,
    pub node: NodeId,
    pub stamp: Stamp,
    /// What the message said, for the report.
    pub msg: String,
}

/// Every stamp each node issued, read from the `at` of the messages it sent, one per event
/// (the sends of one handler share a stamp), in order; and, for each, the received messages
/// whose stamp it must exceed: every one the node got since its previous stamped event.
pub fn stamped_events(trace: &Trace) -> Vec<(Stamped, Vec<Stamped>)> {
    let mut out = Vec::new();
    // Per node: the number of the handler now running, the handler the last stamp came from,
    // and the messages received since the last stamped event.
    let mut handler: BTreeMap<NodeId, u64> = BTreeMap::new();
    let mut last_handler: BTreeMap<NodeId, u64> = BTreeMap::new();
    let mut received: BTreeMap<NodeId, Vec<Stamped>> = BTreeMap::new();
    let mut counter = 0u64;
    for (index, event) in trace.events.iter().enumerate() {
        match &event.kind {
            EventKind::Deliver { to, msg, from, .. } => {
                counter += 1;
                handler.insert(*to, counter);
                if let Some(stamp) = stamp_after(msg, "at: ") {
                    received.entry(*to).or_default().push(Stamped {
                        index,
                        at: event.time,
                        node: *from,
                        stamp,
                        msg: msg.clone(),
                    });
                }
            }
            EventKind::Request { node, .. } | EventKind::Timer { node, .. } => {
                counter += 1;
                handler.insert(*node, counter);
            }
            EventKind::Send { from, msg, .. } => {
                let Some(stamp) = stamp_after(msg, "at: ") else {
                    continue;
                };
                let current = handler.get(from).copied().unwrap_or(0);
                if last_handler.get(from) == Some(&current) {
                    continue;
                }
                last_handler.insert(*from, current);
                let before = received.remove(from).unwrap_or_default();
                out.push((
                    Stamped {
                        index,
                        at: event.time,
                        node: *from,
                        stamp,
                        msg: msg.clone(),
                    },
                    before,
                ));
            }
            _ => {}
        }
    }
    out
}

/// `causality`: each replica's stamps increase from one event to the next, and every stamp a
/// replica issues is later than the stamps of the messages it received before.
pub fn check_causality(trace: &Trace) -> Result<(), Failure> {
    let mut previous: BTreeMap<NodeId, Stamped> = BTreeMap::new();
    for (event, received) in stamped_events(trace) {
        if let Some(before) = previous.get(&event.node)
            && event.stamp <= before.stamp
        {
            return Err(Failure::new(format!(
                "{} stamped an event {} at {}, and an earlier one {} at {}: a node's later \
                 event must get a later stamp (sent: {}; before: {})",
                event.node, event.stamp, event.at, before.stamp, before.at, event.msg, before.msg
            ))
            .at(event.at));
        }
        for got in &received {
            if event.stamp <= got.stamp {
                return Err(Failure::new(format!(
                    "{} received {} from {} at {}, then stamped an event {} at {}: whatever a \
                     node does after a message arrives must get a later stamp than the message \
                     (sent: {})",
                    event.node, got.msg, got.node, got.at, event.stamp, event.at, event.msg
                ))
                .at(event.at));
            }
        }
        previous.insert(event.node, event);
    }
    Ok(())
}

/// A write as the trace shows it: where and when a client asked for it.
#[derive(Clone, Debug)]
pub struct WriteEvent {
    pub value: u64,
    pub key: u32,
    pub node: NodeId,
    pub at: Time,
    /// The write's place in the causal order: how many events of each node it follows.
    pub clock: Vec<u64>,
}

/// The causal order of a run, from its trace alone (`sim::causality`): each write's place, by
/// value, and for each node the values of the writes it took or was sent.
pub fn causal_order(trace: &Trace) -> (BTreeMap<u64, WriteEvent>, BTreeMap<NodeId, BTreeSet<u64>>) {
    let clocks = sim::causality::vector_clocks(trace);
    let mut writes = BTreeMap::new();
    let mut seen: BTreeMap<NodeId, BTreeSet<u64>> = BTreeMap::new();
    // A request that reached a node that was down, or not yet up, was never taken: only the
    // answered ones are writes.
    let answered: BTreeSet<(u32, u64)> = trace
        .events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Response { client, op, .. } => Some((client, op)),
            _ => None,
        })
        .collect();
    for (event, clock) in trace.events.iter().zip(clocks) {
        match &event.kind {
            EventKind::Request {
                node,
                request,
                client,
                op,
            } if answered.contains(&(*client, *op)) => {
                if let (Some(key), Some(value), Some(clock)) = (
                    number_after(request, "key: k"),
                    number_after(request, "value: "),
                    clock,
                ) {
                    writes.insert(
                        value,
                        WriteEvent {
                            value,
                            key: key as u32,
                            node: *node,
                            at: event.time,
                            clock,
                        },
                    );
                    seen.entry(*node).or_default().insert(value);
                }
            }
            EventKind::Deliver { to, msg, .. } if msg.starts_with("Replicate") => {
                if let Some(value) = number_after(msg, "value: ") {
                    seen.entry(*to).or_default().insert(value);
                }
            }
            _ => {}
        }
    }
    (writes, seen)
}

/// `lost-write`: no replica ends up holding a write that another write it got had followed:
/// a write made after its replica had seen an earlier one (directly or through others) wins.
pub fn check_no_lost_write(sim: &Simulation<Replica>, nodes: u32) -> Result<(), Failure> {
    let (writes, seen) = causal_order(sim.trace());
    for node in (0..nodes).map(NodeId) {
        let Some(replica) = sim.node(node) else {
            continue;
        };
        for key in 0..KEYS {
            let Some((held, version)) = replica.value(Key(key)) else {
                if let Some(value) = seen
                    .get(&node)
                    .into_iter()
                    .flatten()
                    .find(|v| writes.get(v).is_some_and(|w| w.key == key))
                {
                    return Err(Failure::new(format!(
                        "when the run ends, {node} holds nothing under k{key}, and it got write \
                         {value} of it: a replica keeps the newest write of each key in its store"
                    )));
                }
                continue;
            };
            let Some(kept) = writes.get(&held) else {
                continue;
            };
            for value in seen.get(&node).into_iter().flatten() {
                let Some(later) = writes.get(value) else {
                    continue;
                };
                if later.key == key && sim::causality::happened_before(&kept.clock, &later.clock) {
                    return Err(Failure::new(format!(
                        "when the run ends, {node} holds k{key}={held} ({version:?}), written at {} \
                         at {}; {} wrote k{key}={} at {} after it had seen that write, and {node} \
                         got it too: a write made after another was seen must win, and it lost",
                        kept.node, kept.at, later.node, later.value, later.at
                    ))
                    .at(later.at));
                }
            }
        }
    }
    Ok(())
}

/// Every node's wall clock at any instant, from the run's clock specs and the steps its trace
/// records.
pub struct WallClocks {
    specs: Vec<ClockSpec>,
    /// Per node, each step: where in the trace, when, and the sum of the steps up to and
    /// including it.
    steps: Vec<Vec<(usize, Time, i64)>>,
}

impl WallClocks {
    pub fn new(plan: &FaultPlan, trace: &Trace, nodes: u32) -> WallClocks {
        let specs = (0..nodes as usize)
            .map(|i| plan.clocks.get(i).copied().unwrap_or_default())
            .collect();
        let mut steps = vec![Vec::new(); nodes as usize];
        for (index, event) in trace.events.iter().enumerate() {
            if let EventKind::ClockStep { node, by_ns } = event.kind
                && let Some(list) = steps.get_mut(node.index())
            {
                let sum = list.last().map_or(0i64, |(_, _, s)| *s);
                list.push((index, event.time, sum.saturating_add(by_ns)));
            }
        }
        WallClocks { specs, steps }
    }

    /// What `node`'s wall clock read at `t`, at the trace's event `index` (the steps before
    /// it counted, a step the event itself set off not).
    pub fn reading(&self, node: NodeId, t: Time, index: usize) -> WallTime {
        let i = node.index();
        let steps = self.steps[i]
            .iter()
            .take_while(|(at, _, _)| *at < index)
            .last()
            .map_or(0, |(_, _, s)| *s);
        self.specs[i].wall_at(t, steps)
    }

    /// The largest reading any node's wall clock had shown by `t`, at the trace's event
    /// `index`: now, or just before one of its steps.
    pub fn largest_by(&self, t: Time, index: usize) -> WallTime {
        let mut largest = WallTime(i64::MIN);
        for i in 0..self.specs.len() {
            let node = NodeId(i as u32);
            largest = largest.max(self.reading(node, t, index));
            let mut before = 0i64;
            for (at, when, sum) in &self.steps[i] {
                if *at >= index {
                    break;
                }
                largest = largest.max(self.specs[i].wall_at(*when, before));
                before = *sum;
            }
        }
        largest
    }
}

/// `skew`: every stamp's wall part lies between the wall clock of the node that issued it and
/// the largest reading any node's clock had shown by then.
pub fn check_skew(sim: &Simulation<Replica>, plan: &FaultPlan, nodes: u32) -> Result<(), Failure> {
    let clocks = WallClocks::new(plan, sim.trace(), nodes);
    for (event, _) in stamped_events(sim.trace()) {
        let own = clocks.reading(event.node, event.at, event.index);
        let largest = clocks.largest_by(event.at, event.index);
        if event.stamp.wall < own {
            return Err(Failure::new(format!(
                "{} stamped an event {} at {}, when its own wall clock read {}: a stamp is never \
                 behind the clock of the node that issues it (sent: {})",
                event.node,
                event.stamp,
                event.at,
                clocks::wall_text(own),
                event.msg
            ))
            .at(event.at));
        }
        if event.stamp.wall > largest {
            return Err(Failure::new(format!(
                "{} stamped an event {} at {}, and no node's wall clock had read more than {} by \
                 then: a stamp's wall part is a clock reading someone had, never ahead of the \
                 largest (sent: {})",
                event.node,
                event.stamp,
                event.at,
                clocks::wall_text(largest),
                event.msg
            ))
            .at(event.at));
        }
    }
    Ok(())
}
