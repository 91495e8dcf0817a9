//! Faults aimed at the moments that matter: triggered faults (on a note, a message sent or
//! delivered, a state predicate), late starts, and generated faults aimed at some nodes.

use sim::check::{PlanBounds, plans};
use sim::proptest::strategy::{Strategy, ValueTree};
use sim::proptest::test_runner::TestRunner;
use sim::trace::{DropReason, EventKind};
use sim::{
    Config, Context, Fault, FaultPlan, Node, NodeId, Partition, Side, Simulation, Time, Trigger,
    TriggeredFault,
};
use std::time::Duration;

/// n0 sends `Ping(k)` to n1 every 10 ms (k = 0, 1, ...) and notes `sent k`; n1 answers each
/// with `Pong(k)` and notes `got k`.
struct Ticker {
    next: u32,
}

#[derive(Clone, Debug, PartialEq)]
enum Msg {
    Ping(u32),
    Pong(u32),
}

impl Node for Ticker {
    type Msg = Msg;
    type Timer = ();
    type Request = ();
    type Response = ();
    type Durable = ();

    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        if ctx.id() == NodeId(0) {
            ctx.set_timer(Duration::from_millis(10), ());
        }
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: Msg) {
        if let Msg::Ping(k) = msg {
            ctx.note(format!("got {k}"));
            ctx.send(from, Msg::Pong(k));
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, _: ()) {
        let k = self.next;
        self.next += 1;
        ctx.note(format!("sent {k}"));
        ctx.send(NodeId(1), Msg::Ping(k));
        ctx.set_timer(Duration::from_millis(10), ());
    }
}

fn ticker(plan: FaultPlan) -> Simulation<Ticker> {
    Simulation::new(Config::new(2, 3).plan(plan), |_, _| Ticker { next: 0 })
        .message_predicate("ping", |_, _, msg| matches!(msg, Msg::Ping(_)))
        .message_predicate("third ping", |_, _, msg| *msg == Msg::Ping(2))
}

fn ms(ms: u64) -> Time {
    Time::from_millis(ms)
}

/// The trace's lines, as the text renderer prints them.
fn lines(sim: &Simulation<Ticker>) -> Vec<String> {
    sim.trace()
        .events
        .iter()
        .map(sim::render::text::line)
        .collect()
}

#[test]
fn a_note_trigger_crashes_the_node_that_noted_right_after_its_handler() {
    let plan = FaultPlan::default().when(
        Trigger::note("got 1"),
        Time::ZERO,
        Fault::Crash {
            node: NodeId::SUBJECT,
            restart_after: None,
        },
    );
    let mut sim = ticker(plan);
    sim.run_until(ms(50)).unwrap();
    let lines = lines(&sim);
    let noted = lines.iter().position(|l| l.contains("» got 1")).unwrap();
    // The handler finishes (its pong goes out), then the trigger and the crash, at that instant.
    assert!(
        lines[noted + 1].contains("send #4 → n0  Pong(1)"),
        "{lines:#?}"
    );
    assert!(
        lines[noted + 2].contains("n1    TRIGGER n1 noted \"got 1\" → crash n1 for good"),
        "{lines:#?}"
    );
    assert!(lines[noted + 3].ends_with("n1    CRASH"), "{lines:#?}");
    assert!(lines[noted + 3].starts_with("    21.000ms"), "{lines:#?}");
    // It fires once: n1 is gone, and nothing else goes off.
    assert_eq!(lines.iter().filter(|l| l.contains("TRIGGER")).count(), 1);
    assert!(sim.node(NodeId(1)).is_none());
}

#[test]
fn a_send_trigger_can_pause_the_receiver_before_the_message_arrives() {
    let plan = FaultPlan::default().when(
        Trigger::send("third ping", Side::Receiver),
        Time::ZERO,
        Fault::Pause {
            node: NodeId::SUBJECT,
            duration: Duration::from_millis(15),
        },
    );
    let mut sim = ticker(plan);
    sim.run_until(ms(60)).unwrap();
    let text = sim::render::text::render(sim.trace());
    assert!(
        text.contains("    30.000ms  n1    TRIGGER n0 sent #5 Ping(2) to n1 → pause n1 for 15ms"),
        "{text}"
    );
    // Ping(2) left at 30 ms and would have arrived at 31; n1 handles it when it resumes at 45.
    let got: Vec<Time> = sim
        .trace()
        .notes(NodeId(1))
        .iter()
        .filter(|(_, t)| *t == "got 2")
        .map(|(at, _)| *at)
        .collect();
    assert_eq!(got, vec![ms(45)]);
}

#[test]
fn a_delivery_trigger_names_the_sender_or_the_receiver_and_can_wait() {
    let mut plan = FaultPlan::default();
    plan.triggered.push(TriggeredFault {
        when: Trigger::deliver("ping", Side::Sender),
        from: ms(25),
        delay: Duration::from_millis(2),
        fault: Fault::Crash {
            node: NodeId::SUBJECT,
            restart_after: Some(Duration::from_millis(100)),
        },
    });
    let mut sim = ticker(plan);
    sim.run_until(ms(60)).unwrap();
    let text = sim::render::text::render(sim.trace());
    // Armed from 25 ms: the first ping delivered after that is Ping(2) at 31 ms; its sender n0
    // crashes 2 ms later.
    assert!(
        text.contains(
            "    31.000ms  n0    TRIGGER n1 received #5 Ping(2) from n0 → crash n0, restart \
             after 100ms in 2ms"
        ),
        "{text}"
    );
    assert!(text.contains("    33.000ms  n0    CRASH"), "{text}");
}

#[test]
fn a_state_trigger_fires_the_first_time_its_predicate_names_a_node_after_it_is_armed() {
    let plan = FaultPlan::default().when(
        Trigger::holds("answered three"),
        ms(5),
        Fault::Partition {
            partition: Partition::Split(vec![vec![NodeId::SUBJECT]]),
            duration: Duration::from_millis(20),
        },
    );
    let mut sim = ticker(plan).state_predicate("answered three", |view| {
        // n0 has sent three pings once its counter reaches 3.
        view.node(NodeId(0))
            .filter(|n0| n0.next >= 3)
            .map(|_| NodeId(0))
    });
    sim.run_until(ms(80)).unwrap();
    let text = sim::render::text::render(sim.trace());
    assert!(
        text.contains(
            "    30.000ms  n0    TRIGGER \"answered three\" holds for n0 → partition {n0} | rest \
             for 20ms"
        ),
        "{text}"
    );
    let partitioned = sim
        .trace()
        .events
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::Drop {
                    reason: DropReason::Partitioned,
                    ..
                }
            )
        })
        .count();
    assert!(partitioned >= 2, "{text}");
}

#[test]
#[should_panic(expected = "message predicate \"grant\"")]
fn a_plan_that_names_an_unregistered_predicate_is_refused() {
    let plan = FaultPlan::default().when(
        Trigger::deliver("grant", Side::Receiver),
        Time::ZERO,
        Fault::Pause {
            node: NodeId::SUBJECT,
            duration: Duration::from_millis(1),
        },
    );
    let _ = ticker(plan).run_until(ms(10));
}

#[test]
fn triggered_faults_round_trip_and_print_in_the_plan() {
    let plan = FaultPlan::default()
        .when(
            Trigger::deliver("grant", Side::Receiver),
            ms(100),
            Fault::Pause {
                node: NodeId::SUBJECT,
                duration: Duration::from_millis(700),
            },
        )
        .start(NodeId(2), Duration::from_millis(7));
    let back: FaultPlan = serde_json::from_str(&plan.to_json()).unwrap();
    assert_eq!(back, plan);
    let text = plan.to_string();
    assert!(text.contains("n2 starts at 7ms"), "{text}");
    assert!(
        text.contains(
            "triggered  when a \"grant\" message is delivered (n* = its receiver) from \
             100.000ms on: pause n* for 700ms"
        ),
        "{text}"
    );
    // A plan without triggers or offsets keeps its old JSON form.
    assert!(!FaultPlan::default().to_json().contains("triggered"));
}

#[test]
fn a_late_node_is_down_until_it_starts() {
    let plan = FaultPlan::default().start(NodeId(1), Duration::from_millis(25));
    let mut sim = ticker(plan);
    sim.run_until(ms(45)).unwrap();
    let text = sim::render::text::render(sim.trace());
    assert!(text.contains("    25.000ms  n1    start"), "{text}");
    // Ping(0) and Ping(1) arrive at 11 and 21 ms, before n1 exists.
    assert!(
        text.contains("    11.000ms  n1    drop #1 ← n0 (node down)  Ping(0)"),
        "{text}"
    );
    assert!(text.contains("    31.000ms  n1    » got 2"), "{text}");
}

#[test]
fn generated_faults_touch_only_the_targets() {
    let bounds = PlanBounds {
        targets: vec![NodeId(2), NodeId(3)],
        max_faults: 8,
        ..PlanBounds::new(5, Duration::from_secs(1))
    };
    let strategy = plans(bounds);
    let mut runner = TestRunner::deterministic();
    let mut kinds = std::collections::BTreeSet::new();
    for _ in 0..300 {
        let plan = strategy.new_tree(&mut runner).unwrap().current();
        for tf in &plan.faults {
            kinds.insert(
                format!("{:?}", tf.fault)
                    .split(' ')
                    .next()
                    .unwrap()
                    .to_string(),
            );
            match &tf.fault {
                Fault::Partition { partition, .. } => {
                    for (a, b) in partition.blocked_links(5) {
                        assert!(
                            [a, b].iter().any(|n| n.0 == 2 || n.0 == 3),
                            "{partition} cuts {a}-{b}"
                        );
                    }
                }
                fault => assert!(
                    fault.nodes().iter().all(|n| n.0 == 2 || n.0 == 3),
                    "{fault}"
                ),
            }
        }
    }
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["Crash", "Partition", "Pause", "Slow"]
    );
}

#[test]
fn generated_triggered_faults_aim_at_the_subject_and_stay_in_bounds() {
    let bounds = PlanBounds {
        triggers: vec![
            Trigger::deliver("grant", Side::Receiver),
            Trigger::holds("leader"),
        ],
        max_triggered: 3,
        max_trigger_delay: Duration::from_millis(5),
        max_start_offset: Duration::from_millis(40),
        ..PlanBounds::new(3, Duration::from_secs(1))
    };
    let strategy = plans(bounds);
    let mut runner = TestRunner::deterministic();
    let (mut triggered, mut late) = (0, 0);
    for _ in 0..200 {
        let plan = strategy.new_tree(&mut runner).unwrap().current();
        assert!(plan.triggered.len() <= 3);
        for tf in &plan.triggered {
            triggered += 1;
            assert!(tf.delay <= Duration::from_millis(5));
            assert!(tf.from < ms(1000));
            assert!(
                tf.fault.nodes().contains(&NodeId::SUBJECT),
                "{} names no subject",
                tf.fault
            );
        }
        assert!(plan.starts.iter().all(|s| *s <= Duration::from_millis(40)));
        late += plan.starts.iter().filter(|s| !s.is_zero()).count();
    }
    assert!(triggered > 100 && late > 100, "{triggered} {late}");
}
