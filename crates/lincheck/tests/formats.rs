//! Parsing the public formats, from inline snippets.

use lincheck::formats::{ParseError, parse_jepsen, parse_kv};
use lincheck::{KvOp, KvRet, Operation, Register, RegisterOp, RegisterRet, check, check_kv};

fn op<I, O>(
    client: u64,
    call: u64,
    ret: Option<u64>,
    input: I,
    output: Option<O>,
) -> Operation<I, O> {
    Operation {
        client,
        call,
        ret,
        input,
        output,
    }
}

/// Tabs and runs of spaces both separate fields, as in the real logs.
const JEPSEN: &str = "\
INFO  jepsen.util - 0\t:invoke\t:read\tnil
INFO  jepsen.util - 1 :invoke :write 3
some other log line
INFO  jepsen.util - 0\t:ok\t:read\tnil
INFO  jepsen.util - 2  :invoke  :cas  [3 4]
INFO  jepsen.util - 1\t:ok\t:write\t3
INFO  jepsen.util - 2\t:fail\t:cas\t[3 4]
INFO  jepsen.util - 3\t:invoke\t:cas\t[0 1]
INFO  jepsen.util - 3\t:info\t:cas\t:timed-out
INFO  jepsen.util - 4\t:invoke\t:read\tnil
INFO  jepsen.util - 4\t:fail\t:read\t:timed-out
INFO  jepsen.util - 5\t:invoke\t:read\tnil
INFO  jepsen.util - 5\t:ok\t:read\t3
INFO  jepsen.util - 6\t:invoke\t:write\t-2
INFO  jepsen.util - 7\t:invoke\t:cas\t[3 0]
INFO  jepsen.util - 7\t:ok\t:cas\t[3 0]
";

#[test]
fn jepsen_log_parses_with_line_numbers_as_times() {
    let ops = parse_jepsen(JEPSEN).unwrap();
    assert_eq!(
        ops,
        vec![
            op(
                0,
                1,
                Some(4),
                RegisterOp::Read,
                Some(RegisterRet::Read(None))
            ),
            op(
                1,
                2,
                Some(6),
                RegisterOp::Write(3),
                Some(RegisterRet::Write)
            ),
            op(
                2,
                5,
                Some(7),
                RegisterOp::Cas { from: 3, to: 4 },
                Some(RegisterRet::Cas(false))
            ),
            op(3, 8, None, RegisterOp::Cas { from: 0, to: 1 }, None),
            op(4, 10, None, RegisterOp::Read, None),
            op(
                5,
                12,
                Some(13),
                RegisterOp::Read,
                Some(RegisterRet::Read(Some(3)))
            ),
            op(6, 14, None, RegisterOp::Write(-2), None),
            op(
                7,
                15,
                Some(16),
                RegisterOp::Cas { from: 3, to: 0 },
                Some(RegisterRet::Cas(true))
            ),
        ]
    );
    // The failed cas [3 4] overlaps the write of 3, so it may take effect before it.
    assert!(check(&Register, &ops).is_linearizable());
}

#[test]
fn jepsen_failed_write_did_not_happen() {
    let ops = parse_jepsen(
        "INFO jepsen.util - 0 :invoke :write 1\nINFO jepsen.util - 0 :fail :write 1\n",
    )
    .unwrap();
    assert_eq!(ops, vec![]);
}

#[test]
fn jepsen_blank_and_unrelated_text_is_empty() {
    assert_eq!(parse_jepsen("").unwrap(), vec![]);
    assert_eq!(parse_jepsen("\n  \nINFO nothing to see\n").unwrap(), vec![]);
}

fn jepsen_error(text: &str) -> ParseError {
    parse_jepsen(text).expect_err("malformed input must be rejected")
}

#[test]
fn jepsen_malformed_lines_name_their_line() {
    let ok = "INFO jepsen.util - 0 :invoke :read nil\n";
    let cases = [
        (
            "INFO jepsen.util - x :invoke :read nil",
            "expected a process number, found \"x\"",
        ),
        (
            "INFO jepsen.util - 1 :invoke :write",
            "expected an integer, found \"\"",
        ),
        (
            "INFO jepsen.util - 1 :invoke :write abc",
            "expected an integer, found \"abc\"",
        ),
        (
            "INFO jepsen.util - 1 :invoke :cas [1]",
            "expected [from to], found \"[1]\"",
        ),
        (
            "INFO jepsen.util - 1 :invoke :incr 1",
            "expected :read, :write or :cas, found \":incr\"",
        ),
        (
            "INFO jepsen.util - 1 :done :read nil",
            "expected :invoke, :ok, :fail or :info, found \":done\"",
        ),
        (
            "INFO jepsen.util - 1 :ok :read 3",
            "process 1 completes an operation it never invoked",
        ),
        (
            "INFO jepsen.util - 0 :ok :write 3",
            "process 0 completes a :write but invoked a :read on line 1",
        ),
        (
            "INFO jepsen.util - 0 :invoke :read nil",
            "process 0 invokes an operation while its operation of line 1 is still pending",
        ),
        (
            "INFO jepsen.util - 0 :ok :read x",
            "expected an integer, found \"x\"",
        ),
        (
            "INFO jepsen.util -",
            "expected `jepsen.util - PROCESS TYPE F VALUE`",
        ),
    ];
    for (line, message) in cases {
        let text = format!("{ok}unrelated\n{line}\n{ok}");
        assert_eq!(
            jepsen_error(&text),
            ParseError {
                line: 3,
                message: message.to_string()
            },
            "{line}"
        );
    }
    assert_eq!(
        jepsen_error("INFO jepsen.util - 1 :invoke :write z").to_string(),
        "line 1: expected an integer, found \"z\""
    );
}

const KV: &str = r#"{:process 0, :type :invoke, :f :append, :key "0", :value "x 0 0 y"}
{:process 1, :type :invoke, :f :get, :key "0", :value nil}
{:process 0, :type :ok, :f :append, :key "0", :value "x 0 0 y"}

{:process 1, :type :ok, :f :get, :key "0", :value "x 0 0 y"}
{:process 2, :type :invoke, :f :put, :key "7", :value "a \"quoted\" b"}
{:process 2, :type :ok, :f :put, :key "7", :value "a \"quoted\" b"}
{:process 3, :type :invoke, :f :append, :key "7", :value "z"}
"#;

fn s(text: &str) -> String {
    text.to_string()
}

#[test]
fn kv_history_parses_with_line_numbers_as_times() {
    let ops = parse_kv(KV).unwrap();
    assert_eq!(
        ops,
        vec![
            op(
                0,
                1,
                Some(3),
                KvOp::Append {
                    key: s("0"),
                    value: s("x 0 0 y")
                },
                Some(KvRet::Append)
            ),
            op(
                1,
                2,
                Some(5),
                KvOp::Get { key: s("0") },
                Some(KvRet::Get(s("x 0 0 y")))
            ),
            op(
                2,
                6,
                Some(7),
                KvOp::Put {
                    key: s("7"),
                    value: s("a \"quoted\" b")
                },
                Some(KvRet::Put)
            ),
            op(
                3,
                8,
                None,
                KvOp::Append {
                    key: s("7"),
                    value: s("z")
                },
                None
            ),
        ]
    );
    assert!(check_kv(&ops).is_linearizable());
}

#[test]
fn kv_malformed_lines_name_their_line() {
    let ok = "{:process 0, :type :invoke, :f :get, :key \"k\", :value nil}\n";
    let cases = [
        (
            "{:process 1, :type :invoke, :f :get, :key \"k\"",
            "expected an EDN map {...}",
        ),
        (
            "{:process 1, :type :invoke, :f :get, :key \"k}",
            "unterminated string",
        ),
        (
            "{:process 1, :type :invoke, :f :get, :value nil}",
            "missing :key",
        ),
        (
            "{:process 1, :type :invoke, :f :cas, :key \"k\", :value nil}",
            "expected :f :get, :put or :append, found :cas",
        ),
        (
            "{:process 1, :type :invoke, :f :put, :key \"k\", :value nil}",
            "a :put needs a string :value",
        ),
        (
            "{:process 1, :type :ok, :f :get, :key \"k\", :value \"\"}",
            "process 1 completes an operation it never invoked",
        ),
        (
            "{:process 0, :type :ok, :f :get, :key \"j\", :value \"\"}",
            "process 0 completes a :get of key \"j\" but invoked a :get of key \"k\" on line 1",
        ),
        (
            "{:process x, :type :ok}",
            "expected an integer, found \"x\"",
        ),
        ("{process 1}", "expected a :keyword, found \"process\""),
    ];
    for (line, message) in cases {
        let text = format!("{ok}\n{line}\n{ok}");
        assert_eq!(
            parse_kv(&text).expect_err(line),
            ParseError {
                line: 3,
                message: message.to_string()
            },
            "{line}"
        );
    }
}
