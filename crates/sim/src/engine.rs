//! The discrete-event engine: one queue of events ordered by time and then by the order they
//! were scheduled, one seeded RNG per concern, and nothing else that could differ between runs.

use crate::clock::{ClockSpec, NodeClock, WallTime};
use crate::net::{Cuts, NetConfig};
use crate::node::{Context, Node, OpId, SimRng};
use crate::plan::{Fault, FaultPlan, Partition};
use crate::queue::Queue;
use crate::render;
use crate::time::{NodeId, Time};
use crate::trace::{DropReason, Event, EventKind, NodeState, Trace};
use crate::trigger::{MessagePredicate, Triggers};
use crate::workload::{History, Invocation, OpRecord, Outcome, Workload};
use rand::{RngExt, SeedableRng};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::{self, Debug};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How to set up a run.
#[derive(Clone, Debug)]
pub struct Config {
    /// How many nodes: `n0` to `n{nodes-1}`.
    pub nodes: u32,
    /// The seed every random choice of the run derives from.
    pub seed: u64,
    /// What goes wrong, and when.
    pub plan: FaultPlan,
    /// Record a trace (turn off only for throughput measurements).
    pub trace: bool,
    /// The most events one run may handle before it is stopped as runaway.
    pub step_budget: u64,
    /// How long a client waits for an answer before it records the outcome as unknown.
    pub client_timeout: Duration,
    /// Nodes with finite capacity: the service time every event they handle costs.
    pub service_times: Vec<(NodeId, Duration)>,
    /// Nodes whose queue of waiting work is bounded: messages that find it full are dropped.
    pub queue_bounds: Vec<(NodeId, usize)>,
}

impl Config {
    /// `nodes` nodes, a perfect network with 1 ms latency, no faults, tracing on.
    pub fn new(nodes: u32, seed: u64) -> Config {
        Config {
            nodes,
            seed,
            plan: FaultPlan::default(),
            trace: true,
            step_budget: 10_000_000,
            client_timeout: Duration::from_secs(1),
            service_times: Vec::new(),
            queue_bounds: Vec::new(),
        }
    }

    /// With this fault plan.
    pub fn plan(mut self, plan: FaultPlan) -> Config {
        self.plan = plan;
        self
    }

    /// With tracing on or off.
    pub fn trace(mut self, on: bool) -> Config {
        self.trace = on;
        self
    }

    /// With this step budget.
    pub fn step_budget(mut self, steps: u64) -> Config {
        self.step_budget = steps;
        self
    }

    /// With this client timeout.
    pub fn client_timeout(mut self, timeout: Duration) -> Config {
        self.client_timeout = timeout;
        self
    }

    /// Gives `node` finite capacity: handling a message, timer or request costs it `per_event` of service time
    /// (on top of what its handler adds with [`Context::spend`]). Events that arrive while it
    /// is busy wait in its queue, in arrival order, so when work arrives faster than the node
    /// can do it a queue builds and every answer comes later. A [`Fault::Slow`] on such a node
    /// adds its cost to each event's service time.
    pub fn service_time(mut self, node: NodeId, per_event: Duration) -> Config {
        self.service_times.retain(|(n, _)| *n != node);
        self.service_times.push((node, per_event));
        self
    }

    /// Bounds `node`'s queue of waiting work: a message that arrives while `limit` events
    /// already wait is dropped ([`DropReason::QueueFull`]), as a full socket buffer or accept
    /// queue drops it. Client requests and timers are never dropped.
    pub fn queue_bound(mut self, node: NodeId, limit: usize) -> Config {
        self.queue_bounds.retain(|(n, _)| *n != node);
        self.queue_bounds.push((node, limit));
        self
    }
}

/// Why a run stopped before its end.
#[derive(Clone, Debug, PartialEq)]
pub enum HaltReason {
    /// A node's handler panicked.
    Panic {
        node: NodeId,
        during: String,
        message: String,
        /// Where in the source, `file:line`.
        location: Option<String>,
    },
    /// An invariant monitor found a violation.
    Monitor { name: String, message: String },
    /// The run handled more events than its budget: something never yields (for example an
    /// endless chain of zero-delay timers).
    StepBudget { steps: u64 },
}

/// A run stopped early, with what a learner needs to understand and replay it.
#[derive(Clone, Debug, PartialEq)]
pub struct Halt {
    pub reason: HaltReason,
    /// Real time when it stopped.
    pub time: Time,
    pub seed: u64,
    /// The end of the text timeline up to the halt (empty when tracing was off).
    pub timeline: String,
}

impl fmt::Display for Halt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reason {
            HaltReason::Panic {
                node,
                during,
                message,
                location,
            } => {
                write!(
                    f,
                    "node {node} panicked at {} while handling {during}: {message}",
                    self.time
                )?;
                if let Some(location) = location {
                    write!(f, "\n  at {location}")?;
                }
            }
            HaltReason::Monitor { name, message } => write!(
                f,
                "invariant \"{name}\" violated at {}: {message}",
                self.time
            )?,
            HaltReason::StepBudget { steps } => write!(
                f,
                "the run handled {steps} events by {} without finishing: a node never yields \
                 (an endless chain of zero-delay timers or messages?)",
                self.time
            )?,
        }
        write!(f, "\nseed: {}", self.seed)?;
        if !self.timeline.is_empty() {
            write!(f, "\ntimeline up to the halt:\n{}", self.timeline)?;
        }
        Ok(())
    }
}

impl std::error::Error for Halt {}

/// A node's state that the simulator keeps outside the node's struct.
pub(crate) struct Local<N: Node> {
    pub(crate) durable: N::Durable,
    pub(crate) clock: NodeClock,
    pub(crate) rng: SimRng,
    pub(crate) live_timers: BTreeSet<u64>,
    /// Bumped at each crash, so events meant for an earlier life are recognised.
    pub(crate) incarnation: u32,
    up: bool,
    paused_until: Time,
    slow_per_event: Duration,
    slow_until: Time,
    busy_until: Time,
    /// What every event costs this node (zero: infinitely fast, the default).
    service_time: Duration,
    queue_bound: Option<usize>,
    /// Events that arrived while the node was busy, in arrival order, with the life they
    /// belong to.
    waiting: VecDeque<(NodeEvent<N>, u32)>,
    /// When the work the node is doing now is done.
    serving_until: Time,
    /// Every change of the number of waiting events: (when, how many).
    backlog_log: Vec<(Time, u32)>,
}

impl<N: Node> Local<N> {
    /// How many events wait for this node.
    pub(crate) fn backlog(&self) -> usize {
        self.waiting.len()
    }

    fn log_backlog(&mut self, now: Time) {
        let len = self.waiting.len() as u32;
        match self.backlog_log.last_mut() {
            Some((at, n)) if *at == now => *n = len,
            Some((_, n)) if *n == len => {}
            _ => self.backlog_log.push((now, len)),
        }
    }
}

struct Slot<N: Node> {
    node: Option<N>,
    local: Local<N>,
}

/// Something that happens to one node and goes through its pause and slowness gate.
enum NodeEvent<N: Node> {
    Deliver {
        from: NodeId,
        id: u64,
        msg: N::Msg,
        sent: Time,
        duplicate: bool,
    },
    Timer {
        id: u64,
        timer: N::Timer,
    },
    Request {
        op: OpId,
        request: N::Request,
    },
}

enum Item<N: Node> {
    Start {
        node: NodeId,
        restart: bool,
    },
    ForNode {
        node: NodeId,
        event: NodeEvent<N>,
        /// The receiver's incarnation the event belongs to; `None` for a message still in the
        /// network (it belongs to whichever life of the node it reaches).
        incarnation: Option<u32>,
        /// Whether a slow node's per-event cost was already charged.
        charged: bool,
    },
    Fault(Fault),
    Resume {
        node: NodeId,
    },
    SlowEnd {
        node: NodeId,
    },
    Heal {
        id: u64,
        links: Vec<(NodeId, NodeId)>,
        description: String,
    },
    ClientNext {
        client: u32,
    },
    ClientTimeout {
        op: OpId,
    },
    /// The node's current work is done: it takes the next waiting event.
    Free {
        node: NodeId,
        incarnation: u32,
    },
    /// A send or reply made after [`Context::spend`], leaving when the work is done.
    Emit {
        node: NodeId,
        incarnation: u32,
        output: Output<N>,
    },
    /// The next arrival of an open-loop source.
    Arrival {
        client: u32,
    },
}

/// What a node did during work that takes time, held back until the work is done.
pub(crate) enum Output<N: Node> {
    Send { to: NodeId, msg: N::Msg },
    Reply { op: OpId, response: N::Response },
}

/// Where an open-loop source sends its requests: given the arrival's number, the time and the
/// clients' RNG, the node and the request (`None` skips that arrival).
type Target<N> = Box<dyn FnMut(u64, Time, &mut SimRng) -> Option<(NodeId, <N as Node>::Request)>>;

/// An open-loop source: arrivals at a rate, whatever happened to the earlier ones.
struct Source<N: Node> {
    /// From each time on, this many arrivals per second (a Poisson process).
    phases: Vec<(Time, f64)>,
    target: Target<N>,
}

struct ClientState {
    next_seq: u64,
    /// The indexes in the history of the outstanding operations, by sequence number: at most
    /// one for a closed-loop client, any number for an open-loop source.
    outstanding: BTreeMap<u64, usize>,
    /// An open-loop source: it starts no operation when one ends.
    open: bool,
}

/// Everything but the nodes themselves, so a node and its context can be borrowed at once.
pub(crate) struct World<N: Node> {
    queue: Queue<Item<N>>,
    pub(crate) nodes: u32,
    pub(crate) tracing: bool,
    trace: Trace,
    net: NetConfig,
    net_rng: SimRng,
    cuts: Cuts,
    next_msg_id: u64,
    next_timer_id: u64,
    next_partition_id: u64,
    history: History<N::Request, N::Response>,
    clients: Vec<ClientState>,
    client_timeout: Duration,
    deliveries: u64,
    sends: u64,
    timers_fired: u64,
    pub(crate) triggers: Triggers<N>,
}

impl<N: Node> World<N> {
    fn push(&mut self, time: Time, item: Item<N>) {
        self.queue.push(time, item);
    }

    pub(crate) fn record(&mut self, time: Time, kind: EventKind) {
        self.trace.events.push(Event { time, kind });
    }

    pub(crate) fn send(&mut self, now: Time, from: NodeId, to: NodeId, msg: N::Msg) {
        let id = self.next_msg_id;
        self.next_msg_id += 1;
        self.sends += 1;
        if self.tracing {
            let text = format!("{msg:?}");
            self.record(
                now,
                EventKind::Send {
                    from,
                    to,
                    id,
                    msg: text,
                },
            );
        }
        if !self.triggers.is_idle() {
            self.triggers.on_message(now, false, (from, to, id), &msg);
        }
        // Draw only for the faults that are switched on, so a fault-free run spends no draws.
        if self.net.loss > 0.0 && self.net_rng.random_bool(self.net.loss.min(1.0)) {
            if self.tracing {
                let text = format!("{msg:?}");
                self.record(
                    now,
                    EventKind::Drop {
                        from,
                        to,
                        id,
                        msg: text,
                        sent: now,
                        reason: DropReason::Lost,
                    },
                );
            }
            return;
        }
        if self.net.duplicate > 0.0 && self.net_rng.random_bool(self.net.duplicate.min(1.0)) {
            let delay = self.latency();
            self.push(
                now + delay,
                Item::ForNode {
                    node: to,
                    event: NodeEvent::Deliver {
                        from,
                        id,
                        msg: msg.clone(),
                        sent: now,
                        duplicate: true,
                    },
                    incarnation: None,
                    charged: false,
                },
            );
        }
        let delay = self.latency();
        self.push(
            now + delay,
            Item::ForNode {
                node: to,
                event: NodeEvent::Deliver {
                    from,
                    id,
                    msg,
                    sent: now,
                    duplicate: false,
                },
                incarnation: None,
                charged: false,
            },
        );
    }

    fn latency(&mut self) -> Duration {
        let cap = self.net.max_latency;
        let mut delay = self.net.latency.sample(&mut self.net_rng, cap);
        if self.net.reorder > 0.0 && self.net_rng.random_bool(self.net.reorder.min(1.0)) {
            delay += self.net.latency.sample(&mut self.net_rng, cap);
        }
        delay
    }

    pub(crate) fn set_timer(
        &mut self,
        at: Time,
        node: NodeId,
        incarnation: u32,
        timer: N::Timer,
    ) -> u64 {
        let id = self.next_timer_id;
        self.next_timer_id += 1;
        self.push(
            at,
            Item::ForNode {
                node,
                event: NodeEvent::Timer { id, timer },
                incarnation: Some(incarnation),
                charged: false,
            },
        );
        id
    }

    pub(crate) fn reply(&mut self, now: Time, node: NodeId, op: OpId, response: N::Response) {
        if self.tracing {
            self.record(
                now,
                EventKind::Response {
                    node,
                    client: op.client,
                    op: op.seq,
                    response: format!("{response:?}"),
                },
            );
        }
        let Some(client) = self.clients.get_mut(op.client as usize) else {
            return;
        };
        let Some(index) = client.outstanding.remove(&op.seq) else {
            return;
        };
        self.history.ops[index].outcome = Outcome::Ok { at: now, response };
        self.push(now, Item::ClientNext { client: op.client });
    }
}

/// Reads the state of every node at one instant, for invariant monitors.
pub struct View<'a, N: Node> {
    time: Time,
    slots: &'a [Slot<N>],
    events: &'a [Event],
}

impl<N: Node> View<'_, N> {
    /// Real (simulated) time now.
    pub fn time(&self) -> Time {
        self.time
    }

    /// The node, if it is up.
    pub fn node(&self, id: NodeId) -> Option<&N> {
        self.slots.get(id.index())?.node.as_ref()
    }

    /// Every node that is up.
    pub fn nodes(&self) -> impl Iterator<Item = (NodeId, &N)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((NodeId(i as u32), s.node.as_ref()?)))
    }

    /// What the node's monotonic clock reads now.
    pub fn monotonic(&self, id: NodeId) -> Time {
        self.slots[id.index()].local.clock.monotonic(self.time)
    }

    /// What the node's wall clock reads now.
    pub fn wall_clock(&self, id: NodeId) -> WallTime {
        self.slots[id.index()].local.clock.wall(self.time)
    }

    /// The node's durable state.
    pub fn durable(&self, id: NodeId) -> &N::Durable {
        &self.slots[id.index()].local.durable
    }

    /// How many events wait for the node (see [`Config::service_time`]).
    pub fn backlog(&self, id: NodeId) -> usize {
        self.slots[id.index()].local.backlog()
    }

    /// What the step just handled recorded in the trace: the timer or message it handled and
    /// what the node did (sends, notes, its reply), or the fault it applied. Empty when tracing
    /// is off.
    pub fn events(&self) -> &[Event] {
        self.events
    }
}

type Monitor<N> = (String, Box<dyn FnMut(&View<'_, N>) -> Result<(), String>>);

/// A state predicate of triggered faults: the node for which it holds now, if any.
type StatePredicate<N> = Box<dyn FnMut(&View<'_, N>) -> Option<NodeId>>;

/// Builds a node from its id and durable state, at the start and after each restart.
type Factory<N> = Box<dyn Fn(NodeId, &<N as Node>::Durable) -> N>;

/// A deterministic run of `N` nodes under a fault plan.
///
/// Build it with [`Simulation::new`], optionally add clients and monitors, then
/// [`run_until`](Simulation::run_until). The same [`Config`] gives the same trace, byte for byte.
pub struct Simulation<N: Node> {
    slots: Vec<Slot<N>>,
    world: World<N>,
    make: Factory<N>,
    workload: Option<Box<dyn Workload<N>>>,
    workload_rng: SimRng,
    sources: BTreeMap<u32, Source<N>>,
    monitors: Vec<Monitor<N>>,
    states: Vec<(String, StatePredicate<N>)>,
    /// Whether every predicate the plan's triggers name was found registered.
    predicates_checked: bool,
    now: Time,
    steps: u64,
    step_budget: u64,
    seed: u64,
    halted: Option<Halt>,
    /// How to describe a node's state for the trace after each event it handles (the book's
    /// step-through); `None`, the default, records nothing.
    describe_state: Option<fn(&N) -> String>,
}

/// A cap on every run's step budget in this process, for a caller that runs code it does not
/// trust to end (the served book's lab, through the scenario binary's `--step-budget=N`). Set
/// once, before any run, from the command line: runs stay a function of their inputs.
static STEP_CAP: AtomicU64 = AtomicU64::new(u64::MAX);

/// Caps the step budget of every simulation this process creates from now on.
pub fn cap_step_budget(steps: u64) {
    STEP_CAP.store(steps, Ordering::Relaxed);
}

thread_local! {
    /// Set while a node's handler runs on this thread, so the panic hook knows the panic is
    /// one the simulator catches and reports itself.
    static IN_HANDLER: Cell<bool> = const { Cell::new(false) };
    /// Where the last caught handler panic happened.
    static PANIC_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

static QUIET_HOOK: Once = Once::new();

/// Keeps the default hook from printing panics that the simulator catches: the halt report
/// says all of it once, and a property test that shrinks would otherwise print the same
/// `todo!()` panic dozens of times. Every other panic still goes to the previous hook.
fn install_quiet_hook() {
    QUIET_HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if IN_HANDLER.with(Cell::get) {
                let location = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()));
                PANIC_LOCATION.with(|slot| *slot.borrow_mut() = location);
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `f` with the panics it catches kept off stderr, as a node handler's are: a property
/// search that retries a panicking test hundreds of times while it shrinks would otherwise
/// print the same panic each time. The caller shows the one that matters afterwards.
pub(crate) fn quietly<T>(f: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            IN_HANDLER.with(|flag| flag.set(self.0));
        }
    }
    install_quiet_hook();
    let _restore = Restore(IN_HANDLER.with(|flag| flag.replace(true)));
    f()
}

/// A stream of the run's randomness for one concern (the network, a node, the clients), so that
/// adding a draw in one place does not shift every other.
fn derive_rng(seed: u64, stream: u64) -> SimRng {
    // splitmix64 of the pair: well-mixed seeds for neighbouring streams.
    let mut z = seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    SimRng::seed_from_u64(z ^ (z >> 31))
}

impl<N: Node + Debug> Simulation<N> {
    /// Records each node's state (its `Debug`, pretty-printed) in the trace after every event it
    /// handles, for the book's step-through. Off unless asked for: tests never pay for it.
    pub fn record_states(&mut self) {
        self.describe_state = Some(|node| format!("{node:#?}"));
    }
}

impl<N: Node> Simulation<N> {
    /// A run of `config.nodes` nodes, each built by `make(id, durable)` at the start (with
    /// default durable state) and again after each restart (with what it had persisted).
    pub fn new(config: Config, make: impl Fn(NodeId, &N::Durable) -> N + 'static) -> Self {
        install_quiet_hook();
        let n = config.nodes;
        let slots = (0..n)
            .map(|i| {
                let spec = config
                    .plan
                    .clocks
                    .get(i as usize)
                    .copied()
                    .unwrap_or(ClockSpec::default());
                Slot {
                    node: None,
                    local: Local {
                        durable: N::Durable::default(),
                        clock: NodeClock::new(spec),
                        rng: derive_rng(config.seed, 1 + u64::from(i)),
                        live_timers: BTreeSet::new(),
                        incarnation: 0,
                        up: false,
                        paused_until: Time::ZERO,
                        slow_per_event: Duration::ZERO,
                        slow_until: Time::ZERO,
                        busy_until: Time::ZERO,
                        service_time: config
                            .service_times
                            .iter()
                            .find(|(node, _)| node.0 == i)
                            .map_or(Duration::ZERO, |(_, d)| *d),
                        queue_bound: config
                            .queue_bounds
                            .iter()
                            .find(|(node, _)| node.0 == i)
                            .map(|(_, limit)| *limit),
                        waiting: VecDeque::new(),
                        serving_until: Time::ZERO,
                        backlog_log: Vec::new(),
                    },
                }
            })
            .collect();
        let mut world = World {
            queue: Queue::new(),
            nodes: n,
            tracing: config.trace,
            trace: Trace {
                seed: config.seed,
                nodes: n,
                events: Vec::new(),
                states: Vec::new(),
            },
            net: config.plan.network.clone(),
            net_rng: derive_rng(config.seed, 0),
            cuts: Cuts::new(n as usize),
            next_msg_id: 1,
            next_timer_id: 1,
            next_partition_id: 1,
            history: History::default(),
            clients: Vec::new(),
            client_timeout: config.client_timeout,
            deliveries: 0,
            sends: 0,
            timers_fired: 0,
            triggers: Triggers::new(&config.plan.triggered),
        };
        for i in 0..n {
            world.push(
                config.plan.start_of(NodeId(i)),
                Item::Start {
                    node: NodeId(i),
                    restart: false,
                },
            );
        }
        for tf in config.plan.sorted_faults() {
            world.push(tf.at, Item::Fault(tf.fault));
        }
        Simulation {
            slots,
            world,
            make: Box::new(make),
            workload: None,
            workload_rng: derive_rng(config.seed, u64::MAX),
            sources: BTreeMap::new(),
            monitors: Vec::new(),
            states: Vec::new(),
            predicates_checked: false,
            now: Time::ZERO,
            steps: 0,
            step_budget: config.step_budget.min(STEP_CAP.load(Ordering::Relaxed)),
            seed: config.seed,
            halted: None,
            describe_state: None,
        }
    }

    /// Adds `clients` closed-loop clients whose operations come from `workload`.
    pub fn clients(mut self, clients: u32, workload: impl Workload<N> + 'static) -> Self {
        for _ in 0..clients {
            let client = self.world.clients.len() as u32;
            self.world.clients.push(ClientState {
                next_seq: 0,
                outstanding: BTreeMap::new(),
                open: false,
            });
            self.world.push(Time::ZERO, Item::ClientNext { client });
        }
        self.workload = Some(Box::new(workload));
        self
    }

    /// Adds an open-loop source of client operations: arrivals come as a Poisson process whose
    /// rate (per second of real time) is `phases[k].1` from `phases[k].0` on (zero before the
    /// first phase), whatever became of the earlier ones, as users arrive at a web service. Each
    /// arrival is an operation of its own, sent where `target(n, now, rng)` says (`n` counts
    /// arrivals from 0); the history records it like a closed-loop client's, with the
    /// [`Config::client_timeout`].
    pub fn arrivals(
        mut self,
        phases: Vec<(Time, f64)>,
        target: impl FnMut(u64, Time, &mut SimRng) -> Option<(NodeId, N::Request)> + 'static,
    ) -> Self {
        let client = self.world.clients.len() as u32;
        self.world.clients.push(ClientState {
            next_seq: 0,
            outstanding: BTreeMap::new(),
            open: true,
        });
        let mut phases = phases;
        phases.sort_by_key(|(at, _)| *at);
        let source = Source {
            phases,
            target: Box::new(target),
        };
        if let Some(first) = self.next_arrival(&source, Time::ZERO) {
            self.world.push(first, Item::Arrival { client });
        }
        self.sources.insert(client, source);
        self
    }

    /// When the source's next arrival after `now` comes: an exponential gap at the rate of the
    /// phase `now` is in, moved to the next phase's start when it would cross it (the
    /// exponential has no memory, so drawing afresh there keeps it a Poisson process).
    fn next_arrival(&mut self, source: &Source<N>, now: Time) -> Option<Time> {
        let mut from = now;
        loop {
            let phase = source.phases.iter().rposition(|(at, _)| *at <= from);
            let rate = phase.map_or(0.0, |k| source.phases[k].1);
            let next_phase = source
                .phases
                .get(phase.map_or(0, |k| k + 1))
                .map(|(at, _)| *at);
            if rate > 0.0 {
                let u: f64 = self.workload_rng.random();
                let gap = -(1.0 - u).ln() / rate;
                let at = from + Duration::from_secs_f64(gap.min(1.0e6));
                match next_phase {
                    Some(change) if at >= change => from = change,
                    _ => return Some(at),
                }
            } else {
                from = next_phase?;
            }
        }
    }

    /// Adds an invariant checked after every event, on real time; a violation halts the run.
    pub fn monitor(
        mut self,
        name: impl Into<String>,
        check: impl FnMut(&View<'_, N>) -> Result<(), String> + 'static,
    ) -> Self {
        self.monitors.push((name.into(), Box::new(check)));
        self
    }

    /// Registers the message predicate `name` that the plan's [triggered
    /// faults](crate::plan::TriggeredFault) may name: `accepts(from, to, msg)`.
    pub fn message_predicate(
        mut self,
        name: impl Into<String>,
        accepts: impl Fn(NodeId, NodeId, &N::Msg) -> bool + 'static,
    ) -> Self {
        let accepts: MessagePredicate<N> = Box::new(accepts);
        self.world
            .triggers
            .add_message_predicate(name.into(), accepts);
        self
    }

    /// Registers the state predicate `name` that the plan's triggered faults may name: after
    /// every event it returns the node for which it holds, if any ("whoever leads").
    pub fn state_predicate(
        mut self,
        name: impl Into<String>,
        holds_for: impl FnMut(&View<'_, N>) -> Option<NodeId> + 'static,
    ) -> Self {
        self.states.push((name.into(), Box::new(holds_for)));
        self
    }

    /// Runs every event up to and including `end`, then sets the clock to `end`.
    ///
    /// Panics if the plan's triggered faults name a predicate the test did not register.
    pub fn run_until(&mut self, end: Time) -> Result<(), Halt> {
        if let Some(halt) = &self.halted {
            return Err(halt.clone());
        }
        if !self.predicates_checked {
            let names: Vec<String> = self.states.iter().map(|(n, _)| n.clone()).collect();
            let missing = self.world.triggers.unregistered(&names);
            assert!(
                missing.is_empty(),
                "the fault plan's triggered faults name {}, which the test did not register \
                 (Simulation::message_predicate, Simulation::state_predicate)",
                missing.join(" and ")
            );
            self.predicates_checked = true;
        }
        while self.world.queue.next_time().is_some_and(|t| t <= end) {
            let (time, item) = self.world.queue.pop().expect("peeked");
            self.now = time;
            self.steps += 1;
            if self.steps > self.step_budget {
                return Err(self.halt(HaltReason::StepBudget {
                    steps: self.step_budget,
                }));
            }
            let recorded = self.world.trace.events.len();
            self.handle(item)?;
            // Monitors see the state the event left, before any fault it set off changes it.
            if !self.monitors.is_empty() {
                self.check_monitors(recorded)?;
            }
            if !self.world.triggers.is_idle() || self.world.triggers.has_fired() {
                self.apply_triggered();
            }
        }
        // `run` asks for every event there is; the clock then stays at the last one.
        if end != Time::MAX {
            self.now = self.now.max(end);
        }
        Ok(())
    }

    /// Runs for `duration` more of real time.
    pub fn run_for(&mut self, duration: Duration) -> Result<(), Halt> {
        self.run_until(self.now + duration)
    }

    /// Runs until no event is left (nodes that keep timers running never get there: use
    /// [`run_until`](Simulation::run_until) for them).
    pub fn run(&mut self) -> Result<(), Halt> {
        self.run_until(Time::MAX)
    }

    /// Real (simulated) time now.
    pub fn now(&self) -> Time {
        self.now
    }

    /// The node, if it is up.
    pub fn node(&self, id: NodeId) -> Option<&N> {
        self.slots[id.index()].node.as_ref()
    }

    /// The node's durable state.
    pub fn durable(&self, id: NodeId) -> &N::Durable {
        &self.slots[id.index()].local.durable
    }

    /// The trace so far.
    pub fn trace(&self) -> &Trace {
        &self.world.trace
    }

    /// The client history so far; operations still outstanding are `Pending`.
    pub fn history(&self) -> &History<N::Request, N::Response> {
        &self.world.history
    }

    /// How many messages were handed to nodes.
    pub fn deliveries(&self) -> u64 {
        self.world.deliveries
    }

    /// How many messages nodes sent (each copy of a duplicated message counts once).
    pub fn sends(&self) -> u64 {
        self.world.sends
    }

    /// How many timers fired at their node (cancelled ones and those of a crashed life do
    /// not count).
    pub fn timers_fired(&self) -> u64 {
        self.world.timers_fired
    }

    /// How many events were handled.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// How many events waited for `node` over the run: each change as (when, how many). Empty
    /// for a node that was never busy (see [`Config::service_time`]).
    pub fn backlog_log(&self, node: NodeId) -> &[(Time, u32)] {
        &self.slots[node.index()].local.backlog_log
    }

    /// Invokes one client operation at `node` at real time `at`, outside any workload (for
    /// scenarios and unit tests). Its outcome lands in the history like any other.
    pub fn invoke(&mut self, at: Time, node: NodeId, request: N::Request) -> OpId {
        let client = self.world.clients.len() as u32;
        self.world.clients.push(ClientState {
            next_seq: 0,
            outstanding: BTreeMap::new(),
            open: true,
        });
        self.invoke_for(client, at, node, request)
    }

    fn invoke_for(&mut self, client: u32, at: Time, node: NodeId, request: N::Request) -> OpId {
        let state = &mut self.world.clients[client as usize];
        let op = OpId {
            client,
            seq: state.next_seq,
        };
        state.next_seq += 1;
        state
            .outstanding
            .insert(op.seq, self.world.history.ops.len());
        self.world.history.ops.push(OpRecord {
            op,
            node,
            request: request.clone(),
            invoked: at,
            outcome: Outcome::Pending,
        });
        self.world.push(
            at,
            Item::ForNode {
                node,
                event: NodeEvent::Request { op, request },
                incarnation: None,
                charged: false,
            },
        );
        let timeout = self.world.client_timeout;
        self.world.push(at + timeout, Item::ClientTimeout { op });
        op
    }

    fn halt(&mut self, reason: HaltReason) -> Halt {
        if self.world.tracing {
            let text = match &reason {
                HaltReason::Panic { node, message, .. } => format!("{node} panicked: {message}"),
                HaltReason::Monitor { name, message } => format!("{name}: {message}"),
                HaltReason::StepBudget { steps } => format!("step budget of {steps} spent"),
            };
            self.world
                .record(self.now, EventKind::Halt { reason: text });
        }
        let halt = Halt {
            reason,
            time: self.now,
            seed: self.seed,
            timeline: render::text::tail(&self.world.trace, 40),
        };
        self.halted = Some(halt.clone());
        halt
    }

    /// Evaluates the armed state triggers, then applies every triggered fault that went off
    /// during the event just handled: at once, or after its delay.
    fn apply_triggered(&mut self) {
        let armed = self.world.triggers.armed_states();
        if !armed.is_empty() {
            let view = View {
                time: self.now,
                slots: &self.slots,
                events: &[],
            };
            let mut named = BTreeMap::new();
            for (name, from) in armed {
                if from > self.now || named.contains_key(&name) {
                    continue;
                }
                if let Some((_, holds_for)) = self.states.iter_mut().find(|(n, _)| *n == name) {
                    named.insert(name, holds_for(&view));
                }
            }
            self.world.triggers.on_states(self.now, &named);
        }
        for fired in self.world.triggers.take_fired() {
            let now = self.now;
            self.world.record_if(now, || EventKind::Trigger {
                node: fired.subject,
                what: fired.what.clone(),
                fault: if fired.delay.is_zero() {
                    fired.fault.to_string()
                } else {
                    format!("{} in {:?}", fired.fault, fired.delay)
                },
            });
            if fired.delay.is_zero() {
                self.apply_fault(fired.fault);
            } else {
                self.world.push(now + fired.delay, Item::Fault(fired.fault));
            }
        }
    }

    fn check_monitors(&mut self, from: usize) -> Result<(), Halt> {
        let view = View {
            time: self.now,
            slots: &self.slots,
            events: &self.world.trace.events[from.min(self.world.trace.events.len())..],
        };
        let mut failure = None;
        for (name, check) in &mut self.monitors {
            if let Err(message) = check(&view) {
                failure = Some(HaltReason::Monitor {
                    name: name.clone(),
                    message,
                });
                break;
            }
        }
        match failure {
            Some(reason) => Err(self.halt(reason)),
            None => Ok(()),
        }
    }

    fn handle(&mut self, item: Item<N>) -> Result<(), Halt> {
        let now = self.now;
        match item {
            Item::Start { node, restart } => self.start(node, restart),
            Item::ForNode {
                node,
                event,
                incarnation,
                charged,
            } => self.for_node(node, event, incarnation, charged),
            Item::Fault(fault) => {
                self.apply_fault(fault);
                Ok(())
            }
            Item::Resume { node } => {
                let local = &mut self.slots[node.index()].local;
                if local.up && local.paused_until == now {
                    self.world.record_if(now, || EventKind::Resume { node });
                }
                Ok(())
            }
            Item::SlowEnd { node } => {
                let local = &mut self.slots[node.index()].local;
                if local.slow_until == now {
                    local.slow_per_event = Duration::ZERO;
                    self.world.record_if(now, || EventKind::SlowEnd { node });
                }
                Ok(())
            }
            Item::Heal {
                id,
                links,
                description,
            } => {
                self.world.cuts.remove(&links);
                self.world
                    .record_if(now, || EventKind::Heal { id, description });
                Ok(())
            }
            Item::ClientNext { client } => {
                if self.world.clients[client as usize].open {
                    return Ok(());
                }
                let Some(workload) = self.workload.as_mut() else {
                    return Ok(());
                };
                if let Some(Invocation {
                    node,
                    request,
                    after,
                }) = workload.next(client, now, &mut self.workload_rng)
                {
                    self.invoke_for(client, now + after, node, request);
                }
                Ok(())
            }
            Item::ClientTimeout { op } => {
                let state = &mut self.world.clients[op.client as usize];
                let Some(index) = state.outstanding.remove(&op.seq) else {
                    return Ok(());
                };
                let record = &mut self.world.history.ops[index];
                record.outcome = Outcome::TimedOut { at: now };
                let node = record.node;
                self.world.record_if(now, || EventKind::Timeout {
                    node,
                    client: op.client,
                    op: op.seq,
                });
                self.world.push(now, Item::ClientNext { client: op.client });
                Ok(())
            }
            Item::Arrival { client } => {
                let Some(mut source) = self.sources.remove(&client) else {
                    return Ok(());
                };
                let n = self.world.clients[client as usize].next_seq;
                if let Some((node, request)) = (source.target)(n, now, &mut self.workload_rng) {
                    self.invoke_for(client, now, node, request);
                } else {
                    self.world.clients[client as usize].next_seq += 1;
                }
                if let Some(next) = self.next_arrival(&source, now) {
                    self.world.push(next, Item::Arrival { client });
                }
                self.sources.insert(client, source);
                Ok(())
            }
            Item::Free { node, incarnation } => self.free(node, incarnation),
            Item::Emit {
                node,
                incarnation,
                output,
            } => {
                let local = &self.slots[node.index()].local;
                if local.up && local.incarnation == incarnation {
                    match output {
                        Output::Send { to, msg } => self.world.send(now, node, to, msg),
                        Output::Reply { op, response } => self.world.reply(now, node, op, response),
                    }
                }
                Ok(())
            }
        }
    }

    /// A node's work is done: it takes the next waiting event, if any.
    fn free(&mut self, node: NodeId, incarnation: u32) -> Result<(), Halt> {
        let now = self.now;
        let local = &mut self.slots[node.index()].local;
        if !local.up || local.incarnation != incarnation || local.serving_until > now {
            return Ok(());
        }
        if local.paused_until > now {
            let until = local.paused_until;
            self.world.push(until, Item::Free { node, incarnation });
            return Ok(());
        }
        let Some((event, _life)) = local.waiting.pop_front() else {
            return Ok(());
        };
        local.log_backlog(now);
        if let NodeEvent::Timer { id, .. } = &event
            && !local.live_timers.contains(id)
        {
            // A timer cancelled while it waited: take the next one at once.
            return self.free(node, incarnation);
        }
        self.dispatch(node, event)
    }

    fn start(&mut self, node: NodeId, restart: bool) -> Result<(), Halt> {
        let now = self.now;
        let slot = &mut self.slots[node.index()];
        if slot.local.up {
            return Ok(());
        }
        slot.local.up = true;
        slot.node = Some((self.make)(node, &slot.local.durable));
        self.world
            .record_if(now, || EventKind::Start { node, restart });
        self.call(node, if restart { "restart" } else { "start" }, |n, ctx| {
            n.on_start(ctx)
        })
    }

    fn crash(&mut self, node: NodeId) {
        let local = &mut self.slots[node.index()].local;
        if !local.up {
            return;
        }
        local.up = false;
        local.incarnation += 1;
        local.live_timers.clear();
        local.paused_until = Time::ZERO;
        local.serving_until = Time::ZERO;
        if !local.waiting.is_empty() {
            local.waiting.clear();
            local.log_backlog(self.now);
        }
        self.slots[node.index()].node = None;
        self.world.record_if(self.now, || EventKind::Crash { node });
    }

    fn for_node(
        &mut self,
        node: NodeId,
        event: NodeEvent<N>,
        incarnation: Option<u32>,
        charged: bool,
    ) -> Result<(), Halt> {
        let now = self.now;
        // A request is traced when it reaches the node, so the trace stays in time order even
        // when a client invokes after a think time.
        if let (None, NodeEvent::Request { op, request }) = (incarnation, &event)
            && self.world.tracing
        {
            let request = format!("{request:?}");
            self.world.record(
                now,
                EventKind::Request {
                    node,
                    client: op.client,
                    op: op.seq,
                    request,
                },
            );
        }
        let local = &mut self.slots[node.index()].local;
        // Arrival: a message still in the network meets the partitions and the node's state now.
        let incarnation = match (incarnation, &event) {
            (Some(i), _) => i,
            (None, NodeEvent::Deliver { from, .. }) => {
                let reason = if !local.up {
                    Some(DropReason::NodeDown)
                } else if self.world.cuts.is_blocked(*from, node) {
                    Some(DropReason::Partitioned)
                } else {
                    None
                };
                if let Some(reason) = reason {
                    self.drop_message(node, event, reason);
                    return Ok(());
                }
                local.incarnation
            }
            (None, _) => local.incarnation,
        };
        if !local.up || local.incarnation != incarnation {
            self.drop_message(node, event, DropReason::NodeDown);
            return Ok(());
        }
        if let NodeEvent::Timer { id, .. } = &event
            && !local.live_timers.contains(id)
        {
            return Ok(());
        }
        // The gate: a paused node handles nothing until it resumes; a slow one charges each
        // event its cost, so work queues up behind it (a node with a service time charges it
        // as service time instead).
        let requeue_at = if local.paused_until > now {
            Some((local.paused_until, charged))
        } else if !charged && local.slow_until > now && local.service_time.is_zero() {
            let at = now.max(local.busy_until) + local.slow_per_event;
            local.busy_until = at;
            Some((at, true))
        } else {
            None
        };
        if let Some((at, charged)) = requeue_at {
            self.world.push(
                at,
                Item::ForNode {
                    node,
                    event,
                    incarnation: Some(incarnation),
                    charged,
                },
            );
            return Ok(());
        }
        // A busy node's work waits in its queue, in arrival order; a full queue drops messages.
        if local.serving_until > now || !local.waiting.is_empty() {
            let full = local
                .queue_bound
                .is_some_and(|limit| local.waiting.len() >= limit);
            if full && matches!(event, NodeEvent::Deliver { .. }) {
                self.drop_message(node, event, DropReason::QueueFull);
                return Ok(());
            }
            local.waiting.push_back((event, incarnation));
            local.log_backlog(now);
            return Ok(());
        }
        self.dispatch(node, event)
    }

    /// Hands one event to its node's handler.
    fn dispatch(&mut self, node: NodeId, event: NodeEvent<N>) -> Result<(), Halt> {
        let now = self.now;
        let local = &mut self.slots[node.index()].local;
        match event {
            NodeEvent::Deliver {
                from,
                id,
                msg,
                sent,
                duplicate,
            } => {
                self.world.deliveries += 1;
                if !self.world.triggers.is_idle() {
                    self.world
                        .triggers
                        .on_message(now, true, (from, node, id), &msg);
                }
                if self.world.tracing {
                    let text = format!("{msg:?}");
                    self.world.record(
                        now,
                        EventKind::Deliver {
                            from,
                            to: node,
                            id,
                            msg: text,
                            sent,
                            duplicate,
                        },
                    );
                }
                self.call(node, "a message", |n, ctx| n.on_message(ctx, from, msg))
            }
            NodeEvent::Timer { id, timer } => {
                local.live_timers.remove(&id);
                self.world.timers_fired += 1;
                if self.world.tracing {
                    let text = format!("{timer:?}");
                    self.world
                        .record(now, EventKind::Timer { node, timer: text });
                }
                self.call(node, "a timer", |n, ctx| n.on_timer(ctx, timer))
            }
            NodeEvent::Request { op, request } => {
                self.call(node, "a request", |n, ctx| n.on_request(ctx, op, request))
            }
        }
    }

    fn drop_message(&mut self, node: NodeId, event: NodeEvent<N>, reason: DropReason) {
        if let NodeEvent::Deliver {
            from,
            id,
            msg,
            sent,
            ..
        } = event
        {
            self.world.record_if(self.now, || EventKind::Drop {
                from,
                to: node,
                id,
                msg: format!("{msg:?}"),
                sent,
                reason,
            });
        }
    }

    /// Runs one handler of one node, turning a panic into a halt that says where it happened.
    fn call(
        &mut self,
        node: NodeId,
        during: &str,
        handler: impl FnOnce(&mut N, &mut Context<'_, N>),
    ) -> Result<(), Halt> {
        // The handled event (a delivery, a timer, a start) was recorded just before the call.
        let handled = self.world.trace.events.len().saturating_sub(1);
        let slot = &mut self.slots[node.index()];
        let Some(state) = slot.node.as_mut() else {
            return Ok(());
        };
        // Starting costs nothing: the service time is the price of work that arrives.
        let starting = during.ends_with("start");
        let mut spent = if starting {
            Duration::ZERO
        } else {
            slot.local.service_time
        };
        if !spent.is_zero() && slot.local.slow_until > self.now {
            spent += slot.local.slow_per_event;
        }
        let mut ctx = Context::simulated(node, self.now, spent, &mut self.world, &mut slot.local);
        let outer = IN_HANDLER.with(|flag| flag.replace(true));
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| handler(state, &mut ctx)));
        IN_HANDLER.with(|flag| flag.set(outer));
        let spent = ctx.spent();
        if let (Ok(()), Some(describe), true) = (&outcome, self.describe_state, self.world.tracing)
        {
            self.world.trace.states.push(NodeState {
                after: handled,
                node,
                state: describe(state),
            });
        }
        let local = &mut slot.local;
        if outcome.is_ok() && local.up && (!spent.is_zero() || !local.waiting.is_empty()) {
            let until = self.now + spent;
            local.serving_until = until;
            let incarnation = local.incarnation;
            self.world.push(until, Item::Free { node, incarnation });
        }
        match outcome {
            Ok(()) => Ok(()),
            Err(payload) => {
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(a panic with no message)".to_string());
                let location = PANIC_LOCATION.with(|slot| slot.borrow_mut().take());
                Err(self.halt(HaltReason::Panic {
                    node,
                    during: during.to_string(),
                    message,
                    location,
                }))
            }
        }
    }

    fn apply_fault(&mut self, fault: Fault) {
        let now = self.now;
        match fault {
            Fault::Crash {
                node,
                restart_after,
            } => {
                // Crashing a node that is down already does nothing, and schedules no restart.
                if node.0 >= self.world.nodes || !self.slots[node.index()].local.up {
                    return;
                }
                self.crash(node);
                if let Some(after) = restart_after {
                    self.world.push(
                        now + after,
                        Item::Start {
                            node,
                            restart: true,
                        },
                    );
                }
            }
            Fault::Pause { node, duration } => {
                let Some(slot) = self.slots.get_mut(node.index()) else {
                    return;
                };
                if !slot.local.up {
                    return;
                }
                let until = (now + duration).max(slot.local.paused_until);
                slot.local.paused_until = until;
                self.world
                    .record_if(now, || EventKind::Pause { node, until });
                self.world.push(until, Item::Resume { node });
            }
            Fault::Slow {
                node,
                per_event,
                duration,
            } => {
                let Some(slot) = self.slots.get_mut(node.index()) else {
                    return;
                };
                let until = (now + duration).max(slot.local.slow_until);
                slot.local.slow_until = until;
                slot.local.slow_per_event = per_event;
                let per_event_ns = u64::try_from(per_event.as_nanos()).unwrap_or(u64::MAX);
                self.world.record_if(now, || EventKind::Slow {
                    node,
                    per_event_ns,
                    until,
                });
                self.world.push(until, Item::SlowEnd { node });
            }
            Fault::Partition {
                partition,
                duration,
            } => self.partition(partition, duration),
            Fault::ClockStep { node, by_ns } => {
                let Some(slot) = self.slots.get_mut(node.index()) else {
                    return;
                };
                slot.local.clock.step_wall(by_ns);
                self.world
                    .record_if(now, || EventKind::ClockStep { node, by_ns });
            }
        }
    }

    fn partition(&mut self, partition: Partition, duration: Duration) {
        let now = self.now;
        let links = partition.blocked_links(self.world.nodes);
        let id = self.world.next_partition_id;
        self.world.next_partition_id += 1;
        let description = partition.to_string();
        self.world.cuts.add(&links);
        if self.world.tracing {
            self.world.record(
                now,
                EventKind::Partition {
                    id,
                    description: description.clone(),
                    blocked: links.clone(),
                },
            );
        }
        self.world.push(
            now + duration,
            Item::Heal {
                id,
                links,
                description,
            },
        );
    }
}

impl<N: Node> World<N> {
    /// Records an event if tracing is on, building it only then.
    fn record_if(&mut self, time: Time, kind: impl FnOnce() -> EventKind) {
        if self.tracing {
            self.record(time, kind());
        }
    }
}

impl<N: Node> World<N> {
    /// Holds back a send or reply made after [`Context::spend`] until the work is done.
    pub(crate) fn emit_later(
        &mut self,
        at: Time,
        node: NodeId,
        incarnation: u32,
        output: Output<N>,
    ) {
        self.push(
            at,
            Item::Emit {
                node,
                incarnation,
                output,
            },
        );
    }
}
