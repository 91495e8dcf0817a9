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

use sim::rand::RngExt;
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
    let mut disk = disk;
    if term > disk.term {
        disk = Durable {
            term,
            voted_for: None,
        };
    }
    if term < disk.term {
        return (disk, false);
    }
    match disk.voted_for {
        None => {
            disk.voted_for = Some(candidate);
            (disk, true)
        }
        Some(voted) => (disk, voted == candidate),
    }
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
    if cfg!(feature = "drill-pre-vote-ignores-leader") {
        return term > term_now;
    }
    let hears_leader = leader_heard.is_some_and(|at| now - at < config.election_timeout_min);
    term > term_now && !hears_leader
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
    if cfg!(feature = "mistake-fixed-timeout") {
        return config.election_timeout_min;
    }
    let min = config.election_timeout_min.as_nanos() as u64;
    let max = config.election_timeout_max.as_nanos() as u64;
    Duration::from_nanos(rng.random_range(min..=max))
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
    /// The mistake's vote, kept in memory only: its term and candidate.
    #[cfg(feature = "mistake-volatile-vote")]
    pub volatile_vote: Option<(u64, NodeId)>,
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
            #[cfg(feature = "mistake-volatile-vote")]
            volatile_vote: None,
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

    fn cluster(ctx: &Context<'_, Self>) -> usize {
        ctx.nodes().count()
    }

    /// Moves to a later term as a follower, with no vote cast in it.
    fn follow_term(&mut self, ctx: &mut Context<'_, Self>, term: u64) {
        *ctx.durable_mut() = Durable {
            term,
            voted_for: None,
        };
        if self.role == Role::Leader {
            ctx.note(format!("step down: term {term} seen"));
            self.reset_election_timer(ctx);
        }
        self.role = Role::Follower;
        self.leader = None;
        self.granted.clear();
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
        let next = ctx.durable().term + 1;
        let ask_first = self.config.pre_vote && !cfg!(feature = "mistake-no-pre-vote");
        if ask_first {
            self.reset_election_timer(ctx);
            self.role = Role::PreCandidate;
            self.leader = None;
            self.granted = BTreeSet::from([ctx.id()]);
            ctx.note(format!("pre-vote for term {next}"));
            self.broadcast(ctx, Msg::PreVote { term: next });
            self.win_if_majority(ctx);
        } else {
            self.start_election(ctx);
        }
    }
    // ANCHOR_END: stand

    fn start_election(&mut self, ctx: &mut Context<'_, Self>) {
        let term = ctx.durable().term + 1;
        let me = ctx.id();
        self.record_vote(
            ctx,
            Durable {
                term,
                voted_for: Some(me),
            },
        );
        self.reset_election_timer(ctx);
        self.role = Role::Candidate;
        self.leader = None;
        self.granted = BTreeSet::from([me]);
        ctx.note(format!("stand in term {term}"));
        self.broadcast(ctx, Msg::RequestVote { term });
        self.win_if_majority(ctx);
    }

    /// What this node's disk says it voted for.
    #[cfg(not(feature = "mistake-volatile-vote"))]
    fn known_vote(&self, ctx: &Context<'_, Self>) -> Durable {
        *ctx.durable()
    }

    /// The mistake: the term from the disk, the vote from memory.
    #[cfg(feature = "mistake-volatile-vote")]
    fn known_vote(&self, ctx: &Context<'_, Self>) -> Durable {
        let term = ctx.durable().term;
        let voted_for = self
            .volatile_vote
            .filter(|(t, _)| *t == term)
            .map(|(_, c)| c);
        Durable { term, voted_for }
    }

    /// Writes the term and vote to disk.
    #[cfg(not(feature = "mistake-volatile-vote"))]
    fn record_vote(&mut self, ctx: &mut Context<'_, Self>, disk: Durable) {
        *ctx.durable_mut() = disk;
    }

    /// The mistake: the term to disk, the vote to memory only.
    #[cfg(feature = "mistake-volatile-vote")]
    fn record_vote(&mut self, ctx: &mut Context<'_, Self>, disk: Durable) {
        self.volatile_vote = disk.voted_for.map(|c| (disk.term, c));
        *ctx.durable_mut() = Durable {
            term: disk.term,
            voted_for: None,
        };
    }

    fn win_if_majority(&mut self, ctx: &mut Context<'_, Self>) {
        if self.granted.len() < majority(Self::cluster(ctx)) {
            return;
        }
        match self.role {
            Role::PreCandidate => self.start_election(ctx),
            Role::Candidate => {
                let term = ctx.durable().term;
                self.role = Role::Leader;
                self.leader = Some(ctx.id());
                self.heard_from.clear();
                if let Some(timer) = self.election_timer.take() {
                    ctx.cancel_timer(timer);
                }
                ctx.note(format!("leader of term {term}"));
                self.broadcast(ctx, Msg::Heartbeat { term });
                ctx.set_timer(self.config.heartbeat_every, Timer::Heartbeat);
                ctx.set_timer(self.config.election_timeout_min, Timer::CheckQuorum);
            }
            _ => {}
        }
    }
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
        let term_in = match msg {
            Msg::RequestVote { term }
            | Msg::Vote { term, .. }
            | Msg::Heartbeat { term }
            | Msg::HeartbeatAck { term } => Some(term),
            _ => None,
        };
        if let Some(term) = term_in
            && term > ctx.durable().term
        {
            self.follow_term(ctx, term);
        }
        let term_now = ctx.durable().term;
        match msg {
            Msg::PreVote { term } => {
                // A leader hears itself.
                let heard = if self.role == Role::Leader {
                    Some(ctx.now())
                } else {
                    self.leader_heard
                };
                let granted = grant_pre_vote(term_now, heard, ctx.now(), &self.config, term);
                ctx.send(from, Msg::PreVoteReply { term, granted });
            }
            Msg::PreVoteReply { term, granted } => {
                if self.role == Role::PreCandidate && term == term_now + 1 && granted {
                    self.granted.insert(from);
                    self.win_if_majority(ctx);
                }
            }
            Msg::RequestVote { term } => {
                let (disk, granted) = decide_vote(self.known_vote(ctx), from, term);
                self.record_vote(ctx, disk);
                if granted {
                    self.reset_election_timer(ctx);
                }
                ctx.send(
                    from,
                    Msg::Vote {
                        term: disk.term,
                        granted,
                    },
                );
            }
            Msg::Vote { term, granted } => {
                if self.role == Role::Candidate && term == term_now && granted {
                    self.granted.insert(from);
                    self.win_if_majority(ctx);
                }
            }
            Msg::Heartbeat { term } => {
                if term == term_now {
                    if self.role != Role::Follower || self.leader != Some(from) {
                        ctx.note(format!("follow {from} in term {term}"));
                    }
                    self.role = Role::Follower;
                    self.leader = Some(from);
                    self.leader_heard = Some(ctx.now());
                    self.granted.clear();
                    self.reset_election_timer(ctx);
                }
                ctx.send(from, Msg::HeartbeatAck { term: term_now });
            }
            Msg::HeartbeatAck { term } => {
                if self.role == Role::Leader && term == term_now {
                    self.heard_from.insert(from);
                }
            }
        }
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
        match timer {
            Timer::Election => {
                self.election_timer = None;
                if self.role != Role::Leader {
                    self.stand(ctx);
                }
            }
            Timer::Heartbeat => {
                if self.role == Role::Leader {
                    let term = ctx.durable().term;
                    self.broadcast(ctx, Msg::Heartbeat { term });
                    ctx.set_timer(self.config.heartbeat_every, Timer::Heartbeat);
                }
            }
            Timer::CheckQuorum => {
                if self.role != Role::Leader {
                    return;
                }
                let cluster = Self::cluster(ctx);
                let heard = self.heard_from.len();
                let check = !cfg!(feature = "mistake-no-check-quorum");
                if check && heard + 1 < majority(cluster) {
                    let term = ctx.durable().term;
                    ctx.note(format!(
                        "step down: heard from {heard} of {} in term {term}",
                        cluster - 1
                    ));
                    self.role = Role::Follower;
                    self.leader = None;
                    self.reset_election_timer(ctx);
                } else {
                    self.heard_from.clear();
                    ctx.set_timer(self.config.election_timeout_min, Timer::CheckQuorum);
                }
            }
        }
    }
    // ANCHOR_END: on_timer
}
