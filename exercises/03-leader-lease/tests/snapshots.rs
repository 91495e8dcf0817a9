//! The lease timeline the specification in `src/lib.rs` fully determines: any correct
//! implementation produces this snapshot byte for byte.
//!
//! If it fails, the diff shows the first line that differs: compare it with the doc comment of
//! [`LeaseNode`] (what each node notes, and when) and of the function that computes the number.

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
    insta::assert_snapshot!("lease_timeline", out);
}

/// The numbers behind the notes: the margin for a few configurations, and where a lease
/// granted in answer to a request sent at 1000 ms ends for its holder.
#[test]
fn margins_and_deadlines() {
    let mut out = String::new();
    for (lease_ms, ppm) in [(600, 10_000), (600, 0), (10_000, 200), (333, 7), (1, 1)] {
        let config = LeaseConfig {
            lease: Duration::from_millis(lease_ms),
            max_drift_ppm: ppm,
            ..LeaseConfig::default()
        };
        let deadline = leader_lease::holder_deadline(Time::from_millis(1_000), &config);
        out.push_str(&format!(
            "lease {lease_ms}ms, drift {ppm}ppm: margin {:?}, asked at 1000.000ms, valid until {deadline}\n",
            config.margin()
        ));
    }
    insta::assert_snapshot!("margins_and_deadlines", out);
}
