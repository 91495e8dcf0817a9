//! Reference solution of the warm-up (`book/src/00-warm-up.md`): a pinger that retries until its
//! peer answers. The protocol it implements is specified in the exercise's crate docs,
//! `exercises/00-warm-up/src/lib.rs`; this crate runs that exercise's tests unchanged.
//!
//! Classic mistakes can be switched in with cargo features, to prove the tests reject them (each
//! is described in `Cargo.toml`): `mistake-no-retry`, `mistake-any-pong`, `mistake-answer-once`,
//! `mistake-answer-n0`, `mistake-resend-on-stale-pong` and `mistake-next-per-pong`.

use sim::{Context, Node, NodeId, TimerId};
use std::time::Duration;

/// What nodes send each other. The number is the ping's sequence number; a pong carries the
/// number of the ping it answers.
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

/// A node that answers pings and, if it has a [`PingConfig`], sends them.
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
    /// The ping numbers already answered, to answer each only once.
    #[cfg(feature = "mistake-answer-once")]
    answered: std::collections::BTreeSet<u64>,
}

impl Pinger {
    /// A node that pings `config.peer` (and answers pings too).
    pub fn new(config: PingConfig) -> Pinger {
        Pinger {
            config: Some(config),
            seq: 0,
            acked: false,
            retry: None,
            #[cfg(feature = "mistake-answer-once")]
            answered: std::collections::BTreeSet::new(),
        }
    }

    /// A node that only answers pings.
    pub fn ponger() -> Pinger {
        Pinger {
            config: None,
            seq: 0,
            acked: false,
            retry: None,
            #[cfg(feature = "mistake-answer-once")]
            answered: std::collections::BTreeSet::new(),
        }
    }

    /// Sends ping `seq` to the peer and sets its retry timer (rule 1). Only a node with a
    /// config calls it.
    pub fn send_ping(&mut self, ctx: &mut Context<'_, Self>, seq: u64) {
        let Some(config) = self.config else {
            return;
        };
        self.seq = seq;
        self.acked = false;
        ctx.send(config.peer, Msg::Ping(seq));
        // The timer is the only way the pinger learns that an answer is not coming: the network
        // says nothing when it loses a message.
        #[cfg(not(feature = "mistake-no-retry"))]
        {
            self.retry = Some(ctx.set_timer(config.retry_after, Timer::Retry(seq)));
        }
    }

    /// Whether a pong numbered `n` answers the ping in flight.
    fn answers_ping_in_flight(&self, n: u64) -> bool {
        #[cfg(not(feature = "mistake-any-pong"))]
        {
            // After a retry there can be two answers to one ping, and a slow one can arrive
            // after the next ping went out: only the number says which ping a pong answers.
            !self.acked && n == self.seq
        }
        #[cfg(feature = "mistake-any-pong")]
        {
            let _ = n;
            !self.acked
        }
    }
}

impl Node for Pinger {
    type Msg = Msg;
    type Timer = Timer;
    type Request = ();
    type Response = ();
    type Durable = ();

    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        if self.config.is_some_and(|c| c.count > 0) {
            self.send_ping(ctx, 0);
        }
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            // Answering every copy is safe, and the ponger cannot know which answers got lost.
            #[cfg(not(any(feature = "mistake-answer-once", feature = "mistake-answer-n0")))]
            Msg::Ping(n) => ctx.send(from, Msg::Pong(n)),
            #[cfg(feature = "mistake-answer-once")]
            Msg::Ping(n) => {
                let _ = from;
                if self.answered.insert(n) {
                    ctx.send(from, Msg::Pong(n));
                }
            }
            #[cfg(all(feature = "mistake-answer-n0", not(feature = "mistake-answer-once")))]
            Msg::Ping(n) => {
                let _ = from;
                ctx.send(NodeId(0), Msg::Pong(n));
            }
            Msg::Pong(n) => {
                let Some(config) = self.config else {
                    return;
                };
                if !self.answers_ping_in_flight(n) {
                    #[cfg(feature = "mistake-resend-on-stale-pong")]
                    if !self.acked {
                        // "An answer to an old ping: mine must have been lost, send it again."
                        self.send_ping(ctx, self.seq);
                    }
                    #[cfg(feature = "mistake-next-per-pong")]
                    if n == self.seq && self.seq + 1 < config.count {
                        // A second answer to the acked ping starts a second Next timer.
                        ctx.set_timer(config.interval, Timer::Next);
                    }
                    return;
                }
                self.acked = true;
                ctx.note(format!("acked {}", self.seq));
                if let Some(retry) = self.retry.take() {
                    ctx.cancel_timer(retry);
                }
                if self.seq + 1 < config.count {
                    ctx.set_timer(config.interval, Timer::Next);
                }
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, timer: Timer) {
        match timer {
            // The drill's broken variant: a retry sends the ping again but arranges no retry of
            // its own, so a second loss in a row leaves the pinger waiting for ever.
            Timer::Retry(n) if cfg!(feature = "drill-retry-once") => {
                if let Some(config) = self.config {
                    ctx.send(config.peer, Msg::Ping(n));
                }
            }
            Timer::Retry(n) => self.send_ping(ctx, n),
            Timer::Next => self.send_ping(ctx, self.seq + 1),
        }
    }
}
