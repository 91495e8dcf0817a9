//! The named runs of chapter leader-lease: the book draws them (`{{#timeline leader-lease/NAME}}`), an
//! instructor replays them (`cargo xtask scenario leader-lease/NAME`), and a learner runs them against
//! their own crate (`cargo xtask scenario leader-lease/NAME --mine`). The exercise and the reference
//! solution both build this one file, so a scenario runs either mechanism unchanged.
//!
//! Each run checks that it shows what its title claims; the book's build refuses to draw a run
//! that does not, so a figure can never quietly stop illustrating its paragraph.

use leader_lease::{LeaseConfig, LeaseNode};
use sim::scenario::{Param, Scenario, Setting, Shown};
use sim::{
    ClockSpec, Config, Fault, FaultPlan, Latency, NetConfig, NodeId, Partition, Simulation, Time,
    Trace,
};
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

/// Every scenario of the chapter.
pub fn all() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "paused-leader",
            title: "n2 leads with token 1 and freezes for 900 ms right after checking its lease; \
                    n3 takes over with token 2; n2 wakes up and writes: the storage rejects it",
            seed: 0,
            params: &[],
            run: paused_leader,
        },
        Scenario {
            name: "drift-beyond-bound",
            title: "the leader's clock runs 10% slow, ten times the 1% the margin assumes: cut off \
                    from the grantor, it keeps believing it leads after n3 got the lease",
            seed: 0,
            params: DRIFT_PARAMS,
            run: drift_beyond_bound,
        },
    ]
}

/// The first time `node` noted something that starts with `prefix`.
fn first_note(trace: &Trace, node: NodeId, prefix: &str) -> Result<Time, String> {
    trace
        .notes(node)
        .into_iter()
        .find(|(_, t)| t.starts_with(prefix))
        .map(|(at, _)| at)
        .ok_or(format!("{node} never noted \"{prefix}...\""))
}

const N2: NodeId = NodeId(2);
const N3: NodeId = NodeId(3);
const STORAGE: NodeId = leader_lease::STORAGE;

/// Fewer requests than the default (a renewal every 300 ms, a retry every 100 ms), so that the
/// timeline has room for its notes; the rules and the lease are the same.
fn calm_config() -> LeaseConfig {
    LeaseConfig {
        renew_every: Duration::from_millis(300),
        retry_every: Duration::from_millis(100),
        ..LeaseConfig::default()
    }
}

fn steady(latency_ms: u64) -> NetConfig {
    NetConfig {
        latency: Latency::Constant(Duration::from_millis(latency_ms)),
        ..NetConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// paused-leader

fn paused_leader(setting: &Setting) -> Shown {
    let seed = setting.seed;
    let config = calm_config();
    // n2 leads from about 600 ms and ticks every 300 ms from 700 ms (at 1300 ms among others);
    // at 1310 ms it has just checked its lease and prepared a write that is due at 1350 ms. It
    // freezes before sending it.
    let pause_at = Time::from_millis(1_310);
    let plan = FaultPlan::with_network(steady(2)).at(
        pause_at,
        Fault::Pause {
            node: N2,
            duration: Duration::from_millis(900),
        },
    );
    let mut sim = Simulation::new(Config::new(4, seed).plan(plan), move |id, _| {
        LeaseNode::new(id, config)
    });
    let ran = sim
        .run_until(Time::from_millis(2_250))
        .map_err(|halt| halt.to_string());
    Shown::checking(sim.trace().clone(), |trace| {
        ran?;
        let first = first_note(trace, N2, "granted lease 1 ")?;
        if first > pause_at {
            return Err(format!("n2 got lease 1 only at {first}, after its pause"));
        }
        let taken = first_note(trace, N3, "granted lease 2 ")?;
        let newer = first_note(trace, STORAGE, "write from n3 with token 2 accepted")?;
        let stale = first_note(trace, STORAGE, "write from n2 with token 1 rejected")?;
        if !(pause_at < taken && taken < newer && newer < stale) {
            return Err(format!(
                "expected n2's pause ({pause_at}), then n3's lease 2 ({taken}), its write ({newer}), \
                 then n2's rejected write ({stale})"
            ));
        }
        if let Some((at, text)) = trace
            .notes(STORAGE)
            .into_iter()
            .find(|(at, t)| *at > newer && t.contains("token 1 accepted"))
        {
            return Err(format!("the storage noted {text:?} at {at}"));
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// drift-beyond-bound

/// The knob of `drift-beyond-bound`: how slow n2's clock runs. The margin covers 1%.
const DRIFT_PARAMS: &[Param] = &[Param {
    name: "slow",
    label: "how much slower n2's clock runs",
    unit: "%",
    default: 10,
    min: 0,
    max: 25,
}];

fn drift_beyond_bound(setting: &Setting) -> Shown {
    let seed = setting.seed;
    let config = calm_config();
    // n2's clock runs 10% slow, beyond the 1% bound the margin covers. n3 sleeps through the
    // first election, so n2 wins the first lease. At 1000 ms the link between n2 and the
    // grantor breaks.
    let slow = ClockSpec {
        drift_ppm: i32::try_from(-10_000 * setting.get("slow")).unwrap_or(i32::MIN),
        ..ClockSpec::default()
    };
    let cut_at = Time::from_millis(1_000);
    let plan = FaultPlan::with_network(steady(1))
        .clock(N2, slow)
        .at(
            Time::ZERO,
            Fault::Pause {
                node: N3,
                duration: Duration::from_millis(700),
            },
        )
        .at(
            cut_at,
            Fault::Partition {
                partition: Partition::Links(vec![(leader_lease::GRANTOR, N2)]),
                duration: Duration::from_millis(1_000),
            },
        );
    let overlap: Rc<Cell<Option<Time>>> = Rc::new(Cell::new(None));
    let seen = Rc::clone(&overlap);
    let mut sim = Simulation::new(Config::new(4, seed).plan(plan), move |id, _| {
        LeaseNode::new(id, config)
    })
    .monitor("record two leaders at once", move |view| {
        let both = [N2, N3].iter().all(|n| {
            view.node(*n)
                .is_some_and(|node| node.believes_leader(view.monotonic(*n)))
        });
        if both && seen.get().is_none() {
            seen.set(Some(view.time()));
        }
        Ok(())
    });
    if setting.states {
        sim.record_states();
    }
    let ran = sim
        .run_until(Time::from_millis(1_800))
        .map_err(|halt| halt.to_string());
    Shown::checking(sim.trace().clone(), |trace| {
        ran?;
        let first = first_note(trace, N2, "granted lease 1 ")?;
        if first > cut_at {
            return Err(format!("n2 got lease 1 only at {first}, after the cut"));
        }
        let Some(from) = overlap.get() else {
            return Err("n2 and n3 never believed they led at the same time".into());
        };
        let taken = first_note(trace, N3, "granted lease 2 ")?;
        let expired = first_note(trace, N2, "lease 1 expired")?;
        if !(taken < expired && from >= taken && from < expired) {
            return Err(format!(
                "n3 got lease 2 at {taken} and n2 saw lease 1 expire at {expired}: no overlap"
            ));
        }
        Ok(())
    })
}
