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
/// is higher than every counter its query heard (see [`next_version`]), so a write that starts
/// after another one finished gets a higher version.
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
/// It is the smallest version that keeps three rules (the page's section `#versions` tells why
/// versions need them):
///
/// - Its node is `me`: the tie-break between writes that chose the same counter.
/// - Its counter is higher than every counter in `replies`, so that it beats every version the
///   query heard, whichever node wrote it. The query met the quorum of every write that had
///   finished, so a write that starts after another one finished gets a higher version.
/// - Its counter is higher than `last_issued`, so that two writes of the same coordinator never
///   share a version, even when they run at the same time or one was cut short by a crash.
///
/// "Smallest" matters: versions count writes, they are not a clock, and the snapshot holds the
/// exact counter.
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
    /// ones the read must bring up to date with `(version, value)` before it may return.
    pub write_back_to: Vec<NodeId>,
}

/// Decides a read from the replies of a read quorum (each `(replica, what it holds)`, in the
/// order they arrived; a replica appears at most once).
///
/// - `version` and `value` come from the reply with the highest [`Version`]: the quorum met
///   every write that had finished, so the newest reply is at least as new as the last of them.
///   Two replies with the same version hold the same value (one write made both), so any of
///   them will do.
/// - `write_back_to` lists every replica whose reply has a lower version than that, sorted by
///   id. Replicas that are already up to date are not in it: they hold the value already.
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
    /// How many distinct replicas must answer a query (the first phase of a read or a write).
    pub r: usize,
    /// How many distinct replicas must be known to hold the value of a store (the second phase
    /// of a read or a write) before the operation answers.
    pub w: usize,
    /// An operation that has not finished this long after its request arrived (on the
    /// coordinator's monotonic clock) fails with [`Response::Failed`].
    pub deadline: Duration,
    /// How often a running operation asks again the replicas it still needs to hear from in its
    /// current phase (messages get lost).
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
/// coordinator can tell which operation, and which phase of it, an answer is evidence for.
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

/// The coordinator's timers, one pair per operation. A timer that is set fires (unless
/// cancelled) whether or not the operation it names is still running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// Time to ask again the replicas the operation still needs to hear from.
    Retry(OpId),
    /// The operation's `deadline` has passed since its request arrived.
    Deadline(OpId),
}

/// What a node keeps across a crash: its replica of the register, and the highest counter it
/// has given a write it coordinated (see [`next_version`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Durable {
    /// What this node's replica holds.
    pub stored: Stored,
    /// The highest counter this node has given a write it coordinated. The `issued` test holds
    /// it to that after every event: no replica may hold a version of this node's whose
    /// counter is higher (page, `#issued`).
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
    /// The first phase: finding out what `r` distinct replicas hold. `replies` is what each
    /// replica has answered.
    Query {
        request: Request,
        replies: BTreeMap<NodeId, Stored>,
    },
    /// The second phase: making sure that `w` distinct replicas hold `stored` or a newer
    /// version. `holders` are the replicas known to; `answer` is what the client gets once they
    /// are enough.
    Store {
        stored: Stored,
        holders: BTreeSet<NodeId>,
        answer: Response,
    },
}

/// A node of the replicated register: every node is a **replica** (its [`Durable`] state holds
/// the register) and a **coordinator** for the client requests sent to it. These are the rules
/// the tests hold it to, each with its reason; the page's mechanism section (`#mechanism`)
/// makes the whole argument.
///
/// **As a replica**, a node answers every node that asks it, itself included. Its answers are
/// all a coordinator ever learns about it, so they must be true when sent and stay true:
///
/// - Asked with a [`Msg::Get`], it says what it holds, in a [`Msg::Got`].
/// - Offered a version with a [`Msg::Put`], it ends up holding the newer of its own and the
///   offered one: a replica's version never goes down, or a late or retried older write could
///   undo a newer one that a quorum acknowledged. What it holds is in its [`Durable`] state,
///   because a quorum that counted this replica must still hold the write after the replica
///   crashes and restarts. A coordinator needs to learn only that this replica now holds the
///   offered version *or a newer one*, which is what [`Msg::PutAck`] means. A replica that
///   had a newer one already must say so as well: to the coordinator, a silent replica looks
///   exactly like a lost message, and a write that raced a newer one would wait for answers
///   that never come.
///
/// **As a coordinator**, a node carries each client operation (in `ops`, under its [`OpId`])
/// through the two [`Phase`]s, and each phase ends on a quorum:
///
/// - *A quorum is a set of distinct replicas.* Intersection (page, `#intersection`) is about
///   *which* replicas answered, not how many answers came. The network duplicates messages and
///   retries ask again, so one replica may answer a phase several times: it is still one
///   replica.
/// - *Any replica can complete a quorum, the coordinator's own included.* A query, and a
///   write's offer, go to every replica (in `ctx.nodes()` order, as the book's timelines do),
///   the coordinator's own through the network like any other, and the phase waits for its
///   quorum and no more: that is what lets an operation finish while any minority is down.
/// - *The query* ends once `r` replicas have said what they hold. Then:
///   - A **write** of `v` offers `(version, Some(v))`, with the version [`next_version`] gives
///     for those replies and this node's `last_issued`; it will answer [`Response::Written`].
///     No two writes may ever take the same version: not two that run at once at one
///     coordinator, and not one before and one after that coordinator crashes and restarts.
///     Replicas keep the first of two equal versions they are offered, so one version with two
///     values splits the register. A crash can come between any two events.
///   - A **read** decides with [`decide_read`] and will answer [`Response::Value`] of the
///     decision, but only once that value is safe: a value that only some replicas hold can be
///     returned by one read and missed by the next (page, `#write-back`), so the read first
///     offers it to the replicas `decide_read` found behind; the others that replied hold it
///     already.
/// - *The store* ends once `w` replicas are known to hold its version or a newer one: the
///   operation answers its client, and is over. It waits for nothing it already knows: when no
///   message is lost, every operation finishes within two round trips, without waiting for a
///   retry, and a read whose replies all agreed needs no second round trip at all (page,
///   `#prompt`).
/// - *An answer counts only for the phase it answers.* An answer for an operation that has
///   ended, or for a phase the operation has left, says nothing about what it waits for now,
///   and changes nothing.
/// - *Retries serve a running operation.* Messages get lost, so every `retry_every` while an
///   operation runs, it asks again the replicas it still needs to hear from in its current
///   phase; one it has counted already has nothing new to say. An operation that has ended
///   leaves no work behind: nothing more is sent for it, none of its timers keeps firing, and
///   [`QuorumNode::running`] no longer counts it (page, `#quiet`).
/// - *Every operation ends by its deadline.* One still running `deadline` after its request
///   arrived, on this node's monotonic clock (wall clocks get stepped back), answers
///   [`Response::Failed`], notes `c0#3 failed: no quorum` (with its own id), and is over like
///   any other: a client told "failed" must not see the operation go on working and take
///   effect later (page, `#failed-is-final`). That is the only note a node writes, and every
///   operation is answered once.
///
/// The `ops` map is volatile: a crash ends every operation the node coordinates, unanswered,
/// and their clients time out.
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
