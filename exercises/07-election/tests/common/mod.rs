//! What the tests share: how a run of the cluster is built, and what they read back from its
//! trace: who sent heartbeats in which term (a heartbeat is a claim to lead that term), and
//! when. The trace records messages as their `Debug` text, so `Msg` must keep its derived
//! `Debug`.

#![allow(dead_code)]

use election::{Durable, ElectionConfig, ElectionNode, Msg};
use sim::{Config, EventKind, FaultPlan, NodeId, Simulation, Time, Trace};
use std::collections::BTreeMap;

/// The number that follows `key` in `text` (`term: ` in `Heartbeat { term: 3 }`).
pub fn number_after(text: &str, key: &str) -> Option<u64> {
    let rest = &text[text.find(key)? + key.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Registers the message names the tests' triggered faults use.
pub fn with_predicates(sim: Simulation<ElectionNode>) -> Simulation<ElectionNode> {
    sim.message_predicate("heartbeat", |_, _, m| matches!(m, Msg::Heartbeat { .. }))
        .message_predicate("request-vote", |_, _, m| {
            matches!(m, Msg::RequestVote { .. })
        })
        .message_predicate("vote-granted", |_, _, m| {
            matches!(m, Msg::Vote { granted: true, .. })
        })
}

/// A run of `nodes` nodes under `plan`, with the default configuration.
pub fn run(nodes: u32, seed: u64, plan: &FaultPlan) -> Simulation<ElectionNode> {
    run_with(ElectionConfig::default(), nodes, seed, plan)
}

/// A run of `nodes` nodes under `plan`, with `config`.
pub fn run_with(
    config: ElectionConfig,
    nodes: u32,
    seed: u64,
    plan: &FaultPlan,
) -> Simulation<ElectionNode> {
    with_predicates(Simulation::new(
        Config::new(nodes, seed).plan(plan.clone()),
        move |_, _: &Durable| ElectionNode::new(config),
    ))
}

/// Runs a fault-free second of three nodes before the random cases, so that a handler that
/// panics (a `todo!()` still standing) is reported once and plainly, not through hundreds of
/// shrinking attempts.
pub fn smoke() {
    let mut sim = run(3, 0, &FaultPlan::default());
    if let Err(halt) = sim.run_until(Time::from_millis(1_000)) {
        panic!("a fault-free run of the cluster failed: {halt}");
    }
}

/// One heartbeat a node sent: when, who, in which term.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Beat {
    pub at: Time,
    pub from: NodeId,
    pub term: u64,
}

/// Every heartbeat sent, in order.
pub fn heartbeats(trace: &Trace) -> Vec<Beat> {
    trace
        .events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::Send { from, msg, .. } if msg.starts_with("Heartbeat {") => {
                number_after(msg, "term: ").map(|term| Beat {
                    at: event.time,
                    from: *from,
                    term,
                })
            }
            _ => None,
        })
        .collect()
}

/// Who sent heartbeats in each term, and when first.
pub fn leaders_by_term(trace: &Trace) -> BTreeMap<u64, BTreeMap<NodeId, Time>> {
    let mut out: BTreeMap<u64, BTreeMap<NodeId, Time>> = BTreeMap::new();
    for beat in heartbeats(trace) {
        out.entry(beat.term)
            .or_default()
            .entry(beat.from)
            .or_insert(beat.at);
    }
    out
}
