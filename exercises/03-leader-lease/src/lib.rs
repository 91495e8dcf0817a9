//! Chapter 3 of *Distributed Systems, Like It or Not*: **Who is in charge?**
//!
//! Read the chapter first: `book/src/03-leader-lease.md` (or `cargo xtask serve` and open the
//! book). Then build, in this file:
//!
//! 1. The arithmetic of a lease: [`LeaseConfig::margin`], [`holder_deadline`] and
//!    [`lease_valid`].
//! 2. The lease authority's decision, [`Grantor::decide`], with a fencing counter that survives
//!    a crash, and the storage's check of fencing tokens, [`Resource::accept`].
//! 3. [`LeaseNode`]: the three handlers that make a grantor, a storage node and candidates out
//!    of them.
//!
//! Every `todo!()` is yours. Run the tests from this folder:
//!
//! ```text
//! cargo test                            # every step, stopping at the first that fails
//! cargo test --test step1_arithmetic    # step 1: margin, holder_deadline, lease_valid
//! cargo test --test step2_decisions     # step 2: Grantor::decide, Resource::accept
//! cargo test --test step3_nodes         # step 3: the handlers, on one lease timeline
//! cargo test --test step4_under_faults  # step 4: one leader, fencing, failover, under faults
//! cargo xtask hint leader-lease         # stuck? one hint at a time
//! cargo xtask scenario leader-lease/paused-leader --mine  # the book's figure, run on your code
//! cargo xtask scenario leader-lease/paused-leader --compare  # where yours departs from it
//! ```
//!
//! A failing property prints the timeline around the moment it broke and a command that
//! replays exactly that run.

use serde::{Deserialize, Serialize};
use sim::{Context, Node, NodeId, Time};
use std::time::Duration;

/// The lease authority: it grants leases and keeps the fencing counter.
pub const GRANTOR: NodeId = NodeId(0);
/// The protected resource: a storage node that checks fencing tokens.
pub const STORAGE: NodeId = NodeId(1);

// ANCHOR: config
/// How long leases last, how often nodes ask for one, and what the system assumes about clocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseConfig {
    /// How long a lease lasts, on the grantor's clock, from the moment it grants or renews it.
    pub lease: Duration,
    /// How often a node that holds a lease asks to renew it (and starts one write).
    pub renew_every: Duration,
    /// How often a node that holds no lease asks for one.
    pub retry_every: Duration,
    /// How long a write takes to prepare: the time between checking the lease and sending the
    /// write to the storage.
    pub work_time: Duration,
    /// The largest drift, in parts per million, that any node's monotonic clock may have. The
    /// guarantee holds only while every clock stays within it.
    pub max_drift_ppm: u32,
}

impl Default for LeaseConfig {
    /// A 600 ms lease renewed every 100 ms, a request every 20 ms while not holding one, writes
    /// that take 50 ms to prepare, and clocks assumed to drift by at most 1% (10,000 ppm).
    fn default() -> LeaseConfig {
        LeaseConfig {
            lease: Duration::from_millis(600),
            renew_every: Duration::from_millis(100),
            retry_every: Duration::from_millis(20),
            work_time: Duration::from_millis(50),
            max_drift_ppm: 10_000,
        }
    }
}
// ANCHOR_END: config

// ANCHOR: margin
impl LeaseConfig {
    /// How much earlier than the grantor the holder gives its lease up, to cover clock drift.
    ///
    /// The holder measures the lease on its own clock and the grantor on its own, and each
    /// clock may run fast or slow by up to `max_drift_ppm` parts per million. The margin is the
    /// most by which the holder's `lease` can outlast the grantor's in real time when the two
    /// clocks err in opposite directions, in whole nanoseconds, rounded up (never down: a
    /// margin one nanosecond short is no margin). With the defaults it comes to 12 ms.
    ///
    /// Message delay needs no margin: the holder counts its lease from the moment it *asked*
    /// (see [`holder_deadline`]), which is before the grantor started counting.
    pub fn margin(&self) -> Duration {
        todo!(
            "decide how much earlier than the grantor the holder must give up, given how far two clocks within the bound can drift apart over one lease"
        )
    }
}

/// Until when (on its own monotonic clock) a node may believe it holds a lease that was granted
/// in answer to a request it sent at `asked_at` (on the same clock): one lease counted from the
/// request, given up a margin early.
///
/// Counting from the request, not from the answer, is what makes message delay harmless: the
/// grantor cannot have started its lease before the request was sent, so however long the
/// request and the answer took, and however long the node was paused before it handled the
/// answer, the holder's lease ends no later than the grantor's, give or take drift, which the
/// margin covers.
pub fn holder_deadline(asked_at: Time, config: &LeaseConfig) -> Time {
    let _ = (asked_at, config);
    todo!(
        "decide from which instant the holder may count its lease, and until when it may believe it"
    )
}
// ANCHOR_END: margin

// ANCHOR: lease
/// A lease as its holder sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The fencing token the grantor gave with the lease; renewals keep it.
    pub token: u64,
    /// The holder believes it holds the lease strictly before this instant of its own
    /// monotonic clock, and not from this instant on.
    pub valid_until: Time,
}

/// Whether a node whose monotonic clock reads `now` may believe it holds `lease`: `now` is
/// strictly before `lease.valid_until`.
///
/// This is the only test of leadership a node has, and all it says is "nobody else can hold
/// the lease yet, if my clock is within the bound". It says nothing about what happens while the
/// node acts on the answer.
pub fn lease_valid(now: Time, lease: &Lease) -> bool {
    let _ = (now, lease);
    todo!("decide whether the lease still holds at this instant (and at its deadline itself?)")
}
// ANCHOR_END: lease

// ANCHOR: grantor
/// The lease the grantor has given out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Granted {
    pub holder: NodeId,
    pub token: u64,
    /// When it expires, on the grantor's monotonic clock: from this instant on, the grantor may
    /// give a lease to someone else.
    pub expires: Time,
}

/// What the grantor does with one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The grantor restarted less than one lease ago: it grants nothing yet.
    Quiet,
    /// Another node holds an unexpired lease: no answer.
    Refused { holder: NodeId, token: u64 },
    /// A new lease with a new token.
    Granted { token: u64, expires: Time },
    /// The requester's own unexpired lease, extended; the token stays.
    Renewed { token: u64, expires: Time },
}

/// The grantor's volatile state: lost when it crashes. The fencing counter is not here: it is
/// in the node's durable state ([`Durable::last_token`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grantor {
    /// No lease is granted before this instant of the grantor's clock.
    quiet_until: Time,
    /// The lease given out last, until it expires.
    current: Option<Granted>,
}
// ANCHOR_END: grantor

impl Grantor {
    /// A grantor that has given out nothing and will grant nothing before `quiet_until`.
    pub fn new(quiet_until: Time) -> Grantor {
        Grantor {
            quiet_until,
            current: None,
        }
    }

    /// No lease is granted before this instant of the grantor's clock.
    pub fn quiet_until(&self) -> Time {
        self.quiet_until
    }

    /// The lease given out last, if it has not been expired by [`Grantor::expire`].
    pub fn current(&self) -> Option<&Granted> {
        self.current.as_ref()
    }

    /// Forgets the current lease if it has expired at `now`, and returns its token.
    pub fn expire(&mut self, now: Time) -> Option<u64> {
        let expired = self.current.filter(|c| c.expires <= now)?;
        self.current = None;
        Some(expired.token)
    }

    // ANCHOR: decide
    /// Decides what to do with a request for the lease from `from`, received when the grantor's
    /// monotonic clock reads `now`. `last_token` is the last fencing token ever given out (the
    /// durable counter, 0 before the first grant).
    ///
    /// 1. Before `quiet_until`: [`Decision::Quiet`], nothing changes.
    /// 2. If there is a current lease that has not expired (`now < expires`):
    ///    - held by `from`: extend it to `now + lease` and answer [`Decision::Renewed`] with the
    ///      same token and the new expiry;
    ///    - held by another node: [`Decision::Refused`] with that holder and token.
    /// 3. Otherwise (no lease, or an expired one): add 1 to `*last_token`, make
    ///    `Granted { holder: from, token: *last_token, expires: now + lease }` the current
    ///    lease, and answer [`Decision::Granted`] with that token and expiry.
    pub fn decide(
        &mut self,
        now: Time,
        from: NodeId,
        lease: Duration,
        last_token: &mut u64,
    ) -> Decision {
        let _ = (now, from, lease, last_token);
        todo!(
            "decide, by the rules of the doc comment, what the grantor answers and what it must remember"
        )
    }
    // ANCHOR_END: decide
}

// ANCHOR: resource
/// One write the storage accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub from: NodeId,
    pub token: u64,
}

/// The protected resource: an append-only file on the storage node, which remembers the highest
/// fencing token it has seen. It lives in the storage node's durable state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// The highest token of any write accepted so far (0 before the first).
    highest: u64,
    /// Every accepted write, in the order accepted.
    entries: Vec<Entry>,
}
// ANCHOR_END: resource

impl Resource {
    /// The highest token of any write accepted so far (0 before the first).
    pub fn highest(&self) -> u64 {
        self.highest
    }

    /// Every accepted write, in the order accepted.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    // ANCHOR: accept
    /// A write from `from` carrying fencing token `token`: accept it if `token` is at least the
    /// highest token accepted so far (the same leader writes many times with one token), and
    /// then remember `token` as the highest and append `Entry { from, token }`; reject it
    /// (change nothing) if `token` is lower. Returns whether the write was accepted.
    pub fn accept(&mut self, from: NodeId, token: u64) -> bool {
        let _ = (from, token);
        todo!("decide which tokens may still write, and what the storage remembers")
    }
    // ANCHOR_END: accept
}

/// What survives a crash. The grantor uses `last_token`, the storage `resource`.
/// A serde value too: a real run keeps it in a file, synced before anything leaves the node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Durable {
    /// The last fencing token the grantor gave out: the counter must never go back.
    pub last_token: u64,
    /// The storage's file and highest token.
    pub resource: Resource,
}

// ANCHOR: messages
/// What the nodes send each other.
/// Serde values too: a real run (`cargo xtask real`) sends them through a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg {
    /// To the grantor: "may I hold the lease (or keep it)?", sent when the requester's clock
    /// read `asked_at`.
    Acquire { asked_at: Time },
    /// From the grantor: a lease (new or renewed) with its fencing token, answering the request
    /// sent at `asked_at` (copied from the request, on the requester's clock).
    Grant { token: u64, asked_at: Time },
    /// To the storage: one write, carrying the writer's fencing token.
    Write { token: u64 },
}

/// The nodes' timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// A candidate's periodic request (and, while it holds the lease, its next write).
    Tick,
    /// A prepared write is ready: send it with this token.
    Write { token: u64 },
    /// A lease may have expired: check.
    Expiry,
}
// ANCHOR_END: messages

/// What a node is in the run: `n0` is the grantor, `n1` the storage, every other node a
/// candidate that wants to lead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    Grantor(Grantor),
    Storage,
    /// A node that wants the lease, and the lease it holds, if any.
    Candidate {
        lease: Option<Lease>,
    },
}

// ANCHOR: node
/// A node of the leader-lease system: the grantor (`n0`), the storage (`n1`), or a candidate
/// (any other). The rules below fix what each role does in each handler and the exact text of
/// each note, which the snapshot of step 3 compares line by line. Notes are written with
/// `ctx.note`, times as `{}` of a [`Time`] (`1234.000ms`); every time a node uses is its own
/// `ctx.now()`, and what must survive a crash lives in `ctx.durable_mut()`.
///
/// **Grantor** (`n0`)
/// - *When it starts, and again after every restart*, it cannot know whether a lease it granted
///   before is still running, so it starts over with a grantor that grants nothing for one
///   whole lease from now, and notes `no grants until {quiet_until}`.
/// - *On an `Acquire`*, it decides with [`Grantor::decide`], giving it the fencing counter that
///   survives crashes. A grant or a renewal is noted, as `grant lease {token} to {from} until
///   {expires}` or `renew lease {token} for {from} until {expires}`, and answered with a
///   `Grant` carrying the token and the requester's own `asked_at`, unchanged (the requester
///   counts from it, on its own clock). The grantor then sets an `Expiry` timer for one lease.
///   A requester that is refused, or that asks while the grantor is quiet, hears nothing: it
///   will ask again.
/// - *On `Expiry`*, it forgets the lease if it has run out ([`Grantor::expire`]) and notes
///   `lease {token} expired`.
///
/// **Storage** (`n1`)
/// - *On a `Write`*, it lets its durable [`Resource`] decide ([`Resource::accept`]) and notes
///   `write from {from} with token {token} accepted`, or
///   `write from {from} with token {token} rejected (seen {highest})`.
///
/// **Candidate** (every other node)
/// - *When it starts*, it holds no lease: it asks the grantor (an `Acquire` stamped with its
///   clock now) and sets its first `Tick` for `retry_every`.
/// - *On a `Tick`*, it first asks itself whether it holds a lease that is valid now
///   ([`lease_valid`]), and then asks the grantor again in any case (stamped with its clock
///   now). A node whose lease is valid acts as leader: it prepares one write with the lease's
///   token, to be sent `work_time` later (a `Timer::Write`), and ticks again after
///   `renew_every`. Any other node ticks again after `retry_every`.
/// - *On a `Grant`*, the lease runs until the holder's deadline for the request it answers
///   ([`holder_deadline`] of its `asked_at`), never from the grant's arrival. The grant is of no
///   use if that deadline is not still ahead, if the node holds a lease with a higher token,
///   or if it holds one with the same token that runs at least as long already: then nothing
///   happens.
///   Otherwise the node holds the lease with that token and deadline, notes
///   `renewed lease {token} until {until}` (same token as the lease it held) or
///   `granted lease {token} until {until}` (any other), and sets an `Expiry` timer that fires at
///   the deadline.
/// - *On `Expiry`*, a lease that is no longer valid is dropped, with the note
///   `lease {token} expired`.
/// - *On a `Timer::Write`*, it sends the prepared write, with its token, to [`STORAGE`],
///   without looking at the lease again: whatever it saw, a pause could strike right after, and
///   the token is what protects the storage.
///
/// Every node ignores messages and timers its role has no use for.
#[derive(Clone, Debug)]
pub struct LeaseNode {
    config: LeaseConfig,
    role: Role,
}
// ANCHOR_END: node

impl LeaseNode {
    /// Node `id` of a run: the grantor if `id` is [`GRANTOR`], the storage if it is
    /// [`STORAGE`], a candidate with no lease otherwise.
    pub fn new(id: NodeId, config: LeaseConfig) -> LeaseNode {
        let role = match id {
            GRANTOR => Role::Grantor(Grantor::new(Time::ZERO)),
            STORAGE => Role::Storage,
            _ => Role::Candidate { lease: None },
        };
        LeaseNode { config, role }
    }

    /// The node's configuration.
    pub fn config(&self) -> &LeaseConfig {
        &self.config
    }

    /// The node's role and its state.
    pub fn role(&self) -> &Role {
        &self.role
    }

    /// The lease this node holds, if it is a candidate that holds one (valid or not yet
    /// dropped).
    pub fn lease(&self) -> Option<&Lease> {
        match &self.role {
            Role::Candidate { lease } => lease.as_ref(),
            _ => None,
        }
    }

    /// Whether this node believes it leads when its monotonic clock reads `now`: it holds a
    /// lease and [`lease_valid`] says yes.
    pub fn believes_leader(&self, now: Time) -> bool {
        self.lease().is_some_and(|lease| lease_valid(now, lease))
    }

    /// The grantor's state, if this node is the grantor.
    pub fn grantor(&self) -> Option<&Grantor> {
        match &self.role {
            Role::Grantor(grantor) => Some(grantor),
            _ => None,
        }
    }
}

// ANCHOR: node_impl
impl Node for LeaseNode {
    type Msg = Msg;
    type Timer = Timer;
    type Request = ();
    type Response = ();
    type Durable = Durable;

    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        let _ = ctx;
        todo!("decide what each role must do first (remember that a grantor may be restarting)")
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: Msg) {
        let _ = (ctx, from, msg);
        todo!("decide what each role does with each message, and which messages it ignores")
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, timer: Timer) {
        let _ = (ctx, timer);
        todo!(
            "decide what each timer means for this role, and what a candidate must ask itself before it acts"
        )
    }
}
// ANCHOR_END: node_impl
