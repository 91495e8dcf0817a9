//! Chapter 2 of *Distributed Systems, Like It or Not*: **Replicas disagree**.
//!
//! Read the chapter first: `book/src/02-quorum.md` (or `cargo xtask serve` and open the book).
//! Then build, in this file, a register replicated on every node and read and written through
//! quorums:
//!
//! 1. [`next_version`] and [`decide_read`]: the two decisions a coordinator makes, as pure
//!    functions (which version a write takes; which value a read returns and who gets it
//!    written back).
//! 2. [`QuorumConfig::majority`]: how big the quorums must be.
//! 3. [`QuorumNode`]: a simulated node that is both a replica and a coordinator, and fails an
//!    operation cleanly when no quorum answers in time.
//!
//! Every `todo!()` is yours. Run the tests from this folder:
//!
//! ```text
//! cargo test                            # every step, stopping at the first that fails
//! cargo test --test step1_decisions     # step 1: next_version, decide_read, majority
//! cargo test --test step2_node          # step 2: the node's handlers, on one small run
//! cargo test --test step3_under_faults  # step 3: loss, partitions, crashes, skewed clocks
//! cargo xtask hint quorum               # stuck? one hint at a time
//! cargo xtask scenario quorum/quorum-read --mine  # the book's figure, run on your code
//! cargo xtask scenario quorum/quorum-read --compare  # where yours departs from it
//! ```
//!
//! A failing property prints the operations the linearizability checker could not order, the
//! timeline around the moment it broke, and a command that replays exactly that run.

use sim::{Context, Node, NodeId, OpId};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

// ANCHOR: version
/// The version of a value: which write it came from, and how writes are ordered.
///
/// Versions compare **lexicographically**: first by `counter`, then, between two writes that
/// chose the same counter, by the id of the node that coordinated the write. Deriving `Ord` on
/// this struct (fields in this order) does exactly that. No clock is involved: a write's counter
/// is one more than the highest counter its coordinator has seen, so a write that starts after
/// another one finished gets a higher version.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub counter: u64,
    /// The node that coordinated the write: the tie-break.
    pub node: NodeId,
}

impl Version {
    /// The version every replica starts with, for the initial value (nil). Every write's
    /// version is higher: its counter is at least 1.
    pub const INITIAL: Version = Version {
        counter: 0,
        node: NodeId(0),
    };
}

/// A replica's state: a value and the version of the write that put it there. `value: None` is
/// the register's initial value (nil).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Stored {
    pub version: Version,
    pub value: Option<i64>,
}

impl Stored {
    /// What every replica holds before the first write.
    pub const INITIAL: Stored = Stored {
        version: Version::INITIAL,
        value: None,
    };
}
// ANCHOR_END: version

impl fmt::Debug for Version {
    /// `v3.n1`: counter 3, written through `n1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}", self.counter, self.node)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

// ANCHOR: next_version
/// The version a write coordinated by `me` takes, given the replies of its first phase (each
/// replica's `(id, stored)`) and `last_issued`, the highest counter `me` has ever given a write.
///
/// The counter is one more than the highest of: every counter in `replies`, and `last_issued`.
/// The node is `me`. So the new version is higher than every version the replies show (a
/// higher counter always wins), and two writes coordinated by the same node never share a
/// version, even when they run at the same time or one was cut short by a crash.
pub fn next_version(replies: &[(NodeId, Stored)], last_issued: u64, me: NodeId) -> Version {
    let _ = (replies, last_issued, me);
    todo!(
        "decide which version beats everything this write's query saw and everything its coordinator ever issued"
    )
}
// ANCHOR_END: next_version

// ANCHOR: decide_read
/// What a read's coordinator does with the replies of its first phase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadDecision {
    /// The value the read returns: the one with the highest version among the replies.
    pub value: Option<i64>,
    /// That value's version.
    pub version: Version,
    /// The replicas that replied with a lower version, in increasing id order, each once: the
    /// read writes `(version, value)` back to them before it returns.
    pub write_back_to: Vec<NodeId>,
}

/// Decides a read from the replies of a read quorum (each `(replica, what it holds)`, in the
/// order they arrived; a replica appears at most once).
///
/// - `version` and `value` come from the reply with the highest [`Version`]. Two replies with
///   the same version hold the same value (one write made both), so any of them will do.
/// - `write_back_to` lists every replica whose reply has a lower version than that, sorted by
///   id. Replicas that are already up to date are not in it.
///
/// With no replies at all, the decision is the initial value: `None`, [`Version::INITIAL`],
/// and nobody to write back to.
pub fn decide_read(replies: &[(NodeId, Stored)]) -> ReadDecision {
    let _ = replies;
    todo!("decide which reply the read returns, and which replicas must be brought up to date")
}
// ANCHOR_END: decide_read

// ANCHOR: config
/// How big the quorums are, and how long a coordinator tries before it gives up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuorumConfig {
    /// How many replicas must answer a query (the first phase of a read or a write).
    pub r: usize,
    /// How many replicas must acknowledge a store (the second phase of a read or a write).
    pub w: usize,
    /// An operation that has not finished this long after its request arrived (on the
    /// coordinator's monotonic clock) fails with [`Response::Failed`].
    pub deadline: Duration,
    /// How often the coordinator sends the current phase's message again to the replicas that
    /// have not answered it yet (messages get lost).
    pub retry_every: Duration,
}
// ANCHOR_END: config

impl QuorumConfig {
    // ANCHOR: majority
    /// The configuration for a register on `nodes` replicas: `r` and `w` are both a
    /// **majority**, the smallest number of replicas that is more than half of them (2 of 3,
    /// 3 of 4, 3 of 5), so that any two quorums share at least one replica. A deadline of
    /// 250 ms, a retry every 20 ms.
    pub fn majority(nodes: usize) -> QuorumConfig {
        let _ = nodes;
        todo!(
            "decide how many replicas each quorum needs so that any two quorums share one, and no more"
        )
    }
    // ANCHOR_END: majority

    /// Whether every read quorum shares a replica with every write quorum on `nodes`
    /// replicas: `r + w > nodes`.
    pub fn intersects(&self, nodes: usize) -> bool {
        self.r + self.w > nodes
    }
}

// ANCHOR: protocol
/// What a client asks its coordinator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    Read,
    Write(i64),
}

/// What the coordinator answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Response {
    /// The read's value (`None`: nil, nothing was ever written).
    Value(Option<i64>),
    /// The write is stored on at least `w` replicas.
    Written,
    /// No quorum answered before the deadline. The outcome is **unknown**: a failed write may
    /// have reached some replicas, and a later read may return it.
    Failed,
}

/// What nodes send each other. Every message carries the client operation it serves, so a
/// coordinator recognises the answers to the phase it is in, and ignores late ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Msg {
    /// Coordinator to replica: "what do you hold?" (the first phase of a read or a write).
    Get { op: OpId },
    /// Replica to coordinator: "this".
    Got { op: OpId, stored: Stored },
    /// Coordinator to replica: "store this, unless you hold something newer" (the second
    /// phase: a write's new value, or a read's write-back).
    Put { op: OpId, stored: Stored },
    /// Replica to coordinator: "I hold this version or a newer one".
    PutAck { op: OpId },
}

/// The coordinator's timers, one pair per operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// Send the current phase's message again to the replicas that have not answered.
    Retry(OpId),
    /// Give up on the operation if it is still running.
    Deadline(OpId),
}

/// What a node keeps across a crash: its replica of the register, and the highest counter it
/// has given a write it coordinated (see [`next_version`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Durable {
    pub stored: Stored,
    pub last_issued: u64,
}

impl Default for Durable {
    fn default() -> Durable {
        Durable {
            stored: Stored::INITIAL,
            last_issued: 0,
        }
    }
}
// ANCHOR_END: protocol

// ANCHOR: node
/// One operation a node coordinates, and the phase it is in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Sent [`Msg::Get`] to every replica; waiting for `r` different replicas to answer.
    Query {
        request: Request,
        replies: BTreeMap<NodeId, Stored>,
    },
    /// Sent [`Msg::Put`] of `stored`; waiting until `w` different replicas are known to hold
    /// it, then answers `answer`.
    Store {
        stored: Stored,
        holders: BTreeSet<NodeId>,
        answer: Response,
    },
}

/// A node of the replicated register: every node is a **replica** (its [`Durable`] state holds
/// the register) and a **coordinator** for the client requests sent to it.
///
/// As a replica, it answers every message, whoever sends it (itself included):
///
/// - [`Msg::Get`]: reply [`Msg::Got`] with what it holds.
/// - [`Msg::Put`]: if the incoming version is **higher** than its own, store the incoming value
///   and version (in `ctx.durable_mut()`); in any case reply [`Msg::PutAck`]. A replica never goes
///   back to a lower version, and acknowledges even when it ignores an older write: it holds
///   that version *or a newer one*, which is all a coordinator needs.
///
/// As a coordinator, for each request (kept in `ops` under its `OpId`):
///
/// 1. **Query.** Send [`Msg::Get`] to every node (`ctx.nodes()`, itself included), and set a
///    [`Timer::Retry`] for `retry_every` and a [`Timer::Deadline`] for `deadline`. Keep one
///    reply per replica; once `r` replicas have replied:
///    - a **write** of `v` takes the version [`next_version`] gives (with the replies, in
///      increasing replica id order, and `last_issued` from the durable state), records that
///      counter as `last_issued`, and sends [`Msg::Put`] of `(version, Some(v))` to every node;
///      it will answer [`Response::Written`];
///    - a **read** takes [`decide_read`] of the replies (in increasing replica id order), sends
///      [`Msg::Put`] of `(version, value)` to each replica in `write_back_to`, and counts the
///      replicas that replied with that version as holding it already; it will answer
///      [`Response::Value`].
/// 2. **Store.** Each [`Msg::PutAck`] adds its sender to the holders. As soon as `w` replicas
///    hold the value (which may be at once, for a read whose replies agreed), reply to the
///    client and forget the operation.
///
/// On [`Timer::Retry`], if the operation is still running, send its current phase's message
/// again to every node that has not answered it (a `Get` to those that have not replied, or the
/// `Put` to those not yet holding the value), and set the next retry. On [`Timer::Deadline`], if
/// it is still running, reply [`Response::Failed`], note `c0#3 failed: no quorum` (with the
/// operation's id) and forget it. Messages for an operation that is not running, or for a phase
/// it is no longer in, are ignored. The `ops` map is volatile: after a crash the node has no
/// operations, and its clients time out.
#[derive(Clone, Debug)]
pub struct QuorumNode {
    config: QuorumConfig,
    /// The operations this node coordinates now.
    ops: BTreeMap<OpId, Phase>,
}
// ANCHOR_END: node

impl QuorumNode {
    /// A node with this configuration, coordinating nothing yet.
    pub fn new(config: QuorumConfig) -> QuorumNode {
        QuorumNode {
            config,
            ops: BTreeMap::new(),
        }
    }

    /// The node's configuration.
    pub fn config(&self) -> &QuorumConfig {
        &self.config
    }

    /// How many operations this node coordinates right now.
    pub fn running(&self) -> usize {
        self.ops.len()
    }
}

// ANCHOR: node_impl
impl Node for QuorumNode {
    type Msg = Msg;
    type Timer = Timer;
    type Request = Request;
    type Response = Response;
    type Durable = Durable;

    fn on_start(&mut self, _ctx: &mut Context<'_, Self>) {
        // Nothing to do: the replica's state is in `ctx.durable()` already, and a node that just
        // (re)started coordinates nothing.
    }

    fn on_request(&mut self, ctx: &mut Context<'_, Self>, op: OpId, request: Request) {
        let _ = (ctx, op, request);
        todo!(
            "start the operation's first phase, and arrange both to recover lost messages and never to wait for ever"
        )
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: Msg) {
        let _ = (ctx, from, msg);
        todo!(
            "decide, for each message, whether this node answers it as a replica or counts it as a coordinator, and when it ignores it"
        )
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, timer: Timer) {
        let _ = (ctx, timer);
        todo!("decide what each timer means for an operation that may have finished already")
    }
}
// ANCHOR_END: node_impl
