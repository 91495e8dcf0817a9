//! Step 2: the node's handlers (`on_start`, `on_message`, `on_timer`), rule by rule, as the doc
//! comment of `HeartbeatNode` states them: who sends what and when, what feeds a detector, when
//! a node changes its mind, and what it notes.
//!
//! The properties run two to five nodes under every kind of fault, on a lossy, duplicating,
//! long-tailed network, with wall clocks that are off, drift and get stepped. None of the rules
//! here depends on how bad the network is: each handler must do what the doc comment says
//! whatever arrives. The nodes use a configuration that is not the default, so a node that
//! hard-codes a default instead of reading its configuration shows here.
//!
//! A snapshot shows the notes of one run with the default configuration.
//!
//! `cargo test --test step2_node` runs just this step.

use failure_detector::{DetectorConfig, HeartbeatNode};
use sim::check::{Case, Failure, PlanBounds, Property, plans};
use sim::proptest;
use sim::proptest::prelude::*;
use sim::{
    ClockSpec, Config, EventKind, Fault, FaultPlan, Latency, NetConfig, NodeId, Simulation, Time,
};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

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
    insta::with_settings!({
        description => "rules: HeartbeatNode in src/lib.rs (Check: suspect above the threshold, \
                        trust at or below it, note each change as `suspect n2` / `trust n2`), \
                        with the numbers of PhiDetector::phi",
    }, {
        insta::assert_snapshot!("suspicion_notes", out);
    });
}

/// Two nodes on a steady 1 ms network, and n1 freezes for 300 ms at 500 ms: the run in which
/// n0 first suspects n1, at a check, with a phi `p` above the threshold. Run again with the
/// threshold set to exactly `p`, the same check must trust n1 (phi equal to the threshold is
/// not above it), and the next one, with phi higher still, must suspect it. A computed phi
/// lands exactly on a threshold in no random run, so this rule needs its own test.
#[test]
fn threshold_is_strict() {
    let run = |threshold: f64, until: Time| {
        let plan = FaultPlan::with_network(NetConfig::default()).at(
            Time::from_millis(500),
            Fault::Pause {
                node: NodeId(1),
                duration: Duration::from_millis(300),
            },
        );
        let config = DetectorConfig {
            threshold,
            ..CONFIG
        };
        let mut sim = Simulation::new(Config::new(2, 7).plan(plan), move |_, _| {
            HeartbeatNode::new(config)
        });
        // The first instant n0 suspects n1, with n1's phi as n0's check computed it.
        let first: Rc<RefCell<Option<(Time, f64)>>> = Rc::default();
        let seen = Rc::clone(&first);
        sim = sim.monitor("first suspicion", move |view| {
            if seen.borrow().is_none()
                && let Some(node) = view.node(NodeId(0))
                && node.suspects(NodeId(1))
            {
                let phi = node
                    .detector(NodeId(1))
                    .map_or(f64::NAN, |d| d.phi(view.monotonic(NodeId(0))));
                *seen.borrow_mut() = Some((view.time(), phi));
            }
            Ok(())
        });
        if let Err(halt) = sim.run_until(until) {
            panic!("{halt}");
        }
        first.take()
    };
    let Some((at, phi)) = run(CONFIG.threshold, Time::from_millis(800)) else {
        panic!(
            "threshold: n0 never suspected n1 while n1 was frozen for 300 ms (phi passes {} \
             within a few checks of a 70 ms interval): see the Judging rule of HeartbeatNode",
            CONFIG.threshold
        );
    };
    assert!(
        phi > CONFIG.threshold,
        "threshold: n0 began to suspect n1 at {at}, when n1's phi was {phi}, not above the \
         threshold {}: a peer is suspected only while its phi is strictly above the threshold",
        CONFIG.threshold
    );
    match run(phi, Time::from_millis(800)) {
        Some((again, _)) if again == at => panic!(
            "threshold: with the threshold set to exactly {phi}, n1's phi at n0's check at \
             {at}, n0 still began to suspect n1 at that check: phi equal to the threshold is \
             not above it, so the peer is trusted (the Judging rule of HeartbeatNode)"
        ),
        Some((later, _)) => assert!(
            later == at + CONFIG.check_every,
            "threshold: with the threshold set to {phi} (n1's phi at n0's check at {at}), n0 \
             should suspect n1 at the next check, {}, where phi is higher; it did at {later}",
            at + CONFIG.check_every
        ),
        None => panic!(
            "threshold: with the threshold set to {phi} (n1's phi at n0's check at {at}), n0 \
             never suspected n1, though n1's phi keeps growing while it is frozen"
        ),
    }
}

/// The configuration of every property here: none of its values is the default.
const CONFIG: DetectorConfig = DetectorConfig {
    interval: Duration::from_millis(70),
    window: 6,
    min_std_dev: Duration::from_millis(4),
    threshold: 3.0,
    check_every: Duration::from_millis(15),
};

/// How long each run lasts.
const END: Time = Time::from_millis(1_500);

/// Cases per property: each rule shows in nearly every run, and these find a breach at every
/// generator seed (checked over 20).
const CASES: u32 = 40;

/// Every node's clocks: a monotonic clock within 100 ppm, as real machines keep, and a wall
/// clock up to 10 s off that drifts by up to 5%. Steps of the wall clocks come as faults.
fn clocks(nodes: u32) -> impl Strategy<Value = Vec<ClockSpec>> {
    proptest::collection::vec(
        (
            -100i32..=100,
            -10_000_000_000i64..=10_000_000_000,
            -50_000i32..=50_000,
        )
            .prop_map(|(drift_ppm, wall_offset_ns, wall_drift_ppm)| ClockSpec {
                drift_ppm,
                wall_offset_ns,
                wall_drift_ppm,
            }),
        nodes as usize,
    )
}

/// Two to five nodes, started up to 100 ms apart, under every kind of fault (wall clocks
/// stepped by up to 5 s either way included), on a network that loses, duplicates and
/// reorders up to 5% of the heartbeats and delays some of them by up to 200 ms.
fn cases() -> impl Strategy<Value = FaultPlan> {
    (2u32..=5)
        .prop_flat_map(|nodes| {
            let bounds = PlanBounds {
                max_faults: 5,
                max_fault_duration: Duration::from_millis(400),
                max_wall_error: Duration::from_secs(5),
                max_start_offset: Duration::from_millis(100),
                latencies: vec![
                    Latency::Constant(Duration::from_millis(2)),
                    Latency::Uniform {
                        min: Duration::from_millis(1),
                        max: Duration::from_millis(8),
                    },
                    Latency::LogNormal {
                        median: Duration::from_millis(3),
                        sigma: 1.0,
                    },
                    Latency::Pareto {
                        min: Duration::from_millis(2),
                        shape: 1.5,
                    },
                ],
                ..PlanBounds::new(nodes, (END - Time::ZERO) - Duration::from_millis(300))
            };
            (plans(bounds), clocks(nodes))
        })
        .prop_map(|(mut plan, clocks)| {
            plan.clocks = clocks;
            plan.network.max_latency = Duration::from_millis(200);
            plan
        })
}

/// The peers of `node` as a set of bits (bit `i` for `n{i}`).
type Peers = u32;

fn names(peers: Peers) -> String {
    let names: Vec<String> = (0..32)
        .filter(|i| peers & (1 << i) != 0)
        .map(|i| NodeId(i).to_string())
        .collect();
    format!("{{{}}}", names.join(" "))
}

/// What a node believed after an event: whom it suspected and, while it is up, whose phi was
/// above the threshold at that instant on its clock. Recorded each time either changes.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Belief {
    at: Time,
    node: NodeId,
    up: bool,
    suspected: Peers,
    above: Peers,
}

/// What one detector held after an event, recorded each time it changes: when the last
/// heartbeat arrived, how many gaps it keeps, its window and floor; and the observer's two
/// clocks at that instant.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Seen {
    at: Time,
    observer: NodeId,
    peer: NodeId,
    detector: Option<(Option<Time>, usize, usize, Duration)>,
    monotonic: Time,
    wall_ns: i64,
}

/// One call of a handler, read from the trace: what set it off, and what it sent and noted.
#[derive(Clone, Debug)]
struct Handler {
    at: Time,
    node: NodeId,
    what: What,
    sends: Vec<(NodeId, String)>,
    notes: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
enum What {
    Start,
    Heartbeat(NodeId),
    Timer(String),
}

impl What {
    fn describe(&self) -> String {
        match self {
            What::Start => "its start".into(),
            What::Heartbeat(from) => format!("a heartbeat from {from}"),
            What::Timer(timer) => format!("its {timer} timer"),
        }
    }
}

/// A run, and what it recorded.
struct Run {
    sim: Simulation<HeartbeatNode>,
    nodes: u32,
    beliefs: Vec<Belief>,
    detectors: Vec<Seen>,
    handlers: Vec<Handler>,
}

impl Run {
    /// The handlers `node` ran at `at` (the trace, and so `handlers`, is in time order).
    fn handled(&self, node: NodeId, at: Time) -> Vec<&Handler> {
        let first = self.handlers.partition_point(|h| h.at < at);
        self.handlers[first..]
            .iter()
            .take_while(|h| h.at == at)
            .filter(|h| h.node == node)
            .collect()
    }

    fn describe(&self, node: NodeId, at: Time) -> String {
        let what: Vec<String> = self
            .handled(node, at)
            .iter()
            .map(|h| h.what.describe())
            .collect();
        if what.is_empty() {
            "nothing".into()
        } else {
            what.join(", then ")
        }
    }

    fn fail(&self, message: String, at: Time) -> Failure {
        Failure::new(message).at(at).trace(self.sim.trace())
    }
}

/// Runs a case to [`END`], recording every node's beliefs (with whose phi is above the
/// threshold if `judge`, which costs a phi per peer per event) and every detector's state.
fn run(case: &Case, judge: bool) -> Result<Run, Failure> {
    let nodes = case.plan.clocks.len() as u32;
    let beliefs = Rc::new(RefCell::new(Vec::new()));
    let detectors = Rc::new(RefCell::new(Vec::new()));
    let (belief_log, detector_log) = (Rc::clone(&beliefs), Rc::clone(&detectors));
    let mut last_belief: Vec<Option<Belief>> = vec![None; nodes as usize];
    let mut last_seen: Vec<Option<Seen>> = vec![None; (nodes * nodes) as usize];
    let config = Config::new(nodes, case.seed).plan(case.plan.clone());
    let mut sim = Simulation::new(config, |_, _| HeartbeatNode::new(CONFIG)).monitor(
        "record beliefs and detectors",
        move |view| {
            for o in 0..nodes {
                let observer = NodeId(o);
                let node = view.node(observer);
                let now = view.monotonic(observer);
                let (mut suspected, mut above) = (0, 0);
                for p in (0..nodes).filter(|p| *p != o) {
                    let peer = NodeId(p);
                    let detector = node.and_then(|n| n.detector(peer));
                    if let Some(n) = node {
                        if n.suspects(peer) {
                            suspected |= 1 << p;
                        }
                        if judge && detector.is_some_and(|d| d.phi(now) > CONFIG.threshold) {
                            above |= 1 << p;
                        }
                    }
                    let seen = Seen {
                        at: view.time(),
                        observer,
                        peer,
                        detector: detector
                            .map(|d| (d.last_arrival(), d.samples(), d.window(), d.min_std_dev())),
                        monotonic: now,
                        wall_ns: view.wall_clock(observer).as_nanos(),
                    };
                    let slot = &mut last_seen[(o * nodes + p) as usize];
                    if slot.is_none_or(|s| s.detector != seen.detector) {
                        *slot = Some(seen);
                        detector_log.borrow_mut().push(seen);
                    }
                }
                let belief = Belief {
                    at: view.time(),
                    node: observer,
                    up: node.is_some(),
                    suspected,
                    above,
                };
                let slot = &mut last_belief[o as usize];
                if slot.is_none_or(|b| {
                    (b.up, b.suspected, b.above) != (belief.up, belief.suspected, belief.above)
                }) {
                    *slot = Some(belief);
                    belief_log.borrow_mut().push(belief);
                }
            }
            Ok(())
        },
    );
    if let Err(halt) = sim.run_until(END) {
        return Err(Failure::from(halt).trace(sim.trace()));
    }
    let handlers = handlers(sim.trace());
    let beliefs = beliefs.borrow().clone();
    let detectors = detectors.borrow().clone();
    Ok(Run {
        sim,
        nodes,
        beliefs,
        detectors,
        handlers,
    })
}

/// Every handler call in the trace, with the sends and notes that follow it (a handler's
/// effects come right after the event that set it off).
fn handlers(trace: &sim::Trace) -> Vec<Handler> {
    let mut handlers: Vec<Handler> = Vec::new();
    for event in &trace.events {
        let begun = match &event.kind {
            EventKind::Start { node, .. } => Some((*node, What::Start)),
            EventKind::Deliver { from, to, .. } => Some((*to, What::Heartbeat(*from))),
            EventKind::Timer { node, timer } => Some((*node, What::Timer(timer.clone()))),
            _ => None,
        };
        if let Some((node, what)) = begun {
            handlers.push(Handler {
                at: event.time,
                node,
                what,
                sends: Vec::new(),
                notes: Vec::new(),
            });
            continue;
        }
        let Some(current) = handlers.last_mut() else {
            continue;
        };
        match &event.kind {
            EventKind::Send { from, to, msg, .. } if *from == current.node => {
                current.sends.push((*to, msg.clone()));
            }
            EventKind::Note { node, text } if *node == current.node => {
                current.notes.push(text.clone());
            }
            _ => {}
        }
    }
    handlers
}

/// Each stretch of time a node was up: from a start to its next crash (or the end of the run).
fn lifetimes(run: &Run, node: NodeId) -> Vec<(Time, Time)> {
    let mut lives: Vec<(Time, Time)> = Vec::new();
    for event in &run.sim.trace().events {
        match event.kind {
            EventKind::Start { node: n, .. } if n == node => lives.push((event.time, END)),
            EventKind::Crash { node: n } if n == node => {
                if let Some(life) = lives.last_mut() {
                    life.1 = event.time;
                }
            }
            _ => {}
        }
    }
    lives
}

/// Whether the plan ever pauses or slows `node`: then its timers may fire late.
fn stalled(plan: &FaultPlan, node: NodeId) -> bool {
    plan.faults.iter().any(|f| match f.fault {
        Fault::Pause { node: n, .. } | Fault::Slow { node: n, .. } => n == node,
        _ => false,
    })
}

/// Runs one calm case before the random ones, so that a handler that panics (a `todo!()` still
/// standing) is reported once and plainly, not through hundreds of shrinking attempts.
fn smoke() {
    let calm = Case {
        seed: 0,
        plan: FaultPlan {
            clocks: vec![ClockSpec::default(); 3],
            ..FaultPlan::default()
        },
    };
    if let Err(failure) = run(&calm, false) {
        panic!(
            "a fault-free run of three nodes failed: {}",
            failure.message
        );
    }
}

/// Checks that `node`'s timer `timer` fires `period` after the handler that set it, through
/// each of its lifetimes: never earlier (on its monotonic clock, which drifts by at most 100
/// ppm), first one `period` after it starts, and, when nothing stalls the node, exactly on time
/// and to the end. `why` says what the timer is for.
fn periodic(
    run: &Run,
    case: &Case,
    timer: &str,
    period: Duration,
    why: &str,
) -> Result<(), Failure> {
    let tolerance = period / 5_000 + Duration::from_micros(1);
    for node in (0..run.nodes).map(NodeId) {
        let exact = !stalled(&case.plan, node);
        for (start, end) in lifetimes(run, node) {
            let fired: Vec<Time> = run
                .handlers
                .iter()
                .filter(|h| h.node == node && h.what == What::Timer(timer.into()))
                .map(|h| h.at)
                .filter(|at| *at > start && *at <= end)
                .collect();
            let mut previous = start;
            for at in fired.iter().copied().chain(exact.then_some(Time::MAX)) {
                let gap = at.saturating_since(previous);
                let set = if previous == start {
                    format!("{node} started at {start}")
                } else {
                    format!("its {timer} timer fired at {previous}")
                };
                if gap + tolerance < period {
                    return Err(run.fail(
                        format!(
                            "{set}, and it fired again at {at}, only {:.3} ms later: {why} \
                             {timer} is set once, for {} ms, each time (is a second one set \
                             somewhere?)",
                            gap.as_secs_f64() * 1e3,
                            period.as_millis()
                        ),
                        at,
                    ));
                }
                if exact && gap > period + tolerance {
                    let next = previous + period;
                    if at == Time::MAX && next + tolerance >= end {
                        break;
                    }
                    let seen = if at == Time::MAX {
                        format!("it never fired again (up to {end})")
                    } else {
                        format!("the next fired at {at}")
                    };
                    return Err(run.fail(
                        format!(
                            "{set}, and nothing stalled {node}, so its {timer} timer was due at \
                             {next}, but {seen}: {why} {timer} is set for {} ms each time",
                            period.as_millis()
                        ),
                        next,
                    ));
                }
                previous = at;
            }
        }
    }
    Ok(())
}

#[test]
fn heartbeats() {
    smoke();
    Property::new(
        "heartbeats: a node heartbeats every peer, once each and in ctx.peers() order, when it \
         starts and each time its Beat timer fires, every `interval`, and sends nothing else",
    )
    .cases(CASES)
    .replay_command("cargo test -p failure-detector --test step2_node heartbeats")
    .book("book/src/01-failure-detector.md#step2")
    .check(cases(), |case| {
        let run = run(case, false)?;
        for h in &run.handlers {
            let beats = h.what == What::Start || h.what == What::Timer("Beat".into());
            let sent: Vec<String> = h
                .sends
                .iter()
                .map(|(to, msg)| format!("{msg} to {to}"))
                .collect();
            if !beats {
                if !sent.is_empty() {
                    return Err(run.fail(
                        format!(
                            "{} sent {} while handling {}: a node heartbeats only when it \
                             starts and when its Beat timer fires",
                            h.node,
                            sent.join(", "),
                            h.what.describe()
                        ),
                        h.at,
                    ));
                }
                continue;
            }
            let peers: Vec<NodeId> = (0..run.nodes)
                .map(NodeId)
                .filter(|p| *p != h.node)
                .collect();
            let want: Vec<String> = peers.iter().map(|p| format!("Heartbeat to {p}")).collect();
            if sent != want {
                return Err(run.fail(
                    format!(
                        "at {}, handling {}, {} sent [{}], but it must send one heartbeat to \
                         each peer, in ctx.peers() order: [{}]",
                        h.at,
                        h.what.describe(),
                        h.node,
                        sent.join(", "),
                        want.join(", ")
                    ),
                    h.at,
                ));
            }
        }
        periodic(
            &run,
            case,
            "Beat",
            CONFIG.interval,
            "a node heartbeats every `interval`: the",
        )
    });
}

#[test]
fn arrivals() {
    smoke();
    Property::new(
        "arrivals: a heartbeat from a peer is fed to that peer's detector at ctx.now(), the \
         observer's monotonic clock; the detector is made with the configuration's window and \
         min_std_dev the first time the peer is heard from, and nothing else changes it",
    )
    .cases(CASES)
    .replay_command("cargo test -p failure-detector --test step2_node arrivals")
    .book("book/src/01-failure-detector.md#step2")
    .check(cases(), |case| {
        let run = run(case, false)?;
        for observer in (0..run.nodes).map(NodeId) {
            let lives = lifetimes(&run, observer);
            for peer in (0..run.nodes).map(NodeId).filter(|p| *p != observer) {
                let seen: Vec<&Seen> = run
                    .detectors
                    .iter()
                    .filter(|s| s.observer == observer && s.peer == peer)
                    .collect();
                let arrived = |at: Time| {
                    run.handled(observer, at)
                        .iter()
                        .any(|h| h.what == What::Heartbeat(peer))
                };
                // Every change of the detector answers a heartbeat from its peer.
                for s in &seen {
                    let Some((last, samples, ..)) = s.detector else {
                        continue;
                    };
                    if !arrived(s.at) {
                        let why = if run
                            .handled(observer, s.at)
                            .iter()
                            .any(|h| h.what == What::Start)
                        {
                            format!(
                                "{observer} made a detector for {peer} when it started, before \
                                 hearing from it: make a peer's detector the first time the \
                                 peer is heard from"
                            )
                        } else {
                            format!("only a heartbeat from {peer} feeds {peer}'s detector")
                        };
                        return Err(run.fail(
                            format!(
                                "at {}, while handling {}, {observer}'s detector for {peer} \
                                 changed (last arrival {last:?}, {samples} gaps), yet no \
                                 heartbeat from {peer} arrived then: {why}",
                                s.at,
                                run.describe(observer, s.at)
                            ),
                            s.at,
                        ));
                    }
                }
                // Every heartbeat from the peer reaches its detector, at ctx.now().
                for (start, end) in &lives {
                    let mut heard = 0usize;
                    let times: Vec<Time> = run
                        .handlers
                        .iter()
                        .filter(|h| h.node == observer && h.what == What::Heartbeat(peer))
                        .map(|h| h.at)
                        .filter(|at| at >= start && at <= end)
                        .collect();
                    for (i, at) in times.iter().enumerate() {
                        heard += 1;
                        if times.get(i + 1) == Some(at) {
                            continue;
                        }
                        let state = seen
                            .iter()
                            .rfind(|s| s.at <= *at)
                            .filter(|s| s.at >= *start);
                        let Some(s) = state else {
                            return Err(run.fail(
                                format!(
                                    "a heartbeat from {peer} reached {observer} at {at}, yet \
                                     {observer} has no detector for {peer} (detector({peer}) \
                                     is None): make it the first time a peer is heard from"
                                ),
                                *at,
                            ));
                        };
                        let Some((last, samples, window, floor)) = s.detector else {
                            return Err(run.fail(
                                format!(
                                    "a heartbeat from {peer} reached {observer} at {at}, yet \
                                     {observer} has no detector for {peer}: make it the first \
                                     time a peer is heard from"
                                ),
                                *at,
                            ));
                        };
                        if (window, floor) != (CONFIG.window, CONFIG.min_std_dev) {
                            return Err(run.fail(
                                format!(
                                    "{observer}'s detector for {peer} has a window of {window} \
                                     and a floor of {floor:?}, but the node's configuration says \
                                     {} and {:?}: make it with the config's window and \
                                     min_std_dev",
                                    CONFIG.window, CONFIG.min_std_dev
                                ),
                                *at,
                            ));
                        }
                        if s.at != *at || last != Some(s.monotonic) {
                            let read = if last.is_some_and(|l| l.as_nanos() as i64 == s.wall_ns) {
                                " (that is what its wall clock read: the wall clock is offset, \
                                 drifts and gets stepped; measure on ctx.now())"
                            } else {
                                ""
                            };
                            return Err(run.fail(
                                format!(
                                    "a heartbeat from {peer} reached {observer} at {at}, when \
                                     {observer}'s monotonic clock, ctx.now(), read {}, but its \
                                     detector's last arrival is {last:?}{read}: feed the \
                                     detector ctx.now()",
                                    s.monotonic
                                ),
                                *at,
                            ));
                        }
                        let want = (heard - 1).min(CONFIG.window);
                        if samples != want {
                            return Err(run.fail(
                                format!(
                                    "{observer} has heard {heard} heartbeats from {peer} since \
                                     it started at {start}, so its detector should hold {want} \
                                     gaps, but it holds {samples}: feed the detector every \
                                     heartbeat, once"
                                ),
                                *at,
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    });
}

#[test]
fn checks() {
    smoke();
    Property::new(
        "checks: a node changes its mind only when its Check timer fires, every `check_every`; \
         then it suspects exactly the peers it has heard from whose phi is above the threshold",
    )
    .cases(CASES)
    .replay_command("cargo test -p failure-detector --test step2_node checks")
    .book("book/src/01-failure-detector.md#step2")
    .check(cases(), |case| {
        let run = run(case, true)?;
        for node in (0..run.nodes).map(NodeId) {
            let beliefs: Vec<&Belief> = run.beliefs.iter().filter(|b| b.node == node).collect();
            // Changes of mind happen only in a check. A node starts trusting everyone.
            let mut before: Peers = 0;
            for b in &beliefs {
                if !b.up {
                    before = 0;
                    continue;
                }
                if b.suspected != before {
                    let checked = run
                        .handled(node, b.at)
                        .iter()
                        .any(|h| h.what == What::Timer("Check".into()));
                    if !checked {
                        let (started, stopped) = (b.suspected & !before, before & !b.suspected);
                        let change = if started != 0 {
                            format!("started suspecting {}", names(started))
                        } else {
                            format!("stopped suspecting {}", names(stopped))
                        };
                        return Err(run.fail(
                            format!(
                                "{node} {change} at {} while handling {}, but a node changes \
                                 its mind only when its Check timer fires (what it learns in \
                                 between waits for the next check)",
                                b.at,
                                run.describe(node, b.at)
                            ),
                            b.at,
                        ));
                    }
                }
                before = b.suspected;
            }
            // After each check (one that no heartbeat joined at the same instant), it suspects
            // the peers whose phi is above the threshold, and no one else.
            for h in run
                .handlers
                .iter()
                .filter(|h| h.node == node && h.what == What::Timer("Check".into()))
            {
                if run
                    .handled(node, h.at)
                    .iter()
                    .any(|o| matches!(o.what, What::Heartbeat(_)))
                {
                    continue;
                }
                let Some(b) = beliefs.iter().rfind(|b| b.at <= h.at) else {
                    continue;
                };
                if b.up && b.suspected != b.above {
                    let wrongly = b.suspected & !b.above;
                    let missed = b.above & !b.suspected;
                    let what = if wrongly != 0 {
                        format!(
                            "it suspects {}, whose phi is not above {} (or which it has never \
                             heard from)",
                            names(wrongly),
                            CONFIG.threshold
                        )
                    } else {
                        format!(
                            "it does not suspect {}, whose phi is above {}",
                            names(missed),
                            CONFIG.threshold
                        )
                    };
                    return Err(run.fail(
                        format!(
                            "after its check at {}, {node} suspects {} but the peers whose phi \
                             (at ctx.now()) is above the threshold are {}: {what}. A check \
                             suspects a peer while its phi is above `threshold` and trusts it \
                             again once it is not",
                            h.at,
                            names(b.suspected),
                            names(b.above)
                        ),
                        h.at,
                    ));
                }
            }
        }
        periodic(
            &run,
            case,
            "Check",
            CONFIG.check_every,
            "a node judges its peers every `check_every`: the",
        )
    });
}

/// Parses a note of a change of mind: `suspect n2` or `trust n2`.
fn parse(text: &str, nodes: u32) -> Option<(NodeId, bool)> {
    let (verb, peer) = text.split_once(' ')?;
    let suspects = match verb {
        "suspect" => true,
        "trust" => false,
        _ => return None,
    };
    let id: u32 = peer.strip_prefix('n')?.parse().ok()?;
    (id < nodes && peer == NodeId(id).to_string()).then_some((NodeId(id), suspects))
}

#[test]
fn notes() {
    smoke();
    Property::new(
        "notes: a node notes `suspect nX` exactly when it starts suspecting nX and `trust nX` \
         exactly when it stops, in increasing id order within a check, and notes nothing else",
    )
    .cases(CASES)
    .replay_command("cargo test -p failure-detector --test step2_node notes")
    .book("book/src/01-failure-detector.md#step2")
    .check(cases(), |case| {
        let run = run(case, false)?;
        for node in (0..run.nodes).map(NodeId) {
            // The changes of mind, in order, as suspects() shows them.
            let mut changes: Vec<(Time, NodeId, bool)> = Vec::new();
            let mut before: Peers = 0;
            for b in run.beliefs.iter().filter(|b| b.node == node) {
                if !b.up {
                    before = 0;
                    continue;
                }
                for p in (0..run.nodes).filter(|p| (b.suspected ^ before) & (1 << p) != 0) {
                    changes.push((b.at, NodeId(p), b.suspected & (1 << p) != 0));
                }
                before = b.suspected;
            }
            // The notes, in order.
            let mut noted: Vec<(Time, NodeId, bool)> = Vec::new();
            for h in run.handlers.iter().filter(|h| h.node == node) {
                let mut order = Vec::new();
                for text in &h.notes {
                    let Some((peer, suspects)) = parse(text, run.nodes) else {
                        return Err(run.fail(
                            format!(
                                "{node} noted {text:?} at {} while handling {}: a node notes \
                                 only its changes of mind, as `suspect n2` or `trust n2`",
                                h.at,
                                h.what.describe()
                            ),
                            h.at,
                        ));
                    };
                    order.push(peer);
                    noted.push((h.at, peer, suspects));
                }
                if order.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(run.fail(
                        format!(
                            "{node}'s check at {} noted {:?}: a check goes through the peers in \
                             increasing id order, and notes each change once",
                            h.at, h.notes
                        ),
                        h.at,
                    ));
                }
            }
            let word = |suspects: bool| if suspects { "suspect" } else { "trust" };
            for i in 0..changes.len().max(noted.len()) {
                match (changes.get(i), noted.get(i)) {
                    (Some(c), Some(n)) if c == n => {}
                    (Some((at, peer, suspects)), n) if n.is_none_or(|n| n.0 >= *at) => {
                        let change = if *suspects {
                            "started suspecting"
                        } else {
                            "stopped suspecting"
                        };
                        return Err(run.fail(
                            format!(
                                "{node} {change} {peer} at {at} (suspects({peer}) became \
                                 {suspects}) but did not note `{} {peer}` then",
                                word(*suspects)
                            ),
                            *at,
                        ));
                    }
                    (_, Some((at, peer, suspects))) => {
                        let state = if *suspects {
                            format!("{node} suspected {peer} already")
                        } else {
                            format!("{node} did not suspect {peer}")
                        };
                        return Err(run.fail(
                            format!(
                                "{node} noted `{} {peer}` at {at}, but suspects({peer}) did not \
                                 change then ({state}): note a change of mind when it happens, \
                                 and only then",
                                word(*suspects)
                            ),
                            *at,
                        ));
                    }
                    _ => unreachable!("one of the two lists is longer"),
                }
            }
        }
        Ok(())
    });
}
