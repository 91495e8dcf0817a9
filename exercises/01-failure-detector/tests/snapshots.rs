//! The numbers and notes the specification in `src/lib.rs` fully determines: any correct
//! implementation produces these snapshots byte for byte (floats are rounded to 3 decimals).
//!
//! If one fails, the diff shows the first line that differs: compare it with the doc comment of
//! the method that computes it.

use failure_detector::{DetectorConfig, HeartbeatNode, PhiDetector};
use sim::{Config, EventKind, Fault, FaultPlan, NetConfig, NodeId, Simulation, Time};
use std::fmt::Write;
use std::time::Duration;

/// A value rounded to 3 decimals, without the `-0.000` that `-log10(1.0)` would print.
fn round3(value: f64) -> String {
    let rounded = (value * 1000.0).round() / 1000.0 + 0.0;
    format!("{rounded:.3}")
}

/// An instant `ms` (fractional) milliseconds after the observer's clock started.
fn at_ms(ms: f64) -> Time {
    Time((ms * 1e6).round() as u64)
}

/// One detector with a window of 4 and a 5 ms floor, fed an uneven stream of heartbeats: steady
/// ones (the floor decides sigma), late and early ones, a long gap that then slides out of
/// the window. After each heartbeat, phi at several delays since it.
#[test]
fn phi_values() {
    let mut detector = PhiDetector::new(4, Duration::from_millis(5));
    let arrivals = [
        0.0, 100.0, 200.0, 300.0, 412.5, 498.0, 620.25, 700.0, 1100.0, 1201.5, 1300.0, 1399.0,
        1500.75,
    ];
    let delays = [0.0, 50.0, 95.0, 105.0, 120.0, 150.0, 200.0, 400.0];
    let mut out = String::new();
    let _ = writeln!(
        out,
        "window 4, min_std_dev 5ms; phi at each delay after the latest heartbeat"
    );
    let _ = writeln!(
        out,
        "nothing heard yet: phi at 50ms = {}",
        round3(detector.phi(at_ms(50.0)))
    );
    for arrival in arrivals {
        detector.heartbeat(at_ms(arrival));
        let _ = writeln!(
            out,
            "\nheartbeat at {arrival:.2}ms: samples {}, mean {}ms, sigma {}ms",
            detector.samples(),
            round3(detector.mean_ms()),
            round3(detector.sigma_ms())
        );
        let row: Vec<String> = delays
            .iter()
            .map(|delay| {
                let phi = detector.phi(at_ms(arrival + delay));
                format!("+{delay}ms {}", round3(phi))
            })
            .collect();
        let _ = writeln!(out, "  {}", row.join("  "));
    }
    insta::assert_snapshot!("phi_values", out);
}

/// Three nodes on a steady 1 ms network with the default configuration: n2 crashes for good at
/// 500 ms; n1 freezes for 400 ms at 1200 ms. The notes say who suspects whom, and when.
#[test]
fn suspicion_notes() {
    let plan = FaultPlan::with_network(NetConfig::default())
        .at(
            Time::from_millis(500),
            Fault::Crash {
                node: NodeId(2),
                restart_after: None,
            },
        )
        .at(
            Time::from_millis(1200),
            Fault::Pause {
                node: NodeId(1),
                duration: Duration::from_millis(400),
            },
        );
    let mut sim = Simulation::new(Config::new(3, 1).plan(plan), |_, _| {
        HeartbeatNode::new(DetectorConfig::default())
    });
    if let Err(halt) = sim.run_until(Time::from_millis(2000)) {
        panic!("{halt}");
    }
    // Notes and the faults they answer; at one instant, sorted by node, so the order in which
    // simultaneous events were scheduled does not matter.
    let mut events: Vec<&sim::Event> = sim
        .trace()
        .events
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::Note { .. }
                    | EventKind::Crash { .. }
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
    insta::assert_snapshot!("suspicion_notes", out);
}
