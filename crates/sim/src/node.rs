//! The node API: a mechanism is a state machine that reacts to events and acts only through
//! its [`Context`]. It sees no host clock, no threads, no sockets: the simulator (or, later, a
//! real runtime) drives it.

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
pub struct Context<'a, N: Node> {
    pub(crate) id: NodeId,
    pub(crate) now: Time,
    /// The service time this handler has cost so far: what it does after it happens then.
    pub(crate) spent: Duration,
    pub(crate) world: &'a mut World<N>,
    pub(crate) local: &'a mut Local<N>,
}

impl<N: Node> Context<'_, N> {
    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// Every node in the run, this one included.
    pub fn nodes(&self) -> impl Iterator<Item = NodeId> + use<N> {
        (0..self.world.nodes).map(NodeId)
    }

    /// Every node in the run but this one.
    pub fn peers(&self) -> impl Iterator<Item = NodeId> + use<N> {
        let me = self.id;
        self.nodes().filter(move |n| *n != me)
    }

    /// Real time once the work this handler has done so far is over.
    fn after_work(&self) -> Time {
        self.now + self.spent
    }

    /// This node's monotonic clock: never jumps, but drifts. Measure durations with it. After
    /// [`spend`](Context::spend) it reads the time the work is done.
    pub fn now(&self) -> Time {
        self.local.clock.monotonic(self.after_work())
    }

    /// This node's wall clock: offset, drifting, and liable to jump backwards or forwards.
    pub fn wall_clock(&self) -> WallTime {
        self.local.clock.wall(self.after_work())
    }

    /// Does work that takes `duration` of service time: what the handler does next (sends,
    /// replies, timers) happens when the work is done, and the node handles no other event
    /// until then; events that arrive meanwhile wait in its queue. A crash before the work is
    /// done loses what it would have sent.
    pub fn spend(&mut self, duration: Duration) {
        self.spent += duration;
    }

    /// How many events are waiting for this node to finish its work (messages, requests and
    /// timers that arrived while it was busy), not counting the one being handled.
    pub fn backlog(&self) -> usize {
        self.local.backlog()
    }

    /// Sends `msg` to `to` through the simulated network.
    pub fn send(&mut self, to: NodeId, msg: N::Msg) {
        assert!(
            to.0 < self.world.nodes,
            "{}: send to unknown node {to}",
            self.id
        );
        if self.spent.is_zero() {
            self.world.send(self.now, self.id, to, msg);
        } else {
            self.world.emit_later(
                self.after_work(),
                self.id,
                self.local.incarnation,
                crate::engine::Output::Send { to, msg },
            );
        }
    }

    /// Fires [`Node::on_timer`] with `timer` once `after` has passed on this node's monotonic
    /// clock (so a drifting clock fires it early or late in real time).
    pub fn set_timer(&mut self, after: Duration, timer: N::Timer) -> TimerId {
        let at = self.local.clock.real_deadline(self.after_work(), after);
        let id = self
            .world
            .set_timer(at, self.id, self.local.incarnation, timer);
        self.local.live_timers.insert(id);
        TimerId(id)
    }

    /// Cancels a timer; cancelling one that already fired does nothing.
    pub fn cancel_timer(&mut self, timer: TimerId) {
        self.local.live_timers.remove(&timer.0);
    }

    /// This node's random number generator, seeded from the run's seed.
    pub fn rng(&mut self) -> &mut SimRng {
        &mut self.local.rng
    }

    /// Annotates the timeline at this node ("suspect n2", "became leader").
    pub fn note(&mut self, text: impl Into<String>) {
        let watched = !self.world.triggers.is_idle() && self.world.triggers.wants_notes();
        if !self.world.tracing && !watched {
            return;
        }
        let text = text.into();
        if watched {
            self.world.triggers.on_note(self.now, self.id, &text);
        }
        if self.world.tracing {
            self.world.record(
                self.now,
                crate::trace::EventKind::Note {
                    node: self.id,
                    text,
                },
            );
        }
    }

    /// Answers a client's operation. Answers to operations the client gave up on are recorded
    /// in the trace but not in the history: that client never saw them.
    pub fn reply(&mut self, op: OpId, response: N::Response) {
        if self.spent.is_zero() {
            self.world.reply(self.now, self.id, op, response);
        } else {
            self.world.emit_later(
                self.after_work(),
                self.id,
                self.local.incarnation,
                crate::engine::Output::Reply { op, response },
            );
        }
    }

    /// The state that survives a crash.
    pub fn durable(&self) -> &N::Durable {
        &self.local.durable
    }

    /// Changes the state that survives a crash; the change is durable at once (as if synced
    /// to disk before this call returns).
    pub fn durable_mut(&mut self) -> &mut N::Durable {
        &mut self.local.durable
    }
}
