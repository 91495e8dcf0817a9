//! A deterministic simulator for distributed mechanisms, with fault injection, traces and
//! checkers: the engine under every exercise and every timeline of the workbook
//! *Distributed Systems, Like It or Not*.
//!
//! A mechanism is a [`Node`]: a state machine that reacts to start, messages, timers and client
//! requests, and acts only through its [`Context`]. The [`Simulation`] runs nodes under a
//! [`FaultPlan`] (loss, duplication, reordering, long-tailed latency, partitions, crashes,
//! pauses, slow nodes, clock drift and jumps), records a [`Trace`] that the [`render`] module
//! draws, and replays any run exactly from its seed.
//!
//! Two nodes ping each other over a link that loses a third of the messages:
//!
//! ```
//! use sim::{Config, Context, FaultPlan, NetConfig, Node, NodeId, Simulation, Time};
//! use std::time::Duration;
//!
//! struct Pinger;
//!
//! impl Node for Pinger {
//!     type Msg = &'static str;
//!     type Timer = &'static str;
//!     type Request = ();
//!     type Response = ();
//!     type Durable = ();
//!
//!     fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
//!         ctx.set_timer(Duration::from_millis(10), "tick");
//!     }
//!     fn on_timer(&mut self, ctx: &mut Context<'_, Self>, _timer: &'static str) {
//!         let peer = NodeId(1 - ctx.id().0);
//!         ctx.send(peer, "ping");
//!         ctx.set_timer(Duration::from_millis(10), "tick");
//!     }
//!     fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: &'static str) {
//!         if msg == "ping" {
//!             ctx.send(from, "pong");
//!         } else {
//!             ctx.note(format!("{from} is alive"));
//!         }
//!     }
//! }
//!
//! let lossy = FaultPlan::with_network(NetConfig { loss: 0.33, ..NetConfig::default() });
//! let mut sim = Simulation::new(Config::new(2, 7).plan(lossy.clone()), |_, _| Pinger);
//! sim.run_until(Time::from_millis(25)).unwrap();
//! let timeline = sim::render::text::render(sim.trace());
//! println!("{timeline}");
//! assert!(timeline.contains("send #1 → n1  \"ping\""));
//! // Same seed, same run: byte for byte.
//! let mut again = Simulation::new(Config::new(2, 7).plan(lossy), |_, _| Pinger);
//! again.run_until(Time::from_millis(25)).unwrap();
//! assert_eq!(again.trace(), sim.trace());
//! ```

//! ## Faults aimed at moments
//!
//! A random fault plan rarely lands in the narrow window where a mistake shows. A
//! [`TriggeredFault`] starts when something happens instead of at a fixed time: a node notes a
//! text, a message that a named predicate accepts is sent or delivered, or a named state
//! predicate first holds for a node ("whoever leads"). [`NodeId::SUBJECT`] in the fault stands
//! for the node the trigger names:
//!
//! ```
//! # use sim::{Fault, FaultPlan, NodeId, Side, Time, Trigger};
//! # use std::time::Duration;
//! // The moment any node is sent a "grant" message, freeze that node for longer than a
//! // lease, so the grant reaches it late.
//! let plan = FaultPlan::default().when(
//!     Trigger::send("grant", Side::Receiver),
//!     Time::ZERO,
//!     Fault::Pause { node: NodeId::SUBJECT, duration: Duration::from_millis(800) },
//! );
//! assert!(plan.to_string().contains("pause n* for 800ms"));
//! ```
//!
//! The test registers the predicates the plan names ([`Simulation::message_predicate`],
//! [`Simulation::state_predicate`]); the plan stays a plain value that reports print and
//! `SIM_REPLAY` replays. [`check::PlanBounds`] can also generate triggered faults, aim timed
//! faults at some nodes only (`targets`) and start nodes at different offsets
//! (`max_start_offset`).
//!
//! ## Invariants
//!
//! - Same seed and plan, same trace, byte for byte: nothing reads the host's clock, RNG or
//!   thread schedule, and no iteration order depends on hashing.
//! - Events happen in order of real time, and at one instant in the order they were scheduled.
//! - A node's timers run on its own monotonic clock, which never goes back; its wall clock may.
//! - After a crash a node keeps only its durable state; every timer and queued event of its old
//!   life is gone.
//! - Monitors see the state every event leaves, before any fault that event set off.
//!
//! ## Outside the simulator
//!
//! Nothing in a [`Node`] knows it is simulated: a real runtime (the workspace's `real` crate:
//! one process per node, UDP on loopback, the machine's clocks) answers the same [`Context`]
//! calls through a [`Host`], built with [`Context::hosted`]. Only the simulator replays.
//!
//! ## Knobs for property tests
//!
//! `SIM_SEED=N` mixes N into every property's generator seed (other fault plans, same
//! properties), `SIM_CASES=N` overrides every property's case count, and `SIM_REPLAY='...'`,
//! which every failure report prints, replays one case with its whole timeline. See
//! [`check`].

pub mod causality;
pub mod check;
pub mod clock;
pub mod echo;
mod engine;
pub mod metrics;
pub mod net;
pub mod node;
pub mod plan;
mod queue;
pub mod render;
pub mod scenario;
pub mod time;
pub mod trace;
mod trigger;
pub mod workload;

pub use clock::{ClockSpec, WallTime};
pub use engine::{Config, Halt, HaltReason, Simulation, View, cap_step_budget};
pub use lincheck;
pub use net::{Latency, NetConfig};
pub use node::{Context, Host, Node, OpId, SimRng, TimerId};
pub use plan::{Fault, FaultPlan, Partition, Side, TimedFault, Trigger, TriggeredFault};
pub use proptest;
pub use rand;
pub use time::{NodeId, Time};
pub use trace::{DropReason, Event, EventKind, NodeState, Trace};
pub use workload::{History, Invocation, OpRecord, Outcome, Workload};
