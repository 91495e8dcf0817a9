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

pub mod check;
pub mod clock;
pub mod echo;
mod engine;
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
pub use engine::{Config, Halt, HaltReason, Simulation, View};
pub use lincheck;
pub use net::{Latency, NetConfig};
pub use node::{Context, Node, OpId, SimRng, TimerId};
pub use plan::{Fault, FaultPlan, Partition, Side, TimedFault, Trigger, TriggeredFault};
pub use proptest;
pub use rand;
pub use time::{NodeId, Time};
pub use trace::{DropReason, Event, EventKind, Trace};
pub use workload::{History, Invocation, OpRecord, Outcome, Workload};
