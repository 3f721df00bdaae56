//! Diagnostics: every problem kgen reports about an input is a value with a code, a severity,
//! a file:line:col, a key path and a hint. Rendering (with a source frame) happens only in the
//! command layer, through [`render`].

use std::fmt;

use crate::rule_code::RuleCode;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Blocks rendering; exit code 2.
    Error,
    /// Reported; an error under `--strict`.
    Warning,
    /// Worth knowing; never fails a run, not even under `--strict`.
    Info,
}

impl Severity {
    /// The lower-case name (`error`, `warning`, `info`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// One problem, located.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// Stable code (`KG103`), see `kgen rules`.
    pub code: RuleCode,
    /// Severity.
    pub severity: Severity,
    /// What is wrong, lower-case, no trailing period.
    pub message: String,
    /// File the problem is in, relative to the project root (`environments/prod.yaml`).
    pub file: Option<String>,
    /// 1-based line and column.
    pub location: Option<(usize, usize)>,
    /// Dotted key path of the value concerned (`kserve.deploymentMode`).
    pub key_path: Option<String>,
    /// Short label under the source frame.
    pub label: Option<String>,
    /// What to do about it.
    pub hint: Option<String>,
    /// Where the fact behind the rule comes from (a URL or a README section), printed as `see:`.
    pub see: Option<String>,
    /// A note standing in for a diagnostic an `ignore:` entry suppressed: `kgen validate` shows
    /// it, other commands only with `-v` (it is the same every run and would clutter CI logs).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ignore_note: bool,
}

impl Diagnostic {
    /// A new error with just a code and message.
    pub fn error(code: RuleCode, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            file: None,
            location: None,
            key_path: None,
            label: None,
            hint: None,
            see: None,
            ignore_note: false,
        }
    }

    /// A new warning.
    pub fn warning(code: RuleCode, message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(code, message) }
    }

    /// A new informational note.
    pub fn info(code: RuleCode, message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Info, ..Diagnostic::error(code, message) }
    }

    /// Sets the source of the fact behind it.
    pub fn see(mut self, see: impl Into<String>) -> Self {
        self.see = Some(see.into());
        self
    }

    /// Sets the file.
    pub fn in_file(mut self, file: impl Into<String>) -> Self {
        self.file = Some(file.into());
        self
    }

    /// Sets the location.
    pub fn at(mut self, location: Option<(usize, usize)>) -> Self {
        self.location = location;
        self
    }

    /// Sets the key path.
    pub fn key(mut self, key_path: impl Into<String>) -> Self {
        let k = key_path.into();
        self.key_path = (!k.is_empty()).then_some(k);
        self
    }

    /// Marks it as the note of an ignored rule.
    pub fn ignore_note(mut self) -> Self {
        self.ignore_note = true;
        self
    }

    /// Sets the label.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Sets the hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Sort key: file, position, code, message — so output never depends on discovery order.
    pub fn sort_key(&self) -> (Option<&str>, Option<(usize, usize)>, &str, &str) {
        (self.file.as_deref(), self.location, self.code.as_str(), &self.message)
    }

    /// `file:line:col` (or less, where unknown).
    pub fn location_string(&self) -> Option<String> {
        let file = self.file.as_deref()?;
        Some(match self.location {
            Some((l, c)) => format!("{file}:{l}:{c}"),
            None => file.to_string(),
        })
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(loc) = self.location_string() {
            write!(f, "{loc}: ")?;
        }
        write!(f, "[{}] ", self.code)?;
        if let Some(k) = &self.key_path {
            write!(f, "`{k}`: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Sorts and removes exact duplicates (a layer shared by several environments is reported once).
pub fn normalize(diags: &mut Vec<Diagnostic>) {
    diags.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    diags.dedup();
}

/// Whether a character must not reach a terminal or a generated file as it is: control
/// characters (C0 including ESC, DEL, C1 including CSI), Unicode's line and paragraph separators
/// (line breaks to a YAML 1.1 reader), and the bidirectional overrides and isolates, which
/// reorder what is displayed ("Trojan Source").
pub fn is_unprintable(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// The one escaping helper for everything kgen prints about its input — paths, names, values,
/// messages that quote them: every unprintable character (see above) becomes `\u{1b}` (line
/// breaks and tabs `\n`, `\r`, `\t`), so a file name or a value cannot move the cursor,
/// recolour, clear or retitle the terminal, or forge a line of output. `keep` names the layout characters a multi-line text keeps (`\n`;
/// `\t` in a source frame, which the frame draws as spaces).
pub fn escape_with<'a>(s: &'a str, keep: &[char]) -> std::borrow::Cow<'a, str> {
    let bad = |(i, c): (usize, char)| {
        is_unprintable(c) && !keep.contains(&c) && !(c == '\r' && keep.contains(&'\n') && s[i + 1..].starts_with('\n'))
    };
    if !s.char_indices().any(bad) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for (i, c) in s.char_indices() {
        if bad((i, c)) {
            // Line breaks and tabs as a YAML double-quoted string writes them (`\n`), the rest
            // by code point.
            match c {
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                _ => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            }
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// [`escape_with`] for a one-line value (a path, a name): every unprintable character, `\n`
/// and `\t` included, is escaped.
pub fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    escape_with(s, &[])
}

/// [`escape_with`] for a message of one or more lines: lines stay lines (`\n`, `\r\n`).
pub fn escape_lines(s: &str) -> std::borrow::Cow<'_, str> {
    escape_with(s, &['\n'])
}

/// What a source frame may show of a file's text: its lines and tabs, nothing else unprintable.
const FRAME_KEEPS: &[char] = &['\n', '\t'];

/// A copy of `d` with every text escaped ([`escape`]), for printing.
fn escaped(d: &Diagnostic) -> Diagnostic {
    let one = |s: &String| escape(s).into_owned();
    Diagnostic {
        message: escape_lines(&d.message).into_owned(),
        file: d.file.as_ref().map(one),
        key_path: d.key_path.as_ref().map(one),
        label: d.label.as_ref().map(one),
        hint: d.hint.as_ref().map(|h| escape_lines(h).into_owned()),
        see: d.see.as_ref().map(one),
        ..d.clone()
    }
}

/// Renders one diagnostic as text with a source frame when `source` (the file's text) is known.
/// `color` selects ANSI styling; output is otherwise identical. Every text is escaped
/// ([`escape`]), the source frame too.
pub fn render(d: &Diagnostic, source: Option<&str>, color: bool) -> String {
    let d = &escaped(d);
    render_escaped(d, source, color)
}

fn render_escaped(d: &Diagnostic, source: Option<&str>, color: bool) -> String {
    use miette::{GraphicalReportHandler, GraphicalTheme};
    let theme = if color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(100).with_links(false).with_context_lines(1);
    let mut out = String::new();
    let sev = d.severity.as_str();
    let head = format!("{sev}[{}]", d.code);
    if color {
        // As rustc and cargo colour it: red errors, yellow warnings, cyan notes, in bold.
        let colour = match d.severity {
            Severity::Error => "31",
            Severity::Warning => "33",
            Severity::Info => "36",
        };
        out.push_str(&format!("\x1b[1;{colour}m{head}\x1b[0m: "));
    } else {
        out.push_str(&format!("{head}: "));
    }
    if let Some(k) = &d.key_path {
        out.push_str(&format!("`{k}`: "));
    }
    out.push_str(&d.message);
    out.push('\n');
    let framed = Framed::new(d, source);
    match (&framed.span, d.location_string()) {
        (Some(_), _) => {
            let mut body = String::new();
            // Rendering into a String cannot fail.
            let _ = handler.render_report(&mut body, &framed);
            // The first line repeats the message; the frame starts after it.
            let body: Vec<&str> = body.lines().skip(1).collect();
            for line in body {
                out.push_str(line.trim_end());
                out.push('\n');
            }
        }
        (None, Some(loc)) => {
            out.push_str(&format!("  --> {loc}\n"));
            if let Some(h) = &d.hint {
                out.push_str(&format!("  help: {h}\n"));
            }
        }
        (None, None) => {
            if let Some(h) = &d.hint {
                out.push_str(&format!("  help: {h}\n"));
            }
        }
    }
    if let Some(see) = &d.see {
        out.push_str(&format!("  see: {see}\n"));
    }
    out
}

/// Longest source line drawn in a frame.
const MAX_FRAMED_LINE: usize = 400;

/// Adapter giving miette what it needs to draw the frame.
struct Framed<'a> {
    d: &'a Diagnostic,
    source: Option<miette::NamedSource<String>>,
    span: Option<miette::SourceSpan>,
}

impl<'a> Framed<'a> {
    fn new(d: &'a Diagnostic, source: Option<&str>) -> Self {
        let (Some(text), Some((line, col)), Some(file)) = (source, d.location, d.file.as_deref()) else {
            return Framed { d, source: None, span: None };
        };
        let Some(offset) = byte_offset(text, line, col) else {
            return Framed { d, source: None, span: None };
        };
        // A frame of a very long line helps nobody (and miette cannot draw columns past
        // 65,535): such problems get a plain `--> file:line:col`.
        let line_len = text.lines().nth(line.saturating_sub(1)).map_or(0, str::len);
        if line_len > MAX_FRAMED_LINE {
            return Framed { d, source: None, span: None };
        }
        let len = token_len(&text[offset..]);
        // The frame shows the text escaped; the span is moved to where the token is in it.
        let shown = |t: &str| escape_with(t, FRAME_KEEPS).len();
        let (offset, len) = (shown(&text[..offset]), shown(&text[offset..offset + len]));
        let text = escape_with(text, FRAME_KEEPS).into_owned();
        Framed { d, source: Some(miette::NamedSource::new(file, text)), span: Some((offset, len).into()) }
    }
}

/// The source token at a 1-based line/column (for messages that quote what was written).
pub fn token_at(text: &str, line: usize, col: usize) -> Option<&str> {
    let off = byte_offset(text, line, col)?;
    let len = token_len(&text[off..]);
    Some(&text[off..off + len])
}

/// Byte offset of a 1-based line/column (column counted in characters).
fn byte_offset(text: &str, line: usize, col: usize) -> Option<usize> {
    let mut start = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            let in_line: usize = l.chars().take(col.saturating_sub(1)).map(char::len_utf8).sum();
            return Some(start + in_line.min(l.trim_end_matches('\n').len()));
        }
        start += l.len();
    }
    (line == text.split_inclusive('\n').count() + 1).then_some(text.len())
}

/// Length of the YAML token starting here, for the underline.
fn token_len(rest: &str) -> usize {
    let first_line = rest.lines().next().unwrap_or("");
    let mut chars = first_line.char_indices();
    match chars.next() {
        Some((_, q @ ('"' | '\''))) => {
            for (i, c) in chars {
                if c == q {
                    return i + 1;
                }
            }
            first_line.len()
        }
        Some(_) => {
            let end = first_line
                .char_indices()
                .find(|&(i, c)| {
                    c == '#' && i > 0
                        || (c == ':' && first_line[i + 1..].starts_with([' ', '\t']))
                        || (c == ':' && i + 1 == first_line.len())
                })
                .map_or(first_line.len(), |(i, _)| i);
            first_line[..end].trim_end().len().max(1)
        }
        None => 0,
    }
}

impl fmt::Debug for Framed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.d.message)
    }
}

/// The message is printed by [`render`] itself (unwrapped); miette's own first line carries
/// this one-word stand-in, which `render` drops, so a long message never appears twice.
impl fmt::Display for Framed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.d.code.as_str())
    }
}

impl std::error::Error for Framed<'_> {}

impl miette::Diagnostic for Framed<'_> {
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.d.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
            Severity::Info => miette::Severity::Advice,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.d.hint.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let span = self.span?;
        let label = self.d.label.clone().or_else(|| Some("here".to_string()));
        Some(Box::new(std::iter::once(miette::LabeledSpan::new_primary_with_span(label, span))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_lengths() {
        assert_eq!(token_len("replcas: 3"), 7);
        assert_eq!(token_len("\"a b\" # c"), 5);
        assert_eq!(token_len("Knativ  # comment"), 6);
        assert_eq!(token_len("https://x.y/z"), 13);
    }

    #[test]
    fn escaping() {
        assert_eq!(escape("plain `name`"), "plain `name`");
        assert!(matches!(escape("plain"), std::borrow::Cow::Borrowed(_)));
        assert_eq!(escape("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(escape("x\ny\t\u{7f}\u{9b}\u{202e}"), "x\\ny\\t\\u{7f}\\u{9b}\\u{202e}");
        assert_eq!(escape_lines("one\r\ntwo\rthree\n"), "one\r\ntwo\\rthree\n");
    }

    /// A control character in a file is shown escaped in the frame, and the underline still
    /// points at the token after it.
    #[test]
    fn frames_show_the_source_escaped() {
        let text = "a: \"\u{1b}]0;pwned\u{7}\"\nb: bad\n";
        let d = Diagnostic::error(crate::rule_code::RuleCode::KG104, "m\u{1b}[31m")
            .in_file("environments/e\u{1b}.yaml")
            .at(Some((2, 4)));
        let out = render(&d, Some(text), false);
        assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out}");
        assert!(out.contains("\\u{1b}]0;pwned\\u{7}"), "{out}");
        assert!(out.contains("error[KG104]: m\\u{1b}[31m"), "{out}");
        assert!(out.contains("environments/e\\u{1b}.yaml:2:4"), "{out}");
        // The underline starts under `bad` (columns in characters: the frame draws with
        // box-drawing characters of different byte lengths).
        let frame: Vec<Vec<char>> = out.lines().map(|l| l.chars().collect()).collect();
        let i = frame.iter().position(|l| l.iter().collect::<String>().contains("b: bad")).unwrap();
        let col = frame[i].windows(3).position(|w| w == ['b', 'a', 'd']).unwrap();
        let under: String = frame[i + 1][col..col + 3].iter().collect();
        assert!(!under.contains(' '), "{out}");
        let before: String = frame[i + 1][col - 1..col].iter().collect();
        assert_eq!(before, " ", "{out}");
    }

    #[test]
    fn offsets_count_characters() {
        let t = "a: 1\nbé: x\n";
        assert_eq!(byte_offset(t, 2, 5), Some(5 + 5));
    }
}
