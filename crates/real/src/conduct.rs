//! The conductor: starts one process per node on loopback, merges their traces into one
//! timeline as the run goes, carries out commands (typed, scripted, or from the fault plan)
//! with real signals and control datagrams, and ends every process it started when it ends.

use crate::clock::{Clock, monotonic_ns};
use crate::merge::Merger;
use crate::script::{self, Command, Scheduled};
use crate::wire::{Cluster, Control, Datagram, encode};
use rustix::process::{Pid, Signal, kill_process};
use sim::{Event, EventKind, Fault, FaultPlan, NetConfig, NodeId, Time, Trace};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How late a process's event may reach the conductor and still be printed in order.
const LATENESS: Duration = Duration::from_millis(150);

/// What one real run does.
#[derive(Clone, Debug)]
pub struct Options {
    /// The node binary (an exercise's real-run example).
    pub binary: PathBuf,
    pub nodes: u32,
    /// Stop after this long; without it, run until `stop` or Ctrl-C.
    pub duration: Option<Duration>,
    /// Commands at times.
    pub script: Vec<Scheduled>,
    /// Network faults and note triggers for the nodes, timed faults for the conductor.
    pub plan: FaultPlan,
    pub seed: u64,
    /// Where the cluster file, durable files, stderr logs and drawings go (emptied first).
    pub out: PathBuf,
    /// Read commands from standard input while running.
    pub interactive: bool,
    /// Print each event of the merged timeline as it is released.
    pub live: bool,
}

/// What a run left.
#[derive(Debug)]
pub struct Outcome {
    pub trace: Trace,
    /// Processes of this run still alive after it ended (should be none).
    pub strays: usize,
    /// Files written: the trace, the text timeline, the SVG, the Perfetto trace.
    pub files: Vec<PathBuf>,
    /// What ended each process that ended on its own (a panic, a refused start).
    pub exits: Vec<String>,
}

enum Input {
    Line { node: NodeId, line: String },
    Closed { node: NodeId, life: u32 },
    Typed(String),
    Interrupt,
}

enum Action {
    Run(Command),
    ResumeAfterPause(NodeId),
    Cut(u64, sim::Partition),
    Heal(u64),
    End,
}

/// A cut that stands: its id, how it was described, the links it blocks.
type StandingCut = (u64, String, Vec<(NodeId, NodeId)>);

struct Member {
    child: Option<Child>,
    life: u32,
    paused: bool,
    started: bool,
}

struct Conductor {
    options: Options,
    clock: Clock,
    control: UdpSocket,
    cluster: Cluster,
    cluster_path: PathBuf,
    plan_path: PathBuf,
    token: String,
    members: Vec<Member>,
    merger: Merger,
    sender: mpsc::Sender<Input>,
    actions: BTreeMap<(Time, u64), Action>,
    next_action: u64,
    /// The cuts standing now: id, description, links (a restarted node is told them again).
    cuts: Vec<StandingCut>,
    next_cut: u64,
    network: NetConfig,
    exits: Vec<String>,
    out: std::io::Stdout,
}

/// Runs a cluster to the end and returns its merged trace.
pub fn conduct(options: Options) -> Result<Outcome, String> {
    let (sender, receiver) = mpsc::channel();
    let interrupt = sender.clone();
    // Once per process; a second run in the same process keeps the first handler, which
    // still reaches a live channel only for the first run. Runs from xtask are one a process.
    let _ = ctrlc::set_handler(move || {
        let _ = interrupt.send(Input::Interrupt);
    });
    let mut conductor = Conductor::new(options, sender)?;
    let ended = conductor.run(&receiver);
    conductor.end_all();
    let strays = strays(&conductor.token);
    let result = conductor.finish(strays);
    match ended {
        Err(e) if strays > 0 => Err(format!("{e}; {strays} processes left behind")),
        Err(e) => Err(e),
        Ok(()) => result,
    }
}

impl Conductor {
    fn new(options: Options, sender: mpsc::Sender<Input>) -> Result<Conductor, String> {
        crate::check_plan(&options.plan, options.nodes)?;
        if options.out.exists() {
            std::fs::remove_dir_all(&options.out)
                .map_err(|e| format!("cannot empty {}: {e}", options.out.display()))?;
        }
        std::fs::create_dir_all(&options.out)
            .map_err(|e| format!("cannot make {}: {e}", options.out.display()))?;
        let control = UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("control socket: {e}"))?;
        let conductor_addr = control.local_addr().map_err(|e| e.to_string())?;
        // Ports the kernel picks, released just before the nodes bind them: on loopback
        // nothing else is racing for them in practice, and a node that cannot bind says so.
        let mut nodes = Vec::new();
        {
            let mut held = Vec::new();
            for _ in 0..options.nodes {
                let socket = UdpSocket::bind("127.0.0.1:0")
                    .map_err(|e| format!("cannot pick a port: {e}"))?;
                nodes.push(socket.local_addr().map_err(|e| e.to_string())?);
                held.push(socket);
            }
        }
        let cluster = Cluster {
            nodes,
            conductor: Some(conductor_addr),
        };
        cluster.check()?;
        let cluster_path = options.out.join("cluster.json");
        write(
            &cluster_path,
            &serde_json::to_string_pretty(&cluster).unwrap_or_default(),
        )?;
        let plan_path = options.out.join("plan.json");
        write(&plan_path, &options.plan.to_json())?;
        let token = format!("real-{}-{}", std::process::id(), monotonic_ns());
        let members = (0..options.nodes)
            .map(|_| Member {
                child: None,
                life: 0,
                paused: false,
                started: false,
            })
            .collect();
        let network = options.plan.network.clone();
        Ok(Conductor {
            clock: Clock::starting_now(),
            control,
            cluster,
            cluster_path,
            plan_path,
            token,
            members,
            merger: Merger::new(),
            sender,
            actions: BTreeMap::new(),
            next_action: 0,
            cuts: Vec::new(),
            next_cut: 1,
            network,
            exits: Vec::new(),
            out: std::io::stdout(),
            options,
        })
    }

    fn schedule(&mut self, at: Time, action: Action) {
        self.actions.insert((at, self.next_action), action);
        self.next_action += 1;
    }

    fn run(&mut self, receiver: &mpsc::Receiver<Input>) -> Result<(), String> {
        // What starts when: every node at once, but those a script starts later, or the
        // plan's start offsets.
        let held: Vec<NodeId> = self
            .options
            .script
            .iter()
            .filter_map(|s| match s.command {
                Command::Start(node) => Some(node),
                _ => None,
            })
            .collect();
        for s in self.options.script.clone() {
            self.schedule(Time::ZERO + s.at, Action::Run(s.command));
        }
        for fault in self.options.plan.sorted_faults() {
            self.schedule_fault(fault.at, &fault.fault);
        }
        if let Some(duration) = self.options.duration {
            self.schedule(Time::ZERO + duration, Action::End);
        }
        for node in (0..self.options.nodes).map(NodeId) {
            let offset = self.options.plan.start_of(node);
            if held.contains(&node) {
                continue;
            }
            if offset == Time::ZERO {
                self.spawn(node)?;
            } else {
                self.schedule(offset, Action::Run(Command::Start(node)));
            }
        }
        if self.options.interactive {
            let typed = self.sender.clone();
            std::thread::spawn(move || {
                for line in std::io::stdin().lock().lines() {
                    let Ok(line) = line else { break };
                    if typed.send(Input::Typed(line)).is_err() {
                        break;
                    }
                }
            });
        }
        loop {
            let now = self.clock.now();
            while let Some(entry) = self.actions.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                match entry.remove() {
                    Action::End => return Ok(()),
                    Action::Run(Command::Stop) => return Ok(()),
                    Action::Run(command) => self.carry_out(command)?,
                    // Unless someone continued it already, or it was crashed meanwhile.
                    Action::ResumeAfterPause(node) => {
                        let member = &self.members[node.index()];
                        if member.paused && member.child.is_some() {
                            self.carry_out(Command::Resume(node))?;
                        }
                    }
                    Action::Cut(id, partition) => self.cut(id, partition),
                    Action::Heal(id) => self.heal(id),
                }
            }
            self.print_released(now.saturating_since(Time::ZERO).saturating_sub(LATENESS));
            let next = self.actions.first_key_value().map(|(k, _)| k.0);
            let wait = next
                .map(|at| at.saturating_since(self.clock.now()))
                .unwrap_or(Duration::from_millis(50))
                .min(Duration::from_millis(50));
            match receiver.recv_timeout(wait) {
                Ok(Input::Line { node, line }) => self.take_line(node, &line),
                Ok(Input::Closed { node, life }) => self.closed(node, life),
                Ok(Input::Typed(line)) => {
                    if line.trim().is_empty() {
                        continue;
                    }
                    match script::command(&line, self.options.nodes) {
                        Ok(Command::Stop) => return Ok(()),
                        Ok(command) => {
                            if let Err(e) = self.carry_out(command) {
                                eprintln!("real: {e}");
                            }
                        }
                        Err(e) => eprintln!("real: {e}"),
                    }
                }
                Ok(Input::Interrupt) => {
                    eprintln!("real: interrupted; ending every node");
                    return Ok(());
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
            }
            if self.members.iter().all(|m| m.started && m.child.is_none())
                && !self
                    .actions
                    .values()
                    .any(|a| matches!(a, Action::Run(Command::Restart(_))))
            {
                return Err("every node has ended".into());
            }
        }
    }

    fn schedule_fault(&mut self, at: Time, fault: &Fault) {
        match fault {
            Fault::Crash {
                node,
                restart_after,
            } => {
                self.schedule(at, Action::Run(Command::Crash(*node)));
                if let Some(after) = restart_after {
                    self.schedule(at + *after, Action::Run(Command::Restart(*node)));
                }
            }
            Fault::Pause { node, duration } => {
                self.schedule(at, Action::Run(Command::Pause(*node)));
                self.schedule(at + *duration, Action::ResumeAfterPause(*node));
            }
            Fault::Partition {
                partition,
                duration,
            } => {
                let id = self.next_cut_id();
                self.schedule(at, Action::Cut(id, partition.clone()));
                self.schedule(at + *duration, Action::Heal(id));
            }
            // Refused by check_plan before the run starts.
            Fault::Slow { .. } | Fault::ClockStep { .. } => {}
        }
    }

    fn spawn(&mut self, node: NodeId) -> Result<(), String> {
        let member = &mut self.members[node.index()];
        if member.child.is_some() {
            return Err(format!("{node} is already running"));
        }
        let life = if member.started { member.life + 1 } else { 0 };
        let stderr_path = self.options.out.join(format!("{node}.stderr"));
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&stderr_path)
            .map_err(|e| format!("cannot write {}: {e}", stderr_path.display()))?;
        // Its own process group: a Ctrl-C in the terminal reaches the conductor, which ends
        // the run, and not the nodes, which would otherwise die of it first.
        let mut child = std::process::Command::new(&self.options.binary)
            .process_group(0)
            .arg("--id")
            .arg(node.0.to_string())
            .arg("--cluster")
            .arg(&self.cluster_path)
            .arg("--plan")
            .arg(&self.plan_path)
            .arg("--durable")
            .arg(self.options.out.join(format!("{node}.durable.json")))
            .arg("--epoch-ns")
            .arg(self.clock.epoch_ns().to_string())
            .arg("--seed")
            .arg(self.options.seed.to_string())
            .arg("--incarnation")
            .arg(life.to_string())
            .arg("--parent")
            .arg(std::process::id().to_string())
            .arg("--run-token")
            .arg(&self.token)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.options.binary.display()))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let lines = self.sender.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines.send(Input::Line { node, line }).is_err() {
                    return;
                }
            }
            let _ = lines.send(Input::Closed { node, life });
        });
        member.child = Some(child);
        member.life = life;
        member.paused = false;
        member.started = true;
        // A restarted node must learn the cuts and network that stand now.
        if self.network != self.options.plan.network {
            self.tell(node, &Control::Network(self.network.clone()));
        }
        for (id, _, blocked) in &self.cuts {
            let cut = Control::Cut {
                id: *id,
                blocked: blocked.clone(),
            };
            self.tell(node, &cut);
        }
        Ok(())
    }

    fn pid(&self, node: NodeId) -> Result<Pid, String> {
        let child = self.members[node.index()]
            .child
            .as_ref()
            .ok_or_else(|| format!("{node} is not running"))?;
        let raw = i32::try_from(child.id()).map_err(|e| e.to_string())?;
        Pid::from_raw(raw).ok_or_else(|| "no pid".to_string())
    }

    fn record(&mut self, kind: EventKind) {
        let time = self.clock.now();
        self.merger.push(Event { time, kind });
    }

    fn carry_out(&mut self, command: Command) -> Result<(), String> {
        match command {
            Command::Pause(node) => {
                if self.members[node.index()].paused {
                    return Err(format!("{node} is paused already"));
                }
                let pid = self.pid(node)?;
                let now = self.clock.now();
                kill_process(pid, Signal::STOP).map_err(|e| format!("SIGSTOP {node}: {e}"))?;
                self.members[node.index()].paused = true;
                // Its end is written when it is resumed.
                self.merger.push(Event {
                    time: now,
                    kind: EventKind::Pause {
                        node,
                        until: Time::MAX,
                    },
                });
            }
            Command::Resume(node) => {
                if !self.members[node.index()].paused {
                    return Err(format!("{node} is not paused"));
                }
                let pid = self.pid(node)?;
                // Stamped before the signal: the node may run (and write) before kill returns.
                let now = self.clock.now();
                kill_process(pid, Signal::CONT).map_err(|e| format!("SIGCONT {node}: {e}"))?;
                self.end_pause(node, now);
                self.merger.push(Event {
                    time: now,
                    kind: EventKind::Resume { node },
                });
            }
            Command::Crash(node) => {
                let pid = self.pid(node)?;
                let now = self.clock.now();
                kill_process(pid, Signal::KILL).map_err(|e| format!("SIGKILL {node}: {e}"))?;
                if let Some(mut child) = self.members[node.index()].child.take() {
                    let _ = child.wait();
                }
                if self.members[node.index()].paused {
                    self.end_pause(node, now);
                }
                self.merger.push(Event {
                    time: now,
                    kind: EventKind::Crash { node },
                });
            }
            Command::Restart(node) | Command::Start(node) => self.spawn(node)?,
            Command::Partition(partition) => {
                let id = self.next_cut_id();
                self.cut(id, partition);
            }
            Command::Heal => {
                let ids: Vec<u64> = self.cuts.iter().map(|(id, ..)| *id).collect();
                for id in ids {
                    self.heal(id);
                }
            }
            Command::Loss(loss) => {
                self.network.loss = loss;
                let network = self.network.clone();
                self.broadcast(&Control::Network(network));
                eprintln!(
                    "real: from now on each sender loses {:.0}% of its messages",
                    loss * 100.0
                );
            }
            Command::Stop => {}
        }
        Ok(())
    }

    /// The node runs again (or is dead): its pause, drawn open-ended so far, ends at `now`.
    fn end_pause(&mut self, node: NodeId, now: Time) {
        self.members[node.index()].paused = false;
        self.merger.amend(
            |e| matches!(e.kind, EventKind::Pause { node: n, until } if n == node && until == Time::MAX),
            |e| {
                if let EventKind::Pause { until, .. } = &mut e.kind {
                    *until = now;
                }
            },
        );
    }

    fn next_cut_id(&mut self) -> u64 {
        let id = self.next_cut;
        self.next_cut += 1;
        id
    }

    fn cut(&mut self, id: u64, partition: sim::Partition) {
        let blocked = partition.blocked_links(self.options.nodes);
        self.broadcast(&Control::Cut {
            id,
            blocked: blocked.clone(),
        });
        self.cuts.push((id, partition.to_string(), blocked.clone()));
        self.record(EventKind::Partition {
            id,
            description: partition.to_string(),
            blocked,
        });
    }

    fn heal(&mut self, id: u64) {
        let Some(position) = self.cuts.iter().position(|(c, ..)| *c == id) else {
            return;
        };
        let (id, description, _) = self.cuts.remove(position);
        self.broadcast(&Control::Heal { id });
        self.record(EventKind::Heal { id, description });
    }

    fn broadcast(&self, control: &Control) {
        for node in (0..self.options.nodes).map(NodeId) {
            self.tell(node, control);
        }
    }

    fn tell(&self, node: NodeId, control: &Control) {
        if let Ok(bytes) = encode(&Datagram::<()>::Control(control.clone())) {
            let to: SocketAddr = self.cluster.nodes[node.index()];
            let _ = self.control.send_to(&bytes, to);
        }
    }

    fn take_line(&mut self, node: NodeId, line: &str) {
        match serde_json::from_str::<Event>(line) {
            Ok(event) => {
                // A node that froze itself on a trigger: the conductor ends its pause.
                if let EventKind::Pause { node, until } = event.kind {
                    self.members[node.index()].paused = true;
                    self.schedule(until, Action::ResumeAfterPause(node));
                    self.merger.push(Event {
                        time: event.time,
                        kind: EventKind::Pause {
                            node,
                            until: Time::MAX,
                        },
                    });
                    return;
                }
                self.merger.push(event);
            }
            Err(_) => eprintln!("{node}: {line}"),
        }
    }

    fn closed(&mut self, node: NodeId, life: u32) {
        let member = &mut self.members[node.index()];
        if member.life != life {
            return;
        }
        if let Some(mut child) = member.child.take() {
            let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
            let log = self.options.out.join(format!("{node}.stderr"));
            let said = std::fs::read_to_string(&log).unwrap_or_default();
            let lines: Vec<&str> = said.lines().collect();
            // A panic's place and message, not its backtrace; else the last words it wrote.
            let why = match lines.iter().position(|l| l.contains("panicked at")) {
                Some(at) => lines[at..(at + 2).min(lines.len())].join("\n    "),
                None => lines[lines.len().saturating_sub(4)..].join("\n    "),
            };
            let message = format!("{node} ended on its own ({status}):\n    {why}");
            eprintln!("real: {message}");
            self.exits.push(message);
            self.record(EventKind::Crash { node });
        }
    }

    fn print_released(&mut self, upto: Duration) {
        let events = self.merger.release(Time::ZERO + upto);
        if self.options.live {
            let mut out = self.out.lock();
            for event in &events {
                let _ = writeln!(out, "{}", crate::line(event));
            }
            let _ = out.flush();
        }
    }

    /// Kills every process this run started (stopped ones too: SIGKILL needs no SIGCONT) and
    /// waits for each, so none is left behind.
    fn end_all(&mut self) {
        for member in &mut self.members {
            if let Some(mut child) = member.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        // Let the reader threads deliver what the processes wrote last.
        std::thread::sleep(Duration::from_millis(20));
    }

    fn finish(self, strays: usize) -> Result<Outcome, String> {
        let end = self.clock.now();
        let Conductor {
            options,
            merger,
            exits,
            ..
        } = self;
        let mut merger = merger;
        merger.amend(
            |e| matches!(e.kind, EventKind::Pause { until, .. } if until == Time::MAX),
            |e| {
                if let EventKind::Pause { until, .. } = &mut e.kind {
                    *until = end;
                }
            },
        );
        let (trace, rest) = merger.finish(options.seed, options.nodes);
        if options.live {
            let mut out = std::io::stdout().lock();
            for event in &rest {
                let _ = writeln!(out, "{}", crate::line(event));
            }
        }
        let files = write_drawings(&options.out, &trace)?;
        Ok(Outcome {
            trace,
            strays,
            files,
            exits,
        })
    }
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn write_drawings(out: &Path, trace: &Trace) -> Result<Vec<PathBuf>, String> {
    let files = [
        (
            "trace.json",
            serde_json::to_string(trace).unwrap_or_default(),
        ),
        ("timeline.txt", sim::render::text::render(trace)),
        ("timeline.svg", sim::render::svg::render_default(trace)),
        (
            "timeline.perfetto.json",
            sim::render::perfetto::render(trace),
        ),
    ];
    let mut written = Vec::new();
    for (name, text) in files {
        let path = out.join(name);
        write(&path, &text)?;
        written.push(path);
    }
    Ok(written)
}

/// Processes still alive whose command line carries `token`.
pub fn strays(token: &str) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
                && std::fs::read(entry.path().join("cmdline"))
                    .map(|cmd| {
                        String::from_utf8_lossy(&cmd)
                            .split('\0')
                            .any(|arg| arg == token)
                    })
                    .unwrap_or(false)
            // A zombie has no command line left; one with it is still running.
        })
        .count()
}
