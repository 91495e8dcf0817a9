//! Step 2: the node's handlers, on one small run whose every step the specification in
//! `src/lib.rs` fixes: any correct implementation produces this snapshot byte for byte.
//!
//! If it fails, the diff shows the first line that differs: compare it with the doc comment of
//! [`QuorumNode`]. `cargo test --test step2_node` runs just this step.

use quorum::{Durable, QuorumConfig, QuorumNode, Request};
use sim::{Config, EventKind, Fault, FaultPlan, NodeId, Partition, Simulation, Time};
use std::fmt::Write;
use std::time::Duration;

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
    insta::with_settings!({
        description => "rules: the doc comment of QuorumNode in src/lib.rs (replica: answer Get, \
                        store only a higher version, always ack; coordinator: query, store, \
                        retry, fail at the deadline)",
        omit_expression => true,
    }, {
        insta::assert_snapshot!("write_back_repairs", out);
    });
}
