//! The book's command, which `cargo xtask serve`, `cargo xtask book` and `cargo xtask test` run:
//! build the book, serve it on 127.0.0.1, check its links, open every page in a browser. It is
//! a binary of its own so that the commands a learner runs while working (`cargo xtask hint`,
//! `progress`, ...) never compile mdBook.

use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser)]
#[command(about = "Build, serve and check the workbook's book")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Build the book's HTML into target/book.
    Build,
    /// Build the book and serve it on 127.0.0.1.
    Serve {
        /// The first port to try.
        #[arg(long, default_value_t = 3000)]
        port: u16,
    },
    /// Check that every internal link of the built book resolves.
    Links,
    /// Open every page of the built book in headless Chromium.
    Browser,
    /// Serve the built book with its lab and drive headless Chromium through the controls.
    Lab,
}

/// The workspace root (this crate lives two levels below it).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/book sits in the workspace")
        .to_path_buf()
}

fn main() -> ExitCode {
    let root = root();
    let book_dir = root.join("target/book");
    let outcome = match Cli::parse().command {
        Task::Build => book::build(&root).map(|dir| {
            println!("book built in {}", dir.display());
            true
        }),
        Task::Serve { port } => {
            let started = Instant::now();
            book::build(&root).and_then(|dir| {
                let (server, port) = book::serve::bind(port)?;
                let course = course::Course::load(&root)?;
                let lab = book::lab::Lab::new(&root, &course, port)?;
                // Host time only reports how long the build took.
                println!(
                    "book built in {:.1}s; serving it at http://127.0.0.1:{port}/ (Ctrl-C to stop)",
                    started.elapsed().as_secs_f64()
                );
                book::serve::run(&server, &dir, Some(std::sync::Arc::new(lab)), None);
                Ok(true)
            })
        }
        Task::Links => Ok(book::checks::links_resolve(&book_dir)),
        Task::Browser => course::Course::load(&root)
            .map(|course| book::checks::browser(&root, &book_dir, &course)),
        Task::Lab => course::Course::load(&root)
            .and_then(|course| book::checks::lab(&root, &book_dir, &course)),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
