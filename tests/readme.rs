//! The README and `docs/*.md` are what users read and paste: the README stays a newcomer's page
//! (≤ 20 KB), every relative link and anchor resolves, every YAML block parses, every `kgen`
//! command line in them uses only flags kgen has, and nothing points at kgen's own build setup
//! (`../shared`, the SPEC) that users do not have.

use std::collections::BTreeSet;
use std::path::Path;

use crate::common;

use common::*;

/// README.md and every `docs/*.md`, as (repository-relative path, text), sorted.
fn documents() -> Vec<(String, String)> {
    let mut out = vec![("README.md".to_string(), std::fs::read_to_string(root().join("README.md")).unwrap())];
    let mut docs: Vec<_> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    for p in docs {
        let name = format!("docs/{}", p.file_name().unwrap().to_string_lossy());
        out.push((name, std::fs::read_to_string(&p).unwrap()));
    }
    out
}

/// The bodies of the fenced blocks of a language.
fn blocks(text: &str, lang: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match &mut current {
            None if line.trim_start() == format!("```{lang}") => current = Some(String::new()),
            Some(body) if line.trim_start() == "```" => {
                out.push(std::mem::take(body));
                current = None;
            }
            Some(body) => {
                body.push_str(line);
                body.push('\n');
            }
            None => {}
        }
    }
    out
}

/// Text outside fenced code blocks, line by line.
fn prose(text: &str) -> Vec<&str> {
    let mut in_code = false;
    text.lines()
        .filter(|l| {
            if l.starts_with("```") {
                in_code = !in_code;
                return false;
            }
            !in_code
        })
        .collect()
}

#[test]
fn the_readme_is_a_newcomers_page() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(readme.len() <= 20 * 1024, "README.md is {} bytes; keep it ≤ 20 KB and move detail to docs/", readme.len());
    // What a newcomer needs is there: the two set-up commands, the quickstart, exit codes, the
    // bootstrap of each engine, and the way into the rest.
    for needle in [
        "cargo run --release -- render --all",
        "cargo test",
        "kgen init",
        "kgen new ",
        "### Exit codes",
        "application-prod-root.yaml",
        "kustomization-kgen-staging.yaml",
        "install.sh",
        "## Documentation",
    ] {
        assert!(readme.contains(needle), "README lacks `{needle}`");
    }
    // Every document of docs/ is reachable from the README.
    for (name, _) in documents().iter().skip(1) {
        assert!(readme.contains(&format!("]({name}")), "README does not link {name}");
    }
}

#[test]
fn every_relative_link_and_anchor_resolves() {
    let docs = documents();
    let mut bad = Vec::new();
    let mut checked = 0;
    for (name, text) in &docs {
        let dir = Path::new(name).parent().unwrap();
        for line in prose(text) {
            let mut rest = line;
            while let Some(at) = rest.find("](") {
                rest = &rest[at + 2..];
                let Some(end) = rest.find(')') else { break };
                let target = &rest[..end];
                rest = &rest[end..];
                if target.starts_with("http://") || target.starts_with("https://") || target.starts_with("mailto:") {
                    continue;
                }
                checked += 1;
                let (path, anchor) = target.split_once('#').unwrap_or((target, ""));
                let file = if path.is_empty() { name.clone() } else { normalise(&dir.join(path)) };
                if !root().join(&file).exists() {
                    bad.push(format!("{name}: `{target}`: no file {file}"));
                    continue;
                }
                if !anchor.is_empty() {
                    let text = std::fs::read_to_string(root().join(&file)).unwrap();
                    if !markdown_anchors(&text).contains(anchor) {
                        bad.push(format!("{name}: `{target}`: no heading #{anchor} in {file}"));
                    }
                }
            }
        }
    }
    assert!(checked >= 30, "the documents link each other ({checked} links)");
    assert!(bad.is_empty(), "broken links: {bad:#?}");
}

/// `a/../b` → `b`, without touching the disk (the target may be missing: that is the finding).
fn normalise(path: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in path.components() {
        match c {
            std::path::Component::ParentDir => {
                parts.pop();
            }
            std::path::Component::CurDir => {}
            c => parts.push(c.as_os_str().to_string_lossy().to_string()),
        }
    }
    parts.join("/")
}

#[test]
fn a_broken_anchor_is_found() {
    // The checker itself: an anchor GitHub would give, and one it would not.
    let anchors = markdown_anchors("# Title\n## What `kgen render` writes\n```yaml\n# not a heading\n```\n## Title\n");
    assert!(anchors.contains("what-kgen-render-writes"));
    assert!(anchors.contains("title-1"), "{anchors:?}");
    assert!(!anchors.contains("not-a-heading"));
    assert_eq!(normalise(Path::new("docs/../schemas/x.json")), "schemas/x.json");
}

#[test]
fn user_documents_do_not_point_at_kgens_build_setup() {
    // Users have neither kgen's CI data folder nor its specification.
    let changelog = ("CHANGELOG.md".to_string(), std::fs::read_to_string(root().join("CHANGELOG.md")).unwrap());
    for (name, text) in documents().into_iter().chain([changelog]) {
        for (n, line) in text.lines().enumerate() {
            for word in ["../shared", "SPEC §", "SPEC.md"] {
                assert!(!line.contains(word), "{name}:{}: `{word}` means nothing to a user: {line}", n + 1);
            }
        }
    }
}

#[test]
fn every_yaml_block_parses() {
    let mut count = 0;
    for (name, text) in documents() {
        for b in blocks(&text, "yaml") {
            count += 1;
            kgen::yaml::from_str::<serde_json::Value>(&b, kgen::yaml::Budget::Render)
                .unwrap_or_else(|e| panic!("{name}: YAML block does not parse: {e}\n{b}"));
        }
    }
    assert!(count >= 4, "the documents have CI jobs and examples as YAML");
}

#[test]
fn kgen_commands_in_the_ci_jobs_use_real_flags() {
    let docs = documents();
    let lines: Vec<(&str, &str)> = docs
        .iter()
        .flat_map(|(name, text)| text.lines().filter(|l| l.contains("kgen diff --")).map(move |l| (name.as_str(), l)))
        .collect();
    assert!(lines.len() >= 2, "the CI jobs run kgen diff");
    let help = kgen(&root(), &["diff", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout).to_string();
    for (name, line) in lines {
        let at = line.find("kgen diff").unwrap();
        let words = line[at..].split_whitespace().map(|w| w.trim_end_matches(['`', ')', ',', '.', ';']));
        for word in words.filter(|w| w.starts_with("--")) {
            assert!(help.contains(word), "`{word}` in {name} ({line}) is not a flag of `kgen diff`");
        }
    }
}

/// The anchors GitHub gives a Markdown file's headings: lower-case, punctuation other than `-`
/// and `_` dropped, spaces as `-`, a repeated heading suffixed `-1`, `-2`… Lines in code blocks
/// (`# comment` in YAML) are not headings.
pub(crate) fn markdown_anchors(text: &str) -> BTreeSet<String> {
    let mut anchors = BTreeSet::new();
    for line in prose(text) {
        let Some(title) = line.strip_prefix('#').map(|t| t.trim_start_matches('#')) else {
            continue;
        };
        let slug: String = title
            .trim()
            .to_lowercase()
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                _ => None,
            })
            .collect();
        let mut anchor = slug.clone();
        for n in 1.. {
            if !anchors.contains(&anchor) {
                break;
            }
            anchor = format!("{slug}-{n}");
        }
        anchors.insert(anchor);
    }
    anchors
}
