//! Chapter 2 of *Distributed Systems, Like It or Not*: **Replicas disagree** (reference
//! solution).
//!
//! A register replicated on every node, read and written through quorums of `R` and `W`
//! replicas, with versions that order writes without trusting wall clocks and reads that write
//! back what they return (the ABD algorithm), so that every read is linearizable.
//!
//! The classic mistakes are cargo features of this crate (`mistake-small-quorums`, ...; see
//! `course.toml` for each and the property that must reject it).

pub mod tables;

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
    let seen = replies
        .iter()
        .map(|(_, stored)| stored.version.counter)
        .max()
        .unwrap_or(0);
    Version {
        counter: seen.max(last_issued) + 1,
        node: me,
    }
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
    let newest = replies
        .iter()
        .map(|(_, stored)| *stored)
        .max_by_key(|stored| stored.version)
        .unwrap_or(Stored::INITIAL);
    let mut write_back_to: Vec<NodeId> = replies
        .iter()
        .filter(|(_, stored)| stored.version < newest.version)
        .map(|(node, _)| *node)
        .collect();
    write_back_to.sort();
    write_back_to.dedup();
    ReadDecision {
        value: newest.value,
        version: newest.version,
        write_back_to,
    }
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
        let quorum = if cfg!(feature = "mistake-small-quorums") {
            // "Half the replicas": R + W = N for an even N, and one each of three.
            (nodes / 2).max(1)
        } else if cfg!(feature = "mistake-half-rounded-up") {
            // Half, rounded up: right for 3 and 5, but two of four replicas are not a majority.
            nodes.div_ceil(2)
        } else {
            nodes / 2 + 1
        };
        QuorumConfig {
            r: quorum,
            w: quorum,
            deadline: Duration::from_millis(250),
            retry_every: Duration::from_millis(20),
        }
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
    /// Measurement only (see [`QuorumNode::sampling`]).
    sampling: bool,
    /// Used only by `mistake-volatile-last-issued`: the counter kept in memory.
    last_issued: u64,
    /// The mistake: when each operation started, by the wall clock, to time its deadline.
    #[cfg(feature = "mistake-wall-clock-deadline")]
    started: BTreeMap<OpId, sim::WallTime>,
    /// The mistake: the replica's value kept in memory, lost in a crash.
    #[cfg(feature = "mistake-volatile-replica")]
    volatile: Stored,
    /// The mistake: how many answers each operation's phase has had, duplicates included.
    #[cfg(feature = "mistake-count-duplicates")]
    answers: BTreeMap<OpId, usize>,
}
// ANCHOR_END: node

impl QuorumNode {
    /// A node with this configuration, coordinating nothing yet.
    pub fn new(config: QuorumConfig) -> QuorumNode {
        QuorumNode {
            config,
            ops: BTreeMap::new(),
            sampling: false,
            last_issued: 0,
            #[cfg(feature = "mistake-wall-clock-deadline")]
            started: BTreeMap::new(),
            #[cfg(feature = "mistake-volatile-replica")]
            volatile: Stored::INITIAL,
            #[cfg(feature = "mistake-count-duplicates")]
            answers: BTreeMap::new(),
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

    /// The measurement variant of the node (solution only, for the `stale-reads` table): each
    /// phase contacts a uniformly random `r`-subset (query) or `w`-subset (store) of the replicas
    /// instead of all of them, never retries, and a read never writes back. So a read right
    /// after a write sees the write only if its random read set meets the write's random write
    /// set.
    pub fn sampling(mut self) -> QuorumNode {
        self.sampling = true;
        self
    }

    /// The nodes a phase contacts first: every node, or a random `k` of them when sampling.
    fn contacts(&self, ctx: &mut Context<'_, Self>, k: usize) -> Vec<NodeId> {
        let mut all: Vec<NodeId> = ctx.nodes().collect();
        if self.sampling {
            use sim::rand::RngExt;
            // A partial Fisher-Yates shuffle: the first k are a uniform k-subset.
            let rng = ctx.rng();
            for i in 0..k.min(all.len()) {
                let j = rng.random_range(i..all.len());
                all.swap(i, j);
            }
            all.truncate(k);
            all.sort();
        }
        all
    }

    /// What this node's replica holds.
    fn replica(&self, ctx: &Context<'_, Self>) -> Stored {
        #[cfg(feature = "mistake-volatile-replica")]
        {
            let _ = ctx;
            self.volatile
        }
        #[cfg(not(feature = "mistake-volatile-replica"))]
        ctx.durable().stored
    }

    /// Stores `stored` in this node's replica: durably, so that a crash does not take back an
    /// acknowledgement the quorum counted on. The mistake: keep it in memory.
    fn store(&mut self, ctx: &mut Context<'_, Self>, stored: Stored) {
        #[cfg(feature = "mistake-volatile-replica")]
        {
            let _ = ctx;
            self.volatile = stored;
        }
        #[cfg(not(feature = "mistake-volatile-replica"))]
        {
            ctx.durable_mut().stored = stored;
        }
    }

    /// The query phase has its `r` replies: move on to the store phase.
    fn start_store(&mut self, ctx: &mut Context<'_, Self>, op: OpId) {
        let Some(Phase::Query { request, replies }) = self.ops.get(&op) else {
            return;
        };
        let request = *request;
        let replies: Vec<(NodeId, Stored)> = replies.iter().map(|(n, s)| (*n, *s)).collect();
        let (stored, holders, answer, targets) = match request {
            Request::Write(v) => {
                // The mistake: forget what this coordinator issued before, so two of its
                // writes whose queries see the same replies take the same version.
                let last_issued = if cfg!(feature = "mistake-ignore-last-issued") {
                    0
                } else if cfg!(feature = "mistake-volatile-last-issued") {
                    self.last_issued
                } else {
                    ctx.durable().last_issued
                };
                #[cfg(not(feature = "mistake-wall-clock-versions"))]
                let version = next_version(&replies, last_issued, ctx.id());
                // "Last write wins" by the coordinator's wall clock, as if clocks agreed.
                #[cfg(feature = "mistake-wall-clock-versions")]
                let version = Version {
                    counter: ctx.wall_clock().as_nanos().max(1).max(last_issued as i64) as u64,
                    node: ctx.id(),
                };
                // Durable before any replica can hold the write. The mistake: keep it in
                // memory, so a restarted coordinator can issue the same counter again.
                if cfg!(feature = "mistake-volatile-last-issued") {
                    self.last_issued = version.counter;
                } else {
                    ctx.durable_mut().last_issued = version.counter;
                }
                let stored = Stored {
                    version,
                    value: Some(v),
                };
                let targets = self.contacts(ctx, self.config.w);
                (stored, BTreeSet::new(), Response::Written, targets)
            }
            Request::Read => {
                // The drill's broken variant: a coordinator that is also a replica trusts its
                // own copy, and asks the quorum only when it holds nothing of its own.
                let me = ctx.id();
                let decision = match replies.iter().find(|(n, _)| *n == me) {
                    Some(own) if cfg!(feature = "drill-trust-own-replica") => decide_read(&[*own]),
                    _ => decide_read(&replies),
                };
                let stored = Stored {
                    version: decision.version,
                    value: decision.value,
                };
                // Those that replied with the value hold it already. The mistake: count only
                // the write-backs' acknowledgements, so a read whose replies agree waits for
                // its retry timer to collect acknowledgements from replicas that had the value.
                let holders: BTreeSet<NodeId> = replies
                    .iter()
                    .filter(|(_, s)| s.version == decision.version)
                    .filter(|_| !cfg!(feature = "mistake-holders-from-acks-only"))
                    .map(|(n, _)| *n)
                    .collect();
                let answer = Response::Value(decision.value);
                let skip = self.sampling || cfg!(feature = "mistake-no-write-back");
                if skip {
                    // Return what the quorum said, without making sure a quorum holds it.
                    self.ops.remove(&op);
                    ctx.reply(op, answer);
                    return;
                }
                (stored, holders, answer, decision.write_back_to)
            }
        };
        for node in targets {
            ctx.send(node, Msg::Put { op, stored });
        }
        self.ops.insert(
            op,
            Phase::Store {
                stored,
                holders,
                answer,
            },
        );
        self.finish_if_stored(ctx, op);
    }

    /// Replies and forgets the operation once `w` replicas hold its value.
    fn finish_if_stored(&mut self, ctx: &mut Context<'_, Self>, op: OpId) {
        if let Some(Phase::Store {
            holders, answer, ..
        }) = self.ops.get(&op)
            && holders.len() >= self.config.w
        {
            let answer = *answer;
            self.ops.remove(&op);
            ctx.reply(op, answer);
        }
    }
}

// ANCHOR: node_impl
impl Node for QuorumNode {
    type Msg = Msg;
    type Timer = Timer;
    type Request = Request;
    type Response = Response;
    type Durable = Durable;

    fn on_start(&mut self, _ctx: &mut Context<'_, Self>) {}

    fn on_request(&mut self, ctx: &mut Context<'_, Self>, op: OpId, request: Request) {
        #[cfg(feature = "mistake-wall-clock-deadline")]
        self.started.insert(op, ctx.wall_clock());
        self.ops.insert(
            op,
            Phase::Query {
                request,
                replies: BTreeMap::new(),
            },
        );
        for node in self.contacts(ctx, self.config.r) {
            ctx.send(node, Msg::Get { op });
        }
        if !self.sampling {
            ctx.set_timer(self.config.retry_every, Timer::Retry(op));
        }
        ctx.set_timer(self.config.deadline, Timer::Deadline(op));
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Get { op } => {
                let stored = self.replica(ctx);
                ctx.send(from, Msg::Got { op, stored });
            }
            Msg::Put { op, stored } => {
                let newer = stored.version > self.replica(ctx).version;
                if newer {
                    self.store(ctx, stored);
                }
                // Acknowledge an older write too: this replica holds that version or a newer
                // one, which is all the coordinator needs. The mistake: stay silent, and the
                // write that raced a newer one waits for acks that never come.
                if newer || !cfg!(feature = "mistake-ack-only-when-stored") {
                    ctx.send(from, Msg::PutAck { op });
                }
            }
            Msg::Got { op, stored } => {
                if let Some(Phase::Query { replies, .. }) = self.ops.get_mut(&op) {
                    replies.insert(from, stored);
                    #[cfg(not(feature = "mistake-count-duplicates"))]
                    let answers = replies.len();
                    // The mistake: count answers, not replicas, so a duplicated or retried
                    // reply counts twice.
                    #[cfg(feature = "mistake-count-duplicates")]
                    let answers = {
                        let count = self.answers.entry(op).or_default();
                        *count += 1;
                        *count
                    };
                    if answers >= self.config.r {
                        #[cfg(feature = "mistake-count-duplicates")]
                        self.answers.remove(&op);
                        self.start_store(ctx, op);
                    }
                }
            }
            Msg::PutAck { op } => {
                if let Some(Phase::Store { holders, .. }) = self.ops.get_mut(&op) {
                    holders.insert(from);
                    #[cfg(feature = "mistake-count-duplicates")]
                    {
                        // Those that held the value already, then every ack, duplicates too.
                        let first = holders.len();
                        let count = self
                            .answers
                            .entry(op)
                            .and_modify(|c| *c += 1)
                            .or_insert(first);
                        if *count >= self.config.w {
                            let answer = match self.ops.remove(&op) {
                                Some(Phase::Store { answer, .. }) => answer,
                                _ => unreachable!("the op is in its store phase"),
                            };
                            self.answers.remove(&op);
                            ctx.reply(op, answer);
                        }
                    }
                    #[cfg(not(feature = "mistake-count-duplicates"))]
                    self.finish_if_stored(ctx, op);
                }
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, timer: Timer) {
        match timer {
            Timer::Retry(op) => {
                let Some(phase) = self.ops.get(&op) else {
                    // The mistake: keep the retry timer running for an operation that ended.
                    if cfg!(feature = "mistake-endless-retry") {
                        ctx.set_timer(self.config.retry_every, Timer::Retry(op));
                    }
                    return;
                };
                let nodes: Vec<NodeId> = ctx.nodes().collect();
                match phase {
                    Phase::Query { replies, .. } => {
                        for node in nodes.into_iter().filter(|n| !replies.contains_key(n)) {
                            ctx.send(node, Msg::Get { op });
                        }
                    }
                    Phase::Store {
                        stored, holders, ..
                    } => {
                        let stored = *stored;
                        for node in nodes.into_iter().filter(|n| !holders.contains(n)) {
                            ctx.send(node, Msg::Put { op, stored });
                        }
                    }
                }
                ctx.set_timer(self.config.retry_every, Timer::Retry(op));
            }
            Timer::Deadline(op) => {
                // The mistake: keep trying past the deadline and never say "failed".
                if cfg!(feature = "mistake-never-fail") {
                    return;
                }
                // The mistake: make sure by the wall clock that the deadline really passed, and
                // wait for the rest if it says not.
                #[cfg(feature = "mistake-wall-clock-deadline")]
                if let Some(started) = self.started.get(&op)
                    && self.ops.contains_key(&op)
                {
                    let elapsed = ctx.wall_clock().nanos_since(*started).max(0) as u64;
                    let deadline = self.config.deadline.as_nanos() as u64;
                    if elapsed < deadline {
                        ctx.set_timer(
                            Duration::from_nanos(deadline - elapsed),
                            Timer::Deadline(op),
                        );
                        return;
                    }
                }
                if self.ops.remove(&op).is_some() {
                    ctx.note(format!("{op} failed: no quorum"));
                    ctx.reply(op, Response::Failed);
                }
            }
        }
    }
}
// ANCHOR_END: node_impl
