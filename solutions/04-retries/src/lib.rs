//! The reference solution of chapter 4, *The cure that becomes the disease*: a client that
//! retries with a timeout taken from the latency tail, capped exponential backoff with full
//! jitter and a retry budget; a relay that retries nothing; a server that sheds load early with
//! a "busy, don't retry" answer. Same API and documentation as the exercise
//! (`exercises/04-retries`), whose tests it runs unchanged.
//!
//! Cargo features swap in the classic mistakes the tests must reject (see `course.toml` for
//! what each is and which property rejects it).

pub mod tables;

use sim::{Context, Node, NodeId, OpId};
use std::collections::BTreeMap;
use std::time::Duration;

/// The server at the end of the call chain: finite capacity, it sheds load.
pub const SERVER: NodeId = NodeId(0);
/// The middle tier: it passes calls on to the server and answers back.
pub const RELAY: NodeId = NodeId(1);
/// The edge: it takes users' requests and is the one place that retries.
pub const CLIENT: NodeId = NodeId(2);

// ANCHOR: config
/// How the client retries and when the server sheds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryConfig {
    /// How long the client waits for an answer to one attempt before it counts it as failed.
    pub timeout: Duration,
    /// The backoff before the first retry is drawn from `[0, base]`.
    pub base: Duration,
    /// No backoff is ever drawn from a range wider than `[0, cap]`.
    pub cap: Duration,
    /// Attempts per call, the first one included (1: never retry).
    pub max_attempts: u32,
    /// The retry budget: each first attempt earns this many percent of one retry.
    pub budget_percent: u32,
    /// The most retries the budget can save up (and what it starts with).
    pub budget_burst: u32,
    /// The server answers `Busy` to a call that finds this many others waiting behind it.
    pub shed_at: usize,
    /// The service time of one call the server serves.
    pub work: Duration,
}

impl Default for RetryConfig {
    /// A 50 ms timeout, backoff from 10 ms capped at 400 ms, 3 attempts, a budget of 10% with a
    /// burst of 10, shedding at 20 waiting calls, 1 ms of work per call.
    fn default() -> RetryConfig {
        RetryConfig {
            timeout: Duration::from_millis(50),
            base: Duration::from_millis(10),
            cap: Duration::from_millis(400),
            max_attempts: 3,
            budget_percent: 10,
            budget_burst: 10,
            shed_at: 20,
            work: Duration::from_millis(1),
        }
    }
}
// ANCHOR_END: config

// ANCHOR: backoff
/// The widest backoff before retry number `retry` (0 for the first retry): `base` doubled once
/// per earlier retry, and never more than `cap`. It must not overflow, however many retries.
pub fn backoff_ceiling(config: &RetryConfig, retry: u32) -> Duration {
    let doubling = 1u32.checked_shl(retry).unwrap_or(0);
    let widest = if doubling == 0 {
        config.cap
    } else {
        config.base.saturating_mul(doubling)
    };
    widest.min(config.cap)
}

/// The backoff before retry number `retry`: drawn uniformly at random from
/// `[0, backoff_ceiling(config, retry)]` ("full jitter"), so that callers that failed together
/// do not come back together. Draw from `rng` (in the nodes, `ctx.rng()`: the simulation's
/// seeded generator, so that a run replays exactly), once per backoff. The trait
/// `sim::rand::RngExt` gives it `random_range`; draw whole nanoseconds as a `u64`, both ends
/// included, and your runs replay the book's figures draw for draw (`--mine`, `--compare`).
pub fn backoff_delay(config: &RetryConfig, retry: u32, rng: &mut sim::SimRng) -> Duration {
    let ceiling = backoff_ceiling(config, retry);
    #[cfg(feature = "mistake-retry-at-once")]
    {
        let _ = (ceiling, rng);
        Duration::ZERO
    }
    #[cfg(all(feature = "mistake-no-jitter", not(feature = "mistake-retry-at-once")))]
    {
        let _ = rng;
        ceiling
    }
    #[cfg(not(any(feature = "mistake-retry-at-once", feature = "mistake-no-jitter")))]
    {
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(sim::rand::RngExt::random_range(rng, 0..=nanos))
    }
}
// ANCHOR_END: backoff

// ANCHOR: timeout
/// The timeout that lets at most `false_timeout_rate` (0.001 for 0.1%) of attempts like the
/// `latencies` measured on a healthy system time out: the smallest of the measured latencies
/// that at most that share of them exceed, where "that share" of `n` samples is
/// `false_timeout_rate × n` rounded down. `latencies` is not empty, in no particular order.
pub fn timeout_for(latencies: &[Duration], false_timeout_rate: f64) -> Duration {
    let mut sorted = latencies.to_vec();
    sorted.sort();
    #[cfg(feature = "mistake-short-timeout")]
    {
        let _ = false_timeout_rate;
        let total: Duration = sorted.iter().sum();
        total * 2 / sorted.len() as u32
    }
    #[cfg(not(feature = "mistake-short-timeout"))]
    {
        let n = sorted.len();
        // At most floor(rate * n) samples may lie above the answer.
        let allowed_above = ((false_timeout_rate.max(0.0) * n as f64).floor() as usize).min(n - 1);
        sorted[n - 1 - allowed_above]
    }
}
// ANCHOR_END: timeout

// ANCHOR: budget
/// A retry budget: a token bucket that first attempts fill and retries empty, so that retries
/// stay at most `budget_percent` of first attempts, plus a burst of `budget_burst`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryBudget {
    /// Saved retries, in hundredths of a retry.
    hundredths: u64,
    percent: u64,
    burst: u64,
}

impl RetryBudget {
    /// A full budget: `budget_burst` retries saved.
    pub fn new(config: &RetryConfig) -> RetryBudget {
        RetryBudget {
            hundredths: u64::from(config.budget_burst) * 100,
            percent: u64::from(config.budget_percent),
            burst: u64::from(config.budget_burst) * 100,
        }
    }

    /// A first attempt was sent: it earns `budget_percent` hundredths of a retry, up to the
    /// burst.
    pub fn earn(&mut self) {
        self.hundredths = (self.hundredths + self.percent).min(self.burst);
    }

    /// Takes one whole retry from the budget if it holds one; `false` (and nothing taken) if not.
    pub fn try_spend(&mut self) -> bool {
        #[cfg(feature = "mistake-no-budget")]
        {
            true
        }
        #[cfg(not(feature = "mistake-no-budget"))]
        {
            if self.hundredths >= 100 {
                self.hundredths -= 100;
                true
            } else {
                false
            }
        }
    }

    /// How many whole retries it holds now.
    pub fn retries_left(&self) -> u64 {
        self.hundredths / 100
    }
}
// ANCHOR_END: budget

// ANCHOR: messages
/// A call's number, chosen by the client, the same for every attempt of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CallId(pub u64);

/// What the server answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The work is done.
    Done,
    /// Overloaded: the server did not do the work, and the caller must not retry.
    Busy,
}

/// What the tiers send each other.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    /// One attempt of a call (`attempt` 0 is the first).
    Call { id: CallId, attempt: u32 },
    /// The answer to one attempt.
    Reply {
        id: CallId,
        attempt: u32,
        answer: Answer,
    },
}

/// The client's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// Attempt `attempt` of call `id` has had `timeout` to answer.
    Timeout { id: CallId, attempt: u32 },
    /// The backoff before the next attempt of call `id` is over.
    Retry { id: CallId },
}

/// What a user gets for a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The work was done.
    Done,
    /// The server was overloaded and said not to retry.
    Busy,
    /// No attempt was answered, and the client retries no more.
    GaveUp,
}
// ANCHOR_END: messages

/// A user's request (one unit of work).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Work;

/// One call the client is working on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InFlight {
    /// The user's request it answers.
    pub op: OpId,
    /// The attempt it sent last (or will send when its backoff ends).
    pub attempt: u32,
}

/// The edge: it turns each user request into a call and retries it.
#[derive(Debug)]
pub struct Client {
    pub config: RetryConfig,
    /// Where calls go.
    pub next: NodeId,
    pub budget: RetryBudget,
    pub next_id: u64,
    /// The calls not yet answered to their user.
    pub calls: BTreeMap<CallId, InFlight>,
}

/// The middle tier: passes each attempt on, once, and its answer back.
#[derive(Debug)]
pub struct Relay {
    pub config: RetryConfig,
    pub next: NodeId,
    /// Who sent each attempt it passed on and has not answered yet.
    pub upstream: BTreeMap<(CallId, u32), NodeId>,
    /// How many times the relay resent each attempt (the mistake of retrying at every layer).
    #[cfg(feature = "mistake-retry-every-layer")]
    resent: BTreeMap<(CallId, u32), u32>,
}

/// The server: finite capacity; it sheds load.
#[derive(Debug)]
pub struct Server {
    pub config: RetryConfig,
}

/// One node of the call chain, by its id: [`SERVER`], [`RELAY`] or [`CLIENT`].
#[derive(Debug)]
pub enum Tier {
    Server(Server),
    Relay(Relay),
    Client(Client),
}

impl Tier {
    /// The node `id` of the chain user → [`CLIENT`] → [`RELAY`] → [`SERVER`].
    pub fn new(id: NodeId, config: RetryConfig) -> Tier {
        match id {
            SERVER => Tier::Server(Server { config }),
            RELAY => Tier::Relay(Relay {
                config,
                next: SERVER,
                upstream: BTreeMap::new(),
                #[cfg(feature = "mistake-retry-every-layer")]
                resent: BTreeMap::new(),
            }),
            _ => Tier::Client(Client::new(config, RELAY)),
        }
    }
}

impl Node for Tier {
    type Msg = Msg;
    type Timer = Timer;
    type Request = Work;
    type Response = Outcome;
    type Durable = ();

    fn on_start(&mut self, _ctx: &mut Context<'_, Self>) {}

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: Msg) {
        match (self, msg) {
            (Tier::Server(server), Msg::Call { id, attempt }) => {
                server.on_call(ctx, from, id, attempt)
            }
            (Tier::Relay(relay), Msg::Call { id, attempt }) => {
                relay.on_call(ctx, from, id, attempt)
            }
            (
                Tier::Relay(relay),
                Msg::Reply {
                    id,
                    attempt,
                    answer,
                },
            ) => relay.on_reply(ctx, id, attempt, answer),
            (
                Tier::Client(client),
                Msg::Reply {
                    id,
                    attempt,
                    answer,
                },
            ) => client.on_reply(ctx, id, attempt, answer),
            (_, msg) => ctx.note(format!("unexpected {msg:?} from {from}")),
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, timer: Timer) {
        match self {
            Tier::Client(client) => client.on_timer(ctx, timer),
            #[cfg(feature = "mistake-retry-every-layer")]
            Tier::Relay(relay) => relay.on_timer(ctx, timer),
            _ => {}
        }
    }

    fn on_request(&mut self, ctx: &mut Context<'_, Self>, op: OpId, _request: Work) {
        match self {
            Tier::Client(client) => client.on_request(ctx, op),
            _ => ctx.reply(op, Outcome::GaveUp),
        }
    }
}

impl Server {
    /// Does the work of one call and answers it: `work` of service time, then `Done`.
    pub fn serve(&self, ctx: &mut Context<'_, Tier>, from: NodeId, id: CallId, attempt: u32) {
        ctx.spend(self.config.work);
        ctx.send(
            from,
            Msg::Reply {
                id,
                attempt,
                answer: Answer::Done,
            },
        );
    }

    // ANCHOR: server
    /// A call reached the front of the server's queue. If `shed_at` or more calls are waiting
    /// behind it ([`Context::backlog`]), the server answers `Busy` at once, without the work;
    /// otherwise it serves it ([`Server::serve`]).
    pub fn on_call(&mut self, ctx: &mut Context<'_, Tier>, from: NodeId, id: CallId, attempt: u32) {
        #[cfg(feature = "mistake-no-shedding")]
        let shed = false;
        #[cfg(not(feature = "mistake-no-shedding"))]
        let shed = ctx.backlog() >= self.config.shed_at;
        if shed {
            ctx.send(
                from,
                Msg::Reply {
                    id,
                    attempt,
                    answer: Answer::Busy,
                },
            );
        } else {
            self.serve(ctx, from, id, attempt);
        }
    }
    // ANCHOR_END: server
}

impl Relay {
    /// An attempt from upstream: pass it on to `next` once, and remember who sent it.
    pub fn on_call(&mut self, ctx: &mut Context<'_, Tier>, from: NodeId, id: CallId, attempt: u32) {
        self.upstream.insert((id, attempt), from);
        ctx.send(self.next, Msg::Call { id, attempt });
        #[cfg(feature = "mistake-retry-every-layer")]
        ctx.set_timer(self.config.timeout, Timer::Timeout { id, attempt });
    }

    /// The mistake: the relay, too, resends an attempt that got no answer in time.
    #[cfg(feature = "mistake-retry-every-layer")]
    fn on_timer(&mut self, ctx: &mut Context<'_, Tier>, timer: Timer) {
        let Timer::Timeout { id, attempt } = timer else {
            return;
        };
        if !self.upstream.contains_key(&(id, attempt)) {
            return;
        }
        let resent = self.resent.entry((id, attempt)).or_insert(0);
        if *resent + 1 < self.config.max_attempts {
            *resent += 1;
            ctx.send(self.next, Msg::Call { id, attempt });
            ctx.set_timer(self.config.timeout, Timer::Timeout { id, attempt });
        }
    }

    /// An answer from `next`: pass it back to whoever sent that attempt.
    pub fn on_reply(
        &mut self,
        ctx: &mut Context<'_, Tier>,
        id: CallId,
        attempt: u32,
        answer: Answer,
    ) {
        if let Some(from) = self.upstream.remove(&(id, attempt)) {
            ctx.send(
                from,
                Msg::Reply {
                    id,
                    attempt,
                    answer,
                },
            );
        }
    }
}

impl Client {
    pub fn new(config: RetryConfig, next: NodeId) -> Client {
        Client {
            config,
            next,
            budget: RetryBudget::new(&config),
            next_id: 0,
            calls: BTreeMap::new(),
        }
    }

    /// Sends the first attempt of a new call, earning budget for it; returns its id.
    fn start(&mut self, ctx: &mut Context<'_, Tier>) -> CallId {
        let id = CallId(self.next_id);
        self.next_id += 1;
        self.budget.earn();
        self.send_attempt(ctx, id, 0);
        id
    }

    fn send_attempt(&mut self, ctx: &mut Context<'_, Tier>, id: CallId, attempt: u32) {
        ctx.send(self.next, Msg::Call { id, attempt });
        ctx.set_timer(self.config.timeout, Timer::Timeout { id, attempt });
    }

    // ANCHOR: client
    /// A user's request: start a call for it (its first attempt earns budget) and wait for an
    /// answer for `timeout`.
    pub fn on_request(&mut self, ctx: &mut Context<'_, Tier>, op: OpId) {
        let id = self.start(ctx);
        self.calls.insert(id, InFlight { op, attempt: 0 });
    }

    /// An answer to some attempt of call `id`: the first answer ends the call and goes to its
    /// user (`Done` or `Busy`); answers to calls already ended are ignored.
    pub fn on_reply(
        &mut self,
        ctx: &mut Context<'_, Tier>,
        id: CallId,
        attempt: u32,
        answer: Answer,
    ) {
        let _ = attempt;
        #[cfg(feature = "drill-retry-busy")]
        if answer == Answer::Busy {
            // Treats "busy" like silence: backs off and tries again.
            if let Some(call) = self.calls.get(&id).copied() {
                self.after_failure(ctx, id, call);
            }
            return;
        }
        if let Some(call) = self.calls.remove(&id) {
            let outcome = match answer {
                Answer::Done => Outcome::Done,
                Answer::Busy => Outcome::Busy,
            };
            ctx.reply(call.op, outcome);
        }
    }

    /// A timer. A `Timeout` speaks only for the attempt it was armed with: if the call has
    /// ended, or has moved on to a later attempt, it says nothing. Otherwise that attempt has
    /// failed and the client decides now, at this timeout, between another attempt and giving
    /// up. Another attempt needs two things: an attempt left (`max_attempts` counts the first),
    /// and a whole retry in the budget; take from the budget only for a retry you will send.
    /// It goes out when a `Retry` timer fires, after the backoff for retry number `attempt`.
    /// Giving up ends the call with [`Outcome::GaveUp`] and the note `give up CallId(N)` (the
    /// call's `Debug`). A `Retry` whose call has ended sends nothing.
    pub fn on_timer(&mut self, ctx: &mut Context<'_, Tier>, timer: Timer) {
        match timer {
            Timer::Timeout { id, attempt } => {
                let Some(call) = self.calls.get(&id).copied() else {
                    return;
                };
                if call.attempt == attempt {
                    self.after_failure(ctx, id, call);
                }
            }
            Timer::Retry { id } => {
                if let Some(call) = self.calls.get_mut(&id) {
                    call.attempt += 1;
                    let attempt = call.attempt;
                    self.send_attempt(ctx, id, attempt);
                }
            }
        }
    }
    // ANCHOR_END: client

    fn after_failure(&mut self, ctx: &mut Context<'_, Tier>, id: CallId, call: InFlight) {
        if call.attempt + 1 < self.config.max_attempts && self.budget.try_spend() {
            let delay = backoff_delay(&self.config, call.attempt, ctx.rng());
            ctx.set_timer(delay, Timer::Retry { id });
        } else {
            self.calls.remove(&id);
            ctx.note(format!("give up {id:?}"));
            ctx.reply(call.op, Outcome::GaveUp);
        }
    }
}
