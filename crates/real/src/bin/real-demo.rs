//! A small node for the runtime's own tests and for trying the conductor: every node pings
//! every peer each 50 ms, notes `silent nX` when a peer has said nothing for 200 ms and
//! `back nX` when it speaks again, and counts its lives in its durable state (`life K`).

use serde::{Deserialize, Serialize};
use sim::{Context, Node, NodeId, Time};
use std::collections::BTreeMap;
use std::time::Duration;

const PING_EVERY: Duration = Duration::from_millis(50);
const SILENCE: Duration = Duration::from_millis(200);

#[derive(Clone, Debug, Serialize, Deserialize)]
enum Msg {
    Ping { life: u64 },
}

#[derive(Clone, Copy, Debug)]
enum Timer {
    Ping,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Lives {
    lives: u64,
}

#[derive(Default)]
struct Demo {
    heard: BTreeMap<NodeId, Time>,
    silent: Vec<NodeId>,
}

impl Node for Demo {
    type Msg = Msg;
    type Timer = Timer;
    type Request = ();
    type Response = ();
    type Durable = Lives;

    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        ctx.durable_mut().lives += 1;
        let life = ctx.durable().lives;
        ctx.note(format!("life {life}"));
        ctx.set_timer(PING_EVERY, Timer::Ping);
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, _msg: Msg) {
        self.heard.insert(from, ctx.now());
        if let Some(at) = self.silent.iter().position(|n| *n == from) {
            self.silent.remove(at);
            ctx.note(format!("back {from}"));
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, _timer: Timer) {
        let life = ctx.durable().lives;
        for peer in ctx.peers() {
            ctx.send(peer, Msg::Ping { life });
        }
        let now = ctx.now();
        for (peer, at) in &self.heard {
            if now.saturating_since(*at) > SILENCE && !self.silent.contains(peer) {
                self.silent.push(*peer);
                ctx.note(format!("silent {peer}"));
            }
        }
        ctx.set_timer(PING_EVERY, Timer::Ping);
    }
}

fn main() {
    real::node_main(|_, _| Demo::default())
}
