//! The table chapter 4's page shows (`{{#table retries/contention}}`), measured at build time:
//! many clients racing to update one record, each retrying a lost race after a backoff drawn
//! by one strategy or another. The exercise has no such mode: only the solution measures it.
//!
//! The model: a store holds a record with a version. A client reads the version, then writes
//! with it; the write wins only if nobody else wrote since the read (optimistic concurrency).
//! A client that lost backs off, reads again and writes again, until it wins once. Counted:
//! the writes sent by all clients, and the time at which the last one won.

use crate::{RetryConfig, backoff_ceiling, backoff_delay};
use sim::rand::RngExt;
use sim::scenario::Table;
use sim::{Config, Context, Latency, NetConfig, Node, NodeId, OpId, Simulation, Time};
use std::fmt::Write;
use std::time::Duration;

/// Every measured table of the chapter.
pub fn all() -> Vec<Table> {
    vec![Table {
        name: "contention",
        run: contention,
    }]
}

/// How a client that lost a race waits before it tries again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Strategy {
    /// Not at all.
    NoBackoff,
    /// Exactly the capped exponential ceiling.
    Exponential,
    /// Uniformly from zero to the ceiling ([`backoff_delay`]).
    FullJitter,
    /// Half the ceiling, plus a uniform draw from the other half.
    EqualJitter,
    /// Uniformly from `base` to three times the previous backoff, capped.
    Decorrelated,
}

impl Strategy {
    fn name(self) -> &'static str {
        match self {
            Strategy::NoBackoff => "no backoff",
            Strategy::Exponential => "exponential, no jitter",
            Strategy::FullJitter => "exponential, full jitter",
            Strategy::EqualJitter => "exponential, equal jitter",
            Strategy::Decorrelated => "decorrelated jitter",
        }
    }

    /// The calls and time (ms) of the re-run of Brooker's published simulator with 100
    /// clients (mean of 100 trials, first of three seeds), as the team's research dossier
    /// records it.
    fn rerun(self) -> (u32, u32) {
        match self {
            Strategy::NoBackoff => (2_425, 2_036),
            Strategy::Exponential => (1_851, 62_984),
            Strategy::FullJitter => (796, 4_965),
            Strategy::EqualJitter => (812, 6_552),
            Strategy::Decorrelated => (1_003, 4_559),
        }
    }
}

/// The contention model's messages.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Msg {
    Read,
    Version(u64),
    Write(u64),
    Won(bool),
}

/// The store (node 0) or one contending client.
#[derive(Debug)]
enum Racer {
    Store {
        version: u64,
    },
    Client {
        strategy: Strategy,
        config: RetryConfig,
        lost: u32,
        previous: Duration,
    },
}

const STORE: NodeId = NodeId(0);

impl Racer {
    fn backoff(&mut self, rng: &mut sim::SimRng) -> Duration {
        let Racer::Client {
            strategy,
            config,
            lost,
            previous,
        } = self
        else {
            return Duration::ZERO;
        };
        let retry = *lost - 1;
        let ceiling = backoff_ceiling(config, retry);
        let delay = match strategy {
            Strategy::NoBackoff => Duration::ZERO,
            Strategy::Exponential => ceiling,
            Strategy::FullJitter => backoff_delay(config, retry, rng),
            Strategy::EqualJitter => {
                let half = ceiling / 2;
                half + Duration::from_nanos(rng.random_range(0..=half.as_nanos() as u64))
            }
            Strategy::Decorrelated => {
                let low = config.base.as_nanos() as u64;
                let high = (previous.as_nanos() as u64 * 3).max(low);
                Duration::from_nanos(rng.random_range(low..=high)).min(config.cap)
            }
        };
        *previous = delay.max(config.base);
        delay
    }
}

impl Node for Racer {
    type Msg = Msg;
    type Timer = ();
    type Request = ();
    type Response = ();
    type Durable = ();

    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        if matches!(self, Racer::Client { .. }) {
            ctx.send(STORE, Msg::Read);
        }
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: Msg) {
        match (&mut *self, msg) {
            (Racer::Store { version }, Msg::Read) => ctx.send(from, Msg::Version(*version)),
            (Racer::Store { version }, Msg::Write(read)) => {
                let won = read == *version;
                if won {
                    *version += 1;
                }
                ctx.send(from, Msg::Won(won));
            }
            (Racer::Client { .. }, Msg::Version(read)) => ctx.send(STORE, Msg::Write(read)),
            (Racer::Client { lost, .. }, Msg::Won(won)) => {
                if won {
                    ctx.note("won");
                } else {
                    *lost += 1;
                    let delay = self.backoff(ctx.rng());
                    ctx.set_timer(delay, ());
                }
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, _timer: ()) {
        ctx.send(STORE, Msg::Read);
    }

    fn on_request(&mut self, _ctx: &mut Context<'_, Self>, _op: OpId, _request: ()) {}
}

const CLIENTS: u32 = 100;
const TRIALS: u64 = 10;

/// Writes sent and the time the last client won, for one trial.
fn race(strategy: Strategy, seed: u64) -> Result<(u64, Time), String> {
    let config = RetryConfig {
        base: Duration::from_millis(5),
        cap: Duration::from_millis(2_000),
        ..RetryConfig::default()
    };
    let net = NetConfig {
        latency: Latency::Uniform {
            min: Duration::from_millis(5),
            max: Duration::from_millis(15),
        },
        ..NetConfig::default()
    };
    let plan = sim::FaultPlan::with_network(net);
    let mut sim = Simulation::new(Config::new(CLIENTS + 1, seed).plan(plan), move |id, _| {
        if id == STORE {
            Racer::Store { version: 0 }
        } else {
            Racer::Client {
                strategy,
                config,
                lost: 0,
                previous: config.base,
            }
        }
    });
    sim.run_until(Time::from_millis(600_000))
        .map_err(|halt| halt.to_string())?;
    let trace = sim.trace();
    let writes = trace
        .events
        .iter()
        .filter(|e| matches!(&e.kind, sim::EventKind::Send { msg, .. } if msg.starts_with("Write")))
        .count() as u64;
    let wins: Vec<Time> = trace
        .events
        .iter()
        .filter(|e| matches!(&e.kind, sim::EventKind::Note { text, .. } if text == "won"))
        .map(|e| e.time)
        .collect();
    if wins.len() != CLIENTS as usize {
        return Err(format!(
            "{} of {CLIENTS} clients won with {}",
            wins.len(),
            strategy.name()
        ));
    }
    Ok((writes, *wins.last().expect("a client won")))
}

fn contention() -> Result<String, String> {
    let strategies = [
        Strategy::NoBackoff,
        Strategy::Exponential,
        Strategy::FullJitter,
        Strategy::EqualJitter,
        Strategy::Decorrelated,
    ];
    let mut rows = Vec::new();
    for strategy in strategies {
        let (mut writes, mut ms) = (0u64, 0f64);
        for seed in 0..TRIALS {
            let (w, last) = race(strategy, seed)?;
            writes += w;
            ms += last.as_nanos() as f64 / 1e6;
        }
        rows.push((strategy, writes / TRIALS, ms / TRIALS as f64));
    }
    let writes_of = |s: Strategy| rows.iter().find(|r| r.0 == s).map_or(0, |r| r.1);
    let (none, exp, full) = (
        writes_of(Strategy::NoBackoff),
        writes_of(Strategy::Exponential),
        writes_of(Strategy::FullJitter),
    );
    // Brooker's ordering: full jitter needs far fewer writes than no backoff, and fewer than
    // backoff without jitter.
    if !(full * 2 <= none && full < exp && exp < none) {
        return Err(format!(
            "writes: no backoff {none}, exponential {exp}, full jitter {full}: not the ordering \
             Brooker found (full jitter < half of no backoff, and < exponential < no backoff)"
        ));
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| Backoff | Writes, this simulator | Last write won at, this simulator | Calls / time, Brooker's simulator re-run |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|");
    for (strategy, writes, ms) in &rows {
        let (calls, time) = strategy.rerun();
        let _ = writeln!(
            out,
            "| {} | {writes} | {:.1} s | {calls} / {:.1} s |",
            strategy.name(),
            ms / 1000.0,
            f64::from(time) / 1000.0
        );
    }
    let _ = writeln!(
        out,
        "\n{CLIENTS} clients, one record; each client reads its version and writes, and backs off \
         after a lost race (base 5 ms, cap 2 s, 5 to 15 ms each way on the network); the mean of \
         {TRIALS} runs. The last column is not this simulator: it is the team's re-run of the \
         simulator Brooker published with his post (100 clients, the mean of 100 trials)."
    );
    Ok(out)
}
