//! Step 2: elections. A timeline the specification in `src/lib.rs` fully determines (three
//! nodes start, one stands after a pre-vote, wins, and leads); `safety`: at most one leader in
//! any term, with PreVote on and off, under crashes at the worst moment (just after a node
//! voted, while another node did not hear the candidate) and everything else a network does; and `failover`: when the leader crashes, the others elect a new one within a
//! bound derived from the configuration.
//!
//! `cargo test --test step2_election` runs just this step.

mod common;

use common::{heartbeats, leaders_by_term, run, run_with, smoke};
use election::ElectionConfig;
use sim::check::{Case, Failure, PlanBounds, Property, plans};
use sim::proptest::prelude::*;
use sim::{
    EventKind, Fault, FaultPlan, Latency, NetConfig, NodeId, Partition, Side, Time, Trigger,
    TriggeredFault,
};
use std::time::Duration;

/// Three nodes start together on a perfect network; the first whose election timer fires asks
/// for pre-votes, stands, wins, and sends heartbeats; the others follow it.
#[test]
fn election_timeline() {
    let mut sim = run(3, 7, &FaultPlan::with_network(NetConfig::default()));
    if let Err(halt) = sim.run_until(Time::from_millis(400)) {
        panic!("{halt}");
    }
    let out: String = sim
        .trace()
        .events
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::Deliver { .. } | EventKind::Note { .. } | EventKind::Timer { .. }
            )
        })
        .map(|e| sim::render::text::line(e) + "\n")
        .collect();
    insta::with_settings!({
        description => "rules: election_timeout, decide_vote, grant_pre_vote, \
                        ElectionNode::stand and the handlers in src/lib.rs (what each event \
                        sends and notes)",
        omit_expression => true,
    }, {
        insta::assert_snapshot!("election_timeline", out);
    });
}

/// One election, hit twice at once: as the candidate sends its first request, its requests
/// stop reaching that node for a while (which stays in the old term, hears no heartbeat, and
/// stands in the same term later), and the first node to grant it a vote crashes and comes
/// back soon. A restarted node must still know whom it voted for.
fn split_election() -> impl Strategy<Value = Vec<TriggeredFault>> {
    (0..2_000u64, 200..=600u64, 1..=30u64).prop_map(|(from, ms, down)| {
        let from = Time::from_millis(from);
        vec![
            TriggeredFault {
                when: Trigger::send("request-vote", Side::Sender),
                from,
                delay: Duration::ZERO,
                fault: Fault::Partition {
                    partition: Partition::OneWay {
                        from: vec![NodeId::SUBJECT],
                        to: vec![NodeId::PEER],
                    },
                    duration: Duration::from_millis(ms),
                },
            },
            TriggeredFault {
                when: Trigger::send("vote-granted", Side::Sender),
                from,
                delay: Duration::ZERO,
                fault: Fault::Crash {
                    node: NodeId::SUBJECT,
                    restart_after: Some(Duration::from_millis(down)),
                },
            },
        ]
    })
}

fn safety_plans(nodes: u32) -> impl Strategy<Value = FaultPlan> {
    let random = plans(PlanBounds {
        permanent_crashes: false,
        max_fault_duration: Duration::from_millis(500),
        latencies: vec![
            Latency::Constant(Duration::from_millis(1)),
            Latency::Uniform {
                min: Duration::from_micros(500),
                max: Duration::from_millis(10),
            },
        ],
        max_loss: 0.1,
        max_duplicate: 0.1,
        max_reorder: 0.1,
        max_drift_ppm: 500,
        max_start_offset: Duration::from_millis(50),
        ..PlanBounds::new(nodes, Duration::from_millis(2_500))
    });
    let aimed = sim::proptest::collection::vec(split_election(), 1..=3);
    (random, aimed).prop_map(|(mut plan, aimed)| {
        plan.triggered.extend(aimed.into_iter().flatten());
        plan
    })
}

#[test]
fn safety() {
    smoke();
    let without_pre_vote = ElectionConfig {
        pre_vote: false,
        ..ElectionConfig::default()
    };
    for (config, nodes, cases) in [
        (without_pre_vote, 3u32, 30u32),
        (ElectionConfig::default(), 3, 15),
        (ElectionConfig::default(), 5, 15),
    ] {
        let pre_vote = if config.pre_vote { "on" } else { "off" };
        Property::new(format!(
            "safety: with {nodes} nodes and PreVote {pre_vote}, at most one node leads any term \
             (sends heartbeats of it), whatever crashes, pauses, partitions and the network do"
        ))
        .cases(cases)
        .replay_command("cargo test -p election --test step2_election safety")
        .book("book/src/07-election.md#safety")
        .check(safety_plans(nodes), |case: &Case| {
            let mut sim = run_with(config, nodes, case.seed, &case.plan);
            if let Err(halt) = sim.run_until(Time::from_millis(3_000)) {
                return Err(Failure::from(halt).trace(sim.trace()));
            }
            let pre_vote_sent = sim.trace().events.iter().find_map(|e| match &e.kind {
                EventKind::Send { from, msg, .. } if msg.starts_with("PreVote {") => {
                    Some((*from, e.time))
                }
                _ => None,
            });
            if !config.pre_vote
                && let Some((from, at)) = pre_vote_sent
            {
                return Err(Failure::new(format!(
                    "{from} sent a PreVote at {at} with pre_vote off in its configuration: with \
                     it off, a node stands at once"
                ))
                .at(at)
                .trace(sim.trace()));
            }
            for (term, leaders) in leaders_by_term(sim.trace()) {
                if leaders.len() > 1 {
                    let list: Vec<String> = leaders
                        .iter()
                        .map(|(n, at)| format!("{n} from {at}"))
                        .collect();
                    let second = leaders.values().max().copied().unwrap_or(Time::ZERO);
                    return Err(Failure::new(format!(
                        "term {term} had {} leaders ({}): each term has one, because each node \
                         votes once in it and two majorities share a node",
                        leaders.len(),
                        list.join(", ")
                    ))
                    .at(second)
                    .trace(sim.trace()));
                }
            }
            Ok(())
        });
    }
}

/// The leader crashes as it sends heartbeats, some time after the start, for good.
fn leader_crash() -> impl Strategy<Value = TriggeredFault> {
    (400..1_500u64).prop_map(|from| TriggeredFault {
        when: Trigger::send("heartbeat", Side::Sender),
        from: Time::from_millis(from),
        delay: Duration::ZERO,
        fault: Fault::Crash {
            node: NodeId::SUBJECT,
            restart_after: None,
        },
    })
}

fn failover_plans() -> impl Strategy<Value = FaultPlan> {
    // Nodes start together and a fixed latency keeps followers' timers in step, as a rack of
    // identical machines does: the moment identical timeouts would split every vote.
    (
        prop_oneof![
            Just(Latency::Constant(Duration::from_millis(1))),
            Just(Latency::Uniform {
                min: Duration::from_micros(500),
                max: Duration::from_millis(3),
            }),
        ],
        leader_crash(),
    )
        .prop_map(|(latency, crash)| {
            let mut plan = FaultPlan::with_network(NetConfig {
                latency,
                ..NetConfig::default()
            });
            plan.triggered.push(crash);
            plan
        })
}

#[test]
fn failover() {
    smoke();
    let config = ElectionConfig::default();
    // Four election timeouts: the first that fires, and three rounds more for split votes.
    let bound = config.election_timeout_max * 4;
    for (nodes, cases) in [(3u32, 25u32), (5, 15)] {
        Property::new(format!(
            "failover: with {nodes} nodes, when the leader crashes the others elect a new one \
             within four election_timeout_max ({bound:?})"
        ))
        .cases(cases)
        .replay_command("cargo test -p election --test step2_election failover")
        .book("book/src/07-election.md#failover")
        .check(failover_plans(), |case: &Case| {
            let mut sim = run(nodes, case.seed, &case.plan);
            if let Err(halt) = sim.run_until(Time::from_millis(4_500)) {
                return Err(Failure::from(halt).trace(sim.trace()));
            }
            let crashed = sim.trace().events.iter().find_map(|e| match e.kind {
                EventKind::Crash { node } => Some((node, e.time)),
                _ => None,
            });
            let Some((old, at)) = crashed else {
                return Err(Failure::new(
                    "no leader ever sent a heartbeat after 400 ms, so there was none to crash: \
                     a cluster of live nodes on a perfect network elects a leader",
                )
                .trace(sim.trace()));
            };
            let next = heartbeats(sim.trace())
                .into_iter()
                .find(|b| b.at > at && b.from != old);
            match next {
                Some(beat) if beat.at <= at + bound => Ok(()),
                _ => Err(Failure::new(format!(
                    "the leader {old} crashed at {at}, and {}: a new leader is due within \
                     {bound:?}",
                    match next {
                        Some(beat) => format!("{} led only from {}", beat.from, beat.at),
                        None => "no other node ever led".into(),
                    }
                ))
                .at(at + bound)
                .trace(sim.trace())),
            }
        });
    }
}
