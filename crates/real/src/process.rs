//! One node as one OS process: a single-threaded event loop over a UDP socket, timers on the
//! monotonic clock, durable state in a file synced before a handler's effects leave, the
//! network faults of the run's plan injected between the node and the socket, and the node's
//! events written to standard output as the simulator's trace events (one JSON line each).

use crate::clock::Clock;
use crate::wire::{Cluster, Control, Datagram, encode, message_id};
use clap::Parser;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sim::rand::{RngExt, SeedableRng};
use sim::{
    Context, DropReason, Event, EventKind, Fault, FaultPlan, Host, Latency, NetConfig, Node,
    NodeId, OpId, SimRng, Time, Trigger, WallTime,
};
use std::collections::{BTreeMap, VecDeque};
use std::io::{ErrorKind, Write};
use std::net::UdpSocket;
use std::path::PathBuf;
use std::time::Duration;

/// The command line of a node process (`cargo xtask real` writes it; by hand, see the page).
#[derive(Debug, Parser)]
#[command(about = "One node of a real cluster, on UDP over loopback")]
pub struct NodeArgs {
    /// This node's index in the cluster file (`n0` is 0).
    #[arg(long)]
    pub id: u32,
    /// The cluster file: every node's address (JSON, see `real::wire::Cluster`).
    #[arg(long)]
    pub cluster: PathBuf,
    /// The run's fault plan (the simulator's JSON): its network faults and note triggers.
    #[arg(long)]
    pub plan: Option<PathBuf>,
    /// Where the durable state lives; without it nothing survives a restart.
    #[arg(long)]
    pub durable: Option<PathBuf>,
    /// The run's epoch on the machine's monotonic clock, shared by every process of the run
    /// (default: this process's start).
    #[arg(long)]
    pub epoch_ns: Option<u64>,
    /// Seeds the node's random number generator and the injected faults.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Which life of this node this is: 0 at first, one more after each restart.
    #[arg(long, default_value_t = 0)]
    pub incarnation: u32,
    /// The conductor's process id: this process dies with it.
    #[arg(long)]
    pub parent: Option<i32>,
    /// A tag the conductor gives every process of one run, to find strays afterwards.
    #[arg(long)]
    pub run_token: Option<String>,
    /// Print the timeline's text lines instead of JSON events (for a node started by hand).
    #[arg(long)]
    pub text: bool,
}

/// Runs node `make(id, durable)` as this process, with the command line's arguments, until it
/// is killed. What a real-run binary's `main` calls.
pub fn node_main<N, F>(make: F) -> !
where
    N: Node,
    N::Msg: Serialize + DeserializeOwned,
    N::Durable: Serialize + DeserializeOwned,
    F: Fn(NodeId, &N::Durable) -> N,
{
    let args = NodeArgs::parse();
    match run::<N, F>(&args, make) {
        Ok(never) => match never {},
        Err(e) => {
            eprintln!("n{}: {e}", args.id);
            std::process::exit(2);
        }
    }
}

enum Never {}

/// What a handler did, in order, each at the service time it had spent by then.
enum Effect<N: Node> {
    Send { to: NodeId, msg: N::Msg },
    Note(String),
    Reply { op: OpId, response: N::Response },
}

/// A message waiting to be handled.
struct Arrival<M> {
    from: NodeId,
    id: u64,
    sent: Time,
    copy: bool,
    msg: M,
}

/// A datagram held back by injected latency.
struct Delayed {
    to: NodeId,
    bytes: Vec<u8>,
}

struct State<N: Node> {
    id: NodeId,
    incarnation: u32,
    cluster: Cluster,
    socket: UdpSocket,
    clock: Clock,
    shared_epoch: bool,
    rng: SimRng,
    net_rng: SimRng,
    network: NetConfig,
    cuts: BTreeMap<u64, Vec<(NodeId, NodeId)>>,
    durable: N::Durable,
    durable_path: Option<PathBuf>,
    durable_bytes: Vec<u8>,
    /// Armed timers by deadline (and handle, which breaks ties in the order they were set).
    timers: BTreeMap<(Time, u64), N::Timer>,
    deadlines: BTreeMap<u64, Time>,
    next_timer: u64,
    next_message: u64,
    arrivals: VecDeque<Arrival<N::Msg>>,
    delayed: BTreeMap<(Time, u64), Delayed>,
    triggers: Vec<sim::TriggeredFault>,
    text: bool,
    /// Room for one datagram, allocated once: the loop receives on every turn.
    buffer: Vec<u8>,
    out: std::io::BufWriter<std::io::Stdout>,
}

/// The [`Host`] one handler talks to: it collects the handler's effects, which leave only
/// once the durable state they depend on is on disk.
struct Handling<'s, N: Node> {
    state: &'s mut State<N>,
    spent: Duration,
    effects: Vec<(Duration, Effect<N>)>,
}

impl<N: Node> Host<N> for Handling<'_, N> {
    fn id(&self) -> NodeId {
        self.state.id
    }
    fn nodes(&self) -> u32 {
        u32::try_from(self.state.cluster.nodes.len()).unwrap_or(u32::MAX)
    }
    fn now(&self) -> Time {
        self.state.clock.now()
    }
    fn wall_clock(&self) -> WallTime {
        self.state.clock.wall()
    }
    fn spend(&mut self, duration: Duration) {
        self.spent += duration;
    }
    fn backlog(&self) -> usize {
        self.state.arrivals.len() + self.state.due_timers()
    }
    fn send(&mut self, to: NodeId, msg: N::Msg) {
        self.effects.push((self.spent, Effect::Send { to, msg }));
    }
    fn set_timer(&mut self, after: Duration, timer: N::Timer) -> u64 {
        let state = &mut *self.state;
        let handle = state.next_timer;
        state.next_timer += 1;
        let at = state.clock.now() + self.spent + after;
        state.timers.insert((at, handle), timer);
        state.deadlines.insert(handle, at);
        handle
    }
    fn cancel_timer(&mut self, timer: u64) {
        if let Some(at) = self.state.deadlines.remove(&timer) {
            self.state.timers.remove(&(at, timer));
        }
    }
    fn rng(&mut self) -> &mut SimRng {
        &mut self.state.rng
    }
    fn note(&mut self, text: String) {
        self.effects.push((self.spent, Effect::Note(text)));
    }
    fn reply(&mut self, op: OpId, response: N::Response) {
        self.effects
            .push((self.spent, Effect::Reply { op, response }));
    }
    fn durable(&self) -> &N::Durable {
        &self.state.durable
    }
    fn durable_mut(&mut self) -> &mut N::Durable {
        &mut self.state.durable
    }
}

/// What the loop hands the node next.
enum Next<N: Node> {
    Timer(N::Timer),
    Message(Arrival<N::Msg>),
}

fn run<N, F>(args: &NodeArgs, make: F) -> Result<Never, String>
where
    N: Node,
    N::Msg: Serialize + DeserializeOwned,
    N::Durable: Serialize + DeserializeOwned,
    F: Fn(NodeId, &N::Durable) -> N,
{
    if let Some(parent) = args.parent {
        // Die with the conductor, even if it is killed with -9; and if it is already gone,
        // do not start at all.
        let _ =
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
        let ppid = rustix::process::getppid().map(|p| p.as_raw_nonzero().get());
        if ppid != Some(parent) {
            return Err("the conductor that started this node is gone".into());
        }
    }
    let cluster = Cluster::load(&args.cluster)?;
    let id = NodeId(args.id);
    let me = *cluster
        .nodes
        .get(id.index())
        .ok_or_else(|| format!("the cluster file has no node {id}"))?;
    let socket = UdpSocket::bind(me).map_err(|e| format!("cannot listen on {me}: {e}"))?;
    socket
        .set_nonblocking(true)
        .map_err(|e| format!("socket: {e}"))?;
    let plan = match &args.plan {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read the plan {}: {e}", path.display()))?;
            serde_json::from_str::<FaultPlan>(&text)
                .map_err(|e| format!("{} is not a fault plan: {e}", path.display()))?
        }
        None => FaultPlan::with_network(crate::quiet_network()),
    };
    crate::check_triggers(&plan)?;
    let durable: N::Durable = match &args.durable {
        Some(path) if path.exists() => {
            let text = std::fs::read(path)
                .map_err(|e| format!("cannot read the durable state {}: {e}", path.display()))?;
            serde_json::from_slice(&text)
                .map_err(|e| format!("{} is not this node's durable state: {e}", path.display()))?
        }
        _ => N::Durable::default(),
    };
    let durable_bytes = serde_json::to_vec(&durable).map_err(|e| e.to_string())?;
    let (clock, shared_epoch) = match args.epoch_ns {
        Some(epoch) => (Clock::from_epoch(epoch), true),
        None => (Clock::starting_now(), false),
    };
    let stream = u64::from(args.id) << 32 | u64::from(args.incarnation);
    let mut state = State::<N> {
        id,
        incarnation: args.incarnation,
        cluster,
        socket,
        clock,
        shared_epoch,
        rng: SimRng::seed_from_u64(args.seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        net_rng: SimRng::seed_from_u64(!args.seed ^ stream.wrapping_mul(0xbf58_476d_1ce4_e5b9)),
        network: plan.network.clone(),
        cuts: BTreeMap::new(),
        durable,
        durable_path: args.durable.clone(),
        durable_bytes,
        timers: BTreeMap::new(),
        deadlines: BTreeMap::new(),
        next_timer: 0,
        next_message: 0,
        arrivals: VecDeque::new(),
        delayed: BTreeMap::new(),
        triggers: plan.triggered.clone(),
        text: args.text,
        buffer: vec![0u8; MAX_RECV],
        out: std::io::BufWriter::new(std::io::stdout()),
    };
    let mut node = make(id, &state.durable);
    state.record(EventKind::Start {
        node: id,
        restart: args.incarnation > 0,
    });
    state.handle(&mut node, |node, ctx| node.on_start(ctx))?;
    loop {
        state.release_delayed();
        match state.next_event()? {
            Some(Next::Timer(timer)) => {
                state.record(EventKind::Timer {
                    node: id,
                    timer: format!("{timer:?}"),
                });
                state.handle(&mut node, |node, ctx| node.on_timer(ctx, timer))?;
            }
            Some(Next::Message(arrival)) => {
                state.record(EventKind::Deliver {
                    from: arrival.from,
                    to: id,
                    id: arrival.id,
                    msg: format!("{:?}", arrival.msg),
                    sent: arrival.sent,
                    duplicate: arrival.copy,
                });
                let from = arrival.from;
                state.handle(&mut node, |node, ctx| {
                    node.on_message(ctx, from, arrival.msg)
                })?;
            }
            None => {}
        }
    }
}

impl<N: Node> State<N> {
    fn due_timers(&self) -> usize {
        let now = self.clock.now();
        self.timers.range(..(now, u64::MAX)).count()
    }
}

impl<N: Node> State<N>
where
    N::Msg: Serialize + DeserializeOwned,
    N::Durable: Serialize + DeserializeOwned,
{
    fn record(&mut self, kind: EventKind) {
        self.record_at(self.clock.now(), kind);
    }

    fn record_at(&mut self, time: Time, kind: EventKind) {
        let event = Event { time, kind };
        let written = if self.text {
            self.out
                .write_all(sim::render::text::line(&event).as_bytes())
                .is_ok()
        } else {
            serde_json::to_writer(&mut self.out, &event).is_ok()
        };
        // A node that cannot write its trace has lost its conductor: nothing left to do.
        if !written || self.out.write_all(b"\n").is_err() || self.out.flush().is_err() {
            std::process::exit(3);
        }
    }

    /// Runs one handler, then makes its durable changes durable, then lets its effects out,
    /// each once the service time it had spent by then has passed.
    fn handle(
        &mut self,
        node: &mut N,
        handler: impl FnOnce(&mut N, &mut Context<'_, N>),
    ) -> Result<(), String> {
        let started = self.clock.now();
        let effects = {
            let mut handling = Handling {
                state: self,
                spent: Duration::ZERO,
                effects: Vec::new(),
            };
            let mut ctx = Context::hosted(&mut handling);
            handler(node, &mut ctx);
            handling.effects
        };
        self.persist()?;
        let mut pause = None;
        for (after, effect) in effects {
            let due = started + after;
            let now = self.clock.now();
            if due > now {
                std::thread::sleep(due - now);
            }
            match effect {
                Effect::Send { to, msg } => self.transmit(to, msg)?,
                Effect::Note(text) => {
                    self.record(EventKind::Note {
                        node: self.id,
                        text: text.clone(),
                    });
                    pause = pause.or(self.triggered_by(&text));
                }
                Effect::Reply { op, response } => self.record(EventKind::Response {
                    node: self.id,
                    client: op.client,
                    op: op.seq,
                    response: format!("{response:?}"),
                }),
            }
        }
        if let Some(duration) = pause {
            self.pause_self(duration);
        }
        Ok(())
    }

    /// Writes the durable state to its file and syncs it, if the handler changed it.
    fn persist(&mut self) -> Result<(), String> {
        let bytes = serde_json::to_vec(&self.durable)
            .map_err(|e| format!("cannot encode the durable state: {e}"))?;
        if bytes == self.durable_bytes {
            return Ok(());
        }
        if let Some(path) = &self.durable_path {
            let fresh = path.with_extension("tmp");
            let write = || -> std::io::Result<()> {
                let mut file = std::fs::File::create(&fresh)?;
                file.write_all(&bytes)?;
                file.sync_all()?;
                std::fs::rename(&fresh, path)?;
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::File::open(dir)?.sync_all()?;
                }
                Ok(())
            };
            write()
                .map_err(|e| format!("cannot save the durable state to {}: {e}", path.display()))?;
        }
        self.durable_bytes = bytes;
        Ok(())
    }

    /// Sends one message through the injected network faults.
    fn transmit(&mut self, to: NodeId, msg: N::Msg) -> Result<(), String> {
        let now = self.clock.now();
        let id = message_id(self.id, self.incarnation, self.next_message);
        self.next_message += 1;
        let text = format!("{msg:?}");
        self.record_at(
            now,
            EventKind::Send {
                from: self.id,
                to,
                id,
                msg: text.clone(),
            },
        );
        let dropped = |reason| EventKind::Drop {
            from: self.id,
            to,
            id,
            msg: text.clone(),
            sent: now,
            reason,
        };
        if self.cut(self.id, to) {
            let event = dropped(DropReason::Partitioned);
            self.record_at(now, event);
            return Ok(());
        }
        if self.network.loss > 0.0 && self.net_rng.random::<f64>() < self.network.loss {
            let event = dropped(DropReason::Lost);
            self.record_at(now, event);
            return Ok(());
        }
        let copies = if self.network.duplicate > 0.0
            && self.net_rng.random::<f64>() < self.network.duplicate
        {
            2
        } else {
            1
        };
        for copy in 0..copies {
            let datagram = Datagram::Msg {
                from: self.id,
                id,
                sent: now,
                copy: copy > 0,
                msg: msg.clone(),
            };
            let bytes = encode(&datagram)?;
            let mut latency = self
                .network
                .latency
                .sample(&mut self.net_rng, self.network.max_latency);
            if self.network.reorder > 0.0 && self.net_rng.random::<f64>() < self.network.reorder {
                latency += self
                    .network
                    .latency
                    .sample(&mut self.net_rng, self.network.max_latency);
            }
            if latency.is_zero() {
                self.send_datagram(to, &bytes);
            } else {
                let key = (now + latency, self.next_message * 2 + copy);
                self.delayed.insert(key, Delayed { to, bytes });
            }
        }
        Ok(())
    }

    fn send_datagram(&self, to: NodeId, bytes: &[u8]) {
        // A datagram to a process that is down is lost, as on any network.
        let _ = self.socket.send_to(bytes, self.cluster.nodes[to.index()]);
    }

    fn release_delayed(&mut self) {
        let now = self.clock.now();
        while let Some(entry) = self.delayed.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let held = entry.remove();
            self.send_datagram(held.to, &held.bytes);
        }
    }

    fn cut(&self, from: NodeId, to: NodeId) -> bool {
        self.cuts.values().any(|links| links.contains(&(from, to)))
    }

    /// The next thing to hand the node: of the timers due and the messages waiting, the one
    /// that happened first (a message counts from when it was sent: one machine, one clock).
    /// Waits on the socket until something is due.
    fn next_event(&mut self) -> Result<Option<Next<N>>, String> {
        self.receive(false)?;
        let now = self.clock.now();
        let due_timer = self
            .timers
            .first_key_value()
            .map(|(key, _)| *key)
            .filter(|(at, _)| *at <= now);
        let first_message = self.arrivals.front().map(|a| a.sent);
        match (due_timer, first_message) {
            (Some(key), Some(sent)) if !self.shared_epoch || key.0 <= sent => {
                Ok(Some(self.fire(key)))
            }
            (Some(key), None) => Ok(Some(self.fire(key))),
            (_, Some(_)) => Ok(self.arrivals.pop_front().map(Next::Message)),
            (None, None) => {
                self.receive(true)?;
                Ok(None)
            }
        }
    }

    fn fire(&mut self, key: (Time, u64)) -> Next<N> {
        self.deadlines.remove(&key.1);
        let timer = self
            .timers
            .remove(&key)
            .expect("the key was read from the map");
        Next::Timer(timer)
    }

    /// Takes every datagram waiting on the socket; with `wait`, first waits until one comes or
    /// the next timer or held-back datagram is due. The wait is a `poll` with a nanosecond
    /// timeout: a socket's own receive timeout is rounded up to the kernel's tick (4 ms here),
    /// which made every timer late by that much.
    fn receive(&mut self, wait: bool) -> Result<(), String> {
        if wait {
            let now = self.clock.now();
            let next = [
                self.timers.first_key_value().map(|(k, _)| k.0),
                self.delayed.first_key_value().map(|(k, _)| k.0),
            ]
            .into_iter()
            .flatten()
            .min();
            let timeout = next
                .map(|at| at - now)
                .unwrap_or(Duration::from_secs(1))
                .min(Duration::from_secs(1));
            let timeout = rustix::event::Timespec {
                tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(1),
                tv_nsec: i64::from(timeout.subsec_nanos()),
            };
            let mut fds = [rustix::event::PollFd::new(
                &self.socket,
                rustix::event::PollFlags::IN,
            )];
            match rustix::event::poll(&mut fds, Some(&timeout)) {
                // SIGCONT after a pause interrupts the wait: look again.
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(format!("poll: {e}")),
            }
        }
        // Borrowed out of the state for the loop, so `accept` may change the rest of it.
        let mut buffer = std::mem::take(&mut self.buffer);
        let taken = self.drain(&mut buffer);
        self.buffer = buffer;
        taken
    }

    fn drain(&mut self, buffer: &mut [u8]) -> Result<(), String> {
        loop {
            let (length, source) = match self.socket.recv_from(buffer) {
                Ok(got) => got,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
                    return Ok(());
                }
                // An ICMP error from an earlier send to a process that was down.
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => continue,
                Err(e) => return Err(format!("socket: {e}")),
            };
            self.accept(&buffer[..length], source);
        }
    }

    fn accept(&mut self, bytes: &[u8], source: std::net::SocketAddr) {
        let Ok(datagram) = serde_json::from_slice::<Datagram<N::Msg>>(bytes) else {
            eprintln!(
                "{}: ignored a datagram from {source} that is not a message",
                self.id
            );
            return;
        };
        match datagram {
            Datagram::Control(control) => {
                if self.cluster.conductor != Some(source) {
                    eprintln!(
                        "{}: ignored control from {source}, not the conductor",
                        self.id
                    );
                    return;
                }
                match control {
                    Control::Cut { id, blocked } => {
                        self.cuts.insert(id, blocked);
                    }
                    Control::Heal { id } => {
                        self.cuts.remove(&id);
                    }
                    Control::Network(network) => self.network = network,
                }
            }
            Datagram::Msg {
                from,
                id,
                sent,
                copy,
                msg,
            } => {
                if self.cluster.nodes.get(from.index()) != Some(&source) {
                    eprintln!(
                        "{}: ignored a message from {source} claiming to be {from}",
                        self.id
                    );
                    return;
                }
                if self.cut(from, self.id) {
                    let now = self.clock.now();
                    self.record_at(
                        now,
                        EventKind::Drop {
                            from,
                            to: self.id,
                            id,
                            msg: format!("{msg:?}"),
                            sent,
                            reason: DropReason::Partitioned,
                        },
                    );
                    return;
                }
                let sent = sent.min(self.clock.now());
                self.arrivals.push_back(Arrival {
                    from,
                    id,
                    sent,
                    copy,
                    msg,
                });
            }
        }
    }

    /// A note that fires one of the plan's triggers: how long this node must freeze.
    fn triggered_by(&mut self, text: &str) -> Option<Duration> {
        let now = self.clock.now();
        let me = self.id;
        let index = self.triggers.iter().position(|t| {
            t.from <= now
                && matches!(&t.when, Trigger::Note { node, contains }
                    if node.is_none_or(|n| n == me) && text.contains(contains.as_str()))
        })?;
        let fired = self.triggers.remove(index);
        let fault = fired.fault.resolve(me);
        self.record(EventKind::Trigger {
            node: me,
            what: format!("{} noted {text:?}", me),
            fault: fault.to_string(),
        });
        match fault {
            Fault::Pause { duration, .. } => Some(duration),
            _ => None,
        }
    }

    /// Freezes this process with a real SIGSTOP, as `kill -STOP` would; the conductor sends
    /// SIGCONT when the pause is over.
    fn pause_self(&mut self, duration: Duration) {
        let until = self.clock.now() + duration;
        self.record(EventKind::Pause {
            node: self.id,
            until,
        });
        let _ =
            rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::STOP);
    }
}

/// Room for any datagram.
const MAX_RECV: usize = 65_536;

/// The default latency model of a real run: nothing added to what loopback takes.
pub fn no_added_latency() -> Latency {
    Latency::Constant(Duration::ZERO)
}
