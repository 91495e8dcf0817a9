//! Serves the built book on 127.0.0.1 only: its files, and the lab (`/lab/`) that reruns a
//! figure's scenario (see `crate::lab` for what it refuses).

use crate::lab::{Asked, Lab};
use std::io::Read;
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Where a check wants each request written down (arrival and answer, in milliseconds since
/// the server started), so that a page that never loads can be told from a server that never
/// answered.
pub type RequestLog = Arc<Mutex<std::fs::File>>;

/// Binds the first free port from `port` upwards, on loopback only.
pub fn bind(port: u16) -> Result<(tiny_http::Server, u16), String> {
    (port..port.saturating_add(50))
        .find_map(|p| {
            tiny_http::Server::http(("127.0.0.1", p))
                .ok()
                .map(|s| (s, p))
        })
        .ok_or_else(|| format!("no free port on 127.0.0.1 from {port}"))
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "ico" => "image/x-icon",
        _ => "application/octet-stream",
    }
}

/// The file a URL path names inside `dir`, refusing anything that climbs out of it.
fn resolve(dir: &Path, url: &str) -> Option<PathBuf> {
    let path = url.split(['?', '#']).next().unwrap_or("");
    let mut file = dir.to_path_buf();
    for component in Path::new(path.trim_start_matches('/')).components() {
        match component {
            Component::Normal(part) => file.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    if file.is_dir() {
        file.push("index.html");
    }
    file.is_file().then_some(file)
}

/// Answers requests until the process ends. Each request is answered on its own thread and
/// its connection closed, so one stalled connection never holds up the page's other requests
/// (a headless browser waiting on one would otherwise wait forever).
pub fn run(server: &tiny_http::Server, dir: &Path, lab: Option<Arc<Lab>>, log: Option<RequestLog>) {
    let started = Instant::now();
    for request in server.incoming_requests() {
        let dir = dir.to_path_buf();
        let lab = lab.clone();
        let log = log.clone();
        std::thread::spawn(move || {
            let mut request = request;
            let asked = format!("{} {}", request.method(), request.url());
            note(&log, started, &format!("asked {asked}"));
            let response = if request.url().starts_with("/lab/") {
                lab_response(request_parts(&mut request), lab.as_deref())
            } else {
                file_response(&dir, request.url(), lab.is_some())
            };
            let status = response.status_code().0;
            let sent = request.respond(response.with_header(header("Connection", "close")));
            let outcome = match sent {
                Ok(()) => format!("answered {asked}: {status}"),
                Err(e) => format!("could not answer {asked}: {e}"),
            };
            note(&log, started, &outcome);
        });
    }
}

fn note(log: &Option<RequestLog>, started: Instant, line: &str) {
    if let Some(file) = log {
        let mut file = file.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(file, "{:>8} ms {line}", started.elapsed().as_millis());
    }
}

/// The marker the page's script looks for before it shows a figure's controls: only pages the
/// lab serves carry it, so a static copy of the book never asks for the lab.
const LAB_MARKER: &str = "<meta name=\"workbook-lab\" content=\"served\">";

fn file_response(
    dir: &Path,
    url: &str,
    with_lab: bool,
) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    match resolve(dir, url).and_then(|f| std::fs::read(&f).ok().map(|b| (f, b))) {
        Some((file, bytes)) => {
            let html = content_type(&file).starts_with("text/html");
            let bytes = match String::from_utf8(bytes) {
                Ok(page) if html && with_lab => page
                    .replacen("</head>", &format!("{LAB_MARKER}\n</head>"), 1)
                    .into_bytes(),
                Ok(text) => text.into_bytes(),
                Err(e) => e.into_bytes(),
            };
            tiny_http::Response::from_data(bytes)
                .with_header(header("Content-Type", content_type(&file)))
        }
        None => {
            let page = std::fs::read(dir.join("404.html")).unwrap_or_default();
            tiny_http::Response::from_data(page).with_status_code(404)
        }
    }
}

fn lab_response(asked: Asked, lab: Option<&Lab>) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    let answer = match lab {
        Some(lab) => lab.answer(&asked),
        None => crate::lab::Answer {
            status: 404,
            json: r#"{"error":"this server has no lab"}"#.into(),
        },
    };
    tiny_http::Response::from_data(answer.json.into_bytes())
        .with_status_code(answer.status)
        .with_header(header("Content-Type", "application/json"))
        // Never cached: the same request reruns the reader's changed code.
        .with_header(header("Cache-Control", "no-store"))
}

/// What the lab reads of a request: a body beyond its limit is cut (and then refused).
fn request_parts(request: &mut tiny_http::Request) -> Asked {
    let named = |name: &'static str| {
        request
            .headers()
            .iter()
            .find(|h| h.field.equiv(name))
            .map(|h| h.value.as_str().to_string())
    };
    let mut asked = Asked {
        method: request.method().as_str().to_string(),
        url: request.url().to_string(),
        host: named("Host"),
        origin: named("Origin"),
        content_type: named("Content-Type"),
        body: Vec::new(),
    };
    let _ = request
        .as_reader()
        .take(crate::lab::MAX_BODY as u64 + 1)
        .read_to_end(&mut asked.body);
    asked
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name, value).expect("a valid header")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_cannot_climb_out_of_the_book() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        assert!(resolve(dir, "/src/main.rs").is_some());
        assert!(resolve(dir, "/../Cargo.toml").is_none());
        assert!(resolve(dir, "/src/../../Cargo.toml").is_none());
        assert!(resolve(dir, "/missing.html").is_none());
    }
}
