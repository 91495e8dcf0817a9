//! Each fault does what real systems suffer, seen through the trace and through what nodes
//! observe.

use sim::trace::{DropReason, EventKind};
use sim::{
    ClockSpec, Config, Context, Fault, FaultPlan, HaltReason, Latency, NetConfig, Node, NodeId,
    OpId, Partition, Simulation, Time, WallTime,
};
use std::time::Duration;

/// A probe node: sends `Ping(k)` to n1 at each `Send(k)` timer planned at start, answers pings,
/// counts what it got (volatile) and persists a counter of starts (durable).
#[derive(Default)]
struct Probe {
    plan: Vec<(u64, u32)>,
    received: Vec<(NodeId, u32)>,
    timers_fired: Vec<(u32, Time, WallTime)>,
}

#[derive(Clone, Debug, PartialEq)]
enum Msg {
    Ping(u32),
    Pong(u32),
}

impl Node for Probe {
    type Msg = Msg;
    type Timer = u32;
    type Request = u32;
    type Response = u32;
    type Durable = u32;

    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        *ctx.durable_mut() += 1;
        let starts = *ctx.durable();
        ctx.note(format!("start number {starts}"));
        for (at_ms, k) in self.plan.clone() {
            ctx.set_timer(Duration::from_millis(at_ms), k);
        }
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Ping(k) => {
                self.received.push((from, k));
                ctx.send(from, Msg::Pong(k));
            }
            Msg::Pong(k) => self.received.push((from, k)),
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, k: u32) {
        self.timers_fired.push((k, ctx.now(), ctx.wall_clock()));
        ctx.send(NodeId(1), Msg::Ping(k));
    }

    fn on_request(&mut self, ctx: &mut Context<'_, Self>, op: OpId, request: u32) {
        ctx.reply(op, request * 2);
    }
}

/// n0 pings n1 at each of `sends` (ms); n1 only answers.
fn probe_sim(config: Config, sends: &[u64]) -> Simulation<Probe> {
    let plan: Vec<(u64, u32)> = sends
        .iter()
        .enumerate()
        .map(|(k, ms)| (*ms, k as u32))
        .collect();
    Simulation::new(config, move |id, _| Probe {
        plan: if id == NodeId(0) {
            plan.clone()
        } else {
            Vec::new()
        },
        ..Probe::default()
    })
}

fn deliveries_to(sim: &Simulation<Probe>, to: NodeId) -> Vec<(Time, String)> {
    sim.trace()
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Deliver { to: t, msg, .. } if *t == to => Some((e.time, msg.clone())),
            _ => None,
        })
        .collect()
}

fn drops(sim: &Simulation<Probe>) -> Vec<(Time, DropReason)> {
    sim.trace()
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Drop { reason, .. } => Some((e.time, *reason)),
            _ => None,
        })
        .collect()
}

fn ms(ms: u64) -> Time {
    Time::from_millis(ms)
}

#[test]
fn a_perfect_network_delivers_after_the_constant_latency() {
    let mut sim = probe_sim(Config::new(2, 1), &[10]);
    sim.run_until(ms(100)).unwrap();
    assert_eq!(
        deliveries_to(&sim, NodeId(1)),
        vec![(ms(11), "Ping(0)".to_string())]
    );
    assert_eq!(
        deliveries_to(&sim, NodeId(0)),
        vec![(ms(12), "Pong(0)".to_string())]
    );
}

#[test]
fn a_paused_node_handles_nothing_then_everything_at_once_in_order() {
    let plan = FaultPlan::default().at(
        ms(5),
        Fault::Pause {
            node: NodeId(1),
            duration: Duration::from_millis(100),
        },
    );
    let mut sim = probe_sim(Config::new(2, 1).plan(plan), &[10, 20, 30]);
    sim.run_until(ms(200)).unwrap();
    let got = deliveries_to(&sim, NodeId(1));
    let names: Vec<&str> = got.iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(names, ["Ping(0)", "Ping(1)", "Ping(2)"]);
    assert!(got.iter().all(|(t, _)| *t == ms(105)), "{got:?}");
    let kinds: Vec<String> = sim
        .trace()
        .events
        .iter()
        .filter(|e| e.kind.node() == Some(NodeId(1)))
        .map(sim::render::text::line)
        .collect();
    let resume = kinds.iter().position(|l| l.contains("resume")).unwrap();
    let first_recv = kinds.iter().position(|l| l.contains("recv")).unwrap();
    assert!(
        resume < first_recv,
        "resume is shown before the backlog: {kinds:#?}"
    );
}

#[test]
fn a_paused_node_fires_its_overdue_timers_when_it_resumes() {
    let plan = FaultPlan::default().at(
        ms(1),
        Fault::Pause {
            node: NodeId(0),
            duration: Duration::from_millis(50),
        },
    );
    let mut sim = probe_sim(Config::new(2, 1).plan(plan), &[10, 60]);
    sim.run_until(ms(100)).unwrap();
    let fired: Vec<Time> = sim
        .node(NodeId(0))
        .unwrap()
        .timers_fired
        .iter()
        .map(|f| f.1)
        .collect();
    assert_eq!(fired, vec![ms(51), ms(60)]);
}

#[test]
fn a_slow_node_falls_behind_as_work_queues_up() {
    let plan = FaultPlan::default().at(
        ms(0),
        Fault::Slow {
            node: NodeId(1),
            per_event: Duration::from_millis(10),
            duration: Duration::from_millis(500),
        },
    );
    let mut sim = probe_sim(Config::new(2, 1).plan(plan), &[10, 11, 12]);
    sim.run_until(ms(200)).unwrap();
    let at: Vec<Time> = deliveries_to(&sim, NodeId(1)).iter().map(|d| d.0).collect();
    // Arrivals at 11, 12, 13 ms; each takes 10 ms of the node's time, one after another.
    assert_eq!(at, vec![ms(21), ms(31), ms(41)]);
}

#[test]
fn a_crash_loses_volatile_state_and_messages_and_a_restart_keeps_durable_state() {
    let plan = FaultPlan::default().at(
        ms(15),
        Fault::Crash {
            node: NodeId(1),
            restart_after: Some(Duration::from_millis(10)),
        },
    );
    let mut sim = probe_sim(Config::new(2, 1).plan(plan), &[10, 20, 30]);
    sim.run_until(ms(100)).unwrap();
    let n1 = sim.node(NodeId(1)).unwrap();
    // Ping(0) arrived before the crash and was forgotten; Ping(1) met a dead node.
    assert_eq!(n1.received, vec![(NodeId(0), 2)]);
    assert_eq!(*sim.durable(NodeId(1)), 2, "started twice, counted durably");
    assert_eq!(drops(&sim), vec![(ms(21), DropReason::NodeDown)]);
    assert!(sim::render::text::render(sim.trace()).contains("RESTART"));
}

#[test]
fn timers_of_a_crashed_life_never_fire() {
    let plan = FaultPlan::default().at(
        ms(5),
        Fault::Crash {
            node: NodeId(0),
            restart_after: Some(Duration::from_millis(100)),
        },
    );
    let mut sim = probe_sim(Config::new(2, 1).plan(plan), &[10]);
    sim.run_until(ms(300)).unwrap();
    // The restart plans the timer again, for 10 ms after 105 ms; the first life's never fires.
    let fired: Vec<Time> = sim
        .node(NodeId(0))
        .unwrap()
        .timers_fired
        .iter()
        .map(|f| f.1)
        .collect();
    assert_eq!(fired, vec![ms(115)]);
}

#[test]
fn a_partition_drops_messages_across_it_until_it_heals() {
    let plan = FaultPlan::default().at(
        ms(5),
        Fault::Partition {
            partition: Partition::Split(vec![vec![NodeId(0)], vec![NodeId(1)]]),
            duration: Duration::from_millis(20),
        },
    );
    let mut sim = probe_sim(Config::new(2, 1).plan(plan), &[10, 30]);
    sim.run_until(ms(100)).unwrap();
    assert_eq!(drops(&sim), vec![(ms(11), DropReason::Partitioned)]);
    assert_eq!(sim.node(NodeId(0)).unwrap().received, vec![(NodeId(1), 1)]);
}

#[test]
fn a_one_way_partition_lets_the_other_direction_through() {
    let plan = FaultPlan::default().at(
        ms(0),
        Fault::Partition {
            partition: Partition::OneWay {
                from: vec![NodeId(1)],
                to: vec![NodeId(0)],
            },
            duration: Duration::from_millis(50),
        },
    );
    let mut sim = probe_sim(Config::new(2, 1).plan(plan), &[10]);
    sim.run_until(ms(100)).unwrap();
    assert_eq!(sim.node(NodeId(1)).unwrap().received, vec![(NodeId(0), 0)]);
    assert!(
        sim.node(NodeId(0)).unwrap().received.is_empty(),
        "the pong is cut"
    );
}

#[test]
fn loss_drops_about_the_configured_share() {
    let sends: Vec<u64> = (1..=2000).collect();
    let net = NetConfig {
        loss: 0.2,
        ..NetConfig::default()
    };
    let mut sim = probe_sim(Config::new(2, 3).plan(FaultPlan::with_network(net)), &sends);
    sim.run_until(ms(3000)).unwrap();
    let lost = drops(&sim)
        .iter()
        .filter(|d| d.1 == DropReason::Lost)
        .count();
    // 2000 pings and about 1600 pongs at 20% loss: about 720 lost.
    assert!((600..850).contains(&lost), "{lost} lost");
}

#[test]
fn duplication_delivers_one_message_twice() {
    let net = NetConfig {
        duplicate: 1.0,
        ..NetConfig::default()
    };
    let mut sim = probe_sim(Config::new(2, 3).plan(FaultPlan::with_network(net)), &[10]);
    sim.run_until(ms(100)).unwrap();
    let n1 = sim.node(NodeId(1)).unwrap();
    assert_eq!(n1.received, vec![(NodeId(0), 0), (NodeId(0), 0)]);
    let dups = sim
        .trace()
        .events
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::Deliver {
                    duplicate: true,
                    ..
                }
            )
        })
        .count();
    assert_eq!(
        dups, 3,
        "one duplicated ping and two duplicated pongs' copies"
    );
}

#[test]
fn reordering_lets_a_later_message_overtake_on_a_constant_latency_link() {
    let sends: Vec<u64> = (0..200).map(|i| 10 + i / 4).collect();
    let in_order = |reorder: f64| {
        let net = NetConfig {
            reorder,
            latency: Latency::Constant(Duration::from_millis(3)),
            ..NetConfig::default()
        };
        let mut sim = probe_sim(Config::new(2, 5).plan(FaultPlan::with_network(net)), &sends);
        sim.run_until(ms(1000)).unwrap();
        let got: Vec<u32> = sim
            .node(NodeId(1))
            .unwrap()
            .received
            .iter()
            .map(|r| r.1)
            .collect();
        got.windows(2).all(|w| w[0] < w[1])
    };
    assert!(in_order(0.0));
    assert!(!in_order(0.3));
}

#[test]
fn drifting_monotonic_clocks_move_timers_in_real_time() {
    let fast = FaultPlan::default().clock(
        NodeId(0),
        ClockSpec {
            drift_ppm: 50_000,
            ..ClockSpec::default()
        },
    );
    let mut sim = probe_sim(Config::new(2, 1).plan(fast), &[1050]);
    sim.run_until(ms(2000)).unwrap();
    let (_, local, _) = sim.node(NodeId(0)).unwrap().timers_fired[0];
    assert_eq!(local, ms(1050), "on its own clock, the timer is on time");
    let fired_at = deliveries_to(&sim, NodeId(1))[0].0 - Duration::from_millis(1);
    assert_eq!(
        fired_at,
        ms(1000),
        "in real time, a 5% fast clock fires it 50 ms early"
    );
}

#[test]
fn a_wall_clock_step_backwards_is_seen_by_the_node() {
    let plan = FaultPlan::default()
        .clock(
            NodeId(0),
            ClockSpec {
                wall_offset_ns: 2_000_000,
                ..ClockSpec::default()
            },
        )
        .at(
            ms(15),
            Fault::ClockStep {
                node: NodeId(0),
                by_ns: -10_000_000,
            },
        );
    let mut sim = probe_sim(Config::new(2, 1).plan(plan), &[10, 20]);
    sim.run_until(ms(100)).unwrap();
    let walls: Vec<WallTime> = sim
        .node(NodeId(0))
        .unwrap()
        .timers_fired
        .iter()
        .map(|f| f.2)
        .collect();
    assert_eq!(walls, vec![WallTime(12_000_000), WallTime(12_000_000)]);
    let monos: Vec<Time> = sim
        .node(NodeId(0))
        .unwrap()
        .timers_fired
        .iter()
        .map(|f| f.1)
        .collect();
    assert_eq!(
        monos,
        vec![ms(10), ms(20)],
        "the monotonic clock does not jump"
    );
}

#[test]
fn client_operations_are_recorded_with_their_outcome() {
    let plan = FaultPlan::default().at(
        ms(50),
        Fault::Crash {
            node: NodeId(1),
            restart_after: None,
        },
    );
    let config = Config::new(2, 1)
        .plan(plan)
        .client_timeout(Duration::from_millis(30));
    let mut sim =
        probe_sim(config, &[]).clients(1, |_client, now: Time, _rng: &mut sim::SimRng| {
            (now < ms(100)).then(|| sim::Invocation {
                node: NodeId(1),
                request: 21,
                after: Duration::from_millis(20),
            })
        });
    sim.run_until(ms(200)).unwrap();
    let history = sim.history();
    let outcomes: Vec<String> = history
        .ops
        .iter()
        .map(|r| format!("{} at {} {:?}", r.op, r.invoked, r.outcome))
        .collect();
    assert_eq!(
        outcomes,
        [
            "c0#0 at 20.000ms Ok { at: 20.000ms, response: 42 }",
            "c0#1 at 40.000ms Ok { at: 40.000ms, response: 42 }",
            "c0#2 at 60.000ms TimedOut { at: 90.000ms }",
            "c0#3 at 110.000ms TimedOut { at: 140.000ms }",
        ]
    );
    let times: Vec<Time> = sim.trace().events.iter().map(|e| e.time).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "the trace is in time order even with think time"
    );
    let requests = sim::render::text::render(sim.trace());
    assert!(
        requests.contains("    20.000ms  n1    request c0#0  21"),
        "{requests}"
    );
    let ops = history.to_lincheck(|req, resp| (*req, resp.copied()));
    assert_eq!(ops[0].ret, Some(20_000_000));
    assert_eq!((ops[2].ret, ops[2].output), (None, None));
}

#[test]
fn a_monitor_halts_the_run_at_the_first_violation() {
    let mut sim =
        probe_sim(Config::new(2, 1), &[10, 20, 30]).monitor("n1 gets at most one ping", |view| {
            match view.node(NodeId(1)) {
                Some(n) if n.received.len() > 1 => Err(format!("it got {}", n.received.len())),
                _ => Ok(()),
            }
        });
    let halt = sim.run_until(ms(100)).unwrap_err();
    assert_eq!(halt.time, ms(21));
    assert_eq!(
        halt.reason,
        HaltReason::Monitor {
            name: "n1 gets at most one ping".into(),
            message: "it got 2".into()
        }
    );
    assert!(halt.to_string().contains("recv #3 ← n0  Ping(1)"), "{halt}");
}

struct Panicker;

impl Node for Panicker {
    type Msg = ();
    type Timer = ();
    type Request = ();
    type Response = ();
    type Durable = ();
    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        ctx.note("about to fail");
        ctx.set_timer(Duration::from_millis(7), ());
    }
    fn on_message(&mut self, _: &mut Context<'_, Self>, _: NodeId, _: ()) {}
    fn on_timer(&mut self, _: &mut Context<'_, Self>, _: ()) {
        todo!("implement the timer")
    }
}

#[test]
fn a_panicking_node_stops_the_run_with_where_and_when() {
    let mut sim = Simulation::new(Config::new(1, 99), |_, _| Panicker);
    let halt = sim.run_until(ms(100)).unwrap_err();
    let text = halt.to_string();
    assert!(
        text.starts_with(
            "node n0 panicked at 7.000ms while handling a timer: not yet implemented: implement the timer\n  at crates/sim/tests/faults.rs:"
        ),
        "{text}"
    );
    assert!(text.contains("\nseed: 99\n"), "{text}");
    assert!(text.contains("» about to fail"), "{text}");
    assert!(sim.run_until(ms(200)).is_err(), "a halted run stays halted");
}

struct Spinner;

impl Node for Spinner {
    type Msg = ();
    type Timer = ();
    type Request = ();
    type Response = ();
    type Durable = ();
    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        ctx.set_timer(Duration::ZERO, ());
    }
    fn on_message(&mut self, _: &mut Context<'_, Self>, _: NodeId, _: ()) {}
    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, _: ()) {
        ctx.set_timer(Duration::ZERO, ());
    }
}

#[test]
fn a_node_that_never_yields_is_stopped_by_the_step_budget() {
    let mut sim = Simulation::new(Config::new(1, 5).step_budget(1000), |_, _| Spinner);
    let halt = sim.run_until(ms(1)).unwrap_err();
    assert_eq!(halt.reason, HaltReason::StepBudget { steps: 1000 });
    assert_eq!(halt.time, Time::ZERO);
    assert!(halt.to_string().contains("never yields"));
}

#[test]
fn running_to_completion_leaves_the_clock_at_the_last_event() {
    let mut sim = probe_sim(Config::new(2, 1), &[10]);
    sim.run().unwrap();
    assert_eq!(
        sim.now(),
        ms(12),
        "the pong arrives at 12 ms and nothing follows"
    );
    sim.run_for(Duration::from_millis(5)).unwrap();
    assert_eq!(sim.now(), ms(17));
}

#[test]
fn crashing_a_node_that_is_down_does_nothing_and_schedules_no_restart() {
    let crash = |restart_ms| Fault::Crash {
        node: NodeId(1),
        restart_after: Some(Duration::from_millis(restart_ms)),
    };
    let plan = FaultPlan::default()
        .at(ms(5), crash(40))
        .at(ms(10), crash(5));
    let mut sim = probe_sim(Config::new(2, 1).plan(plan), &[]);
    sim.run_until(ms(100)).unwrap();
    let restarts: Vec<Time> = sim
        .trace()
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Start { restart: true, .. }))
        .map(|e| e.time)
        .collect();
    assert_eq!(restarts, vec![ms(45)], "only the first crash's restart");
}

#[test]
fn the_counters_count_sends_and_timers_that_fired() {
    let plan = FaultPlan::default().at(
        ms(15),
        Fault::Crash {
            node: NodeId(0),
            restart_after: None,
        },
    );
    let mut sim = probe_sim(Config::new(2, 1).plan(plan).trace(false), &[10, 20, 30]);
    sim.run_until(ms(100)).unwrap();
    // n0 fired one timer (at 10 ms) and sent Ping(0); n1 answered it; the crash killed the
    // timers at 20 and 30 ms.
    assert_eq!(sim.timers_fired(), 1);
    assert_eq!(sim.sends(), 2);
}

#[test]
fn a_monitor_sees_what_the_step_just_did() {
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let log = std::rc::Rc::clone(&seen);
    let mut sim = probe_sim(Config::new(2, 1), &[10]).monitor("log", move |view| {
        let lines: Vec<String> = view.events().iter().map(sim::render::text::line).collect();
        log.borrow_mut().push(lines.join(" | "));
        Ok(())
    });
    sim.run_until(ms(20)).unwrap();
    let seen = seen.borrow();
    // n0's timer fires and it sends in the same step; n1's delivery and its answer in the next.
    assert!(
        seen.iter()
            .any(|s| s.contains("n0    timer 0") && s.contains("send #1 → n1  Ping(0)")),
        "{seen:#?}"
    );
    assert!(
        seen.iter()
            .any(|s| s.contains("recv #1 ← n0  Ping(0)") && s.contains("send #2 → n0  Pong(0)")),
        "{seen:#?}"
    );
}
