//! The pinger under random network faults: message loss, duplication, reordering, long-tailed
//! latency and partitions that heal. Each test runs many generated fault plans; when one breaks
//! a property, the report gives the seed, the plan shrunk to a smallest failing case, the
//! timeline around the moment it broke, and a command that replays exactly that case.
//!
//! `n0` pings `n1`, which only answers. Both properties read the `acked N` notes from the trace.

use sim::check::{Case, Failure, PlanBounds, Property, plans};
use sim::net::Latency;
use sim::{Config, EventKind, FaultPlan, NodeId, Simulation, Time, Trace};
use std::time::Duration;
use warm_up::{PingConfig, Pinger};

const PINGS: u64 = 6;

/// A run is a few hundred events, so even in a debug build hundreds of fault plans take a
/// fraction of a second; the more plans, the likelier a rare interleaving shows up.
const CASES: u32 = 256;

/// Retrying after 10 ms while a round trip can take longer than that makes some retries
/// needless, so late and duplicate pongs are common: exactly what `order` must survive.
fn config() -> PingConfig {
    PingConfig {
        peer: NodeId(1),
        count: PINGS,
        interval: Duration::from_millis(5),
        retry_after: Duration::from_millis(10),
    }
}

/// Partitions start in the first 300 ms and last at most 60 ms, so all have healed by 360 ms;
/// by 2 s even a link that loses 30% of messages has let many retries through.
const END: Time = Time::from_millis(2_000);

fn bounds() -> PlanBounds {
    PlanBounds {
        latencies: vec![
            Latency::Constant(Duration::from_millis(1)),
            Latency::Uniform {
                min: Duration::from_millis(1),
                max: Duration::from_millis(8),
            },
            Latency::LogNormal {
                median: Duration::from_millis(3),
                sigma: 0.8,
            },
        ],
        max_loss: 0.3,
        max_duplicate: 0.3,
        max_reorder: 0.3,
        ..PlanBounds::new(2, Duration::from_millis(300)).network_only()
    }
}

/// A node that panics even on a calm network has a bug to fix before any fault matters: stop at
/// once with the panic, rather than after every step of shrinking a fault plan reprints it.
fn no_panic_on_a_calm_network() {
    let calm = Case {
        seed: 0,
        plan: FaultPlan::default(),
    };
    if let Err(failure) = run(&calm) {
        panic!("on a calm network, {}", failure.message);
    }
}

fn run(case: &Case) -> Result<Trace, Failure> {
    let config = config();
    let mut sim = Simulation::new(
        Config::new(2, case.seed).plan(case.plan.clone()),
        move |id, _| {
            if id == NodeId(0) {
                Pinger::new(config)
            } else {
                Pinger::ponger()
            }
        },
    );
    sim.run_until(END)?;
    Ok(sim.trace().clone())
}

/// One note of n0 that looks like an ack: where it is in the trace, when, and the number it
/// names, or its text if it is not exactly `acked N` (a near miss such as `ack 0` is reported
/// rather than silently ignored).
struct Ack {
    index: usize,
    time: Time,
    seq: Result<u64, String>,
}

fn acks(trace: &Trace) -> Vec<Ack> {
    trace
        .events
        .iter()
        .enumerate()
        .filter_map(|(index, e)| match &e.kind {
            EventKind::Note { node, text }
                if *node == NodeId(0) && text.to_lowercase().starts_with("ack") =>
            {
                let seq = text
                    .strip_prefix("acked ")
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| text.clone());
                Some(Ack {
                    index,
                    time: e.time,
                    seq,
                })
            }
            _ => None,
        })
        .collect()
}

/// What n0 was handling when it recorded the event at `index`: the message or timer that
/// started that handler.
fn handling(trace: &Trace, index: usize) -> Option<&EventKind> {
    trace.events[..index]
        .iter()
        .rev()
        .map(|e| &e.kind)
        .find(|k| {
            matches!(k,
            EventKind::Deliver { to, .. } if *to == NodeId(0))
                || matches!(k, EventKind::Timer { node, .. } | EventKind::Start { node, .. }
                if *node == NodeId(0))
        })
}

fn describe(kind: Option<&EventKind>) -> String {
    match kind {
        Some(EventKind::Deliver { msg, .. }) => format!("the arrival of {msg}"),
        Some(EventKind::Timer { timer, .. }) => format!("the timer {timer}"),
        Some(EventKind::Start { .. }) => "its start".to_string(),
        _ => "nothing".to_string(),
    }
}

#[test]
fn delivery() {
    no_panic_on_a_calm_network();
    Property::new("delivery: every ping is eventually acked (partitions heal, loss < 100%)")
        .cases(CASES)
        .replay_command("cargo test -p warm-up --test properties delivery")
        .book("book/src/00-warm-up.md#delivery")
        .check(plans(bounds()), |case| {
            let trace = run(case)?;
            let notes = acks(&trace);
            let acked: Vec<u64> = notes.iter().filter_map(|a| a.seq.clone().ok()).collect();
            let Some(missing) = (0..PINGS).find(|n| !acked.contains(n)) else {
                return Ok(());
            };
            let (ping, pong) = (format!("Ping({missing})"), format!("Pong({missing})"));
            let sends = sent_by_n0(&trace, &ping);
            let pongs = received_by_n0(&trace, &pong);
            let Some(last) = sends.last() else {
                return Err(Failure::new(format!(
                    "n0 never sent {ping}, so it never heard back; by {END} it had noted acks \
                     for {acked:?}"
                ))
                .at(acked_time(&trace).unwrap_or(Time::ZERO))
                .trace(&trace));
            };
            let sent = match sends.len() {
                1 => format!("once, at {last}"),
                n => format!("{n} times, the last at {last}"),
            };
            let why = if let Some(Err(text)) = notes.iter().map(|a| &a.seq).find(|s| s.is_err()) {
                format!("n0 noted {text:?}, but an ack note is exactly `acked N`")
            } else if let Some(first) = pongs.first() {
                format!(
                    "{pong} reached n0 {} time(s), first at {first}, and n0 noted no `acked \
                     {missing}`",
                    pongs.len()
                )
            } else {
                "No pong for it ever reached n0, and every partition had healed by 360ms: did \
                 n0 stop retrying?"
                    .to_string()
            };
            Err(Failure::new(format!(
                "ping {missing} was never acked: n0 sent {ping} {sent} (acks noted by {END}: \
                 {acked:?}). {why}"
            ))
            .at(*pongs.first().unwrap_or(last))
            .trace(&trace))
        });
}

/// When n0 sent `msg`.
fn sent_by_n0(trace: &Trace, msg: &str) -> Vec<Time> {
    times(trace, |kind| match kind {
        EventKind::Send { from, msg: m, .. } => *from == NodeId(0) && m == msg,
        _ => false,
    })
}

/// When n0 handled a copy of `msg`.
fn received_by_n0(trace: &Trace, msg: &str) -> Vec<Time> {
    times(trace, |kind| match kind {
        EventKind::Deliver { to, msg: m, .. } => *to == NodeId(0) && m == msg,
        _ => false,
    })
}

fn times(trace: &Trace, wanted: impl Fn(&EventKind) -> bool) -> Vec<Time> {
    let matching = trace.events.iter().filter(|e| wanted(&e.kind));
    matching.map(|e| e.time).collect()
}

/// When the last ack was noted, to show the timeline where things stopped.
fn acked_time(trace: &Trace) -> Option<Time> {
    acks(trace).last().map(|a| a.time)
}

#[test]
fn order() {
    no_panic_on_a_calm_network();
    Property::new("order: acks are noted in order 0, 1, 2, ..., once each, each on its own pong")
        .cases(CASES)
        .replay_command("cargo test -p warm-up --test properties order")
        .book("book/src/00-warm-up.md#order")
        .check(plans(bounds()), |case| {
            let trace = run(case)?;
            for (expected, ack) in (0u64..).zip(acks(&trace)) {
                let fail = |message: String| Err(Failure::new(message).at(ack.time).trace(&trace));
                let seq = match ack.seq {
                    Ok(seq) => seq,
                    Err(text) => {
                        return fail(format!(
                            "n0 noted {text:?}: an ack note is exactly `acked N`, N a number"
                        ));
                    }
                };
                if seq != expected {
                    let why = if seq < expected {
                        "a second time"
                    } else {
                        "out of order"
                    };
                    return fail(format!(
                        "n0 noted `acked {seq}` {why}: the next ack should have been \
                         `acked {expected}`"
                    ));
                }
                let own = format!("Pong({seq})");
                let cause = handling(&trace, ack.index);
                let on_own_pong = matches!(cause,
                    Some(EventKind::Deliver { msg, .. }) if *msg == own);
                if !on_own_pong {
                    return fail(format!(
                        "n0 noted `acked {seq}` on {}: only {own} acknowledges ping {seq}. \
                         A late or duplicate pong answers an earlier ping, not this one",
                        describe(cause)
                    ));
                }
            }
            Ok(())
        });
}
