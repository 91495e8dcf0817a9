//! The table chapter 6's page shows (`{{#table clocks/inversions}}`), measured at build time:
//! in runs of the store with clocks skewed by more and more, how many writes made after an
//! earlier write to the same key was seen are older than it by wall clock (last-writer-wins by
//! wall clock would let the earlier one win), and how many by hybrid stamp (none, or the build
//! fails). The exercise has no such mode: only the solution measures it.

use crate::{Key, Replica, StoreConfig, Write};
use sim::causality::{happened_before, vector_clocks};
use sim::rand::RngExt;
use sim::scenario::Table;
use sim::{
    ClockSpec, Config, EventKind, Fault, FaultPlan, Latency, NetConfig, NodeId, Simulation, Time,
};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// Every measured table of the chapter.
pub fn all() -> Vec<Table> {
    vec![Table {
        name: "inversions",
        run: inversions,
    }]
}

const RUNS: u64 = 10;
const NODES: u32 = 3;

/// One row: how far apart the clocks may be, and whether n1's clock is stepped back 500 ms at 1 s.
struct Row {
    label: &'static str,
    skew: Duration,
    step_back: bool,
}

const ROWS: [Row; 5] = [
    Row {
        label: "perfect",
        skew: Duration::ZERO,
        step_back: false,
    },
    Row {
        label: "within 1 ms",
        skew: Duration::from_millis(1),
        step_back: false,
    },
    Row {
        label: "within 10 ms",
        skew: Duration::from_millis(10),
        step_back: false,
    },
    Row {
        label: "within 100 ms",
        skew: Duration::from_millis(100),
        step_back: false,
    },
    Row {
        label: "within 10 ms, one stepped back 500 ms",
        skew: Duration::from_millis(10),
        step_back: true,
    },
];

/// A write as its replica noted it: the key, its wall-clock reading and its stamp's text.
struct Taken {
    key: u64,
    wall_ns: i64,
    stamp: crate::Stamp,
    clock: Vec<u64>,
}

/// A well-spread number from `x` (splitmix64's finaliser): each run's clock offsets.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Reads `-80.000000ms` back into nanoseconds.
fn parse_ms(text: &str) -> Option<i64> {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (ms, rest) = rest.split_once('.')?;
    let ns: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let abs = ms.parse::<i64>().ok()? * 1_000_000 + ns.parse::<i64>().ok()?;
    Some(if negative { -abs } else { abs })
}

fn number_after(text: &str, key: &str) -> Option<u64> {
    let rest = &text[text.find(key)? + key.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// One run: 100 writes a second for 2 s, to random replicas and one of two keys, over a
/// network of 0.5 to 5 ms; each node's wall clock offset by up to half the row's skew either
/// way.
fn run(row: &Row, seed: u64) -> Result<Vec<Taken>, String> {
    let mut plan = FaultPlan::with_network(NetConfig {
        latency: Latency::Uniform {
            min: Duration::from_micros(500),
            max: Duration::from_millis(5),
        },
        ..NetConfig::default()
    });
    let half = row.skew.as_nanos() as i64 / 2;
    for node in 0..NODES {
        let offset = if half == 0 {
            0
        } else {
            (mix(seed * 31 + u64::from(node)) % (2 * half as u64 + 1)) as i64 - half
        };
        plan = plan.clock(
            NodeId(node),
            ClockSpec {
                wall_offset_ns: offset,
                ..ClockSpec::default()
            },
        );
    }
    if row.step_back {
        plan = plan.at(
            Time::from_millis(1_000),
            Fault::ClockStep {
                node: NodeId(1),
                by_ns: -500_000_000,
            },
        );
    }
    let mut sim = Simulation::new(Config::new(NODES, seed).plan(plan), |_, _| {
        Replica::new(StoreConfig::default())
    })
    .arrivals(
        vec![(Time::ZERO, 100.0), (Time::from_millis(2_000), 0.0)],
        |n, _, rng| {
            Some((
                NodeId(rng.random_range(0..NODES)),
                Write {
                    key: Key(rng.random_range(0..2u32)),
                    value: n,
                },
            ))
        },
    );
    sim.run_until(Time::from_millis(2_500))
        .map_err(|halt| halt.to_string())?;
    let trace = sim.trace();
    let clocks = vector_clocks(trace);
    let mut taken = Vec::new();
    for (event, clock) in trace.events.iter().zip(clocks) {
        if let EventKind::Note { text, .. } = &event.kind
            && text.starts_with("write ")
        {
            let bad = || format!("cannot read the note \"{text}\"");
            let key = number_after(text, "write k").ok_or_else(bad)?;
            let wall_ns = parse_ms(&text[text.find("(wall clock ").ok_or_else(bad)? + 12..])
                .ok_or_else(bad)?;
            let stamp_text = &text[text.find("stamped ").ok_or_else(bad)? + 8..];
            let (wall, rest) = stamp_text.split_once("ms+").ok_or_else(bad)?;
            let logical: String = rest.chars().take_while(char::is_ascii_digit).collect();
            let stamp = crate::Stamp {
                wall: sim::WallTime(parse_ms(&format!("{wall}ms")).ok_or_else(bad)?),
                logical: logical.parse().map_err(|_| bad())?,
            };
            taken.push(Taken {
                key,
                wall_ns,
                stamp,
                clock: clock.ok_or_else(bad)?,
            });
        }
    }
    Ok(taken)
}

fn inversions() -> Result<String, String> {
    let mut out = String::from(
        "| wall clocks | writes | made after an earlier write to the key was seen | of those, \
         older than one of those earlier writes by wall clock | by hybrid stamp |\n| --- | --- \
         | --- | --- | --- |\n",
    );
    let mut backwards_by_row = BTreeMap::new();
    for row in &ROWS {
        let (mut writes, mut after, mut by_wall, mut by_hlc) = (0u64, 0u64, 0u64, 0u64);
        for seed in 0..RUNS {
            let taken = run(row, seed)?;
            writes += taken.len() as u64;
            for b in &taken {
                let earlier: Vec<&Taken> = taken
                    .iter()
                    .filter(|a| a.key == b.key && happened_before(&a.clock, &b.clock))
                    .collect();
                if earlier.is_empty() {
                    continue;
                }
                after += 1;
                by_wall += u64::from(earlier.iter().any(|a| a.wall_ns > b.wall_ns));
                by_hlc += u64::from(earlier.iter().any(|a| a.stamp >= b.stamp));
            }
        }
        if by_hlc > 0 {
            return Err(format!(
                "with clocks {}, {by_hlc} writes were stamped no later than a write they \
                 followed: the reference broke causality",
                row.label
            ));
        }
        backwards_by_row.insert(row.label, by_wall);
        let share = if after == 0 {
            0.0
        } else {
            100.0 * by_wall as f64 / after as f64
        };
        let _ = writeln!(
            out,
            "| {} | {writes} | {after} | {by_wall} ({share:.1}%) | {by_hlc} |",
            row.label
        );
    }
    if backwards_by_row["perfect"] != 0 {
        return Err(
            "with perfect clocks a write was older by wall clock than one it followed".into(),
        );
    }
    if backwards_by_row["within 100 ms"] <= backwards_by_row["within 1 ms"] {
        return Err("clocks 100 ms apart put no more writes behind than clocks 1 ms apart".into());
    }
    let _ = write!(
        out,
        "\n{RUNS} runs per row of {NODES} replicas, 100 writes a second to two keys for 2 s, \
         network 0.5 to 5 ms; each clock offset by up to half the skew either way; in the last \
         row n1's clock is stepped back 500 ms at 1 s. Measured at build time from the \
         reference's runs, with the causal order computed from each run's trace."
    );
    Ok(out)
}
