//! Histories recorded by the simulator go straight to the checker: a register served by one
//! node is linearizable; one that answers reads from a lagging local replica is not.

use sim::lincheck::{self, Register, RegisterOp, RegisterRet, Verdict};
use sim::rand::RngExt;
use sim::{Config, Context, Invocation, Node, NodeId, OpId, Simulation, Time};
use std::time::Duration;

#[derive(Clone, Debug)]
enum Req {
    Read,
    Write(i64),
}

#[derive(Clone, Debug)]
enum Msg {
    /// A client's request forwarded to the owner, and where to send the answer back.
    Forward(OpId, Req),
    Answer(OpId, Option<i64>),
    /// Asynchronous replication of a write.
    Replicate(i64),
}

/// `forward`: every node forwards requests to n0, which alone holds the value.
/// Otherwise: each node answers from its own replica and replicates writes in the background.
struct Register1 {
    forward: bool,
    value: Option<i64>,
}

impl Node for Register1 {
    type Msg = Msg;
    type Timer = ();
    type Request = Req;
    type Response = Option<i64>;
    type Durable = ();

    fn on_start(&mut self, _: &mut Context<'_, Self>) {}

    fn on_request(&mut self, ctx: &mut Context<'_, Self>, op: OpId, req: Req) {
        if self.forward && ctx.id() != NodeId(0) {
            ctx.send(NodeId(0), Msg::Forward(op, req));
            return;
        }
        let answer = self.apply(ctx, req);
        ctx.reply(op, answer);
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Forward(op, req) => {
                let answer = self.apply(ctx, req);
                ctx.send(from, Msg::Answer(op, answer));
            }
            Msg::Answer(op, answer) => ctx.reply(op, answer),
            Msg::Replicate(v) => self.value = Some(v),
        }
    }

    fn on_timer(&mut self, _: &mut Context<'_, Self>, _: ()) {}
}

impl Register1 {
    fn apply(&mut self, ctx: &mut Context<'_, Self>, req: Req) -> Option<i64> {
        match req {
            Req::Read => self.value,
            Req::Write(v) => {
                self.value = Some(v);
                if !self.forward {
                    for peer in ctx.peers().collect::<Vec<_>>() {
                        ctx.send(peer, Msg::Replicate(v));
                    }
                }
                None
            }
        }
    }
}

fn verdict(forward: bool, seed: u64) -> Verdict {
    let config = Config::new(3, seed);
    let mut sim = Simulation::new(config, move |_, _| Register1 {
        forward,
        value: None,
    })
    .clients(4, |client, now: Time, rng: &mut sim::SimRng| {
        (now < Time::from_millis(200)).then(|| Invocation {
            node: NodeId(client % 3),
            request: if rng.random_bool(0.5) {
                Req::Read
            } else {
                Req::Write(rng.random_range(0..5))
            },
            after: Duration::from_micros(rng.random_range(0..3000)),
        })
    });
    sim.run_until(Time::from_millis(300)).unwrap();
    assert!(sim.history().completed() > 100, "a busy history");
    let history = sim.history().to_lincheck(|req, resp| match req {
        Req::Read => (RegisterOp::Read, resp.map(|v| RegisterRet::Read(*v))),
        Req::Write(v) => (RegisterOp::Write(*v), resp.map(|_| RegisterRet::Write)),
    });
    lincheck::check(&Register, &history)
}

#[test]
fn a_single_owner_register_is_linearizable() {
    for seed in 0..5 {
        assert!(verdict(true, seed).is_linearizable(), "seed {seed}");
    }
}

#[test]
fn reading_a_lagging_replica_is_caught() {
    let caught = (0..5)
        .filter(|seed| !verdict(false, *seed).is_linearizable())
        .count();
    assert_eq!(
        caught, 5,
        "every busy run of the lagging register has a stale read"
    );
    let Verdict::NotLinearizable(why) = verdict(false, 0) else {
        unreachable!()
    };
    assert!(
        !why.stuck.is_empty(),
        "the explanation names the stuck operations: {why}"
    );
}
