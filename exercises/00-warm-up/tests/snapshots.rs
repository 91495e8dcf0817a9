//! The timeline of one fixed run. The protocol in `src/lib.rs` determines every line of it, so
//! any correct pinger produces exactly the stored timeline in `snapshots/`.
//!
//! The run has no randomness: a constant 1 ms latency and three timed faults. The first ping
//! meets a partition, the second ping's pong is cut by a one-way partition, and the ponger pauses
//! while the third ping and its retry queue up, so two pongs answer ping 2 and the second must be
//! ignored.
//!
//! If it fails, insta prints the expected and the actual timeline side by side: find the first
//! line that differs and check it against the rule it breaks.

use sim::{Config, Fault, FaultPlan, NodeId, Partition, Simulation, Time};
use std::time::Duration;
use warm_up::{PingConfig, Pinger};

#[test]
fn timeline() {
    let config = PingConfig {
        peer: NodeId(1),
        count: 3,
        interval: Duration::from_millis(10),
        retry_after: Duration::from_millis(5),
    };
    let plan = FaultPlan::default()
        .at(
            Time::ZERO,
            Fault::Partition {
                partition: Partition::Split(vec![vec![NodeId(0)], vec![NodeId(1)]]),
                duration: Duration::from_millis(3),
            },
        )
        .at(
            Time::from_millis(15),
            Fault::Partition {
                partition: Partition::OneWay {
                    from: vec![NodeId(1)],
                    to: vec![NodeId(0)],
                },
                duration: Duration::from_millis(5),
            },
        )
        .at(
            Time::from_millis(30),
            Fault::Pause {
                node: NodeId(1),
                duration: Duration::from_millis(12),
            },
        );
    let mut sim = Simulation::new(Config::new(2, 0).plan(plan), move |id, _| {
        if id == NodeId(0) {
            Pinger::new(config)
        } else {
            Pinger::ponger()
        }
    });
    if let Err(halt) = sim.run_until(Time::from_millis(100)) {
        panic!("{halt}");
    }
    insta::assert_snapshot!("timeline", sim::render::text::render(sim.trace()));
}
