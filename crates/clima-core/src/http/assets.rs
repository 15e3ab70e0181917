//! The dashboard's static files, served at `/` with a strict Content-Security-Policy.

use std::path::{Component, Path};

use super::reply::Reply;

/// No inline script, nothing from other origins: sensor-supplied text can never become code.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                       connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// Serves `path` from `dir`, refusing anything that would leave it.
pub fn serve(dir: Option<&Path>, path: &str) -> Reply {
    let not_found = || Reply::error(404, "not_found", format!("no such page: {path}"));
    let Some(dir) = dir else {
        return Reply {
            content_type: "text/plain; charset=utf-8",
            ..Reply::empty(200)
        }
        .with_body(b"Clima is running. The API lives under /api/v1/ (see README).\n".to_vec());
    };
    let rel = path.trim_start_matches('/');
    let rel = if rel.is_empty() { "index.html" } else { rel };
    let rel = Path::new(rel);
    if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return not_found();
    }
    let Ok(body) = std::fs::read(dir.join(rel)) else {
        return not_found();
    };
    let content_type = match rel.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    };
    Reply {
        content_type,
        ..Reply::empty(200)
    }
    .with_body(body)
    .with_header("Content-Security-Policy", CSP)
    .with_header("Cache-Control", "no-cache")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_inside_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "<p>hi</p>").unwrap();
        std::fs::write(dir.path().join("app.js"), "1").unwrap();
        let serve = |p| serve(Some(dir.path()), p);
        assert_eq!(serve("/").status, 200);
        assert_eq!(serve("/").content_type, "text/html; charset=utf-8");
        assert!(serve("/")
            .headers
            .iter()
            .any(|(k, v)| *k == "Content-Security-Policy" && v.contains("script-src 'self'")));
        assert_eq!(
            serve("/app.js").content_type,
            "text/javascript; charset=utf-8"
        );
        assert_eq!(serve("/../etc/passwd").status, 404);
        assert_eq!(serve("/missing.css").status, 404);
        assert_eq!(serve("//etc/passwd").status, 404);
    }
}
