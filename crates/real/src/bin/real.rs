//! The conductor's command line: starts a cluster of a node binary on loopback, prints the
//! merged timeline as it goes, takes commands (typed, or from `--script`), and writes the
//! trace, the text timeline, the SVG and the Perfetto trace when it ends. `cargo xtask real
//! SLUG` builds the chapter's node binary and runs this.

use clap::Parser;
use real::script;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "Run a node binary as a real cluster on loopback")]
struct Cli {
    /// The node binary (built from an exercise's `SLUG-real` example).
    #[arg(long)]
    binary: PathBuf,
    /// How many processes.
    #[arg(long)]
    nodes: u32,
    /// Stop after this long (`10s`, `2500ms`); without it, and without a script, the run takes
    /// typed commands until `stop` or Ctrl-C.
    #[arg(long = "for")]
    duration: Option<String>,
    /// A file of commands at times, one per line: `2s pause n2`.
    #[arg(long)]
    script: Option<PathBuf>,
    /// A fault plan (the simulator's JSON): network faults, timed faults, note triggers.
    #[arg(long)]
    plan: Option<PathBuf>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where the run's files go (emptied first).
    #[arg(long)]
    out: PathBuf,
    /// Print nothing while running (the files are still written).
    #[arg(long)]
    quiet: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("real: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<bool, String> {
    let duration = cli.duration.as_deref().map(script::duration).transpose()?;
    let scheduled = match &cli.script {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            script::script(&text, cli.nodes)?
        }
        None => Vec::new(),
    };
    let plan = match &cli.plan {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            serde_json::from_str(&text)
                .map_err(|e| format!("{} is not a fault plan: {e}", path.display()))?
        }
        None => sim::FaultPlan::with_network(real::quiet_network()),
    };
    let unattended = duration.is_some() || cli.script.is_some();
    if !unattended {
        eprintln!(
            "real: {} nodes on loopback. Commands: pause n2, resume n2, crash n2, restart n2, \
             partition n0 | n1 n2, partition n0 -> n2, heal, loss 0.2, stop (or Ctrl-C).",
            cli.nodes
        );
    }
    let outcome = real::conduct(real::Options {
        binary: cli.binary,
        nodes: cli.nodes,
        duration,
        script: scheduled,
        plan,
        seed: cli.seed,
        out: cli.out,
        interactive: !unattended,
        live: !cli.quiet,
    })?;
    for file in &outcome.files {
        eprintln!("real: wrote {}", file.display());
    }
    eprintln!(
        "real: {} events; processes left behind: {}",
        outcome.trace.events.len(),
        outcome.strays
    );
    for exit in &outcome.exits {
        eprintln!("real: {exit}");
    }
    Ok(outcome.strays == 0)
}
