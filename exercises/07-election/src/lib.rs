//! Chapter 7 of *Distributed Systems, Like It or Not*: **Half a network**.
//!
//! Leader election as Raft does it, without the log: terms, one durable vote per term, a
//! majority to win, randomised election timeouts, heartbeats from the leader. And the two
//! defences against a network that fails only in part: **PreVote** (a node asks whether it
//! could win before it raises its term, and nobody who still hears a leader says yes) and
//! **CheckQuorum** (a leader that has not heard from a majority within an election timeout
//! steps down).
//!
//! Read the chapter first (`cargo xtask serve`, then chapter 7). Every `todo!()` says what to
//! decide. `cargo test` runs the steps in order; `cargo test --test step1_votes` runs one.

use sim::{Context, Node, NodeId, SimRng, Time, TimerId};
use std::collections::BTreeSet;
use std::time::Duration;

// ANCHOR: config
/// How long nodes wait, and which defences are on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElectionConfig {
    /// The shortest election timeout: a follower that hears no leader for this long may stand.
    pub election_timeout_min: Duration,
    /// The longest election timeout.
    pub election_timeout_max: Duration,
    /// How often a leader sends heartbeats.
    pub heartbeat_every: Duration,
    /// Ask for pre-votes before raising the term (off only to show what goes wrong without).
    pub pre_vote: bool,
}

impl Default for ElectionConfig {
    /// Timeouts between 150 and 300 ms, heartbeats every 50 ms, PreVote on.
    fn default() -> ElectionConfig {
        ElectionConfig {
            election_timeout_min: Duration::from_millis(150),
            election_timeout_max: Duration::from_millis(300),
            heartbeat_every: Duration::from_millis(50),
            pre_vote: true,
        }
    }
}
// ANCHOR_END: config

// ANCHOR: durable
/// What a node keeps on disk: its term and whom it voted for in it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Durable {
    /// The latest term this node knows of.
    pub term: u64,
    /// The candidate this node voted for in `term`, if any.
    pub voted_for: Option<NodeId>,
}
// ANCHOR_END: durable

// ANCHOR: messages
/// What nodes send each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Msg {
    /// Would you vote for me in `term` (one more than the sender's own)? Changes nothing.
    PreVote { term: u64 },
    /// The answer to a `PreVote` for `term`.
    PreVoteReply { term: u64, granted: bool },
    /// Vote for me in `term`.
    RequestVote { term: u64 },
    /// The answer to a `RequestVote`, in the voter's term.
    Vote { term: u64, granted: bool },
    /// I lead `term`.
    Heartbeat { term: u64 },
    /// The answer to a heartbeat, in the follower's term.
    HeartbeatAck { term: u64 },
}

/// A node's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// No leader heard for an election timeout.
    Election,
    /// Time for the leader's next heartbeats.
    Heartbeat,
    /// Time for the leader to count whom it heard from.
    CheckQuorum,
}
// ANCHOR_END: messages

// ANCHOR: role
/// What a node is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Follower,
    /// Asking for pre-votes for the term after its own.
    PreCandidate,
    Candidate,
    Leader,
}
// ANCHOR_END: role

/// The smallest number of nodes that is more than half of `cluster`.
pub fn majority(cluster: usize) -> usize {
    cluster / 2 + 1
}

// ANCHOR: decide_vote
/// What a node with `disk` does with a `RequestVote` for `term` from `candidate`: its disk
/// afterwards, and whether it grants the vote.
///
/// A term later than the node's own is news that the node is behind: the node moves to it,
/// with no vote cast in it yet. A request for an earlier term is stale and changes nothing.
/// In its own term a node votes once: for the first candidate that asks, and again for the
/// same one (a resent request) but never for another, or two candidates could each count it
/// and both win the term. The vote is on disk before it is sent: a node that forgets its vote
/// in a restart can vote twice.
pub fn decide_vote(disk: Durable, candidate: NodeId, term: u64) -> (Durable, bool) {
    let _ = (disk, candidate, term);
    todo!(
        "step 1: which term does the node end in, and may it vote for this candidate in it without ever having two votes in one term?"
    )
}
// ANCHOR_END: decide_vote

// ANCHOR: grant_pre_vote
/// Whether a node in `term_now` that last heard from a leader at `leader_heard` (on its
/// monotonic clock; `None`: never) grants, at `now`, a pre-vote for `term`.
///
/// A pre-vote asks "could I win `term`?". Say yes only if you would vote in it: the term is
/// later than yours. And say no while you still hear a leader, that is, if you heard from one
/// less than `election_timeout_min` ago (a leader hears itself: to it, that is now): a node
/// that cannot reach the leader is not a reason for the rest to depose one they can reach. A
/// pre-vote changes nothing on either side.
pub fn grant_pre_vote(
    term_now: u64,
    leader_heard: Option<Time>,
    now: Time,
    config: &ElectionConfig,
    term: u64,
) -> bool {
    let _ = (term_now, leader_heard, now, config, term);
    todo!("step 1: would this node vote in that term, and does it still hear a leader?")
}
// ANCHOR_END: grant_pre_vote

// ANCHOR: election_timeout
/// A fresh election timeout, drawn with `rng` uniformly between `election_timeout_min` and
/// `election_timeout_max` (both included), as a `u64` number of nanoseconds, with one
/// `random_range` call (`sim::rand::RngExt`) per timeout: the snapshot and the book's figures
/// replay the reference's draws only if yours are the same.
///
/// Every node draws its own, and draws again each time it sets the timer: two nodes whose
/// timeouts end together both stand, split the votes, and, if they drew alike every time,
/// would do it again for ever.
pub fn election_timeout(config: &ElectionConfig, rng: &mut SimRng) -> Duration {
    let _ = (config, rng);
    todo!(
        "step 1: draw a timeout between the two bounds, as the doc comment says, so that no two nodes keep drawing alike"
    )
}
// ANCHOR_END: election_timeout

// ANCHOR: node
/// One node of the cluster.
#[derive(Debug)]
pub struct ElectionNode {
    pub config: ElectionConfig,
    pub role: Role,
    /// The leader of the current term, if this node knows it.
    pub leader: Option<NodeId>,
    /// When this node last got a heartbeat of its term (monotonic clock; kept across terms).
    pub leader_heard: Option<Time>,
    /// Pre-votes or votes granted to this node in the election it is running, itself included.
    pub granted: BTreeSet<NodeId>,
    /// The followers a leader heard from since its last quorum check.
    pub heard_from: BTreeSet<NodeId>,
    /// The election timer now set, to cancel when it is set again.
    pub election_timer: Option<TimerId>,
}
// ANCHOR_END: node

impl ElectionNode {
    pub fn new(config: ElectionConfig) -> ElectionNode {
        ElectionNode {
            config,
            role: Role::Follower,
            leader: None,
            leader_heard: None,
            granted: BTreeSet::new(),
            heard_from: BTreeSet::new(),
            election_timer: None,
        }
    }

    /// Sets the election timer afresh, cancelling the one set before (given).
    pub fn reset_election_timer(&mut self, ctx: &mut Context<'_, Self>) {
        if let Some(timer) = self.election_timer.take() {
            ctx.cancel_timer(timer);
        }
        let after = election_timeout(&self.config, ctx.rng());
        self.election_timer = Some(ctx.set_timer(after, Timer::Election));
    }

    /// Sends `msg` to every other node, in id order (given).
    pub fn broadcast(&self, ctx: &mut Context<'_, Self>, msg: Msg) {
        let peers: Vec<NodeId> = ctx.peers().collect();
        for peer in peers {
            ctx.send(peer, msg);
        }
    }

    // ANCHOR: stand
    /// The election timer fired with no leader heard. With PreVote on, every such firing starts
    /// a fresh pre-vote round: ask the others whether this node could win the next term,
    /// without raising its own (role `PreCandidate`, no leader, its own grant counted, note
    /// `pre-vote for term 3`). With PreVote off it stands at once; with it on, it stands when
    /// the grant that makes a majority of its round arrives. Standing raises the term, votes
    /// for itself (on disk before anything is sent) and asks everyone (role `Candidate`, note
    /// `stand in term 3`). A pre-vote round and a candidacy each set the election timer again,
    /// in case they come to nothing. A candidate whose votes make a majority leads: note
    /// `leader of term 3`, heartbeats to everyone at once, the heartbeat and quorum-check
    /// timers set, and its election timer cancelled (a leader does not stand).
    pub fn stand(&mut self, ctx: &mut Context<'_, Self>) {
        let _ = ctx;
        todo!(
            "step 2: ask first or stand now? What goes on disk, what is sent, what is noted, and when does the timer fire again?"
        )
    }
    // ANCHOR_END: stand
}

impl Node for ElectionNode {
    type Msg = Msg;
    type Timer = Timer;
    type Request = ();
    type Response = ();
    type Durable = Durable;

    /// A node starts, or restarts, as a follower of the term on its disk, with its election
    /// timer set.
    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        self.reset_election_timer(ctx);
    }

    // ANCHOR: on_message
    /// A message. A term later than this node's own (in a vote, a heartbeat or an answer to
    /// either, never in a pre-vote or its answer, which change nothing) moves it to that term
    /// as a follower first; a leader that learns of a later term notes `step down: term 4 seen` and sets its
    /// election timer, as every follower has one. Then:
    /// a `PreVote` is answered by [`grant_pre_vote`]; a `RequestVote` by [`decide_vote`], the
    /// disk written before the answer goes out, and a vote granted resets the election timer;
    /// a `Heartbeat` of this node's term makes the sender its leader (a candidate of the term
    /// yields; note `follow n1 in term 3` when the node was not already following the sender
    /// as a follower), is answered, and resets the election timer, while one of an earlier term is
    /// answered with this node's term so that the old leader learns it; a pre-candidate or
    /// candidate counts the grants of its own round and goes on with a majority; a leader
    /// counts the followers that answered its heartbeats of its term.
    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: Msg) {
        let _ = (ctx, from, msg);
        todo!(
            "step 2: does this message carry a later term (and may it move this node to it)? Then what does each kind of message decide?"
        )
    }
    // ANCHOR_END: on_message

    // ANCHOR: on_timer
    /// A timer. `Election`, on a node that is not the leader: [`ElectionNode::stand`].
    /// `Heartbeat`, on the leader: heartbeats of its term to everyone, and the timer set
    /// again. `CheckQuorum`, on the leader, every `election_timeout_min`: if the followers it
    /// heard from since the last check and itself are fewer than a majority, it steps down
    /// (note `step down: heard from 0 of 2 in term 3`), becomes a follower with no leader and
    /// sets its election timer; otherwise it forgets whom it heard from and sets the check
    /// again. A timer of a role the node no longer has does nothing.
    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, timer: Timer) {
        let _ = (ctx, timer);
        todo!(
            "step 2: does this timer still concern the role this node has, and what does each one do for it?"
        )
    }
    // ANCHOR_END: on_timer
}
