//! Step 3: the three handlers of [`LeaseNode`]. The lease timeline the specification in
//! `src/lib.rs` fully determines: any correct implementation produces this snapshot byte for
//! byte.
//!
//! If it fails, the diff shows the first line that differs: compare it with the doc comment of
//! [`LeaseNode`] (what each node notes, and when) and of the function that computes the number.
//! `cargo test --test step3_nodes` runs just this step.

use leader_lease::{LeaseConfig, LeaseNode};
use sim::{Config, EventKind, Fault, FaultPlan, NetConfig, NodeId, Simulation, Time};
use std::time::Duration;

/// Four nodes on a steady 1 ms network with the default configuration: `n0` grants, `n1` stores,
/// `n2` and `n3` compete. `n2`, the first leader, freezes for 900 ms (longer than its 600 ms
/// lease) just after it checked its lease for a write; later the grantor crashes and restarts.
/// The notes are the lease timeline: grants, renewals, expiries as each node sees them, and
/// what the storage does with each write.
#[test]
fn lease_timeline() {
    let plan = FaultPlan::with_network(NetConfig::default())
        .at(
            Time::from_millis(1_225),
            Fault::Pause {
                node: NodeId(2),
                duration: Duration::from_millis(900),
            },
        )
        .at(
            Time::from_millis(2_630),
            Fault::Crash {
                node: NodeId(0),
                restart_after: Some(Duration::from_millis(150)),
            },
        );
    let mut sim = Simulation::new(Config::new(4, 1).plan(plan), |id, _| {
        LeaseNode::new(id, LeaseConfig::default())
    });
    if let Err(halt) = sim.run_until(Time::from_millis(4_000)) {
        panic!("{halt}");
    }
    // Notes and the faults they answer; at one instant, sorted by node, so the order in which
    // simultaneous events were scheduled on different nodes does not matter.
    let mut events: Vec<&sim::Event> = sim
        .trace()
        .events
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::Note { .. }
                    | EventKind::Crash { .. }
                    | EventKind::Start { restart: true, .. }
                    | EventKind::Pause { .. }
                    | EventKind::Resume { .. }
            )
        })
        .collect();
    events.sort_by_key(|e| (e.time, e.kind.node()));
    let out: String = events
        .iter()
        .map(|e| sim::render::text::line(e) + "\n")
        .collect();
    insta::with_settings!({
        description => "rules: the doc comment of LeaseNode in src/lib.rs (what the grantor, the \
                        storage and each candidate do and note, in which handler)",
        omit_expression => true,
    }, {
        insta::assert_snapshot!("lease_timeline", out);
    });
}
