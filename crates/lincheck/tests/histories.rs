//! Small hand-made histories whose verdicts are known.

use lincheck::{
    Kv, KvOp, KvRet, Operation, Register, RegisterOp, RegisterRet, Verdict, check, check_kv,
};

type RegOp = Operation<RegisterOp, RegisterRet>;

fn done(client: u64, call: u64, ret: u64, input: RegisterOp, output: RegisterRet) -> RegOp {
    Operation {
        client,
        call,
        ret: Some(ret),
        input,
        output: Some(output),
    }
}

fn unknown(client: u64, call: u64, input: RegisterOp) -> RegOp {
    Operation {
        client,
        call,
        ret: None,
        input,
        output: None,
    }
}

fn write(client: u64, call: u64, ret: u64, v: i64) -> RegOp {
    done(client, call, ret, RegisterOp::Write(v), RegisterRet::Write)
}

fn read(client: u64, call: u64, ret: u64, v: Option<i64>) -> RegOp {
    done(client, call, ret, RegisterOp::Read, RegisterRet::Read(v))
}

fn cas(client: u64, call: u64, ret: u64, from: i64, to: i64, ok: bool) -> RegOp {
    done(
        client,
        call,
        ret,
        RegisterOp::Cas { from, to },
        RegisterRet::Cas(ok),
    )
}

fn linearizable(history: &[RegOp]) -> bool {
    check(&Register, history).is_linearizable()
}

fn explanation(verdict: Verdict) -> lincheck::Explanation {
    match verdict {
        Verdict::NotLinearizable(why) => why,
        Verdict::Linearizable => panic!("expected a non-linearizable verdict"),
    }
}

#[test]
fn empty_history_is_linearizable() {
    assert!(linearizable(&[]));
    assert!(check_kv(&[]).is_linearizable());
}

#[test]
fn sequential_history_is_linearizable() {
    let h = [
        read(0, 0, 1, None),
        write(0, 2, 3, 1),
        read(1, 4, 5, Some(1)),
        write(1, 6, 7, 2),
        read(0, 8, 9, Some(2)),
    ];
    assert!(linearizable(&h));
}

#[test]
fn sequential_history_with_a_wrong_read_is_not() {
    let h = [write(0, 0, 1, 1), write(1, 2, 3, 2), read(0, 4, 5, Some(1))];
    assert!(!linearizable(&h));
}

#[test]
fn stale_read_after_a_completed_write_is_not_linearizable() {
    let h = [write(0, 0, 2, 1), read(1, 3, 4, None)];
    let why = explanation(check(&Register, &h));
    assert_eq!(why.key, None);
    assert_eq!(
        why.linearized,
        ["[client 0] Write(1) -> Write  (0..2)".to_string()]
    );
    assert_eq!(why.state, "Some(1)");
    assert_eq!(
        why.stuck,
        ["[client 1] Read -> Read(None)  (3..4): inconsistent with this state".to_string()]
    );
    let shown = why.to_string();
    assert!(
        shown.contains("longest linearizable prefix (1 operations)"),
        "{shown}"
    );
    assert!(shown.contains("state after it: Some(1)"), "{shown}");
}

#[test]
fn a_read_concurrent_with_a_write_may_see_either_value() {
    assert!(linearizable(&[write(0, 0, 10, 1), read(1, 2, 3, None)]));
    assert!(linearizable(&[write(0, 0, 10, 1), read(1, 2, 3, Some(1))]));
    assert!(!linearizable(&[write(0, 0, 10, 1), read(1, 2, 3, Some(2))]));
}

#[test]
fn touching_intervals_are_concurrent_but_disjoint_ones_are_ordered() {
    // a.ret == b.call: concurrent, so the read may still come first.
    assert!(linearizable(&[write(0, 0, 5, 1), read(1, 5, 6, None)]));
    // a.ret < b.call: the write precedes the read.
    assert!(!linearizable(&[write(0, 0, 4, 1), read(1, 5, 6, None)]));
    // The same with the operations listed in the other order.
    assert!(linearizable(&[read(1, 5, 6, None), write(0, 0, 5, 1)]));
    assert!(!linearizable(&[read(1, 5, 6, None), write(0, 0, 4, 1)]));
}

#[test]
fn reads_cannot_see_values_going_back_and_forth() {
    // Two concurrent writes; one reader sees 1 then 2, another sees 2 then 1.
    let h = [
        write(0, 0, 10, 1),
        write(1, 0, 10, 2),
        read(2, 1, 2, Some(1)),
        read(2, 3, 4, Some(2)),
        read(3, 1, 2, Some(2)),
        read(3, 3, 4, Some(1)),
    ];
    assert!(!linearizable(&h));
    // Both readers seeing 1 then 2 is fine.
    let mut ok = h.clone();
    ok[4] = read(3, 1, 2, Some(1));
    ok[5] = read(3, 3, 4, Some(2));
    assert!(linearizable(&ok));
}

#[test]
fn cas_succeeds_exactly_when_the_register_holds_from() {
    // Succeeds on 1 → 2.
    assert!(linearizable(&[
        write(0, 0, 1, 1),
        cas(0, 2, 3, 1, 2, true),
        read(0, 4, 5, Some(2)),
    ]));
    // Reports failure although the register held `from`.
    assert!(!linearizable(&[
        write(0, 0, 1, 1),
        cas(0, 2, 3, 1, 2, false)
    ]));
    // Fails on 3 ≠ 1 and leaves the register alone.
    assert!(linearizable(&[
        write(0, 0, 1, 3),
        cas(0, 2, 3, 1, 2, false),
        read(0, 4, 5, Some(3)),
    ]));
    assert!(!linearizable(&[
        write(0, 0, 1, 3),
        cas(0, 2, 3, 1, 2, false),
        read(0, 4, 5, Some(2)),
    ]));
    // Succeeds on nil, which holds no `from`.
    assert!(!linearizable(&[cas(0, 0, 1, 0, 1, true)]));
    assert!(linearizable(&[cas(0, 0, 1, 0, 1, false)]));
}

#[test]
fn a_mismatched_output_kind_is_inconsistent() {
    assert!(!linearizable(&[done(
        0,
        0,
        1,
        RegisterOp::Read,
        RegisterRet::Write
    )]));
}

#[test]
fn an_unknown_write_may_or_may_not_have_happened() {
    let w = unknown(0, 0, RegisterOp::Write(1));
    // Not (yet) taken effect.
    assert!(linearizable(&[w.clone(), read(1, 5, 6, None)]));
    // Taken effect.
    assert!(linearizable(&[w.clone(), read(1, 5, 6, Some(1))]));
    // Taken effect after the first read.
    assert!(linearizable(&[
        w.clone(),
        read(1, 5, 6, None),
        read(1, 7, 8, Some(1))
    ]));
    // Once taken effect it cannot be undone.
    assert!(!linearizable(&[
        w.clone(),
        read(1, 5, 6, Some(1)),
        read(1, 7, 8, None)
    ]));
    // It cannot take effect before it was invoked.
    assert!(!linearizable(&[
        unknown(0, 10, RegisterOp::Write(1)),
        read(1, 0, 5, Some(1))
    ]));
    // It can take effect only once: a second write in between hides it for good.
    assert!(!linearizable(&[
        w,
        read(1, 5, 6, Some(1)),
        write(1, 7, 8, 2),
        read(1, 9, 10, Some(1)),
    ]));
}

#[test]
fn an_unknown_cas_applies_only_if_it_could_succeed() {
    let c = unknown(0, 0, RegisterOp::Cas { from: 1, to: 2 });
    assert!(linearizable(&[
        write(1, 1, 2, 1),
        c.clone(),
        read(1, 3, 4, Some(2))
    ]));
    assert!(!linearizable(&[
        write(1, 1, 2, 3),
        c,
        read(1, 3, 4, Some(2))
    ]));
}

#[test]
fn the_explanation_is_deterministic_and_shortened() {
    // Twelve writes in a row, then fifteen concurrent reads of a value nobody wrote.
    let mut h: Vec<RegOp> = (0..12)
        .map(|i| write(0, 2 * i, 2 * i + 1, i as i64))
        .collect();
    h.extend((0..15).map(|c| read(c + 1, 100, 101, Some(99))));
    let why = explanation(check(&Register, &h));
    assert_eq!(explanation(check(&Register, &h)), why);
    assert_eq!(why.linearized.len(), 12);
    assert_eq!(why.stuck.len(), 15);
    let shown = why.to_string();
    assert!(shown.contains("... 2 earlier operations"), "{shown}");
    assert!(shown.contains("... and 5 more"), "{shown}");
    assert!(
        !shown.contains("Write(1) "),
        "the oldest entries are cut: {shown}"
    );
    assert!(shown.contains("Write(11)"), "{shown}");
}

#[test]
#[should_panic(expected = "has a return time but no output")]
fn a_returned_operation_without_output_is_rejected() {
    let mut op = read(0, 0, 1, None);
    op.output = None;
    check(&Register, &[op]);
}

#[test]
#[should_panic(expected = "before its call")]
fn an_operation_returning_before_its_call_is_rejected() {
    check(&Register, &[read(0, 5, 4, None)]);
}

type KvOperation = Operation<KvOp, KvRet>;

fn kv(client: u64, call: u64, ret: u64, input: KvOp, output: KvRet) -> KvOperation {
    Operation {
        client,
        call,
        ret: Some(ret),
        input,
        output: Some(output),
    }
}

fn get(client: u64, call: u64, ret: u64, key: &str, v: &str) -> KvOperation {
    let input = KvOp::Get {
        key: key.to_string(),
    };
    kv(client, call, ret, input, KvRet::Get(v.to_string()))
}

fn append(client: u64, call: u64, ret: u64, key: &str, v: &str) -> KvOperation {
    let input = KvOp::Append {
        key: key.to_string(),
        value: v.to_string(),
    };
    kv(client, call, ret, input, KvRet::Append)
}

fn put(client: u64, call: u64, ret: u64, key: &str, v: &str) -> KvOperation {
    let input = KvOp::Put {
        key: key.to_string(),
        value: v.to_string(),
    };
    kv(client, call, ret, input, KvRet::Put)
}

/// check_kv's verdict, after making sure the whole-store model agrees.
fn kv_linearizable(history: &[KvOperation]) -> bool {
    let verdict = check_kv(history).is_linearizable();
    assert_eq!(check(&Kv, history).is_linearizable(), verdict);
    verdict
}

#[test]
fn kv_append_concatenates_and_keys_start_empty() {
    assert!(kv_linearizable(&[
        get(0, 0, 1, "k", ""),
        append(0, 2, 3, "k", "a"),
        append(1, 4, 5, "k", "b"),
        get(1, 6, 7, "k", "ab"),
    ]));
    assert!(!kv_linearizable(&[
        append(0, 2, 3, "k", "a"),
        append(1, 4, 5, "k", "b"),
        get(1, 6, 7, "k", "ba"),
    ]));
    // Concurrent appends land in either order, but in one order for everybody.
    let both = [append(0, 0, 10, "k", "a"), append(1, 0, 10, "k", "b")];
    for seen in ["ab", "ba"] {
        let mut h = both.to_vec();
        h.push(get(2, 11, 12, "k", seen));
        h.push(get(3, 13, 14, "k", seen));
        assert!(kv_linearizable(&h), "{seen}");
    }
    let mut h = both.to_vec();
    h.push(get(2, 11, 12, "k", "ab"));
    h.push(get(3, 13, 14, "k", "ba"));
    assert!(!kv_linearizable(&h));
}

#[test]
fn kv_put_replaces_the_value() {
    assert!(kv_linearizable(&[
        append(0, 0, 1, "k", "a"),
        put(0, 2, 3, "k", "x"),
        append(0, 4, 5, "k", "y"),
        get(0, 6, 7, "k", "xy"),
        put(0, 8, 9, "k", ""),
        get(0, 10, 11, "k", ""),
    ]));
    assert!(!kv_linearizable(&[
        append(0, 0, 1, "k", "a"),
        put(0, 2, 3, "k", "x"),
        get(0, 4, 5, "k", "ax"),
    ]));
}

#[test]
fn kv_unknown_append_may_or_may_not_have_happened() {
    let lost = Operation {
        client: 0,
        call: 0,
        ret: None,
        input: KvOp::Append {
            key: "k".to_string(),
            value: "a".to_string(),
        },
        output: None,
    };
    for seen in ["", "a"] {
        assert!(kv_linearizable(&[lost.clone(), get(1, 5, 6, "k", seen)]));
    }
    assert!(!kv_linearizable(&[lost, get(1, 5, 6, "k", "aa")]));
}

#[test]
fn keys_are_independent() {
    // Each key on its own is fine: writes to one key do not show in another.
    assert!(kv_linearizable(&[
        append(0, 0, 1, "x", "1"),
        append(1, 0, 1, "y", "2"),
        get(0, 2, 3, "x", "1"),
        get(1, 2, 3, "y", "2"),
    ]));
    assert!(!kv_linearizable(&[
        append(0, 0, 1, "x", "1"),
        get(0, 2, 3, "y", "1")
    ]));
}

#[test]
fn a_failing_key_is_named_in_the_explanation() {
    let h = [
        append(0, 0, 1, "x", "1"),
        get(0, 2, 3, "x", "1"),
        put(1, 0, 1, "y", "a"),
        put(2, 2, 3, "y", "b"),
        get(1, 4, 5, "y", "a"),
        append(2, 4, 5, "z", "3"),
    ];
    let why = explanation(check_kv(&h));
    assert_eq!(why.key.as_deref(), Some("y"));
    assert_eq!(why.state, "\"b\"");
    assert!(
        why.to_string()
            .starts_with("key \"y\" is not linearizable\n")
    );
    assert!(why.stuck[0].contains("Get { key: \"y\" } -> Get(\"a\")  (4..5)"));
    // The same history checked whole has no key to blame.
    assert_eq!(explanation(check(&Kv, &h)).key, None);
}
