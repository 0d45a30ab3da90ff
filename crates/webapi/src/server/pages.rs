//! The HTML index and method pages.

use crate::examples;
use crate::types::Method;

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title>\
<style>body{{font-family:sans-serif;max-width:60em;margin:1em auto}}pre{{background:#f4f4f4;padding:.5em;overflow:auto}}</style>\
</head><body>\n{body}</body></html>\n",
        t = escape(title)
    )
}

/// The index: every method with its description.
pub(super) fn index() -> String {
    let mut body = String::from(
        "<h1>Postel web API v0</h1>\n<p>Call a method with <code>POST v0/&lt;Method&gt;</code>, \
HTTP Basic authentication (an address of the account and its password) and the request JSON \
either in the form field <code>request</code> (application/x-www-form-urlencoded or \
multipart/form-data) or as the body with <code>Content-Type: application/json</code>. \
Errors are <code>{\"Code\": \"...\", \"Message\": \"...\"}</code>. \
The OpenAPI document is at <a href=\"openapi.json\">openapi.json</a>.</p>\n<ul>\n",
    );
    for m in Method::all() {
        body.push_str(&format!(
            "<li><a href=\"{n}\">{n}</a>{postel}: {d}</li>\n",
            n = m.as_str(),
            postel = if m.is_postel() { " (Postel)" } else { "" },
            d = escape(m.description()),
        ));
    }
    body.push_str("</ul>\n");
    page("Postel web API", &body)
}

/// A method page with example request and response.
pub(super) fn method(m: Method) -> String {
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default();
    let req = pretty(&examples::request(m));
    let resp = match examples::response(m) {
        Some(v) => format!("<pre>{}</pre>\n", escape(&pretty(&v))),
        None => "<p>The response body is the raw bytes.</p>\n".to_string(),
    };
    let curl = format!(
        "curl -u user@example.org:password -H 'Content-Type: application/json' --data '{}' \
https://mail.example.org/webapi/v0/{}",
        serde_json::to_string(&examples::request(m))
            .unwrap_or_default()
            .replace('\'', "'\\''"),
        m.as_str()
    );
    // A plain form posting the field `request`, as the reference's page has:
    // the browser asks for the credentials and shows the answer.
    let body = format!(
        "<p><a href=\"./\">index</a></p>\n<h1>{n}</h1>\n<p>{d}</p>\n<h2>Example request</h2>\n<pre>{req}</pre>\n\
<h2>Example response</h2>\n{resp}<h2>Try it</h2>\n<form method=\"POST\" action=\"{n}\">\
<textarea name=\"request\" rows=\"12\" cols=\"80\">{req}</textarea><br><button type=\"submit\">Call</button></form>\n\
<h2>With curl</h2>\n<pre>{curl}</pre>\n",
        n = m.as_str(),
        d = escape(m.description()),
        req = escape(&req),
        curl = escape(&curl),
    );
    page(m.as_str(), &body)
}
