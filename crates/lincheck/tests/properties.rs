//! Property tests: `check` against a brute-force checker, and on histories linearizable by
//! construction. The runs are deterministic (fixed ChaCha seed, no failure-persistence files).

use std::cell::Cell;
use std::collections::BTreeMap;

use lincheck::{
    Kv, KvOp, KvRet, Model, Operation, Register, RegisterOp, RegisterRet, check, check_kv,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

fn runner(cases: u32, seed: u8) -> TestRunner {
    let config = Config {
        cases,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        ..Config::default()
    };
    TestRunner::new_with_rng(
        config,
        TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32]),
    )
}

/// Linearizability by definition: try every order of the operations that respects real time
/// (`a` before `b` whenever `a.ret < b.call`), leaving out any subset of the operations with an
/// unknown outcome.
fn brute_force<M: Model>(model: &M, history: &[Operation<M::Input, M::Output>]) -> bool {
    fn extend<M: Model>(
        model: &M,
        history: &[Operation<M::Input, M::Output>],
        placed: &mut [bool],
        state: &M::State,
    ) -> bool {
        let all_returned_placed = history
            .iter()
            .zip(placed.iter())
            .all(|(op, &p)| p || op.ret.is_none());
        if all_returned_placed {
            return true;
        }
        for i in 0..history.len() {
            let must_wait = history
                .iter()
                .enumerate()
                .any(|(j, other)| !placed[j] && other.ret.is_some_and(|r| r < history[i].call));
            if placed[i] || must_wait {
                continue;
            }
            let op = &history[i];
            if let Some(next) = model.step(state, &op.input, op.output.as_ref()) {
                placed[i] = true;
                if extend(model, history, placed, &next) {
                    return true;
                }
                placed[i] = false;
            }
        }
        false
    }
    let mut placed = vec![false; history.len()];
    extend(model, history, &mut placed, &model.init())
}

fn register_op() -> impl Strategy<Value = (RegisterOp, RegisterRet)> {
    prop_oneof![
        proptest::option::of(0..3i64).prop_map(|v| (RegisterOp::Read, RegisterRet::Read(v))),
        (0..3i64).prop_map(|v| (RegisterOp::Write(v), RegisterRet::Write)),
        (0..3i64, 0..3i64, any::<bool>())
            .prop_map(|(from, to, ok)| { (RegisterOp::Cas { from, to }, RegisterRet::Cas(ok)) }),
    ]
}

/// Up to `max` operations with random intervals on a short time axis (so that equal times
/// are common), random outputs, and about one in four outcomes unknown.
fn random_history<I: std::fmt::Debug, O: std::fmt::Debug>(
    max: usize,
    op: impl Strategy<Value = (I, O)>,
) -> impl Strategy<Value = Vec<Operation<I, O>>> {
    proptest::collection::vec(
        (0..10u64, 0..5u64, proptest::bool::weighted(0.25), op),
        0..=max,
    )
    .prop_map(|ops| {
        ops.into_iter()
            .enumerate()
            .map(|(i, (call, len, lost, (input, output)))| Operation {
                client: i as u64,
                call,
                ret: (!lost).then_some(call + len),
                input,
                output: (!lost).then_some(output),
            })
            .collect()
    })
}

#[test]
fn register_check_agrees_with_brute_force() {
    let (yes, no) = (Cell::new(0), Cell::new(0));
    runner(4000, 1)
        .run(&random_history(6, register_op()), |h| {
            let expected = brute_force(&Register, &h);
            prop_assert_eq!(check(&Register, &h).is_linearizable(), expected);
            let count = if expected { &yes } else { &no };
            count.set(count.get() + 1);
            Ok(())
        })
        .unwrap();
    // Both verdicts must be well represented, or the comparison proves little.
    assert!(
        yes.get() > 800 && no.get() > 800,
        "{} / {}",
        yes.get(),
        no.get()
    );
}

fn kv_op() -> impl Strategy<Value = (KvOp, KvRet)> {
    let key = prop_oneof![Just("a"), Just("b")].prop_map(str::to_string);
    let value = prop_oneof![Just("x"), Just("y")].prop_map(str::to_string);
    prop_oneof![
        (
            key.clone(),
            prop_oneof![Just(""), Just("x"), Just("xy"), Just("yx")]
        )
            .prop_map(|(key, v)| (KvOp::Get { key }, KvRet::Get(v.to_string()))),
        (key.clone(), value.clone())
            .prop_map(|(key, value)| (KvOp::Put { key, value }, KvRet::Put)),
        (key, value).prop_map(|(key, value)| (KvOp::Append { key, value }, KvRet::Append)),
    ]
}

#[test]
fn kv_checks_agree_with_brute_force() {
    let (yes, no) = (Cell::new(0), Cell::new(0));
    runner(3000, 2)
        .run(&random_history(6, kv_op()), |h| {
            let expected = brute_force(&Kv, &h);
            prop_assert_eq!(check(&Kv, &h).is_linearizable(), expected);
            prop_assert_eq!(check_kv(&h).is_linearizable(), expected);
            let count = if expected { &yes } else { &no };
            count.set(count.get() + 1);
            Ok(())
        })
        .unwrap();
    assert!(
        yes.get() > 600 && no.get() > 600,
        "{} / {}",
        yes.get(),
        no.get()
    );
}

/// How an operation of a constructed history ends.
#[derive(Clone, Copy, Debug)]
enum Fate {
    /// Returns; takes effect at `call + len * at / 8`.
    Returns { len: u64, at: u64 },
    /// Outcome unknown; takes effect at `call + delay`.
    LostAfterEffect { delay: u64 },
    /// Outcome unknown; never takes effect.
    LostWithoutEffect,
}

fn fate() -> impl Strategy<Value = Fate> {
    prop_oneof![
        6 => (0..12u64, 0..=8u64).prop_map(|(len, at)| Fate::Returns { len, at }),
        1 => (0..20u64).prop_map(|delay| Fate::LostAfterEffect { delay }),
        1 => Just(Fate::LostWithoutEffect),
    ]
}

/// Builds a linearizable history: every operation that takes effect does so at one instant
/// inside its interval, and the outputs are those of running the operations in the order of
/// those instants. `apply` runs one operation: (next state, output).
fn construct<S, I: Clone, O>(
    ops: &[(u64, Fate, I)],
    init: S,
    apply: impl Fn(&S, &I) -> (S, O),
) -> Vec<Operation<I, O>> {
    let mut effects: Vec<(u64, usize)> = ops
        .iter()
        .enumerate()
        .filter_map(|(i, &(call, fate, _))| match fate {
            Fate::Returns { len, at } => Some((call + len * at / 8, i)),
            Fate::LostAfterEffect { delay } => Some((call + delay, i)),
            Fate::LostWithoutEffect => None,
        })
        .collect();
    // Ties in any order keep real-time order: if a.ret < b.call the instants are strictly ordered.
    effects.sort_unstable();
    let mut outputs: Vec<Option<O>> = ops.iter().map(|_| None).collect();
    let mut state = init;
    for (_, i) in effects {
        let (next, output) = apply(&state, &ops[i].2);
        state = next;
        outputs[i] = Some(output);
    }
    ops.iter()
        .zip(outputs)
        .enumerate()
        .map(|(i, ((call, fate, input), output))| {
            let ret = match fate {
                Fate::Returns { len, .. } => Some(call + len),
                _ => None,
            };
            Operation {
                client: i as u64,
                call: *call,
                ret,
                input: input.clone(),
                output: ret.and(output),
            }
        })
        .collect()
}

fn apply_register(state: &Option<i64>, op: &RegisterOp) -> (Option<i64>, RegisterRet) {
    match *op {
        RegisterOp::Read => (*state, RegisterRet::Read(*state)),
        RegisterOp::Write(v) => (Some(v), RegisterRet::Write),
        RegisterOp::Cas { from, to } if *state == Some(from) => (Some(to), RegisterRet::Cas(true)),
        RegisterOp::Cas { .. } => (*state, RegisterRet::Cas(false)),
    }
}

fn register_input() -> impl Strategy<Value = RegisterOp> {
    register_op().prop_map(|(input, _)| input)
}

fn constructed_register_history(
    ops: std::ops::RangeInclusive<usize>,
    span: u64,
) -> impl Strategy<Value = Vec<Operation<RegisterOp, RegisterRet>>> {
    proptest::collection::vec((0..span, fate(), register_input()), ops)
        .prop_map(|ops| construct(&ops, None, apply_register))
}

#[test]
fn constructed_register_histories_are_linearizable() {
    runner(1000, 3)
        .run(&constructed_register_history(0..=14, 30), |h| {
            prop_assert!(check(&Register, &h).is_linearizable());
            Ok(())
        })
        .unwrap();
}

#[test]
fn long_constructed_register_histories_are_linearizable() {
    // More than 64 operations, so that the linearized set spans several words.
    runner(30, 4)
        .run(&constructed_register_history(65..=160, 400), |h| {
            prop_assert!(check(&Register, &h).is_linearizable());
            Ok(())
        })
        .unwrap();
}

#[test]
fn a_read_of_a_value_never_written_breaks_a_constructed_history() {
    let seen_read = Cell::new(0);
    runner(500, 5)
        .run(&constructed_register_history(1..=14, 30), |mut h| {
            // Values written are 0..3, so 99 can only be wrong.
            let Some(read) = h
                .iter_mut()
                .find(|op| op.output.is_some() && op.input == RegisterOp::Read)
            else {
                return Ok(());
            };
            read.output = Some(RegisterRet::Read(Some(99)));
            seen_read.set(seen_read.get() + 1);
            prop_assert!(!check(&Register, &h).is_linearizable());
            Ok(())
        })
        .unwrap();
    assert!(seen_read.get() > 100, "{}", seen_read.get());
}

fn apply_kv(state: &BTreeMap<String, String>, op: &KvOp) -> (BTreeMap<String, String>, KvRet) {
    let mut next = state.clone();
    let out = match op {
        KvOp::Get { key } => KvRet::Get(state.get(key).cloned().unwrap_or_default()),
        KvOp::Put { key, value } => {
            next.insert(key.clone(), value.clone());
            KvRet::Put
        }
        KvOp::Append { key, value } => {
            next.entry(key.clone()).or_default().push_str(value);
            KvRet::Append
        }
    };
    (next, out)
}

#[test]
fn constructed_kv_histories_are_linearizable() {
    let key = prop_oneof![Just("a"), Just("b"), Just("c")].prop_map(str::to_string);
    // Distinct appended values, as in Jepsen's tests, make most orders distinguishable.
    let input = (key, 0..4u8, 0..1000u32).prop_map(|(key, kind, n)| match kind {
        0 => KvOp::Put {
            key,
            value: format!("p{n} "),
        },
        1 => KvOp::Get { key },
        _ => KvOp::Append {
            key,
            value: format!("{n} "),
        },
    });
    let history = proptest::collection::vec((0..60u64, fate(), input), 0..=30)
        .prop_map(|ops| construct(&ops, BTreeMap::new(), apply_kv));
    runner(300, 6)
        .run(&history, |h| {
            prop_assert!(check_kv(&h).is_linearizable());
            Ok(())
        })
        .unwrap();
}
