//! The reference solution of chapter 3, *Who is in charge?*: time-bounded leader leases granted
//! by one lease authority, with a drift margin, and fencing tokens checked by the storage, with
//! the same API and documentation as the exercise (`exercises/03-leader-lease`), whose tests it
//! runs unchanged.
//!
//! Cargo features swap in the classic mistakes the tests must reject: `mistake-no-drift-margin`,
//! `mistake-half-margin`, `mistake-count-from-arrival`, `mistake-no-quiet-period`,
//! `mistake-no-fencing`, `mistake-strict-token-check`, `mistake-new-token-on-renewal` and
//! `mistake-volatile-token` (see `course.toml` for what each is and which property rejects it).

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
    /// The holder measures the lease on its own clock and the grantor on its own; if the
    /// holder's clock runs slow and the grantor's fast, each by up to `max_drift_ppm`, the
    /// holder's `lease` lasts longer in real time than the grantor's by up to about
    /// `2 * lease * max_drift_ppm / 1_000_000`. That is the margin, in whole nanoseconds,
    /// rounded up: with the defaults, 2 × 600 ms × 1% = 12 ms.
    ///
    /// Message delay needs no margin: the holder counts its lease from the moment it *asked*
    /// (see [`holder_deadline`]), which is before the grantor started counting.
    pub fn margin(&self) -> Duration {
        // Both clocks may be off, in opposite directions: twice the drift of one. The mistakes:
        // trust the clocks to agree, or allow for the holder's drift and forget the grantor's.
        let clocks: u128 = if cfg!(feature = "mistake-no-drift-margin") {
            0
        } else if cfg!(feature = "mistake-half-margin") {
            1
        } else {
            2
        };
        let nanos = self.lease.as_nanos() * clocks * u128::from(self.max_drift_ppm);
        let nanos = nanos.div_ceil(1_000_000);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

/// Until when (on its own monotonic clock) a node may believe it holds a lease that was granted
/// in answer to a request it sent at `asked_at` (on the same clock): `asked_at + lease - margin`.
///
/// Counting from the request, not from the answer, is what makes message delay harmless: the
/// grantor cannot have started its lease before the request was sent, so however long the
/// request and the answer took, and however long the node was paused before it handled the
/// answer, the holder's lease ends no later than the grantor's, give or take drift, which the
/// margin covers.
pub fn holder_deadline(asked_at: Time, config: &LeaseConfig) -> Time {
    asked_at + config.lease - config.margin()
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
    now < lease.valid_until
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
        if now < self.quiet_until {
            return Decision::Quiet;
        }
        match &mut self.current {
            Some(current) if now < current.expires => {
                // The drill's broken variant: a request from anyone while the lease is live is
                // taken for the holder's renewal.
                if current.holder == from || cfg!(feature = "drill-renew-for-anyone") {
                    current.expires = now + lease;
                    // The mistake: every grant gets a fresh token, renewals too.
                    #[cfg(feature = "mistake-new-token-on-renewal")]
                    {
                        *last_token += 1;
                        current.token = *last_token;
                    }
                    Decision::Renewed {
                        token: current.token,
                        expires: current.expires,
                    }
                } else {
                    Decision::Refused {
                        holder: current.holder,
                        token: current.token,
                    }
                }
            }
            _ => {
                *last_token += 1;
                let granted = Granted {
                    holder: from,
                    token: *last_token,
                    expires: now + lease,
                };
                self.current = Some(granted);
                Decision::Granted {
                    token: granted.token,
                    expires: granted.expires,
                }
            }
        }
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
        #[cfg(not(any(feature = "mistake-no-fencing", feature = "mistake-strict-token-check")))]
        if token < self.highest {
            return false;
        }
        // The mistake: only a newer token may write, so a leader's second write is refused.
        #[cfg(feature = "mistake-strict-token-check")]
        if token <= self.highest {
            return false;
        }
        // The mistake: the lease was checked before the write, so the storage trusts it.
        self.highest = self.highest.max(token);
        self.entries.push(Entry { from, token });
        true
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
/// (any other). What each does, exactly (the snapshot test relies on every step; notes are
/// written with `ctx.note`, times with `{}` of a [`Time`], such as `1234.000ms`):
///
/// **Grantor** (`n0`):
/// - *Start* (and restart): replace its state with `Grantor::new(now + lease)`: a lease it
///   granted before a crash may still run, so it grants nothing for one lease. Note
///   `no grants until {quiet_until}`.
/// - *`Acquire { asked_at }` from a node*: [`Grantor::decide`] with the durable counter
///   (`&mut ctx.durable_mut().last_token`). On `Granted`, note
///   `grant lease {token} to {from} until {expires}`; on `Renewed`, note
///   `renew lease {token} for {from} until {expires}`; in both cases send
///   `Grant { token, asked_at }` back and set a [`Timer::Expiry`] for `lease`. On `Quiet` and
///   `Refused`, do nothing: the requester will ask again.
/// - *`Expiry`*: [`Grantor::expire`]; if it returns a token, note `lease {token} expired`.
///
/// **Storage** (`n1`):
/// - *`Write { token }` from a node*: [`Resource::accept`] on `ctx.durable_mut().resource`;
///   note `write from {from} with token {token} accepted`, or, if rejected,
///   `write from {from} with token {token} rejected (seen {highest})`.
///
/// **Candidate** (every other node):
/// - *Start* (and restart, with no lease): send `Acquire { asked_at: now }` to [`GRANTOR`], set a
///   `Tick` for `retry_every`.
/// - *`Tick`*: first see whether it holds a lease valid now ([`lease_valid`]). Send
///   `Acquire { asked_at: now }` to the grantor. If the lease is valid, set a
///   `Timer::Write { token }` for `work_time` (it checked the lease; it will act later) and the
///   next `Tick` for `renew_every`; otherwise the next `Tick` for `retry_every`.
/// - *`Grant { token, asked_at }`*: `until = holder_deadline(asked_at, config)`. Ignore it if
///   `until <= now` (it came too late to be of use), if the node holds a lease with a higher
///   token, or if it holds one with the same token that already runs until `until` or later.
///   Otherwise note `renewed lease {token} until {until}` if it holds a lease with that token,
///   or `granted lease {token} until {until}` if not; hold `Lease { token, valid_until: until }`
///   and set an `Expiry` timer for `until - now`.
/// - *`Expiry`*: if it holds a lease that is no longer valid, note `lease {token} expired` and
///   drop it.
/// - *`Timer::Write { token }`*: send `Write { token }` to [`STORAGE`], without looking at the
///   lease again: whatever it would see, a pause could strike right after.
///
/// Every node ignores messages and timers its role has no use for.
#[derive(Clone, Debug)]
pub struct LeaseNode {
    config: LeaseConfig,
    role: Role,
    /// The mistake: the counter kept in volatile memory, so a restart starts it over.
    #[cfg(feature = "mistake-volatile-token")]
    volatile_last_token: u64,
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
        LeaseNode {
            config,
            role,
            #[cfg(feature = "mistake-volatile-token")]
            volatile_last_token: 0,
        }
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

/// The clock every lease time is read from: the node's monotonic clock, which never jumps.
/// The mistake: the wall clock, which NTP steps and which starts wherever it likes.
fn clock(ctx: &Context<'_, LeaseNode>) -> Time {
    if cfg!(feature = "mistake-wall-clock-lease") {
        Time(u64::try_from(ctx.wall_clock().as_nanos()).unwrap_or(0))
    } else {
        ctx.now()
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
        let config = self.config;
        match &mut self.role {
            Role::Grantor(grantor) => {
                #[cfg(not(feature = "mistake-no-quiet-period"))]
                let quiet_until = clock(ctx) + config.lease;
                // The mistake: a restarted grantor grants at once, as if no lease could still run.
                #[cfg(feature = "mistake-no-quiet-period")]
                let quiet_until = clock(ctx);
                *grantor = Grantor::new(quiet_until);
                ctx.note(format!("no grants until {}", grantor.quiet_until()));
            }
            Role::Storage => {}
            Role::Candidate { .. } => {
                let asked_at = clock(ctx);
                ctx.send(GRANTOR, Msg::Acquire { asked_at });
                ctx.set_timer(config.retry_every, Timer::Tick);
            }
        }
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: Msg) {
        let config = self.config;
        let now = clock(ctx);
        match (&mut self.role, msg) {
            (Role::Grantor(grantor), Msg::Acquire { asked_at }) => {
                #[cfg(not(feature = "mistake-volatile-token"))]
                let counter = &mut ctx.durable_mut().last_token;
                #[cfg(feature = "mistake-volatile-token")]
                let counter = &mut self.volatile_last_token;
                let (token, note) = match grantor.decide(now, from, config.lease, counter) {
                    Decision::Granted { token, expires } => (
                        token,
                        format!("grant lease {token} to {from} until {expires}"),
                    ),
                    Decision::Renewed { token, expires } => (
                        token,
                        format!("renew lease {token} for {from} until {expires}"),
                    ),
                    Decision::Quiet | Decision::Refused { .. } => return,
                };
                ctx.note(note);
                ctx.send(from, Msg::Grant { token, asked_at });
                ctx.set_timer(config.lease, Timer::Expiry);
            }
            (Role::Storage, Msg::Write { token }) => {
                let resource = &mut ctx.durable_mut().resource;
                let note = if resource.accept(from, token) {
                    format!("write from {from} with token {token} accepted")
                } else {
                    format!(
                        "write from {from} with token {token} rejected (seen {})",
                        resource.highest()
                    )
                };
                ctx.note(note);
            }
            (Role::Candidate { lease }, Msg::Grant { token, asked_at }) => {
                #[cfg(not(feature = "mistake-count-from-arrival"))]
                let until = holder_deadline(asked_at, &config);
                // The mistake: count the lease from when the grant was handled.
                #[cfg(feature = "mistake-count-from-arrival")]
                let until = {
                    let _ = asked_at;
                    holder_deadline(now, &config)
                };
                if until <= now {
                    return;
                }
                let renewal = match lease {
                    Some(held) if held.token > token => return,
                    Some(held) if held.token == token && held.valid_until >= until => return,
                    Some(held) => held.token == token,
                    None => false,
                };
                let verb = if renewal { "renewed" } else { "granted" };
                ctx.note(format!("{verb} lease {token} until {until}"));
                *lease = Some(Lease {
                    token,
                    valid_until: until,
                });
                ctx.set_timer(until - now, Timer::Expiry);
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, timer: Timer) {
        let config = self.config;
        let now = clock(ctx);
        match (&mut self.role, timer) {
            (Role::Grantor(grantor), Timer::Expiry) => {
                if let Some(token) = grantor.expire(now) {
                    ctx.note(format!("lease {token} expired"));
                }
            }
            (Role::Candidate { lease }, Timer::Expiry) => {
                if let Some(held) = *lease
                    && !lease_valid(now, &held)
                {
                    ctx.note(format!("lease {} expired", held.token));
                    *lease = None;
                }
            }
            (Role::Candidate { lease }, Timer::Tick) => {
                // The mistake: holding a lease taken for holding a valid one.
                let valid = lease.filter(|held| {
                    cfg!(feature = "mistake-write-without-lease") || lease_valid(now, held)
                });
                ctx.send(GRANTOR, Msg::Acquire { asked_at: now });
                match valid {
                    Some(held) => {
                        ctx.set_timer(config.work_time, Timer::Write { token: held.token });
                        ctx.set_timer(config.renew_every, Timer::Tick);
                    }
                    None => {
                        ctx.set_timer(config.retry_every, Timer::Tick);
                    }
                }
            }
            (Role::Candidate { .. }, Timer::Write { token }) => {
                ctx.send(STORAGE, Msg::Write { token });
            }
            _ => {}
        }
    }
}
// ANCHOR_END: node_impl
