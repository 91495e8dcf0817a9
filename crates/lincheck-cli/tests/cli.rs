//! Runs the `lincheck` binary on small files it writes to a temporary folder.

use std::path::PathBuf;
use std::process::{Command, Output};

/// A fresh folder per test, so that tests running in parallel do not share files.
fn folder(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lincheck-cli-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(args: &[&str]) -> (Output, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lincheck"))
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let stderr = String::from_utf8(out.stderr.clone()).unwrap();
    (out, stdout, stderr)
}

const STALE_READ: &str = "\
INFO  jepsen.util - 0\t:invoke\t:write\t1
INFO  jepsen.util - 0\t:ok\t:write\t1
INFO  jepsen.util - 1\t:invoke\t:read\tnil
INFO  jepsen.util - 1\t:ok\t:read\tnil
";

const KV_OK: &str = r#"{:process 0, :type :invoke, :f :append, :key "k", :value "a"}
{:process 0, :type :ok, :f :append, :key "k", :value "a"}
{:process 1, :type :invoke, :f :get, :key "k", :value nil}
{:process 1, :type :ok, :f :get, :key "k", :value "a"}
"#;

#[test]
fn prints_one_verdict_per_file_and_detects_the_format() {
    let dir = folder("verdicts");
    let (stale, kv, empty) = (
        dir.join("stale.log"),
        dir.join("ok.txt"),
        dir.join("empty.log"),
    );
    std::fs::write(&stale, STALE_READ).unwrap();
    std::fs::write(&kv, KV_OK).unwrap();
    std::fs::write(&empty, "").unwrap();
    let paths = [&stale, &kv, &empty].map(|p| p.to_str().unwrap().to_string());
    let (out, stdout, stderr) = run(&[&paths[0], &paths[1], &paths[2]]);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(
        lines[0].starts_with(&format!("{}: not linearizable (2 ops, ", paths[0])),
        "{stdout}"
    );
    assert!(lines[0].ends_with(" ms)"), "{stdout}");
    assert!(
        lines[1].starts_with(&format!("{}: linearizable (2 ops, ", paths[1])),
        "{stdout}"
    );
    assert_eq!(lines[2], format!("{}: empty history", paths[2]));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn explains_a_verdict_on_request() {
    let dir = folder("explain");
    let stale = dir.join("stale.log");
    std::fs::write(&stale, STALE_READ).unwrap();
    let (out, stdout, _) = run(&["--explain", stale.to_str().unwrap()]);
    assert!(out.status.success());
    assert!(
        stdout.contains("    [client 1] Read -> Read(None)  (3..4): inconsistent with this state"),
        "{stdout}"
    );
    // Without --explain, only the verdict.
    let (_, stdout, _) = run(&[stale.to_str().unwrap()]);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_forced_format_is_used() {
    let dir = folder("forced");
    let kv = dir.join("ok.txt");
    std::fs::write(&kv, KV_OK).unwrap();
    // Read as a Jepsen log, the EDN lines have no `jepsen.util`: nothing to check.
    let (out, stdout, _) = run(&["--format", "jepsen", kv.to_str().unwrap()]);
    assert!(out.status.success());
    assert_eq!(stdout, format!("{}: empty history\n", kv.display()));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn parse_and_io_errors_name_the_file_and_fail() {
    let dir = folder("errors");
    let (bad, good) = (dir.join("bad.log"), dir.join("good.log"));
    std::fs::write(&bad, "INFO jepsen.util - 0 :invoke :write x\n").unwrap();
    std::fs::write(&good, STALE_READ).unwrap();
    let missing = dir.join("missing.log");
    let (out, stdout, stderr) = run(&[
        bad.to_str().unwrap(),
        missing.to_str().unwrap(),
        good.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let errors: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        errors[0],
        format!(
            "{}: line 1: expected an integer, found \"x\"",
            bad.display()
        )
    );
    assert!(
        errors[1].starts_with(&format!("{}: ", missing.display())),
        "{stderr}"
    );
    // The other files are still checked.
    assert!(stdout.contains("good.log: not linearizable"), "{stdout}");
    std::fs::remove_dir_all(dir).unwrap();
}
