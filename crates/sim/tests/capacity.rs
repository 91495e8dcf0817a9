//! Finite capacity: service time queues work up, a queue bound drops what does not fit, work
//! done with `spend` holds its outputs back, and open-loop arrivals keep coming at their rate.

use sim::trace::{DropReason, EventKind};
use sim::{Config, Context, Fault, FaultPlan, Node, NodeId, OpId, Simulation, Time};
use std::time::Duration;

fn ms(n: u64) -> Time {
    Time::from_millis(n)
}

/// n0 answers each request after `work` of service time; n1 sends n0 `burst` pings at start.
struct Worker {
    work: Duration,
    burst: u32,
    backlogs: Vec<usize>,
}

impl Node for Worker {
    type Msg = u32;
    type Timer = ();
    type Request = u32;
    type Response = u32;
    type Durable = ();

    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        if ctx.id() == NodeId(1) {
            for k in 0..self.burst {
                ctx.send(NodeId(0), k);
            }
        }
    }
    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: u32) {
        if ctx.id() == NodeId(0) {
            self.backlogs.push(ctx.backlog());
            ctx.spend(self.work);
            ctx.send(from, msg);
        }
    }
    fn on_timer(&mut self, _ctx: &mut Context<'_, Self>, _timer: ()) {}
    fn on_request(&mut self, ctx: &mut Context<'_, Self>, op: OpId, request: u32) {
        ctx.spend(self.work);
        ctx.reply(op, request);
    }
}

fn worker(work_ms: u64, burst: u32) -> impl Fn(NodeId, &()) -> Worker {
    move |_, _| Worker {
        work: Duration::from_millis(work_ms),
        burst,
        backlogs: Vec::new(),
    }
}

fn answers_at(sim: &Simulation<Worker>) -> Vec<Time> {
    sim.trace()
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Deliver { to, .. } if *to == NodeId(1) => Some(e.time),
            _ => None,
        })
        .collect()
}

#[test]
fn work_that_arrives_together_is_done_one_after_another_in_arrival_order() {
    let mut sim = Simulation::new(Config::new(2, 1), worker(10, 3));
    sim.run_until(ms(100)).unwrap();
    // Sent at 0, arriving at 1 ms; each takes 10 ms; each answer takes 1 ms back.
    assert_eq!(answers_at(&sim), vec![ms(12), ms(22), ms(32)]);
    assert_eq!(sim.node(NodeId(0)).unwrap().backlogs, vec![0, 1, 0]);
    assert_eq!(
        sim.backlog_log(NodeId(0)),
        &[(ms(1), 2), (ms(11), 1), (ms(21), 0)]
    );
    let order: Vec<String> = sim
        .trace()
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Send { from, msg, .. } if *from == NodeId(0) => Some(msg.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(order, vec!["0", "1", "2"]);
}

#[test]
fn service_time_from_the_config_costs_every_event() {
    let config = Config::new(2, 1).service_time(NodeId(0), Duration::from_millis(5));
    let mut sim = Simulation::new(config, worker(0, 2));
    sim.run_until(ms(100)).unwrap();
    assert_eq!(answers_at(&sim), vec![ms(7), ms(12)]);
}

#[test]
fn a_slowdown_adds_to_the_service_time_of_a_node_with_capacity() {
    let plan = FaultPlan::default().at(
        Time::ZERO,
        Fault::Slow {
            node: NodeId(0),
            per_event: Duration::from_millis(5),
            duration: Duration::from_millis(8),
        },
    );
    let config = Config::new(2, 1)
        .service_time(NodeId(0), Duration::from_millis(5))
        .plan(plan);
    let mut sim = Simulation::new(config, worker(0, 2));
    sim.run_until(ms(100)).unwrap();
    // The first starts at 1 ms while slow (10 ms); the second at 11 ms, after the slowdown.
    assert_eq!(answers_at(&sim), vec![ms(12), ms(17)]);
}

#[test]
fn a_full_queue_drops_what_arrives() {
    let config = Config::new(2, 1).queue_bound(NodeId(0), 2);
    let mut sim = Simulation::new(config, worker(10, 5));
    sim.run_until(ms(100)).unwrap();
    let dropped: Vec<(Time, DropReason)> = sim
        .trace()
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Drop { reason, .. } => Some((e.time, *reason)),
            _ => None,
        })
        .collect();
    // One in service, two waiting: the fourth and fifth find the queue full.
    assert_eq!(
        dropped,
        vec![
            (ms(1), DropReason::QueueFull),
            (ms(1), DropReason::QueueFull)
        ]
    );
    assert_eq!(answers_at(&sim).len(), 3);
}

#[test]
fn a_crash_during_work_loses_what_it_would_have_sent_and_what_waited() {
    let plan = FaultPlan::default().at(
        ms(15),
        Fault::Crash {
            node: NodeId(0),
            restart_after: None,
        },
    );
    let mut sim = Simulation::new(Config::new(2, 1).plan(plan), worker(10, 3));
    sim.run_until(ms(100)).unwrap();
    assert_eq!(answers_at(&sim), vec![ms(12)]);
    assert_eq!(sim.backlog_log(NodeId(0)).last(), Some(&(ms(15), 0)));
}

#[test]
fn requests_wait_like_messages_and_answers_leave_when_the_work_is_done() {
    let mut sim = Simulation::new(Config::new(2, 1), worker(10, 0));
    let a = sim.invoke(ms(0), NodeId(0), 1);
    let b = sim.invoke(ms(0), NodeId(0), 2);
    sim.run_until(ms(100)).unwrap();
    let done: Vec<(OpId, Option<Time>)> = sim
        .history()
        .ops
        .iter()
        .map(|r| match r.outcome {
            sim::Outcome::Ok { at, .. } => (r.op, Some(at)),
            _ => (r.op, None),
        })
        .collect();
    assert_eq!(done, vec![(a, Some(ms(10))), (b, Some(ms(20)))]);
}

#[test]
fn open_loop_arrivals_come_at_their_rate_and_change_with_the_phase() {
    let mut sim = Simulation::new(Config::new(2, 9).trace(false), worker(0, 0)).arrivals(
        vec![(Time::ZERO, 1000.0), (ms(1000), 0.0), (ms(2000), 200.0)],
        |n, _, _| Some((NodeId(0), n as u32)),
    );
    sim.run_until(ms(3000)).unwrap();
    let invoked = |from: u64, to: u64| {
        sim.history()
            .ops
            .iter()
            .filter(|r| r.invoked >= ms(from) && r.invoked < ms(to))
            .count()
    };
    let first = invoked(0, 1000);
    let quiet = invoked(1000, 2000);
    let last = invoked(2000, 3000);
    assert!((900..1100).contains(&first), "{first} arrivals at 1000/s");
    assert_eq!(quiet, 0);
    assert!((160..240).contains(&last), "{last} arrivals at 200/s");
    // Open loop: every arrival is answered, however many were outstanding at once.
    assert_eq!(sim.history().completed(), first + last);
}

#[test]
fn arrivals_replay_exactly_from_the_seed() {
    let run = |seed| {
        let mut sim = Simulation::new(Config::new(2, seed), worker(1, 0))
            .arrivals(vec![(Time::ZERO, 500.0)], |n, _, _| {
                Some((NodeId(0), n as u32))
            });
        sim.run_until(ms(200)).unwrap();
        sim.trace().clone()
    };
    assert_eq!(run(4), run(4));
    assert_ne!(run(4), run(5));
}
