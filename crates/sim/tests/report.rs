//! A failing property tells the learner what broke, with the seed, the shrunk plan, the
//! timeline and a command that replays exactly that case.

use sim::check::{Failure, PlanBounds, Property, plans};
use sim::{Config, Context, Fault, Node, NodeId, Simulation, Time};
use std::time::Duration;

/// Sends a heartbeat every 10 ms; notes "alive" when one arrives.
struct Beat;

impl Node for Beat {
    type Msg = ();
    type Timer = ();
    type Request = ();
    type Response = ();
    type Durable = ();
    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        ctx.set_timer(Duration::from_millis(10), ());
    }
    fn on_message(&mut self, _: &mut Context<'_, Self>, _: NodeId, _: ()) {}
    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, _: ()) {
        ctx.send(NodeId(1 - ctx.id().0), ());
        ctx.set_timer(Duration::from_millis(10), ());
    }
}

/// A property that is false whenever the plan crashes anything: the harness must find it,
/// shrink it to one crash, and report it.
fn never_crash(case: &sim::check::Case) -> Result<(), Failure> {
    let mut sim = Simulation::new(Config::new(2, case.seed).plan(case.plan.clone()), |_, _| {
        Beat
    });
    sim.run_until(Time::from_millis(300))?;
    if let Some(e) = sim
        .trace()
        .events
        .iter()
        .find(|e| matches!(e.kind, sim::EventKind::Crash { .. }))
    {
        return Err(Failure::new("a node crashed").at(e.time).trace(sim.trace()));
    }
    Ok(())
}

#[test]
fn a_failing_property_reports_seed_shrunk_plan_timeline_and_replay() {
    let property = Property::new("no node ever crashes")
        .cases(200)
        .replay_command("cargo test -p sim --test report")
        .book("book/src/simulator.md#properties");
    let bounds = PlanBounds {
        max_faults: 6,
        // With two nodes the default (a minority) allows no crash at all.
        max_down_at_once: 1,
        ..PlanBounds::new(2, Duration::from_millis(200))
    };
    let panic = std::panic::catch_unwind(|| property.check(plans(bounds), never_crash))
        .expect_err("the property is false and must fail");
    let report = panic.downcast_ref::<String>().expect("a formatted report");
    assert!(
        report.contains("property violated: no node ever crashes"),
        "{report}"
    );
    assert!(report.contains("a node crashed"));
    assert!(report.contains("\nseed: "));
    // Shrinking leaves one fault, a crash, and a calm network.
    let plan_lines: Vec<&str> = report
        .lines()
        .skip_while(|l| !l.starts_with("fault plan"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    assert_eq!(plan_lines.len(), 2, "{report}");
    assert!(plan_lines[1].contains("crash n0"), "{report}");
    assert!(
        report.contains("CRASH"),
        "the timeline shows the crash: {report}"
    );
    assert!(report.contains("SIM_REPLAY='{\"property\":\"no node ever crashes\""));
    assert!(report.contains("' cargo test -p sim --test report"));
    assert!(report.contains("read: book/src/simulator.md#properties"));
}

#[test]
fn a_true_property_passes_and_says_how_many_schedules_it_explored() {
    let bounds = PlanBounds {
        crashes: false,
        ..PlanBounds::new(2, Duration::from_millis(200))
    };
    let explored = Property::new("no crash without crash faults")
        .cases(40)
        .check(plans(bounds), never_crash);
    assert_eq!(explored.cases, 40);
}

#[test]
fn a_saved_case_replays_from_its_json() {
    let plan = sim::FaultPlan::default().at(
        Time::from_millis(20),
        Fault::Crash {
            node: NodeId(1),
            restart_after: None,
        },
    );
    let case = sim::check::Case { seed: 4, plan };
    let json = serde_json::to_string(&case).unwrap();
    let back: sim::check::Case = serde_json::from_str(&json).unwrap();
    let failure = never_crash(&back).unwrap_err();
    assert_eq!(failure.at, Some(Time::from_millis(20)));
    let report = Property::new("p").report(&back, &failure, true);
    assert!(report.contains("the whole timeline:"), "{report}");
    assert!(report.contains("    20.000ms  n1    CRASH"), "{report}");
}
