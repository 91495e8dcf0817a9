//! Chapter 6 of *Distributed Systems, Like It or Not*: **What time is it?**
//!
//! A small replicated store: every replica takes writes, stamps each with a hybrid logical
//! clock ([`Hlc`]), keeps the newest version of each key (last writer wins, by [`Version`]),
//! and replicates every write to its peers until each acknowledges it, resending after a
//! timeout derived from the round trips it measured. Wall clocks here are offset, drift, and
//! step backwards and forwards; the store must still order a write after everything its
//! replica had seen, and no duration it measures may come out negative or absurd.
//!
//! Read the chapter first (`cargo xtask serve`, then chapter 6). Every `todo!()` says what to
//! decide. `cargo test` runs the steps in order; `cargo test --test step1_hlc` runs one.

pub mod tables;

use sim::{Context, Node, NodeId, OpId, Time, WallTime};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

// ANCHOR: stamp
/// A hybrid logical clock's timestamp: a wall-clock reading and a counter that orders events
/// which share it. Stamps compare by `wall`, then by `logical`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stamp {
    /// The largest wall-clock reading the clock has seen, its own or in a message.
    pub wall: WallTime,
    /// How many events this clock has stamped since `wall` last changed (0: the first).
    pub logical: u32,
}

impl Stamp {
    /// Earlier than every stamp a clock can issue: where a new clock starts.
    pub const MIN: Stamp = Stamp {
        wall: WallTime(i64::MIN),
        logical: 0,
    };
}
// ANCHOR_END: stamp

/// A wall-clock reading in milliseconds to the nanosecond: `1000.000250ms`.
pub fn wall_text(wall: WallTime) -> String {
    let ns = wall.as_nanos();
    let sign = if ns < 0 { "-" } else { "" };
    let abs = ns.unsigned_abs();
    format!("{sign}{}.{:06}ms", abs / 1_000_000, abs % 1_000_000)
}

impl fmt::Display for Stamp {
    /// The wall part to the nanosecond, then the counter: `1000.000250ms+2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}+{}", wall_text(self.wall), self.logical)
    }
}

impl fmt::Debug for Stamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

// ANCHOR: hlc
/// A hybrid logical clock (Kulkarni et al., 2014): stamps that respect causality like a
/// Lamport clock and stay as close to the wall clock as causality allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hlc {
    latest: Stamp,
}

impl Default for Hlc {
    fn default() -> Hlc {
        Hlc { latest: Stamp::MIN }
    }
}

impl Hlc {
    /// A clock that has seen nothing yet.
    pub fn new() -> Hlc {
        Hlc::default()
    }

    /// The last stamp this clock issued ([`Stamp::MIN`] if none).
    pub fn latest(&self) -> Stamp {
        self.latest
    }
    // ANCHOR_END: hlc

    // ANCHOR: now
    /// Stamps a local event (a write, a send) when the wall clock reads `physical`.
    ///
    /// The stamp must be later than every stamp this clock issued before, or a later event
    /// on this node could look older than an earlier one; and its wall part must be the
    /// larger of `physical` and the wall part of the clock's last stamp: never behind this
    /// node's own clock, never ahead of the largest reading the clock has seen. Of the stamps
    /// that meet both, issue the smallest: every counter value you skip is order you did not
    /// need, and a counter that keeps climbing while the wall part moves on says nothing.
    pub fn now(&mut self, physical: WallTime) -> Stamp {
        let wall = self.latest.wall.max(physical);
        let logical = if wall == self.latest.wall {
            self.latest.logical + 1
        } else {
            self.next_logical_after_move()
        };
        self.latest = Stamp { wall, logical };
        self.latest
    }
    // ANCHOR_END: now

    // ANCHOR: observe
    /// Stamps the receipt of a message stamped `remote`, when the wall clock reads `physical`.
    ///
    /// The receipt happened after the send, so its stamp must be later than `remote` as well
    /// as later than every stamp this clock issued; and its wall part is the largest of
    /// `physical`, the clock's last wall part and `remote`'s: a clock that lags learns the
    /// time from the messages it gets. Of the stamps that meet these, issue the smallest,
    /// for the reasons [`Hlc::now`] gives.
    pub fn observe(&mut self, remote: Stamp, physical: WallTime) -> Stamp {
        if cfg!(feature = "mistake-no-max-on-receipt") {
            return self.now(physical);
        }
        let wall = self.latest.wall.max(remote.wall).max(physical);
        let logical = if wall == self.latest.wall && wall == remote.wall {
            self.latest.logical.max(remote.logical) + 1
        } else if wall == self.latest.wall {
            self.latest.logical + 1
        } else if wall == remote.wall {
            remote.logical + 1
        } else {
            self.next_logical_after_move()
        };
        self.latest = Stamp { wall, logical };
        self.latest
    }
    // ANCHOR_END: observe

    /// The counter of a stamp whose wall part moved past everything the clock had seen.
    fn next_logical_after_move(&self) -> u32 {
        if cfg!(feature = "mistake-no-counter-reset") && self.latest != Stamp::MIN {
            self.latest.logical + 1
        } else {
            0
        }
    }
}

// ANCHOR: version
/// A key of the store.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(pub u32);

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "k{}", self.0)
    }
}

/// Which write a value is: its stamp, then the replica that took it, which breaks a tie
/// between two writes stamped alike on different replicas (they are concurrent: neither saw
/// the other). Versions compare by `stamp`, then by `writer`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub stamp: Stamp,
    pub writer: NodeId,
}
// ANCHOR_END: version

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} by {}", self.stamp, self.writer)
    }
}

// ANCHOR: config
/// How long a replica waits for acknowledgements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// How long to wait before resending to a peer whose round trip is not known yet.
    pub initial_resend: Duration,
    /// The shortest wait before a resend, however fast the peer has been.
    pub min_resend: Duration,
    /// The longest wait before a resend, however slow the peer has been.
    pub max_resend: Duration,
}

impl Default for StoreConfig {
    /// 20 ms at first, then three smoothed round trips, between 5 ms and 200 ms.
    fn default() -> StoreConfig {
        StoreConfig {
            initial_resend: Duration::from_millis(20),
            min_resend: Duration::from_millis(5),
            max_resend: Duration::from_millis(200),
        }
    }
}
// ANCHOR_END: config

/// The smoothed round trip to one peer, and the resend timeout it gives (given: TCP's
/// smoothing, RFC 6298, without the variance term).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoundTrips {
    smoothed: Option<Duration>,
}

impl RoundTrips {
    /// Takes in one measured round trip: an eighth of the way from the old estimate to it.
    pub fn record(&mut self, sample: Duration) {
        self.smoothed = Some(match self.smoothed {
            None => sample,
            Some(old) => old - old / 8 + sample / 8,
        });
    }

    /// The smoothed round trip, once there is one.
    pub fn smoothed(&self) -> Option<Duration> {
        self.smoothed
    }

    /// How long to wait for an acknowledgement before resending: three smoothed round trips,
    /// within the configured bounds (the initial wait while nothing was measured).
    pub fn resend_after(&self, config: &StoreConfig) -> Duration {
        match self.smoothed {
            None => config.initial_resend,
            Some(rtt) => (rtt * 3).clamp(config.min_resend, config.max_resend),
        }
    }
}

// ANCHOR: messages
/// What replicas send each other. Every message carries `at`, the sender's stamp of the event
/// that sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    /// A write, for the peer to keep if it is newer than what the peer holds.
    Replicate {
        key: Key,
        value: u64,
        version: Version,
        at: Stamp,
    },
    /// The peer got the write `value` of `key` (whether it kept it or not).
    Ack { key: Key, value: u64, at: Stamp },
}

/// A replica's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// Time to resend the write `value` to `peer`, unless it was acknowledged.
    Resend { peer: NodeId, value: u64 },
}

/// A client's request: write `value` (unique in a run) under `key`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Write {
    pub key: Key,
    pub value: u64,
}

/// One round trip a replica measured: from sending the write `value` to `peer` to the
/// arrival of the peer's acknowledgement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoundTrip {
    pub peer: NodeId,
    pub value: u64,
    pub took: Duration,
}
// ANCHOR_END: messages

/// A write sent to a peer and not yet acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unacked {
    pub key: Key,
    pub version: Version,
    /// When it was first sent, on this node's monotonic clock.
    pub sent: Time,
    /// When it was first sent, on this node's wall clock: only the mistake reads it.
    #[cfg(feature = "mistake-wall-clock-durations")]
    pub sent_wall: WallTime,
    /// Whether it was sent more than once.
    pub resent: bool,
}

/// The text of a duration in notes: milliseconds to the microsecond.
pub fn millis(d: Duration) -> String {
    let micros = d.as_micros();
    format!("{}.{:03}ms", micros / 1_000, micros % 1_000)
}

// ANCHOR: replica
/// One replica of the store.
#[derive(Clone, Debug)]
pub struct Replica {
    pub config: StoreConfig,
    /// This replica's hybrid logical clock.
    pub hlc: Hlc,
    /// The newest value of each key this replica knows, and its version.
    pub store: BTreeMap<Key, (u64, Version)>,
    /// Writes sent to a peer and not yet acknowledged, by peer and value.
    pub unacked: BTreeMap<(NodeId, u64), Unacked>,
    /// The smoothed round trip to each peer.
    pub round_trips: BTreeMap<NodeId, RoundTrips>,
    /// Every round trip this replica measured, in order (the tests read it).
    pub measured: Vec<RoundTrip>,
}
// ANCHOR_END: replica

impl Replica {
    pub fn new(config: StoreConfig) -> Replica {
        Replica {
            config,
            hlc: Hlc::new(),
            store: BTreeMap::new(),
            unacked: BTreeMap::new(),
            round_trips: BTreeMap::new(),
            measured: Vec::new(),
        }
    }

    /// The value this replica holds for `key`, and its version.
    pub fn value(&self, key: Key) -> Option<(u64, Version)> {
        self.store.get(&key).copied()
    }

    /// How long to wait for `peer`'s acknowledgement before resending (given).
    pub fn resend_after(&self, peer: NodeId) -> Duration {
        self.round_trips
            .get(&peer)
            .copied()
            .unwrap_or_default()
            .resend_after(&self.config)
    }

    // ANCHOR: apply
    /// Keeps `value` under `key` if its version is newer than the one held (or none is), and
    /// notes what happened: `k0 := 7 (1000.000000ms+0 by n0)` when it keeps it, `k0 stays 5:
    /// 7 (990.000000ms+0 by n1) is older` when it does not. A version equal to the one held is
    /// the same write again (a resend, a duplicate): it changes nothing and is not noted.
    pub fn apply(
        &mut self,
        ctx: &mut Context<'_, Replica>,
        key: Key,
        value: u64,
        version: Version,
    ) {
        let held = self.store.get(&key).copied();
        let newer = match held {
            None => true,
            Some((_, old)) if cfg!(feature = "drill-wall-only-compare") => {
                (version.stamp.wall, version.writer) > (old.stamp.wall, old.writer)
            }
            Some((_, old)) => version > old,
        };
        if newer {
            self.store.insert(key, (value, version));
            ctx.note(format!("{key:?} := {value} ({version:?})"));
        } else if let Some((kept, old)) = held
            && old != version
        {
            ctx.note(format!(
                "{key:?} stays {kept}: {value} ({version:?}) is older"
            ));
        }
    }
    // ANCHOR_END: apply

    /// The version of a write this replica takes now.
    fn stamp_write(&mut self, ctx: &Context<'_, Replica>) -> Stamp {
        let stamp = self.hlc.now(ctx.wall_clock());
        if cfg!(feature = "mistake-wall-clock-lww") {
            return Stamp {
                wall: ctx.wall_clock(),
                logical: 0,
            };
        }
        stamp
    }

    /// How long the acknowledged write took, from its first send to now.
    #[cfg(not(feature = "mistake-wall-clock-durations"))]
    fn took(&self, ctx: &Context<'_, Replica>, unacked: &Unacked) -> Duration {
        ctx.now() - unacked.sent
    }

    #[cfg(feature = "mistake-wall-clock-durations")]
    fn took(&self, ctx: &Context<'_, Replica>, unacked: &Unacked) -> Duration {
        // "At worst zero": clamping hides the step back, and a step forward goes through.
        let ns = ctx.wall_clock().nanos_since(unacked.sent_wall).max(0);
        Duration::from_nanos(ns as u64)
    }

    fn send_replica(
        &mut self,
        ctx: &mut Context<'_, Replica>,
        peer: NodeId,
        value: u64,
        at: Stamp,
    ) {
        let Some(unacked) = self.unacked.get(&(peer, value)).copied() else {
            return;
        };
        ctx.send(
            peer,
            Msg::Replicate {
                key: unacked.key,
                value,
                version: unacked.version,
                at,
            },
        );
        ctx.set_timer(self.resend_after(peer), Timer::Resend { peer, value });
    }
}

impl Node for Replica {
    type Msg = Msg;
    type Timer = Timer;
    type Request = Write;
    type Response = Version;
    type Durable = ();

    fn on_start(&mut self, _ctx: &mut Context<'_, Self>) {}

    // ANCHOR: on_request
    /// A client's write. The write and the sends that carry it to the peers are one event, so
    /// they share one stamp; the write's version is that stamp and this replica's id. Every
    /// peer must end up with the write, and only its acknowledgement shows it did, so the
    /// replica remembers, per peer, what it sent and when (by the monotonic clock) until the
    /// acknowledgement comes. It keeps its own write as any other (through `apply`) and
    /// answers the client with the version. The timeline shows, in this order: the note
    /// `write k0=7, stamped 1000.000000ms+0 (wall clock 1000.000000ms)` (the stamp, and the
    /// wall-clock reading it was taken at), what `apply` notes, the sends in peer id order,
    /// the reply.
    fn on_request(&mut self, ctx: &mut Context<'_, Self>, op: OpId, write: Write) {
        let wall = ctx.wall_clock();
        let stamp = self.stamp_write(ctx);
        let at = self.hlc.latest();
        let version = Version {
            stamp,
            writer: ctx.id(),
        };
        ctx.note(format!(
            "write {:?}={}, stamped {stamp} (wall clock {})",
            write.key,
            write.value,
            wall_text(wall)
        ));
        self.apply(ctx, write.key, write.value, version);
        let peers: Vec<NodeId> = ctx.peers().collect();
        for peer in peers {
            self.unacked.insert(
                (peer, write.value),
                Unacked {
                    key: write.key,
                    version,
                    sent: ctx.now(),
                    #[cfg(feature = "mistake-wall-clock-durations")]
                    sent_wall: wall,
                    resent: false,
                },
            );
            self.send_replica(ctx, peer, write.value, at);
        }
        ctx.reply(op, version);
    }
    // ANCHOR_END: on_request

    // ANCHOR: on_message
    /// A peer's message. A message's receipt is an event that happened after its send, so it
    /// is stamped first, whatever the message says, and what the replica sends back carries
    /// that stamp. The peer resends a write until it hears, so every copy of a `Replicate`,
    /// kept or not, is applied and acknowledged. An `Ack` ends the wait for that write and
    /// peer, if there was one. It closes a round trip only if the write went out once: after a
    /// resend nobody can tell which copy it answers, so it then ends the wait and records and
    /// notes nothing. A round trip is a duration on this node, so it is read on the clock that
    /// never jumps; it goes into `measured` and the peer's `round_trips`, and is noted
    /// `round trip to n1: 2.000ms`.
    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Replicate {
                key,
                value,
                version,
                at,
            } => {
                let stamp = self.hlc.observe(at, ctx.wall_clock());
                self.apply(ctx, key, value, version);
                ctx.send(
                    from,
                    Msg::Ack {
                        key,
                        value,
                        at: stamp,
                    },
                );
            }
            Msg::Ack { value, at, .. } => {
                if !cfg!(feature = "mistake-ignore-ack-stamps") {
                    self.hlc.observe(at, ctx.wall_clock());
                }
                let Some(unacked) = self.unacked.remove(&(from, value)) else {
                    return;
                };
                if unacked.resent {
                    return;
                }
                let took = self.took(ctx, &unacked);
                self.round_trips.entry(from).or_default().record(took);
                self.measured.push(RoundTrip {
                    peer: from,
                    value,
                    took,
                });
                ctx.note(format!("round trip to {from}: {}", millis(took)));
            }
        }
    }
    // ANCHOR_END: on_message

    // ANCHOR: on_timer
    /// A resend timer: if the write still waits for `peer`, send it again (a send is an
    /// event: it gets a new stamp) and wait again, for as long as the peer's round trips now
    /// say. A write the peer acknowledged is not sent again.
    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, timer: Timer) {
        let Timer::Resend { peer, value } = timer;
        let Some(unacked) = self.unacked.get_mut(&(peer, value)) else {
            return;
        };
        unacked.resent = true;
        let at = self.hlc.now(ctx.wall_clock());
        self.send_replica(ctx, peer, value, at);
    }
    // ANCHOR_END: on_timer
}
