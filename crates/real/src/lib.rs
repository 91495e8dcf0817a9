//! A real runtime for any [`sim::Node`]: the same sans-IO node the simulator drives, run as
//! one OS process per node, talking UDP on loopback, with timers on the process's monotonic
//! clock, the system's wall clock, durable state in a file synced before a handler's effects
//! leave, and real faults (`kill -STOP` is a pause, `kill -9` and a restart a crash).
//!
//! A real-run binary is one line of `main` over the chapter's node:
//!
//! ```no_run
//! # struct Pinger;
//! # impl sim::Node for Pinger {
//! #     type Msg = String; type Timer = (); type Request = (); type Response = (); type Durable = ();
//! #     fn on_start(&mut self, _: &mut sim::Context<'_, Self>) {}
//! #     fn on_message(&mut self, _: &mut sim::Context<'_, Self>, _: sim::NodeId, _: String) {}
//! #     fn on_timer(&mut self, _: &mut sim::Context<'_, Self>, _: ()) {}
//! # }
//! // Started by the conductor (`cargo xtask real SLUG`), or by hand with `--id` and `--cluster`.
//! fn main() {
//!     real::node_main(|_id, _durable| Pinger)
//! }
//! ```
//!
//! The runtime asks more of a node's types than the simulator does: messages and durable state
//! must be serde values, to cross a socket and a restart. Everything else is the simulator's
//! [`sim::Context`] API, answered through [`sim::Host`].
//!
//! [`conduct::conduct`] starts a cluster, merges every process's trace events (written as the
//! simulator's [`sim::Event`] JSON, one line each) into one timeline that the simulator's
//! renderers draw, and carries out commands: typed, from a script, or from a
//! [`sim::FaultPlan`], whose network faults (loss, latency, duplication, reordering) each sender
//! injects between the node and the socket, and whose partitions every node enforces on the
//! conductor's word.
//!
//! What a real run is not: it does not replay (the scheduler, the clocks and the socket
//! buffers decide), and the order of two events in different processes is only as good as the
//! moment each process stamped them.

pub mod clock;
pub mod conduct;
pub mod merge;
pub mod process;
pub mod script;
pub mod wire;

pub use conduct::{Options, Outcome, conduct};
pub use process::node_main;

use sim::{Event, EventKind, Fault, FaultPlan, NetConfig, Time, Trigger};

/// The network of a real run without a plan: nothing injected, loopback as it is.
pub fn quiet_network() -> NetConfig {
    NetConfig {
        latency: process::no_added_latency(),
        ..NetConfig::default()
    }
}

/// A plan a real run can carry out, or why not. The conductor runs timed crashes, pauses and
/// partitions; each node injects the network's faults and its note triggers that pause it.
pub fn check_plan(plan: &FaultPlan, nodes: u32) -> Result<(), String> {
    for fault in &plan.faults {
        match &fault.fault {
            Fault::Slow { .. } => {
                return Err(
                    "a real run cannot make a process slow: stop and continue it instead".into(),
                );
            }
            Fault::ClockStep { .. } => {
                return Err("a real run uses the machine's clocks: they cannot be stepped".into());
            }
            other => {
                if let Some(node) = other.nodes().into_iter().find(|n| n.0 >= nodes) {
                    return Err(format!(
                        "the plan names {node}, but the run has {nodes} nodes"
                    ));
                }
            }
        }
    }
    if plan.clocks.iter().any(|c| *c != sim::ClockSpec::default()) {
        return Err(
            "a real run uses the machine's clocks: the plan's clock drift and offsets cannot apply"
                .into(),
        );
    }
    check_triggers(plan)
}

/// Only note triggers that pause the node that noted: the node freezes itself right after
/// the note, and the conductor continues it. Message and state predicates are code that a
/// test registers on a simulation; a real run has none.
pub fn check_triggers(plan: &FaultPlan) -> Result<(), String> {
    for triggered in &plan.triggered {
        let pauses_subject = matches!(
            triggered.fault,
            Fault::Pause { node, .. } if node == sim::NodeId::SUBJECT
        );
        if !matches!(triggered.when, Trigger::Note { .. })
            || !pauses_subject
            || !triggered.delay.is_zero()
        {
            return Err(format!(
                "a real run carries out only note triggers that pause the node that noted, at once: not {} → {}",
                triggered.when, triggered.fault
            ));
        }
    }
    Ok(())
}

/// One line of the live timeline: the simulator's text line, with a pause whose end is not
/// known yet said so.
pub fn line(event: &Event) -> String {
    match event.kind {
        EventKind::Pause { until, .. } if until == Time::MAX => {
            let mut text = sim::render::text::line(event);
            if let Some(at) = text.find("PAUSE") {
                text.truncate(at);
                text.push_str("PAUSE (SIGSTOP) until continued");
            }
            text
        }
        _ => sim::render::text::line(event),
    }
}
