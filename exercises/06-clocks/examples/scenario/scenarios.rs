//! The named runs of chapter clocks: the book draws them (`{{#timeline clocks/NAME}}`), an
//! instructor replays them (`cargo xtask scenario clocks/NAME`), and a learner runs them
//! against their own crate (`cargo xtask scenario clocks/NAME --mine`). The exercise and the
//! reference solution both build this one file, so a scenario runs either mechanism unchanged.
//!
//! Each run checks that it shows what its title claims; the book's build refuses to draw a run
//! that does not, so a figure can never quietly stop illustrating its paragraph.

use clocks::{Key, Replica, StoreConfig, Write};
use sim::scenario::{Param, Scenario, Setting, Shown};
use sim::{
    ClockSpec, Config, EventKind, Fault, FaultPlan, NetConfig, NodeId, Partition, Simulation, Time,
};
use std::time::Duration;

/// Every scenario of the chapter.
pub fn all() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "step-back",
            title: "n0's wall clock runs 50 ms ahead; it writes k0=0 and its clock is stepped \
                    back a second while the write is in flight; n1 gets the write, its own clock \
                    is stepped back 100 ms, and it writes k0=1: by n1's wall clock long before \
                    the first write, by its hybrid clock after it, and k0=1 wins everywhere; \
                    n0's round trip to n1, measured across its step, is 2 ms, and n2's lost \
                    acknowledgement makes n0 resend, which measures nothing",
            seed: 1,
            params: STEP_BACK_PARAMS,
            run: step_back,
        },
        Scenario {
            name: "same-reading",
            title: "n2's wall clock runs 50 ms ahead; it writes k0=0, n1 takes the write in and \
                    then writes k0=1 while its own clock is still behind: both stamps share n2's \
                    reading and only the counter orders them; k0=1 wins everywhere",
            seed: 1,
            params: &[],
            run: same_reading,
        },
    ]
}

/// Three replicas under `plan`, with a write of `k0` by `first` at 10 ms and by n1 at
/// `second`, run until 40 ms after it (with each replica's state after every event if the
/// setting asks for it: the book's step-through).
fn two_writes(
    setting: &Setting,
    plan: FaultPlan,
    first: NodeId,
    second: Time,
) -> Simulation<Replica> {
    let mut sim = Simulation::new(Config::new(3, setting.seed).plan(plan), |_, _| {
        Replica::new(StoreConfig::default())
    });
    if setting.states {
        sim.record_states();
    }
    sim.invoke(
        Time::from_millis(10),
        first,
        Write {
            key: Key(0),
            value: 0,
        },
    );
    sim.invoke(
        second,
        NodeId(1),
        Write {
            key: Key(0),
            value: 1,
        },
    );
    // A run that halts is drawn as far as it got; the claim below says what is missing.
    let _ = sim.run_until(second + Duration::from_millis(40));
    sim
}

fn ahead(node: NodeId) -> FaultPlan {
    FaultPlan::with_network(NetConfig::default()).clock(
        node,
        ClockSpec {
            wall_offset_ns: 50_000_000,
            ..ClockSpec::default()
        },
    )
}

fn notes(trace: &sim::Trace) -> Vec<(NodeId, String)> {
    trace
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Note { node, text } => Some((*node, text.clone())),
            _ => None,
        })
        .collect()
}

/// Every replica noted that it keeps `k0=1`, and none that it kept something else over it.
fn second_write_wins(trace: &sim::Trace) -> Result<(), String> {
    let notes = notes(trace);
    for node in (0..3).map(NodeId) {
        if !notes
            .iter()
            .any(|(n, t)| *n == node && t.starts_with("k0 := 1 "))
        {
            return Err(format!("{node} never kept k0=1"));
        }
    }
    // `k0 stays 1: 0 (...) is older` is k0=1 winning over a late copy of the first write.
    if let Some((node, text)) = notes
        .iter()
        .find(|(_, t)| t.starts_with("k0 stays") && !t.starts_with("k0 stays 1:"))
    {
        return Err(format!(
            "{node} noted \"{text}\": k0=1 lost to the write it came after"
        ));
    }
    Ok(())
}

/// The knobs of `step-back`: how far n1's clock is stepped back, and when n1 writes. Until
/// n1's wall clock passes the 60 ms n0 stamped its write with, n1's stamps keep that reading
/// and the counter orders them; after, they are n1's own readings with a counter of 0.
const STEP_BACK_PARAMS: &[Param] = &[
    Param {
        name: "n1-step-back",
        label: "how far n1's clock is stepped back",
        unit: "ms",
        default: 100,
        min: 0,
        max: 1_000,
    },
    Param {
        // After 12 ms: n1 has taken n0's write in, and its clock has been stepped.
        name: "write-at",
        label: "when n1 writes k0=1",
        unit: "ms",
        default: 40,
        min: 15,
        max: 400,
    },
];

fn step_back(setting: &Setting) -> Shown {
    let n1_step_back = setting.get("n1-step-back");
    let mut plan = ahead(NodeId(0)).at(
        Time(10_500_000),
        Fault::ClockStep {
            node: NodeId(0),
            by_ns: -1_000_000_000,
        },
    );
    // A step of nothing is no step: the trace shows none.
    if n1_step_back != 0 {
        plan = plan.at(
            Time::from_millis(12),
            Fault::ClockStep {
                node: NodeId(1),
                by_ns: -n1_step_back * 1_000_000,
            },
        );
    }
    let plan = plan.at(
        Time(11_500_000),
        Fault::Partition {
            partition: Partition::OneWay {
                from: vec![NodeId(2)],
                to: vec![NodeId(0)],
            },
            duration: Duration::from_millis(1),
        },
    );
    let write_at = Time::from_millis(u64::try_from(setting.get("write-at")).unwrap_or(40));
    let sim = two_writes(setting, plan, NodeId(0), write_at);
    Shown::checking(sim.trace().clone(), |trace| {
        second_write_wins(trace)?;
        let notes = notes(trace);
        let trips: Vec<&String> = notes
            .iter()
            .filter(|(n, t)| *n == NodeId(0) && t.starts_with("round trip"))
            .map(|(_, t)| t)
            .collect();
        if trips.len() != 1 || trips.iter().any(|t| !t.ends_with(": 2.000ms")) {
            return Err(format!(
                "n0 should note one round trip across its step, of 2.000ms, and none for the \
                 write it resent; it noted {trips:?}"
            ));
        }
        Ok(())
    })
}

fn same_reading(setting: &Setting) -> Shown {
    let sim = two_writes(setting, ahead(NodeId(2)), NodeId(2), Time::from_millis(20));
    Shown::checking(sim.trace().clone(), second_write_wins)
}
