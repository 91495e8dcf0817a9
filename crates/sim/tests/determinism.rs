//! Same seed, same plan, same trace: byte for byte, over many seeds and every kind of fault.

use sim::check::{PlanBounds, plans};
use sim::proptest::strategy::{Strategy, ValueTree};
use sim::proptest::test_runner::{Config as RunnerConfig, RngAlgorithm, TestRng, TestRunner};
use sim::rand::RngExt;
use sim::{
    ClockSpec, Config, Context, FaultPlan, Invocation, Latency, Node, NodeId, OpId, Simulation,
    Time,
};
use std::time::Duration;

/// Gossips a counter to random peers on jittered timers, serves reads and increments, and
/// persists its counter: it touches every part of the engine.
struct Gossip {
    value: u64,
}

impl Node for Gossip {
    type Msg = u64;
    type Timer = ();
    type Request = Option<u64>;
    type Response = u64;
    type Durable = u64;

    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        self.value = *ctx.durable();
        let jitter = ctx.rng().random_range(1..20);
        ctx.set_timer(Duration::from_millis(jitter), ());
    }
    fn on_message(&mut self, ctx: &mut Context<'_, Self>, _from: NodeId, value: u64) {
        if value > self.value {
            self.value = value;
            *ctx.durable_mut() = value;
            ctx.note(format!("learned {value} at wall {}", ctx.wall_clock()));
        }
    }
    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, _: ()) {
        let peers: Vec<NodeId> = ctx.peers().collect();
        let peer = peers[ctx.rng().random_range(0..peers.len())];
        ctx.send(peer, self.value);
        let next = ctx.rng().random_range(5..30);
        ctx.set_timer(Duration::from_millis(next), ());
    }
    fn on_request(&mut self, ctx: &mut Context<'_, Self>, op: OpId, add: Option<u64>) {
        if let Some(add) = add {
            self.value += add;
            *ctx.durable_mut() = self.value;
        }
        ctx.reply(op, self.value);
    }
}

fn plan_for(seed: u64) -> FaultPlan {
    let bounds = PlanBounds {
        max_faults: 8,
        max_drift_ppm: 1_000,
        max_wall_error: Duration::from_millis(50),
        latencies: vec![
            Latency::Uniform {
                min: Duration::from_millis(1),
                max: Duration::from_millis(10),
            },
            Latency::LogNormal {
                median: Duration::from_millis(2),
                sigma: 1.0,
            },
            Latency::Pareto {
                min: Duration::from_millis(1),
                shape: 1.5,
            },
        ],
        ..PlanBounds::new(5, Duration::from_millis(800))
    };
    let mut rng_seed = [0u8; 32];
    rng_seed[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        RunnerConfig::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &rng_seed),
    );
    plans(bounds).new_tree(&mut runner).unwrap().current()
}

fn run(seed: u64, plan: FaultPlan) -> (u64, usize) {
    let config = Config::new(5, seed)
        .plan(plan)
        .client_timeout(Duration::from_millis(50));
    let mut sim = Simulation::new(config, |_, durable: &u64| Gossip { value: *durable }).clients(
        3,
        |client, now: Time, rng: &mut sim::SimRng| {
            (now < Time::from_millis(900)).then(|| Invocation {
                node: NodeId(rng.random_range(0..5)),
                request: (client % 2 == 0).then_some(u64::from(client) + 1),
                after: Duration::from_millis(rng.random_range(0..15)),
            })
        },
    );
    sim.run_until(Time::from_millis(1000)).expect("no halt");
    (sim.trace().digest(), sim.trace().events.len())
}

#[test]
fn two_hundred_seeds_each_replay_byte_for_byte() {
    let mut digests = std::collections::BTreeSet::new();
    let mut events = 0;
    for seed in 0..200 {
        let plan = plan_for(seed);
        let first = run(seed, plan.clone());
        let second = run(seed, plan);
        assert_eq!(first, second, "seed {seed} did not replay");
        digests.insert(first.0);
        events += first.1;
    }
    assert_eq!(
        digests.len(),
        200,
        "different seeds must give different runs"
    );
    assert!(events > 200 * 300, "runs should be busy: {events} events");
}

#[test]
fn the_seed_alone_changes_the_run() {
    let plan = FaultPlan::default().clock(
        NodeId(1),
        ClockSpec {
            drift_ppm: 10,
            ..ClockSpec::default()
        },
    );
    assert_ne!(run(1, plan.clone()).0, run(2, plan).0);
}
