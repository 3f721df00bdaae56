//! `--help` has examples: every command's long help (and `kgen --help`) ends with an
//! `Examples:` section of 2–4 invocations, each of which the real parser accepts, so renaming a
//! flag breaks this test rather than the examples.

use crate::common::{self, root};

use clap::{CommandFactory, Parser};
use kgen::cli::Cli;

/// The command lines of an `Examples:` section: lines starting with `kgen `, each `&&`-joined
/// part that runs kgen, without its redirection (`> file`). `# …` lines describe them.
fn example_commands(examples: &str) -> Vec<String> {
    examples
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("kgen "))
        .flat_map(|l| l.split(" && ").map(str::trim).filter(|p| p.starts_with("kgen ")).map(str::to_string))
        .map(|p| p.split(" > ").next().unwrap().to_string())
        .collect()
}

/// Shell words of `line`: blanks separate, single and double quotes group.
fn words(line: &str) -> Vec<String> {
    let (mut out, mut word, mut quote, mut any) = (Vec::new(), String::new(), None, false);
    for c in line.chars() {
        match (quote, c) {
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {
                if any {
                    out.push(std::mem::take(&mut word));
                    any = false;
                }
            }
            (_, c) => {
                word.push(c);
                any = true;
            }
        }
    }
    assert!(quote.is_none(), "unclosed quote in `{line}`");
    if any {
        out.push(word);
    }
    out
}

/// Every command and its path (`kgen`, `kgen render`, …), clap's `help` left out.
fn commands() -> Vec<(String, clap::Command)> {
    let mut top = Cli::command();
    top.build();
    let mut out = vec![("kgen".to_string(), top.clone())];
    for sub in top.get_subcommands().filter(|s| s.get_name() != "help") {
        out.push((format!("kgen {}", sub.get_name()), sub.clone()));
    }
    out
}

#[test]
fn every_command_has_examples_that_parse() {
    let all = commands();
    assert!(all.len() >= 15, "{}", all.len());
    for (path, cmd) in &all {
        let Some(after) = cmd.get_after_long_help() else { panic!("`{path} --help` has no examples") };
        let text = after.to_string();
        assert!(text.starts_with("Examples:\n"), "{path}: {text}");
        let examples = example_commands(&text);
        assert!((2..=4).contains(&examples.len()), "{path}: 2–4 examples, not {}: {examples:?}", examples.len());
        for example in &examples {
            let argv = words(example);
            if let Err(e) = Cli::try_parse_from(&argv) {
                panic!("{path}: the example `{example}` does not parse:\n{e}");
            }
        }
        // Every line is an example or says what the next one does; nothing else to drift. A
        // subcommand's examples start with that subcommand.
        for line in text.lines().skip(1) {
            let line = line.trim();
            let shows = line.starts_with(&format!("{path} ")) || line == path;
            assert!(shows || line.starts_with("# "), "{path}: `{line}`");
        }
    }
}

#[test]
fn the_checker_refuses_what_the_parser_refuses() {
    // A renamed flag, a missing value, an unknown command: each is caught.
    for bad in ["kgen render --chek", "kgen upgrade prod --to", "kgen nosuch", "kgen rules --format yaml"] {
        assert!(Cli::try_parse_from(words(bad)).is_err(), "{bad}");
    }
    assert_eq!(words("kgen diff 'k8s-*' --format json"), ["kgen", "diff", "k8s-*", "--format", "json"]);
    assert_eq!(
        example_commands("Examples:\n  kgen man > kgen.1\n  kgen init && kgen new a && man x\n"),
        ["kgen man", "kgen init", "kgen new a"]
    );
}

#[test]
fn long_help_shows_the_examples_and_short_help_stays_short() {
    for args in [&["--help"][..], &["render", "--help"], &["help", "explain"]] {
        let o = common::kgen(&root(), args);
        assert!(o.status.success(), "{args:?}");
        let out = String::from_utf8(o.stdout).unwrap();
        assert!(out.contains("\nExamples:\n  "), "{args:?}:\n{out}");
    }
    let o = common::kgen(&root(), &["render", "-h"]);
    assert!(!String::from_utf8(o.stdout).unwrap().contains("Examples:"));
}

#[test]
fn man_pages_have_an_examples_section() {
    let t = tempfile::tempdir().unwrap();
    let o = common::kgen(&root(), &["man", "--out", t.path().to_str().unwrap()]);
    assert!(o.status.success());
    for (path, _) in commands() {
        let page = path.replace(' ', "-");
        let text = std::fs::read_to_string(t.path().join(format!("{page}.1"))).unwrap();
        let (_, examples) = text.split_once(".SH EXAMPLES\n").unwrap_or_else(|| panic!("{page}.1 has no EXAMPLES"));
        assert!(examples.contains(&format!("  {path}")), "{page}.1: {examples}");
        assert!(!text.contains(".SH EXTRA"), "{page}.1");
    }
}
