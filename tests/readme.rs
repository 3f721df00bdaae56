//! The README's snippets are things users paste: every YAML block parses, and every `kgen`
//! command line in them uses only flags kgen has.

use crate::common;

use common::*;

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).unwrap()
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

#[test]
fn every_yaml_block_parses() {
    let yaml = blocks(&readme(), "yaml");
    assert!(yaml.len() >= 4, "the README has its CI jobs and examples as YAML");
    for b in &yaml {
        kgen::yaml::from_str::<serde_json::Value>(b, kgen::yaml::Budget::Render)
            .unwrap_or_else(|e| panic!("README YAML block does not parse: {e}\n{b}"));
    }
}

#[test]
fn kgen_commands_in_the_ci_jobs_use_real_flags() {
    let text = readme();
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("kgen diff --")).collect();
    assert!(lines.len() >= 2, "both CI jobs run kgen diff");
    let help = kgen(&root(), &["diff", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout).to_string();
    for line in lines {
        let at = line.find("kgen diff").unwrap();
        let words = line[at..].split_whitespace().map(|w| w.trim_end_matches(['`', ')', ',', '.', ';']));
        for word in words.filter(|w| w.starts_with("--")) {
            assert!(help.contains(word), "`{word}` in the README ({line}) is not a flag of `kgen diff`");
        }
    }
}
