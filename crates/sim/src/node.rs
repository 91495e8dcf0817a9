//! The node API: a mechanism is a state machine that reacts to events and acts only through
//! its [`Context`]. It sees no host clock, no threads, no sockets: the simulator drives it, or
//! a real runtime through [`Host`].

use crate::clock::WallTime;
use crate::engine::{Local, World};
use crate::time::{NodeId, Time};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::fmt::{self, Debug};
use std::time::Duration;

/// The random number generator a node gets from [`Context::rng`]: seeded from the run's seed,
/// so a run replays exactly. Use it through `sim::rand::RngExt` (`random_range`, `random`).
pub type SimRng = ChaCha8Rng;

/// A mechanism under test: a deterministic state machine.
///
/// A node's struct holds its volatile state, lost in a crash. What must survive a crash goes in
/// [`Node::Durable`], written through [`Context::durable_mut`]; after a crash the simulator
/// builds a fresh node from it and calls [`Node::on_start`] again.
pub trait Node: Sized + 'static {
    /// What nodes send each other.
    type Msg: Clone + Debug;
    /// What a node's timers carry, to tell them apart when they fire.
    type Timer: Debug;
    /// A client's request to this node (use `()` if there are no clients).
    type Request: Clone + Debug;
    /// The node's answer to a request (use `()` if there are no clients).
    type Response: Clone + Debug;
    /// What survives a crash (use `()` if nothing does).
    type Durable: Default + Clone + Debug;

    /// Called once when the node starts, and again after each restart.
    fn on_start(&mut self, ctx: &mut Context<'_, Self>);
    /// A message from another node arrived.
    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: Self::Msg);
    /// A timer set with [`Context::set_timer`] fired.
    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, timer: Self::Timer);
    /// A client invoked an operation; answer it with [`Context::reply`].
    fn on_request(&mut self, ctx: &mut Context<'_, Self>, op: OpId, request: Self::Request) {
        let _ = (ctx, request);
        panic!("{op}: this node takes no client requests (implement Node::on_request)");
    }
}

/// A client operation's identity: the client and its operation number, shown as `c0#3`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OpId {
    pub client: u32,
    pub seq: u64,
}

impl fmt::Display for OpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}#{}", self.client, self.seq)
    }
}

impl Debug for OpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A timer's handle, for [`Context::cancel_timer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimerId(pub(crate) u64);

/// Everything a node can see and do while it handles one event.
///
/// In a simulation the simulator answers every call; outside it, a [`Host`] does (a real
/// runtime with a socket and the process's clocks), through [`Context::hosted`]. The node's
/// code is the same in both.
pub struct Context<'a, N: Node> {
    pub(crate) id: NodeId,
    backend: Backend<'a, N>,
}

enum Backend<'a, N: Node> {
    Simulated {
        now: Time,
        /// The service time this handler has cost so far: what it does after it happens then.
        spent: Duration,
        world: &'a mut World<N>,
        local: &'a mut Local<N>,
    },
    Hosted(&'a mut dyn Host<N>),
}

/// What drives a [`Node`] outside the simulator: a real runtime answers each call of the
/// [`Context`] API with a process, a socket and real clocks. Chapter code never sees it; a
/// runtime makes a context for each event with [`Context::hosted`].
///
/// The contract is the simulator's: `now` is monotonic, timers fire once `after` has passed on
/// it unless cancelled, what `durable_mut` changed survives a crash, and what a handler does
/// after [`spend`](Host::spend) happens once that work is done.
pub trait Host<N: Node> {
    /// The node's id.
    fn id(&self) -> NodeId;
    /// How many nodes the cluster has (`n0` to `n{nodes-1}`).
    fn nodes(&self) -> u32;
    /// The monotonic clock, counting from an epoch shared by the cluster when it can be.
    fn now(&self) -> Time;
    /// The wall clock.
    fn wall_clock(&self) -> WallTime;
    /// The handler does work that takes `duration` before what it does next.
    fn spend(&mut self, duration: Duration);
    /// Events waiting behind the one being handled.
    fn backlog(&self) -> usize;
    /// Sends `msg` to node `to` (already checked to exist).
    fn send(&mut self, to: NodeId, msg: N::Msg);
    /// Arms a timer; returns its handle, unique for this node's life.
    fn set_timer(&mut self, after: Duration, timer: N::Timer) -> u64;
    /// Disarms a timer (nothing if it fired already).
    fn cancel_timer(&mut self, timer: u64);
    /// The node's seeded random number generator.
    fn rng(&mut self) -> &mut SimRng;
    /// Records a note on the node's timeline.
    fn note(&mut self, text: String);
    /// Answers a client's operation.
    fn reply(&mut self, op: OpId, response: N::Response);
    /// The state that survives a crash.
    fn durable(&self) -> &N::Durable;
    /// Changes it; the host must make the change durable before any effect of this handler
    /// leaves the node.
    fn durable_mut(&mut self) -> &mut N::Durable;
}

impl<'a, N: Node> Context<'a, N> {
    pub(crate) fn simulated(
        id: NodeId,
        now: Time,
        spent: Duration,
        world: &'a mut World<N>,
        local: &'a mut Local<N>,
    ) -> Context<'a, N> {
        Context {
            id,
            backend: Backend::Simulated {
                now,
                spent,
                world,
                local,
            },
        }
    }

    /// A context answered by `host`, for a runtime that drives a node outside the simulator.
    pub fn hosted(host: &'a mut dyn Host<N>) -> Context<'a, N> {
        Context {
            id: host.id(),
            backend: Backend::Hosted(host),
        }
    }

    /// The service time a simulated handler has cost so far.
    pub(crate) fn spent(&self) -> Duration {
        match &self.backend {
            Backend::Simulated { spent, .. } => *spent,
            Backend::Hosted(_) => Duration::ZERO,
        }
    }
}

impl<N: Node> Context<'_, N> {
    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// Every node in the run, this one included.
    pub fn nodes(&self) -> impl Iterator<Item = NodeId> + use<N> {
        let count = match &self.backend {
            Backend::Simulated { world, .. } => world.nodes,
            Backend::Hosted(host) => host.nodes(),
        };
        (0..count).map(NodeId)
    }

    /// Every node in the run but this one.
    pub fn peers(&self) -> impl Iterator<Item = NodeId> + use<N> {
        let me = self.id;
        self.nodes().filter(move |n| *n != me)
    }

    /// This node's monotonic clock: never jumps, but drifts. Measure durations with it. After
    /// [`spend`](Context::spend) it reads the time the work is done.
    pub fn now(&self) -> Time {
        match &self.backend {
            Backend::Simulated {
                now, spent, local, ..
            } => local.clock.monotonic(*now + *spent),
            Backend::Hosted(host) => host.now(),
        }
    }

    /// This node's wall clock: offset, drifting, and liable to jump backwards or forwards.
    pub fn wall_clock(&self) -> WallTime {
        match &self.backend {
            Backend::Simulated {
                now, spent, local, ..
            } => local.clock.wall(*now + *spent),
            Backend::Hosted(host) => host.wall_clock(),
        }
    }

    /// Does work that takes `duration` of service time: what the handler does next (sends,
    /// replies, timers) happens when the work is done, and the node handles no other event
    /// until then; events that arrive meanwhile wait in its queue. A crash before the work is
    /// done loses what it would have sent.
    pub fn spend(&mut self, duration: Duration) {
        match &mut self.backend {
            Backend::Simulated { spent, .. } => *spent += duration,
            Backend::Hosted(host) => host.spend(duration),
        }
    }

    /// How many events are waiting for this node to finish its work (messages, requests and
    /// timers that arrived while it was busy), not counting the one being handled.
    pub fn backlog(&self) -> usize {
        match &self.backend {
            Backend::Simulated { local, .. } => local.backlog(),
            Backend::Hosted(host) => host.backlog(),
        }
    }

    /// Sends `msg` to `to` through the network.
    pub fn send(&mut self, to: NodeId, msg: N::Msg) {
        let id = self.id;
        match &mut self.backend {
            Backend::Simulated {
                now,
                spent,
                world,
                local,
            } => {
                assert!(to.0 < world.nodes, "{id}: send to unknown node {to}");
                if spent.is_zero() {
                    world.send(*now, id, to, msg);
                } else {
                    world.emit_later(
                        *now + *spent,
                        id,
                        local.incarnation,
                        crate::engine::Output::Send { to, msg },
                    );
                }
            }
            Backend::Hosted(host) => {
                assert!(to.0 < host.nodes(), "{id}: send to unknown node {to}");
                host.send(to, msg);
            }
        }
    }

    /// Fires [`Node::on_timer`] with `timer` once `after` has passed on this node's monotonic
    /// clock (so a drifting clock fires it early or late in real time).
    pub fn set_timer(&mut self, after: Duration, timer: N::Timer) -> TimerId {
        let id = self.id;
        match &mut self.backend {
            Backend::Simulated {
                now,
                spent,
                world,
                local,
            } => {
                let at = local.clock.real_deadline(*now + *spent, after);
                let handle = world.set_timer(at, id, local.incarnation, timer);
                local.live_timers.insert(handle);
                TimerId(handle)
            }
            Backend::Hosted(host) => TimerId(host.set_timer(after, timer)),
        }
    }

    /// Cancels a timer; cancelling one that already fired does nothing.
    pub fn cancel_timer(&mut self, timer: TimerId) {
        match &mut self.backend {
            Backend::Simulated { local, .. } => {
                local.live_timers.remove(&timer.0);
            }
            Backend::Hosted(host) => host.cancel_timer(timer.0),
        }
    }

    /// This node's random number generator, seeded from the run's seed.
    pub fn rng(&mut self) -> &mut SimRng {
        match &mut self.backend {
            Backend::Simulated { local, .. } => &mut local.rng,
            Backend::Hosted(host) => host.rng(),
        }
    }

    /// Annotates the timeline at this node ("suspect n2", "became leader").
    pub fn note(&mut self, text: impl Into<String>) {
        let id = self.id;
        match &mut self.backend {
            Backend::Simulated { now, world, .. } => {
                let watched = !world.triggers.is_idle() && world.triggers.wants_notes();
                if !world.tracing && !watched {
                    return;
                }
                let text = text.into();
                if watched {
                    world.triggers.on_note(*now, id, &text);
                }
                if world.tracing {
                    world.record(*now, crate::trace::EventKind::Note { node: id, text });
                }
            }
            Backend::Hosted(host) => host.note(text.into()),
        }
    }

    /// Answers a client's operation. Answers to operations the client gave up on are recorded
    /// in the trace but not in the history: that client never saw them.
    pub fn reply(&mut self, op: OpId, response: N::Response) {
        let id = self.id;
        match &mut self.backend {
            Backend::Simulated {
                now,
                spent,
                world,
                local,
            } => {
                if spent.is_zero() {
                    world.reply(*now, id, op, response);
                } else {
                    world.emit_later(
                        *now + *spent,
                        id,
                        local.incarnation,
                        crate::engine::Output::Reply { op, response },
                    );
                }
            }
            Backend::Hosted(host) => host.reply(op, response),
        }
    }

    /// The state that survives a crash.
    pub fn durable(&self) -> &N::Durable {
        match &self.backend {
            Backend::Simulated { local, .. } => &local.durable,
            Backend::Hosted(host) => host.durable(),
        }
    }

    /// Changes the state that survives a crash; the change is durable at once (as if synced
    /// to disk before this call returns).
    pub fn durable_mut(&mut self) -> &mut N::Durable {
        match &mut self.backend {
            Backend::Simulated { local, .. } => &mut local.durable,
            Backend::Hosted(host) => host.durable_mut(),
        }
    }
}
