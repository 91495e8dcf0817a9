//! What the specification in `src/lib.rs` fully determines: any correct implementation
//! produces these snapshots byte for byte.
//!
//! If one fails, the diff shows the first line that differs: compare it with the doc comment of
//! the function that computes it.

use quorum::{
    Durable, QuorumConfig, QuorumNode, Request, Stored, Version, decide_read, next_version,
};
use sim::{Config, EventKind, Fault, FaultPlan, NodeId, Partition, Simulation, Time};
use std::fmt::Write;
use std::time::Duration;

fn v(counter: u64, node: u32) -> Version {
    Version {
        counter,
        node: NodeId(node),
    }
}

fn s(counter: u64, node: u32, value: i64) -> Stored {
    Stored {
        version: v(counter, node),
        value: Some(value),
    }
}

fn replies_text(replies: &[(NodeId, Stored)]) -> String {
    let parts: Vec<String> = replies
        .iter()
        .map(|(n, st)| match st.value {
            Some(value) => format!("{n}={value}@{:?}", st.version),
            None => format!("{n}=nil@{:?}", st.version),
        })
        .collect();
    format!("[{}]", parts.join(" "))
}

/// The replies a read quorum could send, and what the coordinator must decide from each.
fn reply_table() -> Vec<(&'static str, Vec<(NodeId, Stored)>)> {
    let n = NodeId;
    vec![
        ("no replies", vec![]),
        (
            "nothing written yet",
            vec![(n(0), Stored::INITIAL), (n(1), Stored::INITIAL)],
        ),
        ("all agree", vec![(n(0), s(2, 1, 20)), (n(2), s(2, 1, 20))]),
        ("one behind", vec![(n(1), s(1, 0, 10)), (n(2), s(2, 1, 20))]),
        (
            "one never written",
            vec![(n(2), Stored::INITIAL), (n(0), s(1, 0, 10))],
        ),
        (
            "same counter, higher node wins",
            vec![(n(0), s(3, 2, 32)), (n(1), s(3, 0, 30))],
        ),
        (
            "counter beats node id",
            vec![(n(1), s(4, 0, 40)), (n(2), s(3, 2, 32))],
        ),
        (
            "five replicas, unsorted",
            vec![
                (n(4), s(1, 0, 10)),
                (n(1), s(5, 3, 53)),
                (n(3), Stored::INITIAL),
                (n(0), s(5, 3, 53)),
                (n(2), s(5, 1, 51)),
            ],
        ),
        ("a single reply", vec![(n(2), s(7, 1, 71))]),
    ]
}

/// `decide_read` on a fixed table of quorum replies: the value returned, its version, and the
/// replicas that get the write-back.
#[test]
fn read_decisions() {
    let mut out = String::new();
    for (name, replies) in reply_table() {
        let d = decide_read(&replies);
        let value = d.value.map_or("nil".to_string(), |x| x.to_string());
        let _ = writeln!(out, "{name}: {}", replies_text(&replies));
        let _ = writeln!(
            out,
            "  -> return {value} ({:?}), write back to {:?}",
            d.version, d.write_back_to
        );
    }
    insta::assert_snapshot!("read_decisions", out);
}

/// `next_version` for the same replies, by different coordinators and with different
/// `last_issued` counters.
#[test]
fn next_versions() {
    let mut out = String::new();
    for (name, replies) in reply_table() {
        let _ = writeln!(out, "{name}: {}", replies_text(&replies));
        for (last_issued, me) in [(0, 0), (0, 2), (4, 1), (9, 1)] {
            let next = next_version(&replies, last_issued, NodeId(me));
            let _ = writeln!(out, "  n{me}, last issued {last_issued} -> {next:?}");
        }
    }
    insta::assert_snapshot!("next_versions", out);
}

/// Three nodes, majority quorums, a steady 1 ms network. A write at n0 reaches only n0 and n1
/// (n2 is cut off); n1 then goes down, and a read at n2 must still return the write, and write
/// it back to n2. Later, n0 alone cannot form a quorum, and its write fails cleanly.
#[test]
fn write_back_repairs() {
    let plan = FaultPlan::default()
        .at(
            Time::ZERO,
            Fault::Partition {
                partition: Partition::Split(vec![vec![NodeId(2)]]),
                duration: Duration::from_millis(30),
            },
        )
        .at(
            Time::from_millis(40),
            Fault::Crash {
                node: NodeId(1),
                restart_after: Some(Duration::from_millis(100)),
            },
        )
        .at(
            Time::from_millis(200),
            Fault::Partition {
                partition: Partition::Split(vec![vec![NodeId(0)]]),
                duration: Duration::from_millis(400),
            },
        );
    let config = QuorumConfig::majority(3);
    let mut sim = Simulation::new(Config::new(3, 1).plan(plan), move |_, _| {
        QuorumNode::new(config)
    });
    let ops = [
        (1, 0, Request::Write(7)),
        (50, 2, Request::Read),
        (60, 2, Request::Write(8)),
        (80, 0, Request::Read),
        (150, 1, Request::Read),
        (210, 0, Request::Write(9)),
    ];
    for (at, node, request) in ops {
        sim.invoke(Time::from_millis(at), NodeId(node), request);
    }
    let stored = |sim: &Simulation<QuorumNode>, node: u32| {
        let Durable { stored, .. } = *sim.durable(NodeId(node));
        match stored.value {
            Some(value) => format!("n{node} holds {value}@{:?}", stored.version),
            None => format!("n{node} holds nil@{:?}", stored.version),
        }
    };
    let mut out = String::new();
    let mut step = |sim: &mut Simulation<QuorumNode>, until: u64, nodes: &[u32]| {
        if let Err(halt) = sim.run_until(Time::from_millis(until)) {
            panic!("{halt}");
        }
        let held: Vec<String> = nodes.iter().map(|n| stored(sim, *n)).collect();
        let _ = writeln!(out, "at {until}ms: {}", held.join(", "));
    };
    step(&mut sim, 20, &[0, 1, 2]);
    step(&mut sim, 58, &[0, 2]);
    step(&mut sim, 120, &[0, 2]);
    step(&mut sim, 1_000, &[0, 2]);
    let _ = writeln!(out);
    for rec in &sim.history().ops {
        let answer = rec
            .response()
            .map_or("(no answer)".to_string(), |r| format!("{r:?}"));
        let _ = writeln!(
            out,
            "{} at {}: {:?} -> {answer}",
            rec.invoked, rec.node, rec.request
        );
    }
    let notes: Vec<String> = sim
        .trace()
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Note { .. }))
        .map(sim::render::text::line)
        .collect();
    let _ = writeln!(out, "\nnotes:\n{}", notes.join("\n"));
    insta::assert_snapshot!("write_back_repairs", out);
}
