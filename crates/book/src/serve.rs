//! Serves the built book on 127.0.0.1 only: a static file server, nothing more.

use std::path::{Component, Path, PathBuf};

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
pub fn run(server: &tiny_http::Server, dir: &Path) {
    for request in server.incoming_requests() {
        let dir = dir.to_path_buf();
        std::thread::spawn(move || {
            let response = match resolve(&dir, request.url())
                .and_then(|f| std::fs::read(&f).ok().map(|b| (f, b)))
            {
                Some((file, bytes)) => tiny_http::Response::from_data(bytes)
                    .with_header(header("Content-Type", content_type(&file))),
                None => {
                    let page = std::fs::read(dir.join("404.html")).unwrap_or_default();
                    tiny_http::Response::from_data(page).with_status_code(404)
                }
            };
            let _ = request.respond(response.with_header(header("Connection", "close")));
        });
    }
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
