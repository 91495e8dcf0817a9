//! Real runs of the demo node on loopback: each fault the runtime offers does what it says,
//! seen in the merged trace, and no process outlives its run.

use real::script::{self, Scheduled};
use real::{Options, conduct};
use sim::{EventKind, FaultPlan, NodeId, Time, Trace, Trigger};
use std::time::Duration;

fn run(name: &str, nodes: u32, millis: u64, script_text: &str, plan: FaultPlan) -> Trace {
    let script: Vec<Scheduled> = script::script(script_text, nodes).unwrap();
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let outcome = conduct(Options {
        binary: env!("CARGO_BIN_EXE_real-demo").into(),
        nodes,
        duration: Some(Duration::from_millis(millis)),
        script,
        plan,
        seed: 1,
        out,
        interactive: false,
        live: false,
    })
    .unwrap();
    assert_eq!(outcome.strays, 0, "processes of the run outlived it");
    assert!(outcome.exits.is_empty(), "{:?}", outcome.exits);
    outcome.trace
}

fn notes(trace: &Trace, node: u32, text: &str) -> Vec<Time> {
    trace
        .notes(NodeId(node))
        .into_iter()
        .filter(|(_, t)| *t == text)
        .map(|(at, _)| at)
        .collect()
}

/// How many events of the trace `is` accepts.
fn count(trace: &Trace, is: impl Fn(&EventKind) -> bool) -> usize {
    trace.events.iter().filter(|e| is(&e.kind)).count()
}

/// When `node`'s first pause began and when it ended.
fn pause_of(trace: &Trace, node: NodeId) -> Option<(Time, Time)> {
    trace.events.iter().find_map(|e| match e.kind {
        EventKind::Pause { node: n, until } if n == node => Some((e.time, until)),
        _ => None,
    })
}

fn ms(t: u64) -> Time {
    Time::from_millis(t)
}

#[test]
fn durable_state_survives_kill_9_and_a_restart() {
    let trace = run(
        "crash",
        2,
        900,
        "300ms crash n1\n500ms restart n1\n",
        FaultPlan::with_network(real::quiet_network()),
    );
    assert_eq!(notes(&trace, 1, "life 1").len(), 1);
    let second = notes(&trace, 1, "life 2");
    assert_eq!(
        second.len(),
        1,
        "n1 restarted from its durable file: {trace:?}"
    );
    assert!(second[0] >= ms(500));
    let restarted = trace.events.iter().any(|e| {
        matches!(
            e.kind,
            EventKind::Start {
                node: NodeId(1),
                restart: true
            }
        )
    });
    let crashed = trace
        .events
        .iter()
        .any(|e| matches!(e.kind, EventKind::Crash { node: NodeId(1) }));
    assert!(restarted && crashed);
}

#[test]
fn sigstop_silences_a_node_until_sigcont() {
    let trace = run(
        "pause",
        2,
        1_100,
        "200ms pause n1\n700ms resume n1\n",
        FaultPlan::with_network(real::quiet_network()),
    );
    let silent = notes(&trace, 0, "silent n1");
    let back = notes(&trace, 0, "back n1");
    assert_eq!(silent.len(), 1, "{}", sim::render::text::render(&trace));
    assert!(silent[0] > ms(200) && silent[0] < ms(700));
    assert_eq!(back.len(), 1);
    assert!(back[0] >= ms(700));
    let pause = pause_of(&trace, NodeId(1));
    let (from, until) = pause.expect("the pause is on the timeline");
    assert!(from >= ms(200) && until >= ms(700) && until < Time::MAX);
}

#[test]
fn a_partition_drops_messages_until_it_heals() {
    let trace = run(
        "partition",
        2,
        1_000,
        "200ms partition n0 | n1\n600ms heal\n",
        FaultPlan::with_network(real::quiet_network()),
    );
    let partitioned = count(&trace, |k| {
        matches!(
            k,
            EventKind::Drop {
                reason: sim::DropReason::Partitioned,
                ..
            }
        )
    });
    assert!(partitioned > 0);
    for node in [0, 1] {
        let other = 1 - node;
        assert_eq!(notes(&trace, node, &format!("silent n{other}")).len(), 1);
        assert!(notes(&trace, node, &format!("back n{other}"))[0] >= ms(600));
    }
}

#[test]
fn the_plans_loss_is_injected_by_every_sender() {
    let lossy = sim::NetConfig {
        loss: 1.0,
        ..real::quiet_network()
    };
    let trace = run("loss", 2, 400, "", FaultPlan::with_network(lossy));
    let sends = count(&trace, |k| matches!(k, EventKind::Send { .. }));
    let lost = count(&trace, |k| {
        matches!(
            k,
            EventKind::Drop {
                reason: sim::DropReason::Lost,
                ..
            }
        )
    });
    let delivered = count(&trace, |k| matches!(k, EventKind::Deliver { .. }));
    assert!(sends > 0 && lost == sends && delivered == 0);
}

#[test]
fn a_note_trigger_freezes_the_node_at_that_moment() {
    let plan = FaultPlan::with_network(real::quiet_network()).when(
        Trigger::Note {
            node: Some(NodeId(1)),
            contains: "life 2".into(),
        },
        Time::ZERO,
        sim::Fault::Pause {
            node: NodeId::SUBJECT,
            duration: Duration::from_millis(400),
        },
    );
    // n1 is killed and restarted; the note of its second life freezes it.
    let trace = run(
        "trigger",
        2,
        1_100,
        "300ms crash n1\n350ms restart n1\n",
        plan,
    );
    let life = notes(&trace, 1, "life 2")[0];
    let (paused, until) = pause_of(&trace, NodeId(1)).expect("n1 froze");
    assert!(paused >= life && paused < life + Duration::from_millis(50));
    assert!(until >= paused + Duration::from_millis(400));
    assert!(
        trace
            .events
            .iter()
            .any(|e| matches!(e.kind, EventKind::Resume { node: NodeId(1) }))
    );
    assert_eq!(notes(&trace, 0, "silent n1").len(), 1);
    assert!(notes(&trace, 0, "back n1")[0] >= until);
}

#[test]
fn a_plan_the_real_world_cannot_carry_out_is_refused() {
    let plan = FaultPlan::default().at(
        Time::ZERO,
        sim::Fault::ClockStep {
            node: NodeId(0),
            by_ns: 5,
        },
    );
    assert!(real::check_plan(&plan, 2).unwrap_err().contains("clocks"));
    let plan = FaultPlan::default().when(
        Trigger::holds("leader"),
        Time::ZERO,
        sim::Fault::Pause {
            node: NodeId::SUBJECT,
            duration: Duration::ZERO,
        },
    );
    assert!(
        real::check_plan(&plan, 2)
            .unwrap_err()
            .contains("note triggers")
    );
}

#[test]
fn the_plans_latency_holds_each_message_back() {
    let slow = sim::NetConfig {
        latency: sim::Latency::Constant(Duration::from_millis(30)),
        ..real::quiet_network()
    };
    let trace = run("latency", 2, 500, "", FaultPlan::with_network(slow));
    let delays: Vec<Duration> = trace
        .events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Deliver { sent, .. } => Some(e.time - sent),
            _ => None,
        })
        .collect();
    assert!(!delays.is_empty());
    // Held back 30 ms by the sender, then loopback and the receiver's loop on top.
    assert!(
        delays.iter().all(|d| *d >= Duration::from_millis(30)),
        "{delays:?}"
    );
}

#[test]
fn the_plans_duplication_delivers_a_marked_copy() {
    let doubled = sim::NetConfig {
        duplicate: 1.0,
        ..real::quiet_network()
    };
    let trace = run("duplicate", 2, 400, "", FaultPlan::with_network(doubled));
    let sends = count(&trace, |k| matches!(k, EventKind::Send { .. }));
    let copies = count(&trace, |k| {
        matches!(
            k,
            EventKind::Deliver {
                duplicate: true,
                ..
            }
        )
    });
    let originals = count(&trace, |k| {
        matches!(
            k,
            EventKind::Deliver {
                duplicate: false,
                ..
            }
        )
    });
    // Messages still in flight when the run ends may miss either delivery.
    assert!(
        sends > 4 && copies + 2 >= sends && originals + 2 >= sends,
        "{sends} {copies} {originals}"
    );
}

#[test]
fn a_script_that_resumes_a_running_node_is_refused_and_ends_every_process() {
    let script = script::script("200ms resume n1\n", 2).unwrap();
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("refused");
    let refused = conduct(Options {
        binary: env!("CARGO_BIN_EXE_real-demo").into(),
        nodes: 2,
        duration: Some(Duration::from_millis(600)),
        script,
        plan: FaultPlan::with_network(real::quiet_network()),
        seed: 1,
        out,
        interactive: false,
        live: false,
    })
    .unwrap_err();
    assert!(refused.contains("n1 is not paused"), "{refused}");
    assert!(!refused.contains("left behind"), "{refused}");
}
