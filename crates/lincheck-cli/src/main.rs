//! `lincheck`: checks history files for linearizability and prints one verdict per file.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use lincheck::formats::{ParseError, parse_jepsen, parse_kv};
use lincheck::{Register, Verdict, check, check_kv};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    /// `kv` if the first event is an EDN map with `:process`, else `jepsen`.
    Auto,
    /// Jepsen etcd logs: a compare-and-set register.
    Jepsen,
    /// EDN key-value histories (get, put, append), checked key by key.
    Kv,
}

/// Checks histories for linearizability.
///
/// Prints `PATH: linearizable` or `PATH: not linearizable` with the number of operations and
/// the time the check took (parsing excluded). Exits with 1 if a file could not be read or
/// parsed, whatever the verdicts.
#[derive(Parser, Debug)]
#[command(name = "lincheck", version)]
struct Args {
    /// The history format.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    format: Format,
    /// Explain each non-linearizable verdict.
    #[arg(long)]
    explain: bool,
    /// History files.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

fn detect(text: &str) -> Format {
    let first = text.lines().map(str::trim).find(|l| !l.is_empty());
    match first {
        Some(line) if line.starts_with('{') && line.contains(":process") => Format::Kv,
        _ => Format::Jepsen,
    }
}

/// Parses and checks one file's text: (operations, verdict, time spent checking).
fn run(format: Format, text: &str) -> Result<(usize, Verdict, Duration), ParseError> {
    let format = match format {
        Format::Auto => detect(text),
        f => f,
    };
    // Only the check is timed, to compare with other checkers' benchmarks.
    Ok(match format {
        Format::Kv => {
            let ops = parse_kv(text)?;
            let start = Instant::now();
            let verdict = check_kv(&ops);
            (ops.len(), verdict, start.elapsed())
        }
        _ => {
            let ops = parse_jepsen(text)?;
            let start = Instant::now();
            let verdict = check(&Register, &ops);
            (ops.len(), verdict, start.elapsed())
        }
    })
}

/// Checks every file, printing verdicts to `out`: whether every file was read and parsed.
fn check_files(args: &Args, out: &mut impl Write) -> io::Result<bool> {
    let mut all_parsed = true;
    for path in &args.paths {
        let shown = path.display();
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) => {
                eprintln!("{shown}: {e}");
                all_parsed = false;
                continue;
            }
        };
        match run(args.format, &text) {
            Err(e) => {
                eprintln!("{shown}: {e}");
                all_parsed = false;
            }
            Ok((0, _, _)) => writeln!(out, "{shown}: empty history")?,
            Ok((n, verdict, took)) => {
                let ms = took.as_secs_f64() * 1e3;
                let (word, why) = match verdict {
                    Verdict::Linearizable => ("linearizable", None),
                    Verdict::NotLinearizable(why) => ("not linearizable", Some(why)),
                };
                writeln!(out, "{shown}: {word} ({n} ops, {ms:.2} ms)")?;
                if let Some(why) = why.filter(|_| args.explain) {
                    for line in why.to_string().lines() {
                        writeln!(out, "    {line}")?;
                    }
                }
            }
        }
    }
    Ok(all_parsed)
}

fn main() -> ExitCode {
    let args = Args::parse();
    match check_files(&args, &mut io::stdout().lock()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        // Standard output was closed (say, piped into `head`): stop without a panic message.
        Err(_) => ExitCode::FAILURE,
    }
}
