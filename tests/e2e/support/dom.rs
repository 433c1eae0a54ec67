//! Reading a DOM as `chromium --dump-dom` serializes it (double-quoted
//! attributes, `&quot; &amp; &lt; &gt;` escaped): start tags with their
//! attributes, and element text. A plain scan, enough for pages whose
//! structure the test knows; not an HTML parser.

use std::collections::BTreeMap;

/// One start tag.
pub struct StartTag {
    pub name: String,
    pub attrs: BTreeMap<String, String>,
    /// Byte offset just past the tag's `>`.
    pub end: usize,
}

/// Every start tag outside `<script>` and `<style>`.
pub fn start_tags(html: &str) -> Vec<StartTag> {
    let mut tags = Vec::new();
    let mut at = 0;
    while let Some(offset) = html[at..].find('<') {
        let start = at + offset + 1;
        at = start;
        if !html[start..].starts_with(|c: char| c.is_ascii_alphabetic()) {
            continue;
        }
        let close = start + html[start..].find('>').unwrap();
        let inside = &html[start..close];
        let name_len = inside
            .find(|c: char| c.is_whitespace())
            .unwrap_or(inside.len());
        let name = inside[..name_len].to_ascii_lowercase();
        let attrs = attributes(&inside[name_len..]);
        at = close + 1;
        if name == "script" || name == "style" {
            at += html[at..].find(&format!("</{name}>")).unwrap();
        }
        tags.push(StartTag {
            name,
            attrs,
            end: close + 1,
        });
    }
    tags
}

/// `a="1" b="two words" c` → map. Values are double-quoted (Chromium's
/// serializer escapes `"` and `>` inside them).
fn attributes(mut text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    loop {
        text = text.trim_start();
        if text.is_empty() {
            return out;
        }
        let name_end = text
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(text.len());
        let name = text[..name_end].to_string();
        text = &text[name_end..];
        if let Some(rest) = text.strip_prefix("=\"") {
            let value_end = rest.find('"').unwrap();
            out.insert(name, unescape(&rest[..value_end]));
            text = &rest[value_end + 1..];
        } else {
            out.insert(name, String::new());
        }
    }
}

/// The text from `from` up to `end` with tags removed.
pub fn element_text(html: &str, from: usize, end: &str) -> String {
    let inner = &html[from..from + html[from..].find(end).unwrap()];
    let mut text = String::new();
    let mut in_tag = false;
    for c in inner.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    unescape(text.trim())
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}
