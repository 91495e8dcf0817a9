//! The named runs of chapter election: the book draws them (`{{#timeline election/NAME}}`), an
//! instructor replays them (`cargo xtask scenario election/NAME`), and a learner runs them
//! against their own crate (`cargo xtask scenario election/NAME --mine`). The exercise and the
//! reference solution both build this one file, so a scenario runs either mechanism unchanged.
//!
//! Each run checks that it shows what its title claims; the book's build refuses to draw a run
//! that does not, so a figure can never quietly stop illustrating its paragraph.

use election::{Durable, ElectionConfig, ElectionNode, Msg};
use sim::scenario::{Param, Scenario, Setting, Shown};
use sim::{
    Config, EventKind, Fault, FaultPlan, NetConfig, NodeId, Partition, Side, Simulation, Time,
    Trace, Trigger,
};
use std::collections::BTreeSet;
use std::time::Duration;

/// Every scenario of the chapter.
pub fn all() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "half-connected",
            title: "at 400 ms the link between the leader and one follower fails, and only that \
                    link: the follower hears no heartbeat and asks for pre-votes, round after \
                    round; the other follower still hears the leader and refuses; nobody raises \
                    the term, and the leader leads to the end",
            seed: 3,
            params: HALF_CONNECTED_PARAMS,
            run: half_connected,
        },
        Scenario {
            name: "half-connected-no-pre-vote",
            title: "the same cut with PreVote off: the cut-off follower stands in a new term, \
                    the other follower votes for it, the old leader learns of the term and steps \
                    down, then stands itself: leadership flaps between the two ends of the \
                    broken link, term after term",
            seed: 3,
            params: &[],
            run: half_connected_no_pre_vote,
        },
        Scenario {
            name: "isolated-leader",
            title: "at 400 ms the leader is cut off from both followers: at its next quorum \
                    check it has heard from nobody and steps down; the followers elect a new \
                    leader between them",
            seed: 3,
            params: &[],
            run: isolated_leader,
        },
    ]
}

/// Three nodes under `plan` with `config`, until 1.5 s (with each node's state after every
/// event if the setting asks for it: the book's step-through).
fn three(setting: &Setting, config: ElectionConfig, plan: FaultPlan) -> Trace {
    let mut sim = Simulation::new(
        Config::new(3, setting.seed).plan(plan),
        move |_, _: &Durable| ElectionNode::new(config),
    )
    .message_predicate("heartbeat", |_, _, m| matches!(m, Msg::Heartbeat { .. }));
    if setting.states {
        sim.record_states();
    }
    // A run that halts is drawn as far as it got; the claim below says what is missing.
    let _ = sim.run_until(Time::from_millis(1_500));
    sim.trace().clone()
}

/// From the leader's first heartbeat after 400 ms, `partition` (the subject is the leader, the
/// peer the follower that heartbeat was for) until the end.
fn cut_at_400(partition: Partition) -> FaultPlan {
    FaultPlan::with_network(NetConfig::default()).when(
        Trigger::send("heartbeat", Side::Sender),
        Time::from_millis(400),
        Fault::Partition {
            partition,
            duration: Duration::from_secs(10),
        },
    )
}

/// Every heartbeat sent: when, by whom, of which term.
fn beats(trace: &Trace) -> Vec<(Time, NodeId, u64)> {
    trace
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Send { from, msg, .. } if msg.starts_with("Heartbeat {") => {
                let term = msg
                    .trim_start_matches("Heartbeat { term: ")
                    .trim_end_matches(" }")
                    .parse()
                    .ok()?;
                Some((e.time, *from, term))
            }
            _ => None,
        })
        .collect()
}

/// When the cut came, and who led then.
fn cut(trace: &Trace) -> Result<(Time, NodeId), String> {
    trace
        .events
        .iter()
        .find_map(|e| match e.kind {
            EventKind::Trigger { node, .. } => Some((e.time, node)),
            _ => None,
        })
        .ok_or_else(|| "no leader sent a heartbeat after 400 ms".to_string())
}

/// The knobs of `half-connected`: PreVote, which keeps the cut-off follower from raising the
/// term, and the leader's heartbeat interval: a follower grants a pre-vote only if it has not
/// heard from a leader for the shortest election timeout (150 ms), so heartbeats further apart
/// than that let the cut-off follower win one after all.
const HALF_CONNECTED_PARAMS: &[Param] = &[
    Param {
        name: "pre-vote",
        label: "PreVote: 1 on, 0 off",
        unit: "",
        default: 1,
        min: 0,
        max: 1,
    },
    Param {
        name: "heartbeat-every",
        label: "how often the leader sends heartbeats",
        unit: "ms",
        default: 50,
        min: 10,
        max: 300,
    },
];

fn half_connected(setting: &Setting) -> Shown {
    let config = ElectionConfig {
        pre_vote: setting.get("pre-vote") != 0,
        heartbeat_every: setting.millis("heartbeat-every"),
        ..ElectionConfig::default()
    };
    let trace = three(
        setting,
        config,
        cut_at_400(Partition::Links(vec![(NodeId::SUBJECT, NodeId::PEER)])),
    );
    Shown::checking(trace, |trace| {
        let (at, leader) = cut(trace)?;
        let beats = beats(trace);
        if let Some((t, from, term)) = beats.iter().find(|(t, from, _)| *t > at && *from != leader)
        {
            return Err(format!(
                "the term was raised after all: {from} led term {term} at {t}, after the cut"
            ));
        }
        let rounds = trace
            .events
            .iter()
            .filter(|e| {
                e.time > at
                    && matches!(&e.kind, EventKind::Note { text, .. } if text.starts_with("pre-vote"))
            })
            .count();
        if rounds < 3 {
            return Err(format!(
                "the cut-off follower asked for pre-votes only {rounds} times after the cut, \
                 not 3 or more"
            ));
        }
        if beats
            .last()
            .is_none_or(|(t, from, _)| *from != leader || *t < Time::from_millis(1_400))
        {
            return Err(format!(
                "{leader}, the leader at the cut, did not lead to the end"
            ));
        }
        Ok(())
    })
}

fn half_connected_no_pre_vote(setting: &Setting) -> Shown {
    let config = ElectionConfig {
        pre_vote: false,
        ..ElectionConfig::default()
    };
    let trace = three(
        setting,
        config,
        cut_at_400(Partition::Links(vec![(NodeId::SUBJECT, NodeId::PEER)])),
    );
    Shown::checking(trace, |trace| {
        let (at, _) = cut(trace)?;
        let terms: BTreeSet<u64> = beats(trace)
            .into_iter()
            .filter(|(t, _, _)| *t > at)
            .map(|(_, _, term)| term)
            .collect();
        if terms.len() < 4 {
            return Err(format!(
                "only {} terms were led after the cut ({terms:?}): the leadership should flap",
                terms.len()
            ));
        }
        Ok(())
    })
}

fn isolated_leader(setting: &Setting) -> Shown {
    let trace = three(
        setting,
        ElectionConfig::default(),
        cut_at_400(Partition::Split(vec![vec![NodeId::SUBJECT]])),
    );
    Shown::checking(trace, |trace| {
        let (at, leader) = cut(trace)?;
        let stepped = trace.events.iter().any(|e| {
            e.time > at
                && matches!(&e.kind, EventKind::Note { node, text }
                    if *node == leader && text.starts_with("step down"))
        });
        if !stepped {
            return Err(format!("{leader} never stepped down"));
        }
        if !beats(trace)
            .iter()
            .any(|(t, from, _)| *t > at && *from != leader)
        {
            return Err("no follower became leader".into());
        }
        Ok(())
    })
}
