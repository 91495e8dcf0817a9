//! Checks `lincheck` against the published verdicts of the public Porcupine histories. The
//! data is not in this repository: CI has it beside the clone, in `../shared/data/porcupine`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The etcd logs the Porcupine test suite publishes as linearizable; every other one from 000
/// to 102 is not, except 095, which is empty.
const LINEARIZABLE_ETCD: [u32; 23] = [
    2, 5, 7, 18, 25, 31, 38, 45, 48, 49, 51, 53, 56, 67, 75, 76, 80, 87, 92, 98, 100, 101, 102,
];
const EMPTY_ETCD: u32 = 95;

pub fn default_data(root: &Path) -> PathBuf {
    root.join("../shared/data/porcupine")
}

/// The published verdict for every file: `Some(true)` linearizable, `Some(false)` not, `None`
/// for the empty history.
fn expected(data: &Path) -> BTreeMap<PathBuf, Option<bool>> {
    let mut verdicts = BTreeMap::new();
    for n in 0..=102u32 {
        let verdict = (n != EMPTY_ETCD).then(|| LINEARIZABLE_ETCD.contains(&n));
        verdicts.insert(data.join(format!("jepsen/etcd_{n:03}.log")), verdict);
    }
    for clients in ["01", "10", "50"] {
        verdicts.insert(data.join(format!("kv/c{clients}-ok.txt")), Some(true));
        verdicts.insert(data.join(format!("kv/c{clients}-bad.txt")), Some(false));
    }
    verdicts
}

pub fn check(data: &Path) -> bool {
    if !data.join("jepsen").is_dir() {
        eprintln!(
            "skipped: no Porcupine data at {} (CI has it beside the clone)",
            data.display()
        );
        return true;
    }
    let expected = expected(data);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut args = vec![
        "run".to_string(),
        "--quiet".into(),
        "--release".into(),
        "--locked".into(),
        "-p".into(),
        "lincheck-cli".into(),
        "--".into(),
    ];
    args.extend(expected.keys().map(|p| p.display().to_string()));
    let output = match Command::new(cargo).args(&args).output() {
        Ok(output) => output,
        Err(e) => {
            eprintln!("could not run lincheck: {e}");
            return false;
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    print!("{stdout}");
    if !output.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
        return false;
    }
    let mut wrong = 0;
    for (path, verdict) in &expected {
        let prefix = format!("{}: ", path.display());
        let line = stdout.lines().find(|l| l.starts_with(&prefix));
        let said = line.map(|l| &l[prefix.len()..]);
        let ok = match (verdict, said) {
            (Some(true), Some(s)) => s.starts_with("linearizable"),
            (Some(false), Some(s)) => s.starts_with("not linearizable"),
            (None, Some(s)) => s.starts_with("empty history"),
            (_, None) => false,
        };
        if !ok {
            wrong += 1;
            eprintln!(
                "WRONG: {} expected {:?}, lincheck said {:?}",
                path.display(),
                verdict,
                said
            );
        }
    }
    println!(
        "porcupine: {} passed, {wrong} failed",
        expected.len() - wrong
    );
    wrong == 0
}
