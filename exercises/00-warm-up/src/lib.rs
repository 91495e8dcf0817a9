//! # Warm-up: ping, and retry until you hear back
//!
//! The exercise of the warm-up chapter, `book/src/00-warm-up.md`. You write a node that pings a
//! peer and sends the ping again when no answer comes back in time. There is nothing clever in
//! it: the point is to learn the node API ([`sim::Node`], [`sim::Context`]), the simulator and
//! what a failing test tells you, before the chapters that build real mechanisms.
//!
//! Run the tests from this folder with `cargo test` (or `cargo test -p warm-up` from the
//! workspace root). As shipped they fail with "not yet implemented": replace each `todo!()`.
//! The tests come in two steps, in the order of the work, and `cargo test` stops at the first
//! step that fails; `cargo test --test step2_under_faults` runs step 2 alone. Once your node
//! runs, `cargo xtask scenario warm-up/lost-ping --mine` draws the book's first figure from
//! your code, and `--compare` instead of `--mine` prints the first event where your run departs
//! from the reference's.
//!
//! ## The protocol, exactly
//!
//! The tests compare the timeline of one fixed run with a stored one, byte for byte, so the
//! rules below leave nothing to taste: any node that keeps them produces that timeline. Each
//! rule comes with its reason; the failure reports cite the rules by number.
//!
//! **Every node answers pings**, pingers included. Each copy of `Msg::Ping(n)` that arrives is
//! answered with one `Msg::Pong(n)`, carrying the same number, to the node that ping came from,
//! while handling that arrival. Answer every copy, even of a ping answered before: the answering
//! node cannot know whether its first answer arrived, and answering twice does no harm. The
//! number is what lets the pinger match an answer to its question, and the sender is the only
//! node that asked.
//!
//! **A node built with [`Pinger::new`] also pings** `config.peer`, and no other node, with
//! `config.count` pings numbered 0, 1, 2, ..., one at a time: ping `n + 1` never leaves before
//! ping `n` is acknowledged.
//!
//! 1. *Every send of a ping arms its own retry timer*, `Timer::Retry(n)`, due `retry_after`
//!    after that send, whether the ping goes out for the first time or again. Seen from the
//!    pinger, a lost ping, a lost pong and a slow peer look the same: nothing arrives. The
//!    timer is the only way to learn that the silence has lasted too long. The ping leaves,
//!    then its timer is armed (the timeline shows only the send, so no test can see this
//!    order, but step 1's report describes rule 1 so). Keep the timer's id: rule 4 needs it.
//! 2. *On start*, a pinger with `count > 0` sends ping 0 (rule 1) at once; one with `count == 0`
//!    has nothing to send, ever.
//! 3. *When `Timer::Retry(n)` fires*, no pong for ping `n` came back in time: ping `n` goes out
//!    again, with the same number (it is the same question) and a fresh retry timer (rule 1).
//! 4. *A pong acknowledges the ping in flight* when its number is the current ping's and that
//!    ping is not acknowledged yet. Then, and only then, the pinger notes exactly `acked n`
//!    (`acked 0`, `acked 1`, ...: the word, one space, the number), cancels that ping's retry
//!    timer (an answered ping is never sent again), and, if there is a next ping (`n + 1` is
//!    still below `count`), arms `Timer::Next` for `interval`, the pause between an
//!    acknowledgement and the next ping. After the last ping the pinger is done: no
//!    `Timer::Next`.
//! 5. *When `Timer::Next` fires*, ping `n + 1` goes out (rule 1).
//! 6. *Every other pong is ignored*: an answer to an earlier ping, a second answer to the ping
//!    already acknowledged, anything after the last ping. Such a pong carries no news about the
//!    ping in flight: it answers a question already settled. Ignoring means no note, no message
//!    and no timer.
//!
//! A node built with [`Pinger::ponger`] sends no pings; it only answers them.
//!
//! Timers run on the node's own monotonic clock, which is what [`Context::set_timer`] uses: you
//! never read a clock yourself in this exercise.
//!
//! ## The API you need
//!
//! - The three handlers of [`sim::Node`]: `on_start` (once, when the node starts),
//!   `on_message` (each message that arrives, with the node it came `from`) and `on_timer`
//!   (each timer that fires). The message and timer types are [`Msg`] and [`Timer`] below.
//! - A node acts only through its [`Context`]: [`Context::send`] (to a node, a message),
//!   [`Context::set_timer`] (after a duration, a timer; it returns a [`TimerId`]),
//!   [`Context::cancel_timer`] (by that id; cancelling a timer that already fired does
//!   nothing) and [`Context::note`] (a line of text on the timeline).
//!
//! ## What the tests check
//!
//! - Step 1, `tests/step1_timeline.rs`: the timeline of a run where the first ping meets a
//!   partition, a pong is dropped, and the ponger pauses, against
//!   `tests/snapshots/step1_timeline__timeline.snap`.
//! - Step 2, `tests/step2_under_faults.rs`: the same rules over many random fault plans (loss,
//!   duplication, reordering, partitions that heal, a ponger that pauses, crashes or starts late,
//!   clocks that drift), in runs of three nodes where two pingers share a ponger or a pinger is
//!   pinged itself. Every ping is eventually acked (`delivery`); acks are noted in order, once
//!   each, each on the arrival of its own pong (`order`); every copy of a ping is answered at
//!   once, with its number, to its sender, and no other pong is sent (`answers`); every ping goes
//!   out to the peer at the instant rules 2, 3 and 5 give it, and no other (`pacing`).

use sim::{Context, Node, NodeId, TimerId};
use std::time::Duration;

// ANCHOR: messages
/// What nodes send each other. The number is the ping's sequence number; a pong carries the
/// number of the ping it answers, which is how the pinger tells an answer to the ping in flight
/// from an answer to an earlier one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Msg {
    Ping(u64),
    Pong(u64),
}

/// What the pinger's timers carry when they fire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// No pong came back for ping `n` within `retry_after`: send it again.
    Retry(u64),
    /// The pause between an acknowledged ping and the next one is over.
    Next,
}
// ANCHOR_END: messages

// ANCHOR: config
/// What a pinger does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PingConfig {
    /// The node to ping.
    pub peer: NodeId,
    /// How many pings to send, numbered `0..count`.
    pub count: u64,
    /// How long to wait after a ping is acknowledged before sending the next one.
    pub interval: Duration,
    /// How long to wait for a pong before sending the same ping again.
    pub retry_after: Duration,
}
// ANCHOR_END: config

// ANCHOR: state
/// A node that answers pings and, if it has a [`PingConfig`], sends them.
///
/// The fields are a suggestion: they are all the state the protocol needs. Change them if you
/// like; the tests only build nodes with [`Pinger::new`] and [`Pinger::ponger`].
#[derive(Clone, Debug)]
pub struct Pinger {
    /// What to ping and how; `None` for a node that only answers.
    pub config: Option<PingConfig>,
    /// The number of the current ping: the one in flight, or the one just acknowledged.
    pub seq: u64,
    /// Whether the current ping's pong has arrived.
    pub acked: bool,
    /// The retry timer of the ping in flight, kept to cancel it when the pong arrives.
    pub retry: Option<TimerId>,
}

impl Pinger {
    /// A node that pings `config.peer` (and answers pings too).
    pub fn new(config: PingConfig) -> Pinger {
        Pinger {
            config: Some(config),
            seq: 0,
            acked: false,
            retry: None,
        }
    }

    /// A node that only answers pings.
    pub fn ponger() -> Pinger {
        Pinger {
            config: None,
            seq: 0,
            acked: false,
            retry: None,
        }
    }
}
// ANCHOR_END: state

// ANCHOR: handlers
impl Pinger {
    /// Sends ping `seq` to the peer, with the retry timer that every send of a ping needs
    /// (rule 1). Only a node with a config calls it.
    pub fn send_ping(&mut self, ctx: &mut Context<'_, Self>, seq: u64) {
        let _ = (ctx, seq);
        todo!(
            "decide what else sending a ping must arrange, so that the pinger notices if no answer ever comes (rule 1)"
        )
    }
}

impl Node for Pinger {
    type Msg = Msg;
    type Timer = Timer;
    type Request = ();
    type Response = ();
    type Durable = ();

    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        let _ = ctx;
        todo!("decide whether this node pings at all, and if it does, begin (rule 2)")
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: Msg) {
        let _ = (ctx, from, msg);
        todo!(
            "decide, for each message, whether it must be answered, whether it acknowledges the ping in flight, or whether it changes nothing (rules 4 and 6)"
        )
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, timer: Timer) {
        let _ = (ctx, timer);
        todo!("decide which ping each kind of timer means to send (rules 3 and 5)")
    }
}
// ANCHOR_END: handlers
