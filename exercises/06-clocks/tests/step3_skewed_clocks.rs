//! Step 3: the store under every clock fault, with 2, 3 and 5 replicas: wall clocks offset by
//! up to half a second, drifting, stepped back and forward at random and right after a
//! replica took in a peer's write (where a step back hurts most), plus a lossy, duplicating,
//! reordering network and pauses. `causality`: every stamp is later than everything its
//! replica had seen; `lost-write`: no write made after another was seen loses to it;
//! `skew`: no stamp runs behind its node's clock or ahead of every clock.
//!
//! `cargo test --test step3_skewed_clocks` runs just this step.

mod common;

use clocks::Replica;
use common::{check_causality, check_no_lost_write, check_skew, run, smoke};
use sim::check::{Case, Failure, PlanBounds, Property, plans};
use sim::proptest::prelude::*;
use sim::{Fault, FaultPlan, Latency, NodeId, Side, Simulation, Time, Trigger, TriggeredFault};
use std::time::Duration;

/// A replica's wall clock steps back (an NTP correction, a leap second) right after it took in
/// a peer's write, or forward right after it sent one: by 1 ms to 400 ms.
fn aimed_step() -> impl Strategy<Value = TriggeredFault> {
    prop_oneof![
        (0..1_500u64, 1_000_000i64..=400_000_000).prop_map(|(from, ns)| TriggeredFault {
            when: Trigger::deliver("replicate", Side::Receiver),
            from: Time::from_millis(from),
            delay: Duration::ZERO,
            fault: Fault::ClockStep {
                node: NodeId::SUBJECT,
                by_ns: -ns,
            },
        }),
        (0..1_500u64, 1_000_000i64..=400_000_000).prop_map(|(from, ns)| TriggeredFault {
            when: Trigger::send("replicate", Side::Sender),
            from: Time::from_millis(from),
            delay: Duration::ZERO,
            fault: Fault::ClockStep {
                node: NodeId::SUBJECT,
                by_ns: ns,
            },
        }),
    ]
}

/// Random faults, the aimed steps above, and a network that loses, duplicates and reorders.
/// No crashes (a replica keeps its data in memory), and no pauses or slow nodes: the trace
/// records a client's write when it reaches a replica, and the causal order the tests compute
/// from it needs the write to be taken then.
fn chaos(nodes: u32) -> impl Strategy<Value = FaultPlan> {
    let random = plans(PlanBounds {
        crashes: false,
        pauses: false,
        slow_nodes: false,
        max_fault_duration: Duration::from_millis(200),
        latencies: vec![
            Latency::Constant(Duration::from_millis(1)),
            Latency::Uniform {
                min: Duration::from_micros(500),
                max: Duration::from_millis(10),
            },
            Latency::LogNormal {
                median: Duration::from_millis(2),
                sigma: 1.0,
            },
        ],
        max_loss: 0.1,
        max_duplicate: 0.2,
        max_reorder: 0.2,
        max_drift_ppm: 500,
        max_wall_error: Duration::from_millis(500),
        max_start_offset: Duration::from_millis(20),
        ..PlanBounds::new(nodes, Duration::from_millis(1_500))
    });
    let aimed = sim::proptest::collection::vec(aimed_step(), 2..=4);
    (random, aimed).prop_map(|(mut plan, aimed)| {
        plan.triggered.extend(aimed);
        plan
    })
}

const LAST_WRITE: Time = Time::from_millis(1_500);
const END: Time = Time::from_millis(2_500);

fn chaos_run(nodes: u32, case: &Case) -> Result<Simulation<Replica>, Failure> {
    let mut sim = run(nodes, case.seed, &case.plan, 80.0, LAST_WRITE);
    if let Err(halt) = sim.run_until(END) {
        return Err(Failure::from(halt).trace(sim.trace()));
    }
    Ok(sim)
}

/// Each cluster size, and how many cases it gets.
const SIZES: [(u32, u32); 3] = [(2, 15), (3, 25), (5, 15)];

#[test]
fn causality() {
    smoke();
    for (nodes, cases) in SIZES {
        Property::new(format!(
            "causality: with {nodes} replicas, every stamp a replica issues is later than its \
             previous one and than every message it had received, whatever the wall clocks do"
        ))
        .cases(cases)
        .replay_command("cargo test -p clocks --test step3_skewed_clocks causality")
        .book("book/src/06-clocks.md#causality")
        .check(chaos(nodes), |case| {
            let sim = chaos_run(nodes, case)?;
            check_causality(sim.trace()).map_err(|f| f.trace(sim.trace()))
        });
    }
}

#[test]
fn lost_write() {
    smoke();
    for (nodes, cases) in SIZES {
        Property::new(format!(
            "lost-write: with {nodes} replicas, no replica ends up holding a write that another \
             write it got was made after (by a replica that had seen it), whatever the wall \
             clocks do"
        ))
        .cases(cases)
        .replay_command("cargo test -p clocks --test step3_skewed_clocks lost_write")
        .book("book/src/06-clocks.md#lost-write")
        .check(chaos(nodes), |case| {
            let sim = chaos_run(nodes, case)?;
            check_no_lost_write(&sim, nodes).map_err(|f| f.trace(sim.trace()))
        });
    }
}

#[test]
fn skew() {
    smoke();
    for (nodes, cases) in SIZES {
        Property::new(format!(
            "skew: with {nodes} replicas, every stamp's wall part lies between its replica's \
             wall clock and the largest reading any clock had shown by then"
        ))
        .cases(cases)
        .replay_command("cargo test -p clocks --test step3_skewed_clocks skew")
        .book("book/src/06-clocks.md#skew")
        .check(chaos(nodes), |case| {
            let sim = chaos_run(nodes, case)?;
            check_skew(&sim, &case.plan, nodes).map_err(|f| f.trace(sim.trace()))
        });
    }
}
