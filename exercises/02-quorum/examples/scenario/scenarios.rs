//! The named runs of chapter quorum: the book draws them (`{{#timeline quorum/NAME}}`), an
//! instructor replays them (`cargo xtask scenario quorum/NAME`), and a learner runs them against
//! their own crate (`cargo xtask scenario quorum/NAME --mine`). The exercise and the reference
//! solution both build this one file, so a scenario runs either mechanism unchanged.
//!
//! Each run checks that it shows what its title claims; the book's build refuses to draw a run
//! that does not, so a figure can never quietly stop illustrating its paragraph.

use quorum::{QuorumConfig, QuorumNode, Request, Response};
use sim::scenario::{Param, Scenario, Setting, Shown};
use sim::{Config, Fault, FaultPlan, NodeId, Partition, Simulation, Time};
use std::time::Duration;

/// Every scenario of the chapter.
pub fn all() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "stale-read",
            title: "R = W = 1 of 3: a write acknowledged by n0 alone, a read at n2 that hears \
                    only from n2 and returns the old value, and n2 still stale after the heal",
            seed: 0,
            params: STALE_READ_PARAMS,
            run: stale_read,
        },
        Scenario {
            name: "quorum-read",
            title: "R = W = 2 of 3: a read at n2 after n0 crashed still sees the write, and \
                    writes it back to n2; with no quorum left, the next read fails cleanly",
            seed: 0,
            params: &[],
            run: quorum_read,
        },
        Scenario {
            name: "slow-replicas",
            title: "R = W = 2 of 3: n2 missed a write; while n0 and n1 answer slowly, n2's own \
                    stale reply comes first, and the read still returns the written value",
            seed: 0,
            params: &[],
            run: slow_replicas,
        },
    ]
}

/// The answer each operation got, in invocation order (`None`: no answer).
fn answers(sim: &Simulation<QuorumNode>) -> Vec<Option<Response>> {
    sim.history()
        .ops
        .iter()
        .map(|r| r.response().copied())
        .collect()
}

fn expect(
    answers: &[Option<Response>],
    index: usize,
    want: Response,
    what: &str,
) -> Result<(), String> {
    match answers.get(index) {
        Some(Some(got)) if *got == want => Ok(()),
        got => Err(format!("{what}: expected {want:?}, got {got:?}")),
    }
}

// ---------------------------------------------------------------------------------------------
// stale-read

/// The knobs of `stale-read`: how many replies a read and a write wait for. Any R + W > 3
/// makes every read quorum meet every write quorum.
const STALE_READ_PARAMS: &[Param] = &[
    Param {
        name: "r",
        label: "R: replies a read waits for",
        unit: "of 3",
        default: 1,
        min: 1,
        max: 3,
    },
    Param {
        name: "w",
        label: "W: acknowledgements a write waits for",
        unit: "of 3",
        default: 1,
        min: 1,
        max: 3,
    },
];

fn stale_read(setting: &Setting) -> Shown {
    let seed = setting.seed;
    let size = |name| usize::try_from(setting.get(name)).unwrap_or(1);
    let config = QuorumConfig {
        r: size("r"),
        w: size("w"),
        ..QuorumConfig::majority(3)
    };
    let plan = FaultPlan::default().at(
        Time::ZERO,
        Fault::Partition {
            partition: Partition::Split(vec![vec![NodeId(2)]]),
            duration: Duration::from_millis(30),
        },
    );
    let mut sim = Simulation::new(Config::new(3, seed).plan(plan), move |_, _| {
        QuorumNode::new(config)
    });
    if setting.states {
        sim.record_states();
    }
    sim.invoke(Time::from_millis(2), NodeId(0), Request::Write(1));
    sim.invoke(Time::from_millis(12), NodeId(2), Request::Read);
    sim.invoke(Time::from_millis(20), NodeId(1), Request::Read);
    let ran = sim
        .run_until(Time::from_millis(50))
        .map_err(|halt| halt.to_string());
    Shown::checking(sim.trace().clone(), |_| {
        ran?;
        let got = answers(&sim);
        expect(&got, 0, Response::Written, "the write at n0")?;
        expect(&got, 1, Response::Value(None), "the read at n2 (stale)")?;
        expect(&got, 2, Response::Value(Some(1)), "the read at n1 (fresh)")?;
        // The partition healed at 30 ms, and nothing repairs n2: "eventually" has not come.
        if sim.durable(NodeId(2)).stored.value.is_some() {
            return Err("n2 caught up after the partition; the scenario shows nothing".into());
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// quorum-read

fn quorum_read(setting: &Setting) -> Shown {
    let seed = setting.seed;
    let plan = FaultPlan::default()
        .at(
            Time::ZERO,
            Fault::Partition {
                partition: Partition::Split(vec![vec![NodeId(2)]]),
                duration: Duration::from_millis(15),
            },
        )
        .at(
            Time::from_millis(20),
            Fault::Crash {
                node: NodeId(0),
                restart_after: None,
            },
        )
        .at(
            Time::from_millis(40),
            Fault::Partition {
                partition: Partition::Split(vec![vec![NodeId(1)]]),
                duration: Duration::from_millis(400),
            },
        );
    let config = QuorumConfig::majority(3);
    let mut sim = Simulation::new(Config::new(3, seed).plan(plan), move |_, _| {
        QuorumNode::new(config)
    });
    sim.invoke(Time::from_millis(2), NodeId(0), Request::Write(1));
    sim.invoke(Time::from_millis(25), NodeId(2), Request::Read);
    sim.invoke(Time::from_millis(45), NodeId(2), Request::Read);
    let ran = sim
        .run_until(Time::from_millis(45) + config.deadline + Duration::from_millis(10))
        .map_err(|halt| halt.to_string());
    Shown::checking(sim.trace().clone(), |_| {
        ran?;
        let got = answers(&sim);
        expect(&got, 0, Response::Written, "the write at n0")?;
        expect(&got, 1, Response::Value(Some(1)), "the quorum read at n2")?;
        expect(&got, 2, Response::Failed, "the read with no quorum")?;
        if sim.durable(NodeId(2)).stored.value != Some(1) {
            return Err("the read did not write the value back to n2".into());
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// slow-replicas (the diagnosis drill's run)

fn slow_replicas(setting: &Setting) -> Shown {
    let seed = setting.seed;
    let slow = |node| Fault::Slow {
        node,
        per_event: Duration::from_millis(4),
        duration: Duration::from_millis(15),
    };
    let plan = FaultPlan::default()
        .at(
            Time::ZERO,
            Fault::Partition {
                partition: Partition::Split(vec![vec![NodeId(2)]]),
                duration: Duration::from_millis(15),
            },
        )
        .at(Time::from_millis(24), slow(NodeId(0)))
        .at(Time::from_millis(24), slow(NodeId(1)));
    let config = QuorumConfig::majority(3);
    let mut sim = Simulation::new(Config::new(3, seed).plan(plan), move |_, _| {
        QuorumNode::new(config)
    });
    sim.invoke(Time::from_millis(2), NodeId(0), Request::Write(1));
    sim.invoke(Time::from_millis(25), NodeId(2), Request::Read);
    sim.invoke(Time::from_millis(60), NodeId(0), Request::Read);
    let ran = sim
        .run_until(Time::from_millis(90))
        .map_err(|halt| halt.to_string());
    Shown::checking(sim.trace().clone(), |_| {
        ran?;
        let got = answers(&sim);
        expect(&got, 0, Response::Written, "the write at n0")?;
        expect(&got, 1, Response::Value(Some(1)), "the read at n2")?;
        expect(&got, 2, Response::Value(Some(1)), "the read at n0")?;
        if sim.durable(NodeId(2)).stored.value != Some(1) {
            return Err("the read did not write the value back to n2".into());
        }
        Ok(())
    })
}
