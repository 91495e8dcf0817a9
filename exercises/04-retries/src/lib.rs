//! Chapter 4 of *Distributed Systems, Like It or Not*: **The cure that becomes the disease**.
//!
//! Read the chapter first: `book/src/04-retries.md` (or `cargo xtask serve` and open the book).
//! Then build, in this file:
//!
//! 1. The client's policy, as pure functions: [`backoff_ceiling`], [`backoff_delay`],
//!    [`timeout_for`], and the retry budget, [`RetryBudget`].
//! 2. The three tiers: [`Server::on_call`] (shed or serve), the [`Relay`]'s two handlers, and
//!    the [`Client`]'s three (a request, an answer, a timer).
//! 3. Nothing new: step 3 runs your tiers under load, with the server slowed down or the users
//!    sending several times the usual load, and checks that the system comes back.
//!
//! Every `todo!()` is yours. Run the tests from this folder:
//!
//! ```text
//! cargo test                            # every step, stopping at the first that fails
//! cargo test --test step1_policy        # step 1: backoff, jitter, timeout, budget
//! cargo test --test step2_tiers         # step 2: the handlers, a timeline and `attempts`
//! cargo test --test step3_under_load    # step 3: budget, amplification, busy, queue, recovery
//! cargo xtask hint retries              # stuck? one hint at a time
//! cargo xtask scenario retries/one-call --mine     # the book's figure, run on your code
//! cargo xtask scenario retries/budgeted --mine     # the recovering run, on your code
//! ```
//!
//! A failing property prints the timeline around the moment it broke and a command that
//! replays exactly that run.

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
/// per earlier retry, and never more than `cap`. It must not overflow, however many retries:
/// `base` times 2 to the 64th is no `Duration`, and yet the answer is then simply `cap`.
pub fn backoff_ceiling(config: &RetryConfig, retry: u32) -> Duration {
    let _ = (config, retry);
    todo!(
        "decide how wide the range may be before this retry, and what happens once doubling would pass the cap"
    )
}

/// The backoff before retry number `retry`: drawn uniformly at random from
/// `[0, backoff_ceiling(config, retry)]` ("full jitter"), so that callers that failed together
/// do not come back together. Draw from `rng` (in the nodes, `ctx.rng()`: the simulation's
/// seeded generator, so that a run replays exactly), once per backoff. The trait
/// `sim::rand::RngExt` gives it `random_range`; draw whole nanoseconds as a `u64`, both ends
/// included, and your runs replay the book's figures draw for draw (`--mine`, `--compare`).
pub fn backoff_delay(config: &RetryConfig, retry: u32, rng: &mut sim::SimRng) -> Duration {
    let _ = (config, retry, rng);
    todo!(
        "decide which range to draw from, and how to draw a duration from it evenly, both ends included"
    )
}
// ANCHOR_END: backoff

// ANCHOR: timeout
/// The timeout that lets at most `false_timeout_rate` (0.001 for 0.1%) of attempts like the
/// `latencies` measured on a healthy system time out: the smallest of the measured latencies
/// that at most that share of them exceed, where "that share" of `n` samples is
/// `false_timeout_rate × n` rounded down. `latencies` is not empty, in no particular order.
pub fn timeout_for(latencies: &[Duration], false_timeout_rate: f64) -> Duration {
    let _ = (latencies, false_timeout_rate);
    todo!(
        "decide how many of the samples may lie above the timeout, and which sample that makes the answer"
    )
}
// ANCHOR_END: timeout

// ANCHOR: budget
/// A retry budget: a token bucket that first attempts fill and retries empty, so that retries
/// stay at most `budget_percent` of first attempts, plus a burst of `budget_burst`. Choose its
/// fields yourself; whole numbers (hundredths of a retry, say) keep it exact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryBudget {}

impl RetryBudget {
    /// A full budget: `budget_burst` retries saved.
    pub fn new(config: &RetryConfig) -> RetryBudget {
        let _ = config;
        todo!("decide what the budget must remember, and what it holds before any request")
    }

    /// A first attempt was sent: it earns `budget_percent` hundredths of a retry, up to the
    /// burst.
    pub fn earn(&mut self) {
        todo!("decide how much one first attempt adds, and where saving stops")
    }

    /// Takes one whole retry from the budget if it holds one; `false` (and nothing taken) if not.
    pub fn try_spend(&mut self) -> bool {
        todo!("decide when a retry may be taken, and what it costs")
    }

    /// How many whole retries it holds now.
    pub fn retries_left(&self) -> u64 {
        todo!("decide how many whole retries the saved budget makes")
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
    /// The number of the next call it starts (calls are numbered 0, 1, 2, ... in the order of
    /// the requests).
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
            }),
            _ => Tier::Client(Client::new(config, RELAY)),
        }
    }
}

/// Hands each event to the tier it belongs to. Nothing to do here.
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
        if let Tier::Client(client) = self {
            client.on_timer(ctx, timer);
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
    /// Does the work of one call and answers it: `work` of service time, then `Done`. Given.
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
    /// otherwise it serves it ([`Server::serve`]). Deciding before the work is the point: a
    /// `Busy` costs the server almost nothing, and tells the caller in time.
    pub fn on_call(&mut self, ctx: &mut Context<'_, Tier>, from: NodeId, id: CallId, attempt: u32) {
        let _ = (ctx, from, id, attempt);
        todo!("decide, before doing any work, whether this call is one too many")
    }
    // ANCHOR_END: server
}

impl Relay {
    /// An attempt from upstream: pass it on to `next`, once, and remember who sent it. The
    /// relay never retries: the client already does, and retries at two tiers multiply.
    pub fn on_call(&mut self, ctx: &mut Context<'_, Tier>, from: NodeId, id: CallId, attempt: u32) {
        let _ = (ctx, from, id, attempt);
        todo!("decide what the relay must remember to send the answer back")
    }

    /// An answer from `next`: pass it back to whoever sent that attempt, and forget the
    /// attempt. An answer to an attempt it has no record of goes nowhere.
    pub fn on_reply(
        &mut self,
        ctx: &mut Context<'_, Tier>,
        id: CallId,
        attempt: u32,
        answer: Answer,
    ) {
        let _ = (ctx, id, attempt, answer);
        todo!("decide where this answer goes, and what the relay can forget")
    }
}

impl Client {
    /// A client with a full budget and no calls, sending its calls to `next`.
    pub fn new(config: RetryConfig, next: NodeId) -> Client {
        Client {
            config,
            next,
            budget: RetryBudget::new(&config),
            next_id: 0,
            calls: BTreeMap::new(),
        }
    }

    // ANCHOR: client
    /// A user's request: start a call for it. The call takes the next call number; its first
    /// attempt (attempt 0) goes to `next` and earns the budget its share. Every attempt the
    /// client sends, first or not, comes with a `Timeout` timer of `timeout` for that attempt:
    /// the timer is the only way to notice that no answer is coming.
    pub fn on_request(&mut self, ctx: &mut Context<'_, Tier>, op: OpId) {
        let _ = (ctx, op);
        todo!(
            "decide what a new call needs: its number, what the client remembers, what it sends and arms"
        )
    }

    /// An answer to some attempt of call `id`. The first answer to a call still open ends it,
    /// whichever attempt it answers, and goes to its user: `Done` as [`Outcome::Done`], `Busy`
    /// as [`Outcome::Busy`] (the server is overloaded and asked not to be tried again). An
    /// answer to a call already ended changes nothing.
    pub fn on_reply(
        &mut self,
        ctx: &mut Context<'_, Tier>,
        id: CallId,
        attempt: u32,
        answer: Answer,
    ) {
        let _ = (ctx, id, attempt, answer);
        todo!("decide whether this answer ends a call, and what its user gets")
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
        let _ = (ctx, timer);
        todo!(
            "decide which timeouts matter, the two ways a failed attempt can go, and what a Retry sends"
        )
    }
    // ANCHOR_END: client
}
