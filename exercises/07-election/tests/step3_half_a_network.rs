//! Step 3: a network that fails only in part. `stable`: when one follower loses only its link
//! to the leader (as in Cloudflare's November 2020 incident), the leader, which a majority
//! still reaches, keeps leading and nobody raises the term; `step-down`: a leader cut off from
//! every other node stops leading within a bound derived from the configuration, and the
//! others elect a new one.
//!
//! `cargo test --test step3_half_a_network` runs just this step.

mod common;

use common::{heartbeats, run, smoke};
use election::ElectionConfig;
use sim::check::{Case, Failure, Property};
use sim::proptest::prelude::*;
use sim::{
    EventKind, Fault, FaultPlan, Latency, NetConfig, NodeId, Partition, Side, Time, Trigger,
    TriggeredFault,
};
use std::time::Duration;

/// A network of varying latency, lossless (a lost heartbeat or two is not this step's fault),
/// nodes starting up to 50 ms apart, and one aimed fault: `fault` applied to the leader as it
/// sends heartbeats, some time after the start.
fn aimed_at_leader(
    nodes: u32,
    fault: impl Strategy<Value = Fault>,
) -> impl Strategy<Value = FaultPlan> {
    (
        prop_oneof![
            Just(Latency::Constant(Duration::from_millis(1))),
            Just(Latency::Uniform {
                min: Duration::from_micros(500),
                max: Duration::from_millis(10),
            }),
        ],
        sim::proptest::collection::vec(0..=50u64, nodes as usize),
        600..1_200u64,
        fault,
    )
        .prop_map(|(latency, starts, from, fault)| {
            let mut plan = FaultPlan::with_network(NetConfig {
                latency,
                ..NetConfig::default()
            });
            plan.starts = starts.into_iter().map(Duration::from_millis).collect();
            plan.triggered.push(TriggeredFault {
                when: Trigger::send("heartbeat", Side::Sender),
                from: Time::from_millis(from),
                delay: Duration::ZERO,
                fault,
            });
            plan
        })
}

/// The leader and one follower can no longer reach each other, from the moment the leader
/// sends that follower a heartbeat; every other link works.
fn one_link_cut() -> impl Strategy<Value = Fault> {
    Just(Fault::Partition {
        partition: Partition::Links(vec![(NodeId::SUBJECT, NodeId::PEER)]),
        duration: Duration::from_secs(10),
    })
}

/// When the aimed fault fired, and at which node (the leader it was aimed at).
fn aimed(trace: &sim::Trace) -> Option<(NodeId, Time)> {
    trace.events.iter().find_map(|e| match &e.kind {
        EventKind::Trigger { node, .. } => Some((*node, e.time)),
        _ => None,
    })
}

const END: Time = Time::from_millis(4_000);

#[test]
fn stable() {
    smoke();
    let config = ElectionConfig::default();
    for (nodes, cases) in [(3u32, 25u32), (5, 15)] {
        Property::new(format!(
            "stable: with {nodes} nodes, when one follower loses only its link to the leader, \
             the leader (which a majority still reaches) leads to the end and no node raises the \
             term"
        ))
        .cases(cases)
        .replay_command("cargo test -p election --test step3_half_a_network stable")
        .book("book/src/07-election.md#stable")
        .check(aimed_at_leader(nodes, one_link_cut()), |case: &Case| {
            let mut sim = run(nodes, case.seed, &case.plan);
            if let Err(halt) = sim.run_until(END) {
                return Err(Failure::from(halt).trace(sim.trace()));
            }
            let Some((leader, cut)) = aimed(sim.trace()) else {
                return Err(Failure::new(
                    "no leader sent a heartbeat after the first 600 ms: a cluster of live nodes \
                     on a lossless network elects a leader",
                )
                .trace(sim.trace()));
            };
            let beats = heartbeats(sim.trace());
            let term = beats
                .iter()
                .rev()
                .find(|b| b.from == leader && b.at <= cut)
                .map_or(0, |b| b.term);
            if let Some(other) = beats.iter().find(|b| b.at > cut && b.term != term) {
                return Err(Failure::new(format!(
                    "{leader} led term {term} when its link to one node was cut at {cut}; at {} \
                     {} sent heartbeats of term {}: a node that cannot reach the leader must not \
                     make the others depose one they can reach",
                    other.at, other.from, other.term
                ))
                .at(other.at)
                .trace(sim.trace()));
            }
            let last = beats.iter().rev().find(|b| b.from == leader);
            if last.is_none_or(|b| b.at + config.heartbeat_every * 2 < END) {
                return Err(Failure::new(format!(
                    "{leader} led term {term} when its link to one node was cut at {cut}, and \
                     stopped sending heartbeats{}: a majority still reaches it, so it keeps \
                     leading",
                    last.map(|b| format!(" after {}", b.at)).unwrap_or_default()
                ))
                .trace(sim.trace()));
            }
            Ok(())
        });
    }
}

#[test]
fn step_down() {
    smoke();
    let config = ElectionConfig::default();
    // Two quorum checks (the cut can fall just after one), a heartbeat round, and latency.
    let step_down_bound =
        config.election_timeout_min * 2 + config.heartbeat_every + Duration::from_millis(20);
    // The followers' timeout, a pre-vote and a vote round, and three rounds more for split votes.
    let new_leader_bound = config.election_timeout_max * 4;
    for (nodes, cases) in [(3u32, 25u32), (5, 15)] {
        let isolate = Just(Fault::Partition {
            partition: Partition::Split(vec![vec![NodeId::SUBJECT]]),
            duration: Duration::from_secs(10),
        });
        Property::new(format!(
            "step-down: with {nodes} nodes, a leader cut off from every other node stops leading \
             within two election_timeout_min and a heartbeat ({step_down_bound:?}), and the \
             others elect a new leader within four election_timeout_max ({new_leader_bound:?})"
        ))
        .cases(cases)
        .replay_command("cargo test -p election --test step3_half_a_network step_down")
        .book("book/src/07-election.md#step-down")
        .check(aimed_at_leader(nodes, isolate), |case: &Case| {
            let mut sim = run(nodes, case.seed, &case.plan);
            if let Err(halt) = sim.run_until(END) {
                return Err(Failure::from(halt).trace(sim.trace()));
            }
            let Some((leader, cut)) = aimed(sim.trace()) else {
                return Err(Failure::new(
                    "no leader sent a heartbeat after the first 600 ms: a cluster of live nodes \
                     on a lossless network elects a leader",
                )
                .trace(sim.trace()));
            };
            let beats = heartbeats(sim.trace());
            if let Some(late) = beats
                .iter()
                .find(|b| b.from == leader && b.at > cut + step_down_bound)
            {
                return Err(Failure::new(format!(
                    "{leader} was cut off from every other node at {cut} and still sent \
                     heartbeats of term {} at {}: a leader that has not heard from a majority \
                     within an election timeout steps down",
                    late.term, late.at
                ))
                .at(late.at)
                .trace(sim.trace()));
            }
            let next = beats.iter().find(|b| b.at > cut && b.from != leader);
            match next {
                Some(beat) if beat.at <= cut + new_leader_bound => Ok(()),
                _ => Err(Failure::new(format!(
                    "{leader} was cut off at {cut}, and {}: the majority elects a new leader \
                     within {new_leader_bound:?}",
                    match next {
                        Some(beat) => format!("{} led only from {}", beat.from, beat.at),
                        None => "no other node ever led".into(),
                    }
                ))
                .at(cut + new_leader_bound)
                .trace(sim.trace())),
            }
        });
    }
}
