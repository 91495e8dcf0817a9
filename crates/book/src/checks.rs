//! The book's own checks, which `cargo xtask test` runs through the book binary: every internal
//! link resolves, and a real headless browser renders every page.

use course::Course;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn html_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "html") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The values of every `attr="..."` in an HTML text.
fn attribute_values<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let needle = format!(" {attr}=\"");
    html.match_indices(&needle)
        .filter_map(|(i, _)| {
            let rest = &html[i + needle.len()..];
            rest.find('"').map(|end| &rest[..end])
        })
        .collect()
}

/// Every internal link of the built book resolves, and so does its anchor.
pub fn links_resolve(book: &Path) -> bool {
    let pages = html_files(book);
    let mut broken = Vec::new();
    let mut checked = 0;
    for page in &pages {
        let html = std::fs::read_to_string(page).unwrap_or_default();
        for href in attribute_values(&html, "href") {
            if href.contains("://")
                || href.starts_with("mailto:")
                || href.starts_with("javascript:")
            {
                continue;
            }
            checked += 1;
            let (file, anchor) = match href.split_once('#') {
                Some((f, a)) => (f, Some(a)),
                None => (href, None),
            };
            let target = if file.is_empty() {
                page.clone()
            } else if let Some(from_root) = file.strip_prefix('/') {
                book.join(from_root)
            } else {
                page.parent().expect("in a folder").join(file)
            };
            let target = if target.is_dir() {
                target.join("index.html")
            } else {
                target
            };
            if !target.is_file() {
                broken.push(format!("{}: {href} (no such file)", page.display()));
                continue;
            }
            if let Some(anchor) = anchor.filter(|a| !a.is_empty()) {
                let text = std::fs::read_to_string(&target).unwrap_or_default();
                let ids: BTreeSet<&str> = attribute_values(&text, "id").into_iter().collect();
                if !ids.contains(anchor) {
                    broken.push(format!("{}: {href} (no id {anchor:?})", page.display()));
                }
            }
        }
    }
    for b in &broken {
        println!("broken link: {b}");
    }
    println!(
        "links: {} internal links in {} pages, {} broken",
        checked,
        pages.len(),
        broken.len()
    );
    broken.is_empty()
}

/// The labels of a timeline cut to "…" whose mark does not carry the whole text in its
/// `<title>` (which the page shows on a click, a Tab or a hover): each should be empty.
fn cut_labels_without_full_text(html: &str) -> Vec<String> {
    let mut missing = Vec::new();
    for group in html.split("<g class=\"").skip(1) {
        let Some(group) = group.split("</g>").next() else {
            continue;
        };
        let title = group
            .split_once("<title>")
            .and_then(|(_, rest)| rest.split_once("</title>"))
            .map_or("", |(t, _)| t);
        for text in group.split("<text").skip(1) {
            let Some(shown) = text
                .split_once('>')
                .and_then(|(_, rest)| rest.split_once("</text>"))
                .map(|(t, _)| t)
            else {
                continue;
            };
            if let Some(prefix) = shown.strip_suffix('…')
                && !title.contains(prefix)
            {
                missing.push(shown.to_string());
            }
        }
    }
    missing
}

/// How long one page may take to load in the browser before the attempt is abandoned.
const PAGE_TIMEOUT: &str = "30";

/// Runs chromium with `args` under a hard time limit, up to twice more while attempts time out
/// (coreutils `timeout` exits 124, or 137 after its kill): a page that never finishes loading
/// must fail the check, not hang it. Headless Chromium here now and then stalls on a page that
/// loads at once when tried again.
fn chromium_run(chromium: &str, args: &[String]) -> std::io::Result<std::process::Output> {
    let attempt = || {
        Command::new("timeout")
            .args(["--kill-after=5", PAGE_TIMEOUT, chromium])
            .args(CHROMIUM_FLAGS)
            .args(args)
            .output()
    };
    let timed_out = |o: &std::process::Output| matches!(o.status.code(), Some(124 | 137));
    let mut output = attempt()?;
    for _ in 0..2 {
        if !timed_out(&output) {
            break;
        }
        println!("browser: chromium timed out after {PAGE_TIMEOUT}s; trying again");
        output = attempt()?;
    }
    Ok(output)
}

const CHROMIUM_FLAGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
];

/// Serves the built book with its lab and runs `lab-check/check.mjs` (playwright-core, from
/// npm, driving Debian's Chromium) against it: a control change per chapter, a step-through,
/// the reader's stub crate, and the requests the lab must refuse.
pub fn lab(root: &Path, book: &Path, course: &Course) -> Result<bool, String> {
    // Debian's `chromium` is a launcher script that adds flags from /etc/chromium.d (remote
    // extensions among them); playwright is made to drive the browser itself, so it gets the
    // binary whenever the launcher's is there.
    let debian_binary = Path::new("/usr/lib/chromium/chromium");
    let chromium = debian_binary
        .is_file()
        .then(|| debian_binary.display().to_string())
        .into_iter()
        .chain(
            ["chromium", "chromium-browser"]
                .into_iter()
                .filter_map(|c| {
                    let found = Command::new("which").arg(c).output().ok()?;
                    found
                        .status
                        .success()
                        .then(|| String::from_utf8_lossy(&found.stdout).trim().to_string())
                }),
        )
        .next()
        .ok_or("no chromium on this machine (.ci/run installs Debian's chromium)")?;
    let driver = root.join("crates/book/lab-check");
    if !driver.join("node_modules/playwright-core").is_dir() {
        println!(
            "lab: installing playwright-core (npm ci in {})",
            driver.display()
        );
        let installed = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&driver)
            .status()
            .map_err(|e| format!("cannot run npm (.ci/run installs Debian's npm): {e}"))?;
        if !installed.success() {
            return Err("npm ci failed".into());
        }
    }
    let (server, port) = crate::serve::bind(4500)?;
    let lab = crate::lab::Lab::new(root, course, port)?;
    let server = std::sync::Arc::new(server);
    let serving = server.clone();
    let dir = book.to_path_buf();
    let log_path = root.join("target/lab/requests.log");
    let _ = std::fs::create_dir_all(root.join("target/lab"));
    let log = std::fs::File::create(&log_path)
        .map_err(|e| format!("cannot write {}: {e}", log_path.display()))?;
    let log = std::sync::Arc::new(std::sync::Mutex::new(log));
    std::thread::spawn(move || {
        crate::serve::run(&serving, &dir, Some(std::sync::Arc::new(lab)), Some(log))
    });
    let shots = root.join("target/screenshots");
    let _ = std::fs::create_dir_all(&shots);
    let status = Command::new("timeout")
        .args(["--kill-after=10", "1500", "node", "check.mjs"])
        .current_dir(&driver)
        .env("LAB_URL", format!("http://127.0.0.1:{port}"))
        .env("SHOTS", &shots)
        .env("CHROMIUM", &chromium)
        .env("LAB_REQUEST_LOG", &log_path)
        .status()
        .map_err(|e| format!("cannot run node (.ci/run installs Debian's nodejs): {e}"))?;
    server.unblock();
    if !status.success() {
        // What the server saw, to tell a request that never arrived from one never answered.
        let seen = std::fs::read_to_string(&log_path).unwrap_or_default();
        let lines: Vec<&str> = seen.lines().collect();
        println!(
            "lab: the server's last requests ({} in all, {}):",
            lines.len(),
            log_path.display()
        );
        for line in &lines[lines.len().saturating_sub(30)..] {
            println!("lab:   {line}");
        }
    }
    Ok(status.success())
}

/// Opens every page of the built book in headless Chromium: the page has its title, chapter
/// pages show at least one rendered timeline, a figure with knobs says that its controls need
/// `cargo xtask serve` (this server has no lab), the console stays silent, and a screenshot of
/// each page is saved under `target/screenshots`.
pub fn browser(root: &Path, book: &Path, course: &Course) -> bool {
    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok());
    let Some(chromium) = chromium else {
        println!("no chromium on this machine (.ci/run installs Debian's chromium)");
        return false;
    };
    let (server, port) = match crate::serve::bind(4400) {
        Ok(bound) => bound,
        Err(e) => {
            println!("{e}");
            return false;
        }
    };
    let server = std::sync::Arc::new(server);
    let serving = server.clone();
    let dir = book.to_path_buf();
    std::thread::spawn(move || crate::serve::run(&serving, &dir, None, None));
    let shots = root.join("target/screenshots");
    let _ = std::fs::create_dir_all(&shots);
    let profile = root.join("target/chromium-profile");
    let chapter_pages: BTreeSet<PathBuf> = course
        .chapters
        .iter()
        .map(|c| c.page_in_book().with_extension("html"))
        .collect();
    let mut ok = true;
    // toc.html is not a page but the sidebar's fallback for readers without JavaScript, a
    // fragment with no title of its own.
    let pages: Vec<PathBuf> = html_files(book)
        .into_iter()
        .filter_map(|p| p.strip_prefix(book).ok().map(Path::to_path_buf))
        .filter(|p| p != Path::new("toc.html"))
        .collect();
    for page in &pages {
        let url = format!("http://127.0.0.1:{port}/{}", page.display());
        let profile_arg = format!("--user-data-dir={}", profile.display());
        let dump = chromium_run(
            chromium,
            &[
                profile_arg.clone(),
                "--enable-logging=stderr".into(),
                "--v=0".into(),
                "--virtual-time-budget=3000".into(),
                "--dump-dom".into(),
                url.clone(),
            ],
        );
        let Ok(dump) = dump else {
            println!("browser: cannot start {chromium}");
            return false;
        };
        let dom = String::from_utf8_lossy(&dump.stdout);
        let log = String::from_utf8_lossy(&dump.stderr);
        let title = dom
            .split_once("<title>")
            .and_then(|(_, rest)| rest.split_once("</title>"))
            .map(|(t, _)| t.trim().to_string())
            .unwrap_or_default();
        let timelines = dom.matches("<figure class=\"timeline").count();
        let svgs_in_figures = dom
            .split("<figure class=\"timeline")
            .skip(1)
            .filter(|f| {
                f.split("</figure>")
                    .next()
                    .is_some_and(|inner| inner.contains("<svg"))
            })
            .count();
        let details = dom.matches("class=\"timeline-detail\"").count();
        // Served without the lab, a figure with knobs says what its controls need instead.
        let lab_figures = dom.matches(" data-lab=").count();
        let lab_notes = dom.matches("class=\"lab-static\"").count();
        let lab_controls = dom.matches("class=\"lab-controls\"").count();
        let unreadable = cut_labels_without_full_text(&dom);
        let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
        let shot = shots.join(page.with_extension("png").file_name().expect("a file name"));
        let screenshot = chromium_run(
            chromium,
            &[
                profile_arg,
                "--window-size=1280,1600".into(),
                "--virtual-time-budget=3000".into(),
                format!("--screenshot={}", shot.display()),
                url.clone(),
            ],
        )
        .is_ok_and(|o| o.status.success())
            && shot.is_file();
        let mut problems = Vec::new();
        if !dump.status.success() || dom.is_empty() {
            problems.push("did not load".to_string());
        }
        if title.is_empty() {
            problems.push("no title".to_string());
        }
        if chapter_pages.contains(page) && svgs_in_figures == 0 {
            problems.push(format!("no rendered timeline ({timelines} figures)"));
        }
        if details != timelines {
            problems.push(format!(
                "{details} of {timelines} timelines have the line that shows a mark in full (did \
                 workbook.js run?)"
            ));
        }
        if lab_notes != lab_figures || lab_controls != 0 {
            problems.push(format!(
                "{lab_figures} figures with knobs, {lab_notes} say the controls need `cargo xtask \
                 serve`, {lab_controls} show controls without the lab"
            ));
        }
        if !unreadable.is_empty() {
            problems.push(format!(
                "labels cut short with no full text to click or hover: {unreadable:?}"
            ));
        }
        if !console.is_empty() {
            problems.push(format!("console messages: {console:?}"));
        }
        if !screenshot {
            problems.push("no screenshot".to_string());
        }
        if problems.is_empty() {
            println!(
                "browser: {} \"{title}\" ({svgs_in_figures} timelines) ok",
                page.display()
            );
        } else {
            ok = false;
            println!("browser: {}: {}", page.display(), problems.join("; "));
        }
    }
    server.unblock();
    println!(
        "browser: {} pages, screenshots in {}",
        pages.len(),
        shots.display()
    );
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_label_must_keep_its_whole_text_in_its_title() {
        let fine = r#"<g class="tl-note"><title>n2 at 1ms: granted lease 1 until 1188.000ms</title><circle/><text x="1">granted lease 1 until 11…</text></g>"#;
        assert!(cut_labels_without_full_text(fine).is_empty());
        let lost = r#"<g class="tl-note"><title>n2 at 1ms</title><text x="1">granted lease 1 until 11…</text></g>"#;
        assert_eq!(
            cut_labels_without_full_text(lost),
            vec!["granted lease 1 until 11…".to_string()]
        );
    }

    #[test]
    fn attribute_values_are_found_whole() {
        let html = r##"<a href="a.html#x">a</a> <h2 id="x">x</h2><a class="c" href="#top">"##;
        assert_eq!(attribute_values(html, "href"), vec!["a.html#x", "#top"]);
        assert_eq!(attribute_values(html, "id"), vec!["x"]);
    }
}
