//! Step 1: the timeline of one fixed run. The protocol in `src/lib.rs` determines every line of
//! it, so any correct pinger produces exactly the stored timeline in
//! `snapshots/step1_timeline__timeline.snap`.
//!
//! The run has no randomness: a constant 1 ms latency and three timed faults. The first ping
//! meets a partition, the second ping's pong is cut by a one-way partition, and the ponger pauses
//! while the third ping and its retry queue up, so two pongs answer ping 2 and the second must be
//! ignored.
//!
//! If it fails, insta prints the rules the timeline shows, then the expected and the actual
//! timeline side by side: find the first line that differs and check it against the rule it
//! breaks. Step 2 (`step2_under_faults.rs`) then checks the same rules over many random runs.

use sim::{Config, Fault, FaultPlan, NodeId, Partition, Simulation, Time};
use std::time::Duration;
use warm_up::{PingConfig, Pinger};

/// Which rules of "The protocol, exactly" (in `src/lib.rs`) each stretch of the timeline shows,
/// printed above a failing diff so that the first differing line leads to its rule.
const RULES: &str = "rules: \"The protocol, exactly\" in src/lib.rs. \
    0ms: rule 2 (ping 0 on start) and rule 1 (send, then the retry timer). \
    5ms and 22ms: rule 3 (Retry(n) fires: the same ping again, with a new retry timer). \
    7ms, 24ms, 43ms: rule 4 (`acked n` exactly, the retry timer cancelled, Timer::Next set). \
    17ms, 34ms: rule 5 (Next fires interval after the ack: ping n + 1). \
    n1's lines: every node answers pings, every copy, at once, to the sender (42ms: two copies, \
    two pongs). Last line: rule 6 (a second Pong(2) is ignored: nothing follows it; no Retry(2) \
    at 44ms because rule 4 cancelled it; no Timer::Next after the last ping)";

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
    insta::with_settings!({ description => RULES }, {
        insta::assert_snapshot!("timeline", sim::render::text::render(sim.trace()));
    });
}
