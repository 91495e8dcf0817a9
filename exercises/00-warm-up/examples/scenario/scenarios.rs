//! The named runs of chapter warm-up: the book draws them (`{{#timeline warm-up/NAME}}`), an
//! instructor replays them (`cargo xtask scenario warm-up/NAME`), and a learner runs them against
//! their own crate (`cargo xtask scenario warm-up/NAME --mine`). The exercise and the reference
//! solution both build this one file, so a scenario runs either mechanism unchanged.
//!
//! Each run checks that it shows what its title claims; the book's build refuses to draw a run
//! that does not, so a figure can never quietly stop illustrating its paragraph.

use sim::net::{Latency, NetConfig};
use sim::scenario::{Param, Scenario, Setting, Shown};
use sim::{
    Config, DropReason, EventKind, Fault, FaultPlan, NodeId, Partition, Simulation, Time, Trace,
};
use std::time::Duration;
use warm_up::{PingConfig, Pinger};

/// Every scenario of the chapter.
pub fn all() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "lost-ping",
            title: "A lost ping: n0 hears nothing back, waits retry_after (6 ms) and sends the \
                    ping again",
            seed: 30,
            params: LOST_PING_PARAMS,
            run: lost_ping,
        },
        Scenario {
            name: "partition",
            title: "A partition: n0 retries every 10 ms until it heals, then carries on",
            seed: 1,
            params: &[],
            run: partition,
        },
        Scenario {
            name: "reading",
            title: "One of each: messages, a loss, timers, notes, a crash and restart, a pause",
            seed: 30,
            params: &[],
            run: reading,
        },
    ]
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// n0 pings n1 under `plan` until `end`: the trace, and whether the run reached `end`.
fn pair(
    setting: &Setting,
    config: PingConfig,
    plan: FaultPlan,
    end: Time,
) -> (Trace, Result<(), String>) {
    let mut sim = Simulation::new(Config::new(2, setting.seed).plan(plan), move |id, _| {
        if id == NodeId(0) {
            Pinger::new(config)
        } else {
            Pinger::ponger()
        }
    });
    if setting.states {
        sim.record_states();
    }
    let ran = sim.run_until(end).map_err(|halt| halt.to_string());
    (sim.trace().clone(), ran)
}

fn ping_config(count: u64, interval: u64, retry_after: u64) -> PingConfig {
    PingConfig {
        peer: NodeId(1),
        count,
        interval: ms(interval),
        retry_after: ms(retry_after),
    }
}

/// The numbers n0 noted as acked, in order.
fn acked(trace: &Trace) -> Vec<u64> {
    trace
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Note { node, text } if *node == NodeId(0) => {
                text.strip_prefix("acked ")?.parse().ok()
            }
            _ => None,
        })
        .collect()
}

fn all_acked(trace: &Trace, count: u64) -> Result<(), String> {
    let acked = acked(trace);
    if acked != (0..count).collect::<Vec<_>>() {
        return Err(format!("expected acks 0..{count}, got {acked:?}"));
    }
    Ok(())
}

fn count(trace: &Trace, what: impl Fn(&EventKind) -> bool) -> usize {
    trace.events.iter().filter(|e| what(&e.kind)).count()
}

fn retries(trace: &Trace) -> usize {
    count(
        trace,
        |k| matches!(k, EventKind::Timer { timer, .. } if timer.starts_with("Retry")),
    )
}

fn lost_pings(trace: &Trace) -> usize {
    count(trace, |k| {
        matches!(
            k,
            EventKind::Drop {
                reason: DropReason::Lost,
                msg,
                ..
            } if msg.starts_with("Ping")
        )
    })
}

/// Random loss, so another seed loses other messages, or only pongs, or nothing: then it says
/// so rather than draw a figure that does not match its title.
/// The knobs of `lost-ping`: how much the network loses, and how long n0 waits for a pong.
const LOST_PING_PARAMS: &[Param] = &[
    Param {
        name: "loss",
        label: "messages the network loses",
        unit: "%",
        default: 30,
        min: 0,
        max: 70,
    },
    Param {
        name: "retry-after",
        label: "how long n0 waits for a pong",
        unit: "ms",
        default: 6,
        min: 1,
        max: 30,
    },
];

fn lost_ping(setting: &Setting) -> Shown {
    let seed = setting.seed;
    let network = NetConfig {
        latency: Latency::Uniform {
            min: ms(1),
            max: ms(2),
        },
        loss: setting.percent("loss"),
        ..NetConfig::default()
    };
    let retry_after = u64::try_from(setting.get("retry-after")).unwrap_or(1);
    let (trace, ran) = pair(
        setting,
        ping_config(3, 10, retry_after),
        FaultPlan::with_network(network),
        Time::from_millis(80),
    );
    Shown::checking(trace, |trace| {
        ran?;
        if lost_pings(trace) == 0 {
            return Err(format!(
                "with seed {seed} the network lost no ping: try another seed"
            ));
        }
        if retries(trace) == 0 {
            return Err("a ping was lost but n0 never retried".into());
        }
        all_acked(trace, 3)?;
        Ok(())
    })
}

/// No randomness: the same run whatever the seed.
fn partition(setting: &Setting) -> Shown {
    let split = Partition::Split(vec![vec![NodeId(0)], vec![NodeId(1)]]);
    let plan = FaultPlan::default().at(
        Time::from_millis(8),
        Fault::Partition {
            partition: split,
            duration: ms(42),
        },
    );
    let (trace, ran) = pair(setting, ping_config(3, 10, 10), plan, Time::from_millis(80));
    Shown::checking(trace, |trace| {
        ran?;
        let dropped = count(trace, |k| {
            matches!(
                k,
                EventKind::Drop {
                    reason: DropReason::Partitioned,
                    ..
                }
            )
        });
        if dropped < 2 {
            return Err(format!("only {dropped} message(s) met the partition"));
        }
        all_acked(trace, 3)?;
        let heal = trace
            .events
            .iter()
            .find(|e| matches!(e.kind, EventKind::Heal { .. }))
            .map(|e| e.time)
            .ok_or("the partition never healed")?;
        let ack1 = trace
            .events
            .iter()
            .find(|e| matches!(&e.kind, EventKind::Note { text, .. } if text == "acked 1"))
            .map(|e| e.time)
            .ok_or("ping 1 was never acked")?;
        if ack1 < heal {
            return Err("ping 1 was acked before the partition healed: it never met it".into());
        }
        Ok(())
    })
}

/// Something a scenario must show: what, and how to recognise it in the trace.
type Shows = (&'static str, fn(&EventKind) -> bool);

/// A pause of n0, a crash and restart of n1, and random loss, for "How to read a timeline".
fn reading(setting: &Setting) -> Shown {
    let seed = setting.seed;
    let network = NetConfig {
        latency: Latency::Uniform {
            min: ms(1),
            max: ms(2),
        },
        loss: 0.2,
        ..NetConfig::default()
    };
    let plan = FaultPlan::with_network(network)
        .at(
            Time::from_millis(13),
            Fault::Crash {
                node: NodeId(1),
                restart_after: Some(ms(9)),
            },
        )
        .at(
            Time::from_millis(33),
            Fault::Pause {
                node: NodeId(0),
                duration: ms(7),
            },
        );
    let (trace, ran) = pair(setting, ping_config(3, 6, 5), plan, Time::from_millis(60));
    Shown::checking(trace, |trace| {
        ran?;
        let kinds: [Shows; 9] = [
            ("a send", |k| matches!(k, EventKind::Send { .. })),
            ("a delivery", |k| matches!(k, EventKind::Deliver { .. })),
            ("a lost message", |k| {
                matches!(
                    k,
                    EventKind::Drop {
                        reason: DropReason::Lost,
                        ..
                    }
                )
            }),
            ("a message dropped at a crashed node", |k| {
                matches!(
                    k,
                    EventKind::Drop {
                        reason: DropReason::NodeDown,
                        ..
                    }
                )
            }),
            ("a timer", |k| matches!(k, EventKind::Timer { .. })),
            ("a note", |k| matches!(k, EventKind::Note { .. })),
            ("a pause", |k| matches!(k, EventKind::Pause { .. })),
            ("a crash", |k| matches!(k, EventKind::Crash { .. })),
            ("a restart", |k| {
                matches!(k, EventKind::Start { restart: true, .. })
            }),
        ];
        for (what, is) in kinds {
            if count(trace, is) == 0 {
                return Err(format!(
                    "with seed {seed} the run has no {what}: try another seed"
                ));
            }
        }
        all_acked(trace, 3)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "How to read a timeline" prints the text form of the `reading` scenario next to its
    /// figure, and short excerpts of the others: they must stay the runs the figures draw.
    #[test]
    fn the_reading_page_shows_real_timelines() {
        let page = include_str!("../../../../book/src/reading-timelines.md");
        let texts: Vec<(&str, String)> = all()
            .into_iter()
            .map(|s| {
                (
                    s.name,
                    sim::render::text::render(
                        &(s.run)(&Setting::defaults(s.params, s.seed))
                            .into_result()
                            .unwrap(),
                    ),
                )
            })
            .collect();
        let reading = &texts.iter().find(|(name, _)| *name == "reading").unwrap().1;
        assert!(
            page.contains(reading.as_str()),
            "book/src/reading-timelines.md should show this timeline:\n{reading}"
        );
        for block in page.split("```text\n").skip(1) {
            let block = block.split("```").next().unwrap();
            let found = texts.iter().any(|(_, text)| text.contains(block));
            assert!(
                found,
                "this excerpt of the page is in no scenario's timeline:\n{block}"
            );
        }
    }
}
