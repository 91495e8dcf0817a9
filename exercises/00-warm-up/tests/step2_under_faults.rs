//! Step 2: the same rules under random faults. Each test runs many generated fault plans (loss,
//! duplication, reordering, long-tailed latency, partitions that heal, a ponger that pauses,
//! slows down, crashes and restarts or starts late, clocks that drift and jump); when one breaks a
//! property, the report gives the seed, the plan shrunk to a smallest failing case, the timeline
//! around the moment it broke, and a command that replays exactly that case.
//!
//! Every run has three nodes, so that "answer the node the ping came from" and "a pinger
//! answers pings too" can be seen. Which node pings which depends on the run's seed:
//!
//! - n0 and n1 both ping n2, which only answers (n1 pings 0 to 3 times);
//! - n1 pings n0, which pings n2 itself.
//!
//! The four properties split the protocol between them, so that each report names one rule:
//! `delivery` (every ping is acked in the end), `order` (the `acked n` notes), `answers` (every
//! pong a node sends) and `pacing` (every ping a node sends: to whom, which number, when). They
//! read only the trace: what each node handled, and what it sent and noted while handling it.

use sim::check::{Case, Failure, PlanBounds, Property, plans};
use sim::net::Latency;
use sim::proptest::strategy::Strategy;
use sim::trace::{DropReason, EventKind};
use sim::{Config, FaultPlan, NodeId, Side, Simulation, Time, Trace, Trigger};
use std::time::Duration;
use warm_up::{Msg, PingConfig, Pinger};

/// A run is a few hundred events, so even in a debug build hundreds of fault plans take a
/// fraction of a second; the more plans, the likelier a rare interleaving shows up.
const CASES: u32 = 256;

/// The node that only answers, in every layout. Process faults (pauses, slowness, crashes) hit
/// only it: a pinger's timers then fire exactly when its clock says, which is what lets
/// `pacing` hold every ping to the instant the rules give it.
const PONGER: NodeId = NodeId(2);

/// Faults start in the first 200 ms and last at most 40 ms; by 2 s even a link that loses 30%
/// of messages has let many retries through.
const HORIZON: Duration = Duration::from_millis(200);
const END: Time = Time::from_millis(2_000);

/// How far from the instant the rules give a ping may go out: timers on a drifting clock are
/// converted to real time to the nanosecond, so one microsecond is only rounding.
const SLACK: Duration = Duration::from_micros(1);

/// Who pings whom in one run: each node's config, `None` for a node built with
/// `Pinger::ponger()`.
#[derive(Clone, Copy, Debug)]
struct Layout {
    configs: [Option<PingConfig>; 3],
}

/// The layout of the run with this seed. n0 retries after 10 ms while a round trip can take
/// longer, so needless retries, late and duplicate pongs are common; n1 uses other durations,
/// so that a pinger that mixes up `interval` and `retry_after` or takes another node's is seen.
fn layout(seed: u64) -> Layout {
    let n0 = PingConfig {
        peer: PONGER,
        count: 6,
        interval: Duration::from_millis(5),
        retry_after: Duration::from_millis(10),
    };
    let n1 = |peer, count| PingConfig {
        peer,
        count,
        interval: Duration::from_millis(3),
        retry_after: Duration::from_millis(7),
    };
    let configs = if seed.is_multiple_of(2) {
        // Two pingers share one ponger: only `from` tells it whom to answer. n1 pings 0 to 3
        // times: with 0 it sends nothing, with 1 it never sets Timer::Next.
        [Some(n0), Some(n1(PONGER, (seed / 2) % 4)), None]
    } else {
        // n0 pings n2 and is pinged by n1: a pinger answers pings too.
        [Some(n0), Some(n1(NodeId(0), 4)), None]
    };
    Layout { configs }
}

impl Layout {
    fn config(&self, node: NodeId) -> Option<PingConfig> {
        self.configs.get(node.index()).copied().flatten()
    }

    fn nodes(&self) -> impl Iterator<Item = (NodeId, Option<PingConfig>)> + '_ {
        (0u32..).map(NodeId).zip(self.configs.iter().copied())
    }

    /// One line for a report: who pings whom, how many times, how fast.
    fn describe(&self) -> String {
        let parts: Vec<String> = self
            .nodes()
            .map(|(node, config)| match config {
                Some(c) => format!(
                    "{node} pings {} {} (interval {:?}, retry_after {:?})",
                    c.peer,
                    times(c.count),
                    c.interval,
                    c.retry_after
                ),
                None => format!("{node} only answers (Pinger::ponger())"),
            })
            .collect();
        format!("In this run {}.", parts.join(", "))
    }
}

/// A duration as the timeline prints times: `4.131ms`.
fn ms(d: Duration) -> String {
    (Time::ZERO + d).to_string()
}

/// `once`, `3 times`.
fn times(n: impl Into<u64>) -> String {
    match n.into() {
        1 => "once".to_string(),
        n => format!("{n} times"),
    }
}

/// Message predicates the generated triggered faults name: they aim at the ponger just as it
/// takes a ping in or has sent its answer, which is when a pause, a slowdown, a crash or a
/// partition makes retries meet late and duplicate answers.
const PING_TO_PONGER: &str = "a ping to n2";
const PONG_FROM_PONGER: &str = "a pong from n2";

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
        // Every crash restarts: a ponger gone for good would make `delivery` impossible.
        permanent_crashes: false,
        clock_steps: false,
        targets: vec![PONGER],
        // Monotonic clocks drift (timers run on them, so `pacing` converts to real time), and
        // wall clocks are off and drift too: a pinger that times its retries on the wall clock
        // rather than with its timers goes wrong.
        max_drift_ppm: 500,
        max_wall_error: Duration::from_millis(50),
        max_start_offset: Duration::from_millis(20),
        triggers: vec![
            Trigger::deliver(PING_TO_PONGER, Side::Receiver),
            Trigger::send(PONG_FROM_PONGER, Side::Sender),
        ],
        max_triggered: 2,
        max_trigger_delay: Duration::from_millis(3),
        ..PlanBounds::new(3, HORIZON)
    }
}

/// The plans of every property: faults of every kind at the ponger (`bounds`), and partitions
/// of any link and wall-clock steps of any node, so that the link between two pingers is cut
/// too and a pinger's wall clock jumps.
fn fault_plans() -> impl Strategy<Value = FaultPlan> {
    let any_link = PlanBounds {
        max_faults: 3,
        latencies: vec![Latency::Constant(Duration::from_millis(1))],
        max_loss: 0.0,
        max_duplicate: 0.0,
        max_reorder: 0.0,
        clock_steps: true,
        max_wall_error: Duration::from_millis(50),
        ..PlanBounds::new(3, HORIZON).network_only()
    };
    (plans(bounds()), plans(any_link)).prop_map(|(mut plan, links)| {
        plan.faults.extend(links.faults);
        plan
    })
}

/// A correct run has a few hundred events (344 at most over 8,000 soak cases). A node that
/// answers a message with more than one message can multiply them into a storm that would take
/// minutes and gigabytes to reach the end: the run stops once it has this many.
const STORM: usize = 5_000;

/// One run's trace, with the layout it ran and each node's clock drift.
struct Run {
    layout: Layout,
    trace: Trace,
    drift_ppm: [i32; 3],
    /// When the run stopped: at `END`, or earlier when its traffic grew into a storm.
    end: Time,
}

fn run(case: &Case) -> Result<Run, Failure> {
    let layout = layout(case.seed);
    let mut sim = Simulation::new(
        Config::new(3, case.seed).plan(case.plan.clone()),
        move |id, _| match layout.config(id) {
            Some(config) => Pinger::new(config),
            None => Pinger::ponger(),
        },
    )
    .message_predicate(PING_TO_PONGER, |_, to, msg| {
        to == PONGER && matches!(msg, Msg::Ping(_))
    })
    .message_predicate(PONG_FROM_PONGER, |from, _, msg| {
        from == PONGER && matches!(msg, Msg::Pong(_))
    });
    let mut end = Time::ZERO;
    while end < END && sim.trace().events.len() <= STORM {
        end += Duration::from_millis(10);
        sim.run_until(end)?;
    }
    let drift = |i: usize| case.plan.clocks.get(i).map_or(0, |c| c.drift_ppm);
    Ok(Run {
        layout,
        trace: sim.trace().clone(),
        drift_ppm: [drift(0), drift(1), drift(2)],
        end,
    })
}

/// A node that panics even on a calm network has a bug to fix before any fault matters: stop at
/// once with the panic, rather than after every step of shrinking a fault plan reprints it.
/// Both layouts run (seeds 0 and 1).
fn no_panic_on_a_calm_network() {
    for seed in [0, 1] {
        let calm = Case {
            seed,
            plan: FaultPlan::default(),
        };
        if let Err(failure) = run(&calm) {
            panic!("on a calm network, {}", failure.message);
        }
    }
}

/// A message as the trace spells it (`Ping(3)`), read back.
fn parse(text: &str) -> Option<Msg> {
    let number = |prefix: &str| text.strip_prefix(prefix)?.strip_suffix(')')?.parse().ok();
    number("Ping(")
        .map(Msg::Ping)
        .or_else(|| number("Pong(").map(Msg::Pong))
}

/// What started a handler.
#[derive(Clone, Debug)]
enum Cause {
    Start,
    Deliver { from: NodeId, msg: String },
    Timer(String),
}

/// A message a handler sent.
#[derive(Clone, Debug)]
struct Sent {
    time: Time,
    to: NodeId,
    msg: String,
}

/// One call of one node's handler, read from the trace: what started it, and what the node sent
/// and noted during it (those events follow the one that started it, before anything else).
#[derive(Clone, Debug)]
struct Handler {
    node: NodeId,
    time: Time,
    cause: Cause,
    sends: Vec<Sent>,
    notes: Vec<(Time, String)>,
}

impl Handler {
    fn delivered(&self) -> Option<(NodeId, Msg)> {
        match &self.cause {
            Cause::Deliver { from, msg } => Some((*from, parse(msg)?)),
            _ => None,
        }
    }
}

fn handlers(trace: &Trace) -> Vec<Handler> {
    let mut all: Vec<Handler> = Vec::new();
    let mut open = false;
    for e in &trace.events {
        let started = match &e.kind {
            EventKind::Start { node, .. } => Some((*node, Cause::Start)),
            EventKind::Deliver { from, to, msg, .. } => Some((
                *to,
                Cause::Deliver {
                    from: *from,
                    msg: msg.clone(),
                },
            )),
            EventKind::Timer { node, timer } => Some((*node, Cause::Timer(timer.clone()))),
            _ => None,
        };
        if let Some((node, cause)) = started {
            all.push(Handler {
                node,
                time: e.time,
                cause,
                sends: Vec::new(),
                notes: Vec::new(),
            });
            open = true;
            continue;
        }
        let Some(current) = all.last_mut().filter(|_| open) else {
            continue;
        };
        match &e.kind {
            EventKind::Send { from, to, msg, .. } if *from == current.node => {
                current.sends.push(Sent {
                    time: e.time,
                    to: *to,
                    msg: msg.clone(),
                });
            }
            // A message lost on the way is recorded right after its send.
            EventKind::Drop {
                from,
                reason: DropReason::Lost,
                ..
            } if *from == current.node => {}
            EventKind::Note { node, text } if *node == current.node => {
                current.notes.push((e.time, text.clone()));
            }
            _ => open = false,
        }
    }
    all
}

fn describe(cause: &Cause) -> String {
    match cause {
        Cause::Start => "its start".to_string(),
        Cause::Deliver { from, msg } => format!("the arrival of {msg} from {from}"),
        Cause::Timer(timer) => format!("the timer {timer}"),
    }
}

/// When a timer set at `from` for `after` on a clock that runs `drift_ppm` fast fires, in real
/// time: a fast clock fires it early.
fn deadline(drift_ppm: i32, from: Time, after: Duration) -> Time {
    let real = after.as_nanos() as f64 * 1e6 / (1e6 + f64::from(drift_ppm));
    from + Duration::from_nanos(real.round() as u64)
}

fn fail(run: &Run, at: Time, message: String) -> Failure {
    Failure::new(format!("{message}\n{}", run.layout.describe()))
        .at(at)
        .trace(&run.trace)
}

/// One note of a node that looks like an ack: when, what it was handling, and the number it
/// names, or its text if it is not exactly `acked N` (a near miss such as `ack 0` is reported
/// rather than silently ignored).
struct Ack {
    time: Time,
    cause: Cause,
    seq: Result<u64, String>,
}

fn acks(all: &[Handler], node: NodeId) -> Vec<Ack> {
    let mut found = Vec::new();
    for h in all.iter().filter(|h| h.node == node) {
        for (time, text) in &h.notes {
            if text.to_lowercase().starts_with("ack") {
                let seq = text
                    .strip_prefix("acked ")
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| text.clone());
                found.push(Ack {
                    time: *time,
                    cause: h.cause.clone(),
                    seq,
                });
            }
        }
    }
    found
}

/// Sends of `msg` by `node`, and deliveries of `msg` to it.
fn sent_by(all: &[Handler], node: NodeId, msg: &str) -> Vec<Time> {
    let handled = all.iter().filter(|h| h.node == node);
    let sends = handled.flat_map(|h| &h.sends);
    sends.filter(|s| s.msg == msg).map(|s| s.time).collect()
}

fn received_by(all: &[Handler], node: NodeId, msg: &str) -> Vec<Time> {
    all.iter()
        .filter(|h| h.node == node && matches!(&h.cause, Cause::Deliver { msg: m, .. } if m == msg))
        .map(|h| h.time)
        .collect()
}

#[test]
fn delivery() {
    no_panic_on_a_calm_network();
    Property::new(
        "delivery: every ping is eventually acked (faults end, the ponger restarts, loss < 100%)",
    )
    .cases(CASES)
    .replay_command("cargo test -p warm-up --test step2_under_faults delivery")
    .book("book/src/00-warm-up.md#delivery")
    .check(fault_plans(), |case| {
        let run = run(case)?;
        if run.end < END {
            return Err(storm(&run));
        }
        let all = handlers(&run.trace);
        for (node, config) in run.layout.nodes() {
            let Some(config) = config else { continue };
            check_delivery(&run, &all, node, config)?;
        }
        Ok(())
    });
}

/// The report for a run stopped early: who sent what, so that the node that multiplies
/// messages stands out.
fn storm(run: &Run) -> Failure {
    let mut counts: Vec<(NodeId, usize, usize)> = Vec::new();
    for (node, _) in run.layout.nodes() {
        let sent = run.trace.events.iter().filter_map(|e| match &e.kind {
            EventKind::Send { from, msg, .. } if *from == node => Some(msg.as_str()),
            _ => None,
        });
        let (pings, pongs) = sent.fold((0, 0), |(pi, po), m| {
            (
                pi + usize::from(m.starts_with("Ping")),
                po + usize::from(m.starts_with("Pong")),
            )
        });
        counts.push((node, pings, pongs));
    }
    let who: Vec<String> = counts
        .iter()
        .map(|(node, pings, pongs)| format!("{node} sent {pings} pings and {pongs} pongs"))
        .collect();
    fail(
        run,
        run.end,
        format!(
            "the run was stopped at {}, {} events in, where a correct one has a few hundred by \
             {END}: {}. One ping at a time (`pacing`), one pong per ping received (`answers`): \
             a node that answers one message with several multiplies them",
            run.end,
            run.trace.events.len(),
            who.join(", ")
        ),
    )
}

fn check_delivery(
    run: &Run,
    all: &[Handler],
    node: NodeId,
    config: PingConfig,
) -> Result<(), Failure> {
    let notes = acks(all, node);
    let acked: Vec<u64> = notes.iter().filter_map(|a| a.seq.clone().ok()).collect();
    let Some(missing) = (0..config.count).find(|n| !acked.contains(n)) else {
        return Ok(());
    };
    let (ping, pong) = (format!("Ping({missing})"), format!("Pong({missing})"));
    let sends = sent_by(all, node, &ping);
    let pongs = received_by(all, node, &pong);
    let Some(last) = sends.last() else {
        let at = notes.last().map_or(Time::ZERO, |a| a.time);
        return Err(fail(
            run,
            at,
            format!(
                "{node} never sent {ping}, so it never heard back; by {END} it had noted acks \
                 for {acked:?} of pings 0..{}",
                config.count
            ),
        ));
    };
    let sent = match sends.len() {
        1 => format!("once, at {last}"),
        n => format!("{n} times, the last at {last}"),
    };
    let why = if let Some(Err(text)) = notes.iter().map(|a| &a.seq).find(|s| s.is_err()) {
        format!("{node} noted {text:?}, but an ack note is exactly `acked N`")
    } else if let Some(first) = pongs.first() {
        format!(
            "{pong} reached {node} {}, first at {first}, and {node} noted no `acked {missing}`",
            times(pongs.len() as u64)
        )
    } else {
        format!(
            "No pong for it ever reached {node}, and every fault had ended long before {END}: \
             did {node} stop retrying, or did {} stop answering?",
            config.peer
        )
    };
    Err(fail(
        run,
        *pongs.first().unwrap_or(last),
        format!(
            "ping {missing} of {node} was never acked: {node} sent {ping} {sent} (acks noted by \
             {END}: {acked:?}). {why}"
        ),
    ))
}

#[test]
fn order() {
    no_panic_on_a_calm_network();
    Property::new("order: acks are noted in order 0, 1, 2, ..., once each, each on its own pong")
        .cases(CASES)
        .replay_command("cargo test -p warm-up --test step2_under_faults order")
        .book("book/src/00-warm-up.md#order")
        .check(fault_plans(), |case| {
            let run = run(case)?;
            let all = handlers(&run.trace);
            for (node, config) in run.layout.nodes() {
                check_order(&run, &all, node, config)?;
            }
            Ok(())
        });
}

fn check_order(
    run: &Run,
    all: &[Handler],
    node: NodeId,
    config: Option<PingConfig>,
) -> Result<(), Failure> {
    let count = config.map_or(0, |c| c.count);
    for (expected, ack) in (0u64..).zip(acks(all, node)) {
        let fail = |message: String| Err(fail(run, ack.time, message));
        let seq = match ack.seq {
            Ok(seq) => seq,
            Err(text) => {
                return fail(format!(
                    "{node} noted {text:?}: an ack note is exactly `acked N`, N a number"
                ));
            }
        };
        if config.is_none() {
            return fail(format!(
                "{node} noted `acked {seq}`, but it was built with Pinger::ponger(): it sends no \
                 pings, so it has nothing to ack"
            ));
        }
        if seq != expected {
            let why = if seq < expected {
                "a second time"
            } else {
                "out of order"
            };
            return fail(format!(
                "{node} noted `acked {seq}` {why}: the next ack should have been `acked \
                 {expected}`"
            ));
        }
        if seq >= count {
            return fail(format!(
                "{node} noted `acked {seq}`, but its count is {count}: it sends pings 0 to {} \
                 only, so there is no ping {seq} to ack",
                count.saturating_sub(1)
            ));
        }
        let own = format!("Pong({seq})");
        let on_own_pong = matches!(&ack.cause, Cause::Deliver { msg, .. } if *msg == own);
        if !on_own_pong {
            return fail(format!(
                "{node} noted `acked {seq}` on {}: only {own} acknowledges ping {seq}. A late or \
                 duplicate pong answers an earlier ping, not this one",
                describe(&ack.cause)
            ));
        }
    }
    Ok(())
}

#[test]
fn answers() {
    no_panic_on_a_calm_network();
    Property::new(
        "answers: every copy of Ping(n) a node receives is answered at once with one Pong(n) to \
         its sender, and a node sends no other pong",
    )
    .cases(CASES)
    .replay_command("cargo test -p warm-up --test step2_under_faults answers")
    .book("book/src/00-warm-up.md#answers")
    .check(fault_plans(), |case| {
        let run = run(case)?;
        let all = handlers(&run.trace);
        for (i, h) in all.iter().enumerate() {
            check_answer(&run, &all[..i], h)?;
        }
        Ok(())
    });
}

/// The pongs one handler `h` sent: exactly the answer to the ping it handled, if it handled one,
/// and none otherwise. `before` are the handlers that ran before it.
fn check_answer(run: &Run, before: &[Handler], h: &Handler) -> Result<(), Failure> {
    let node = h.node;
    let pongs: Vec<(&Sent, u64)> = h
        .sends
        .iter()
        .filter_map(|s| match parse(&s.msg) {
            Some(Msg::Pong(n)) => Some((s, n)),
            _ => None,
        })
        .collect();
    let Some((from, Msg::Ping(n))) = h.delivered() else {
        return match pongs.first() {
            None => Ok(()),
            Some((s, _)) => Err(fail(
                run,
                s.time,
                format!(
                    "{node} sent {} to {} at {} while handling {}: a node sends a pong only to \
                     answer a ping, at once, on its arrival",
                    s.msg,
                    s.to,
                    s.time,
                    describe(&h.cause)
                ),
            )),
        };
    };
    let ping = format!("Ping({n})");
    let Some(&(sent, number)) = pongs.first() else {
        let earlier = before
            .iter()
            .filter(|e| e.node == node && e.delivered() == Some((from, Msg::Ping(n))))
            .count();
        let copy = match earlier {
            0 => "its first copy".to_string(),
            k => format!(
                "a copy of a ping it had received {} before",
                times(k as u64)
            ),
        };
        let role = match run.layout.config(node) {
            Some(c) => format!(
                " {node} pings {} itself, but every node answers pings.",
                c.peer
            ),
            None => String::new(),
        };
        return Err(fail(
            run,
            h.time,
            format!(
                "{node} received {ping} from {from} at {} ({copy}) and sent no pong back. Every \
                 node answers every copy of a ping at once, with Pong(n) to the node it came \
                 from: it cannot know whether its earlier answer arrived, and answering twice \
                 does no harm.{role}",
                h.time
            ),
        ));
    };
    let problem = if pongs.len() > 1 {
        Some(format!(
            "answered that one copy with {} pongs: one answer per copy",
            pongs.len()
        ))
    } else if number != n {
        Some(format!(
            "answered it with {}: a pong carries the number of the ping it answers",
            sent.msg
        ))
    } else if sent.to != from {
        Some(format!(
            "answered it with {} to {}: the answer goes back to the node the ping came from \
             (`from` in on_message), here {from}",
            sent.msg, sent.to
        ))
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(fail(
            run,
            h.time,
            format!(
                "{node} received {ping} from {from} at {} and {problem}",
                h.time
            ),
        )),
    }
}

#[test]
fn pacing() {
    no_panic_on_a_calm_network();
    Property::new(
        "pacing: a pinger sends ping 0 on start, sends a ping again exactly retry_after after \
         its last send while it is unacked, the next one exactly interval after the ack, and no \
         other ping",
    )
    .cases(CASES)
    .replay_command("cargo test -p warm-up --test step2_under_faults pacing")
    .book("book/src/00-warm-up.md#pacing")
    .check(fault_plans(), |case| {
        let run = run(case)?;
        let all = handlers(&run.trace);
        for (node, config) in run.layout.nodes() {
            check_pacing(&run, &all, node, config)?;
        }
        Ok(())
    });
}

/// Where a pinger is in the protocol, as its pings and the pongs it received say.
#[derive(Clone, Copy, Debug)]
enum Stage {
    /// Not started yet.
    Down,
    /// Started with count 0: it sends nothing, ever.
    Idle,
    /// Started at `at`: ping 0 is due at once (rule 2).
    Started { at: Time },
    /// Ping `seq`, last sent at `last`, has no answer yet: sent again at `due` (rule 3).
    InFlight { seq: u64, last: Time, due: Time },
    /// Ping `seq` was acked at `at`: the next ping is due at `due`, if there is one (rule 5).
    Acked {
        seq: u64,
        at: Time,
        due: Option<Time>,
    },
}

impl Stage {
    fn due(self) -> Option<Time> {
        match self {
            Stage::Down | Stage::Idle => None,
            Stage::Started { at } => Some(at),
            Stage::InFlight { due, .. } => Some(due),
            Stage::Acked { due, .. } => due,
        }
    }
}

/// Every ping `node` sent, checked against the instant the rules give it. Only the pinger's
/// start, the pongs it received and its own pings count: a pinger's own timers are its business,
/// what it sends and when is not.
fn check_pacing(
    run: &Run,
    all: &[Handler],
    node: NodeId,
    config: Option<PingConfig>,
) -> Result<(), Failure> {
    let mine: Vec<&Handler> = all.iter().filter(|h| h.node == node).collect();
    let Some(config) = config else {
        for h in &mine {
            if let Some(s) = h.sends.iter().find(|s| s.msg.starts_with("Ping")) {
                return Err(fail(
                    run,
                    s.time,
                    format!(
                        "{node} sent {} to {} at {} while handling {}, but it was built with \
                         Pinger::ponger(): a ponger sends no pings, it only answers them",
                        s.msg,
                        s.to,
                        s.time,
                        describe(&h.cause)
                    ),
                ));
            }
        }
        return Ok(());
    };
    let drift = run.drift_ppm[node.index()];
    let mut stage = Stage::Down;
    for h in &mine {
        if let Some(due) = stage.due()
            && due + SLACK < h.time
        {
            return Err(missed(run, &mine, node, config, stage, Some(h)));
        }
        match h.delivered() {
            Some((_, Msg::Pong(n))) => {
                if let Stage::InFlight { seq, .. } = stage
                    && n == seq
                {
                    let next = seq + 1 < config.count;
                    stage = Stage::Acked {
                        seq,
                        at: h.time,
                        due: next.then(|| deadline(drift, h.time, config.interval)),
                    };
                }
            }
            _ if matches!(h.cause, Cause::Start) => {
                stage = if config.count > 0 {
                    Stage::Started { at: h.time }
                } else {
                    Stage::Idle
                };
            }
            _ => {}
        }
        for s in &h.sends {
            if let Some(Msg::Ping(m)) = parse(&s.msg) {
                stage = next_stage(node, config, drift, stage, h, s, m)
                    .map_err(|message| fail(run, s.time, message))?;
            }
        }
    }
    match stage.due() {
        Some(due) if due + SLACK <= run.end => Err(missed(run, &mine, node, config, stage, None)),
        _ => Ok(()),
    }
}

/// The stage after `node` sent Ping(`m`) (`s`) while handling `h`, or what is wrong with it.
fn next_stage(
    node: NodeId,
    config: PingConfig,
    drift: i32,
    stage: Stage,
    h: &Handler,
    s: &Sent,
    m: u64,
) -> Result<Stage, String> {
    let t = s.time;
    let on = describe(&h.cause);
    let sent = format!("{node} sent Ping({m}) at {t} while handling {on}");
    if s.to != config.peer {
        return Err(format!(
            "{sent} to {}, but its config.peer is {}: a pinger pings its peer only",
            s.to, config.peer
        ));
    }
    if m >= config.count {
        return Err(match config.count {
            0 => format!(
                "{sent}, but its count is 0: it sends no ping at all (rule 2: on start, only if \
                 count > 0)"
            ),
            c => format!(
                "{sent}, but its count is {c}: it sends pings 0 to {} only (rule 4: set \
                 Timer::Next only if n + 1 < count)",
                c - 1
            ),
        });
    }
    // What was stale about the pong being handled, if one was: the usual reason for a ping sent
    // at the wrong moment.
    let stale = match (&h.cause, h.delivered()) {
        (_, Some((_, Msg::Pong(_)))) => {
            " Rule 6: a pong that does not answer the ping in flight is ignored: no note, no \
             message, no timer."
        }
        (Cause::Timer(timer), _) if timer == "Next" => {
            " Only rule 4 sets Timer::Next: once, on the pong of the ping in flight."
        }
        _ => "",
    };
    let in_flight = |seq| Stage::InFlight {
        seq,
        last: t,
        due: deadline(drift, t, config.retry_after),
    };
    match stage {
        Stage::Down | Stage::Idle => Err(format!("{sent} before it started")),
        Stage::Started { .. } if m == 0 => Ok(in_flight(0)),
        Stage::Started { .. } => Err(format!(
            "{sent} as its first ping: rule 2 sends ping 0 on start, and the pings go 0, 1, 2, \
             ..."
        )),
        Stage::InFlight { seq, last, due } if m == seq => {
            if t + SLACK < due {
                Err(format!(
                    "{sent}, only {} after its last send at {last}: ping {seq} has no answer \
                     yet, and rule 3 sends it again when Retry({seq}) fires, retry_after ({:?} \
                     on {node}'s clock) after the last send, at {due}.{stale}",
                    ms(t - last),
                    config.retry_after
                ))
            } else {
                Ok(in_flight(m))
            }
        }
        Stage::InFlight { seq, last, .. } => Err(format!(
            "{sent}, but ping {seq} (last sent at {last}) has no answer yet: rule 3 sends Ping({seq}) \
             again until Pong({seq}) arrives, and only then (rule 4, rule 5) comes ping {}.{stale}",
            seq + 1
        )),
        Stage::Acked { seq, at, .. } if m == seq => Err(format!(
            "{sent}, but ping {seq} was acked at {at}: an acked ping is never sent again (rule 4 \
             cancels its retry timer).{stale}"
        )),
        Stage::Acked {
            seq,
            at,
            due: Some(due),
        } if m == seq + 1 => {
            if t + SLACK < due {
                Err(format!(
                    "{sent}, only {} after ping {seq} was acked at {at}: rule 4 sets \
                     Timer::Next for interval ({:?} on {node}'s clock), and rule 5 sends ping \
                     {m} when it fires, at {due}.{stale}",
                    ms(t - at),
                    config.interval
                ))
            } else {
                Ok(in_flight(m))
            }
        }
        Stage::Acked { seq, at, .. } => Err(format!(
            "{sent}, but the ping after ping {seq} (acked at {at}) is Ping({}): pings go 0, 1, 2, \
             ..., one at a time.{stale}",
            seq + 1
        )),
    }
}

/// The report for a ping that was due at `stage.due()` and did not go out: `next` is the next
/// thing the pinger handled (None: nothing more before the end of the run), `mine` everything it
/// handled.
fn missed(
    run: &Run,
    mine: &[&Handler],
    node: NodeId,
    config: PingConfig,
    stage: Stage,
    next: Option<&Handler>,
) -> Failure {
    let due = stage.due().expect("a ping was due");
    let then = match next {
        Some(h) => format!(
            "{node} sent no ping then: the next thing it handled was {} at {}",
            describe(&h.cause),
            h.time
        ),
        None => format!(
            "{node} sent no ping then, nor after, up to the end of the run at {}",
            run.end
        ),
    };
    let message = match stage {
        Stage::Started { at } => format!(
            "{node} started at {at} with count {}: rule 2 sends ping 0 on start. {then}",
            config.count
        ),
        Stage::InFlight { seq, last, .. } => {
            // Pongs that answer other pings, handled while this one waited: taking one of them
            // for its answer is the usual reason for a retry that never comes.
            let stale: Vec<String> = mine
                .iter()
                .filter(|h| h.time >= last && h.time <= due)
                .filter_map(|h| match h.delivered() {
                    Some((from, Msg::Pong(n))) if n != seq => {
                        Some(format!("Pong({n}) from {from} at {}", h.time))
                    }
                    _ => None,
                })
                .collect();
            let hint = if stale.is_empty() {
                "Does every send of a ping set a new retry timer (rule 1)?".to_string()
            } else {
                format!(
                    "Meanwhile it received {}, which answer(s) another ping: rule 6 ignores them, \
                     and ping {seq} is still waiting for its own pong.",
                    stale.join(", ")
                )
            };
            format!(
                "{node} last sent Ping({seq}) at {last}, and no Pong({seq}) came back within \
                 retry_after ({:?} on {node}'s clock): rule 3 sends it again when Retry({seq}) \
                 fires, at {due}. {then}. {hint}",
                config.retry_after
            )
        }
        Stage::Acked { seq, at, .. } => format!(
            "{node} acked ping {seq} at {at}: rule 4 sets Timer::Next for interval ({:?} on \
             {node}'s clock), and rule 5 sends ping {} when it fires, at {due}. {then}",
            config.interval,
            seq + 1
        ),
        Stage::Down | Stage::Idle => unreachable!("nothing is due"),
    };
    fail(run, due, message)
}
