//! The docs stay true: every path they name exists, every function they point to is defined
//! where they say, and every measured figure says when and how it was measured.
//!
//! What is read: `README.md`, `docs/**/*.md`, `benches/README.md` (the prose docs), and the
//! comments (`//`, `///`, `//!`) of every file under `src/`, `tests/`, `examples/` and
//! `benches/`.
//!
//! The conventions it checks (write new docs this way):
//!
//! 1. **Paths.** A word that starts with `src/`, `docs/`, `benches/`, `tests/`, `examples/` or
//!    `.ci/`, and any backticked file name ending in `.rs`, `.md` or `.sh`, names a file (or,
//!    ending in `/`, a directory) of this repository. A trailing `:LINE` or `:LINE:COL` is
//!    allowed. It is looked up from the repository root, then from the directory of the file
//!    that names it (`compare/harness.rs` in `benches/README.md`), then, for a bare file name
//!    (`raw.rs`), anywhere under `src/`, `tests/`, `examples/` and `benches/`.
//! 2. **`file` `function` references.** A backticked `.rs` file followed by a backticked item
//!    name, written `` `src/task/raw.rs` `dealloc` ``, `` `raw.rs`, `dealloc` ``,
//!    `` `raw.rs` (`dealloc`) `` or `` `src/task/raw.rs:dealloc` ``, and the reverse
//!    `` `dealloc` in `raw.rs` ``, says that the file defines that item (a `fn`, `struct`,
//!    `enum`, `trait`, `type`, `const`, `static` or `mod`). For `Type::method`, the method.
//! 3. **Figures.** In the prose docs, a number with a unit of time (`µs`, `us`, `ns`, and `ms`
//!    or `s` with a decimal point), a ratio (`2.7x`), a percentage or a rate (`msg/s`, `req/s`)
//!    is a measurement. Outside code fences, each one sits in a generated file
//!    (`docs/bench/report.md`, `docs/bench/echo_latency.md`) or in a block (paragraph, list
//!    or table) that carries its date
//!    (`YYYY-MM-DD`) and its command (a backticked `cargo ...`, `bash ...`, `valgrind ...`,
//!    `strace ...` or `MINIRT_TRACE=...`). A table or list may take both from its caption,
//!    the paragraph right before it, and a paragraph right after a table, which comments on
//!    it, takes the table's. Nothing is taken across a heading. A figure right after `≥`,
//!    `>=`, `≤`, `<=`, `target`, `at least` or `within` is a target, not a measurement.
//!
//! Things that look like paths or figures but are not are listed in [`ALLOWED`], each with
//! its reason. Keep that list short.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// Exceptions: (file that says it, the token, why it is not one of ours).
const ALLOWED: &[(&str, &str, &str)] = &[
    (
        "tests/example_support/mod.rs",
        "examples/NAME/main.rs",
        "a pattern for any folder example, not one file",
    ),
    (
        "benches/README.md",
        "src/epoll.rs",
        "a file of the polling crate, named as where its five system calls happen",
    ),
    (
        "docs/observing.md",
        "src/main.rs:12:24",
        "sample output of a user's program, not a file of this repository",
    ),
    (
        "benches/compare/executor.rs",
        "rt_current_thread.rs",
        "tokio's benchmark the workloads copy",
    ),
    (
        "benches/compare/executor.rs",
        "rt_multi_threaded.rs",
        "tokio's benchmark the workloads copy",
    ),
    (
        "benches/compare/executor.rs",
        "local_executor.rs",
        "smol's benchmark the workloads copy",
    ),
    (
        "benches/compare/sync.rs",
        "sync_mpsc_oneshot.rs",
        "tokio's benchmark the workload copies",
    ),
    (
        "benches/compare/sync.rs",
        "sync_semaphore.rs",
        "tokio's benchmark the workload copies",
    ),
];

/// Words for mechanisms minirt no longer has, which a doc must not describe as current: (the
/// phrase, what replaced it). History may still be told in other words.
const RETIRED: &[(&str, &str)] = &[
    (
        "oneshot arming",
        "sockets are registered once, edge-triggered (src/reactor.rs)",
    ),
    (
        "armed for reading",
        "a waiting task's waker sits in the socket's reader slot",
    ),
    (
        "registers the listener",
        "a listener is registered once, when it is made",
    ),
    (
        "re-arms a socket",
        "a socket stays registered; dispatch sets its directions' ready flags (src/reactor.rs)",
    ),
];

/// Generated files, whose figures come with their run by construction.
const GENERATED: &[&str] = &["docs/bench/report.md", "docs/bench/echo_latency.md"];

const PATH_PREFIXES: &[&str] = &["src/", "docs/", "benches/", "tests/", "examples/", ".ci/"];
const SEARCHED_TREES: &[&str] = &["src", "tests", "examples", "benches", "docs"];
/// This file: its own docs show the conventions with examples.
const SELF: &str = "tests/docs_honest.rs";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One file's text to check: its path (relative to the root), and its lines of prose (for a
/// Rust file, the comments only; other lines are blank, so line numbers stay right).
struct Doc {
    path: String,
    lines: Vec<String>,
    markdown: bool,
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap()
        .to_string_lossy()
        .replace('\\', "/")
}

/// The comment text of a Rust source line: what follows `//`, outside string literals (a rough
/// cut: a `//` after an odd number of quotes is in a string).
fn comment_of(line: &str) -> Option<&str> {
    let mut quotes = 0;
    let bytes = line.as_bytes();
    for i in 0..bytes.len() {
        match bytes[i] {
            b'"' if i == 0 || bytes[i - 1] != b'\\' => quotes += 1,
            b'/' if quotes % 2 == 0 && bytes.get(i + 1) == Some(&b'/') => {
                return Some(&line[i..]);
            }
            _ => {}
        }
    }
    None
}

fn docs() -> Vec<Doc> {
    let root = root();
    let mut files = vec![root.join("README.md"), root.join("benches/README.md")];
    walk(&root.join("docs"), &mut files);
    for tree in SEARCHED_TREES {
        walk(&root.join(tree), &mut files);
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for file in files {
        let path = relative(&file);
        if path == SELF || !seen.insert(path.clone()) {
            continue;
        }
        let markdown = path.ends_with(".md");
        if !markdown && !path.ends_with(".rs") {
            continue;
        }
        let text = fs::read_to_string(&file).unwrap();
        let lines = text
            .lines()
            .map(|line| {
                if markdown {
                    line.to_string()
                } else {
                    comment_of(line).unwrap_or("").to_string()
                }
            })
            .collect();
        out.push(Doc {
            path,
            lines,
            markdown,
        });
    }
    out
}

fn allowed(doc: &str, token: &str) -> bool {
    ALLOWED.iter().any(|&(d, t, _)| d == doc && t == token)
}

/// The backticked spans of a line, with their byte offsets.
fn backticked(line: &str) -> Vec<(usize, usize, &str)> {
    let mut spans = Vec::new();
    let mut rest = 0;
    while let Some(open) = line[rest..].find('`').map(|i| rest + i) {
        let Some(close) = line[open + 1..].find('`').map(|i| open + 1 + i) else {
            break;
        };
        spans.push((open, close + 1, &line[open + 1..close]));
        rest = close + 1;
    }
    spans
}

/// `file.rs:12:5` and `file.rs:function` name `file.rs`.
fn strip_line_number(token: &str) -> &str {
    let mut token = token;
    if let Some((file, _)) = token.split_once(".rs:") {
        return &token[..file.len() + 3];
    }
    while let Some((head, tail)) = token.rsplit_once(':') {
        if !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()) {
            token = head;
        } else {
            break;
        }
    }
    token
}

/// Where a path named in `doc` is, if it is in the repository.
fn resolve(doc: &str, token: &str) -> Option<PathBuf> {
    let root = root();
    let token = token.trim_start_matches("./");
    // `examples/tour` names the example `examples/tour.rs`, or a folder example.
    if token.starts_with("examples/") && !token.contains('.') && !token.ends_with('/') {
        let folder = root.join(token);
        if folder.is_dir() {
            return Some(folder);
        }
        return resolve(doc, &format!("{token}.rs"));
    }
    let candidates = [
        root.join(token),
        root.join(Path::new(doc).parent().unwrap()).join(token),
    ];
    if let Some(found) = candidates.into_iter().find(|p| p.exists()) {
        return Some(found);
    }
    if token.contains('/') {
        // `compare/harness.rs` named from `benches/compare/sync.rs`, `time/mod.rs` from
        // `src/lib.rs`: look under each tree too.
        return SEARCHED_TREES
            .iter()
            .map(|tree| root.join(tree).join(token))
            .find(|p| p.exists());
    }
    let mut files = Vec::new();
    for tree in SEARCHED_TREES {
        walk(&root.join(tree), &mut files);
    }
    // A bare name: prefer the one next to the doc, else any.
    let dir = root.join(Path::new(doc).parent().unwrap());
    let mut matches: Vec<_> = files
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == token))
        .collect();
    matches.sort_by_key(|p| !p.starts_with(&dir));
    matches.into_iter().next()
}

fn looks_like_path(token: &str) -> bool {
    if token.contains(['*', '{', '<', '$', ' ', '|', '=']) {
        return false;
    }
    PATH_PREFIXES.iter().any(|p| token.starts_with(p))
}

fn looks_like_file_name(token: &str) -> bool {
    // Build outputs under `target/` are made by the commands that name them.
    !token.starts_with("target/")
        && !token.contains(['*', '{', '<', '$', ' ', '|', '=', ':', '('])
        && [".rs", ".md", ".sh"].iter().any(|ext| token.ends_with(ext))
}

/// Path-like words of a line: every word with a repository prefix, and every backticked file
/// name.
fn path_tokens(line: &str) -> Vec<String> {
    let mut tokens = BTreeSet::new();
    let trim = |w: &str| {
        w.trim_matches(|c: char| "`'\"()[],;.!?<>".contains(c))
            .trim_end_matches(':')
            .to_string()
    };
    for word in line.split(|c: char| c.is_whitespace() || c == '`' || c == '(' || c == ')') {
        let word = trim(word);
        if looks_like_path(&word) {
            tokens.insert(word);
        }
    }
    for (_, _, span) in backticked(line) {
        let span = strip_line_number(span);
        if looks_like_file_name(span) {
            tokens.insert(span.to_string());
        }
    }
    tokens.into_iter().collect()
}

#[test]
fn every_path_named_in_the_docs_exists() {
    let mut missing = Vec::new();
    for doc in docs() {
        let mut in_fence = false;
        for (n, line) in doc.lines.iter().enumerate() {
            if line.trim_start().starts_with("```") {
                in_fence = !in_fence;
            }
            for token in path_tokens(line) {
                let path = strip_line_number(&token);
                if path.ends_with('/') && !PATH_PREFIXES.iter().any(|p| path.starts_with(p)) {
                    continue;
                }
                if resolve(&doc.path, path).is_none() && !allowed(&doc.path, &token) {
                    missing.push(format!("{}:{}: `{token}` does not exist", doc.path, n + 1));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "paths named in the docs that do not exist (fix the doc, or add the token to ALLOWED \
         with a reason):\n{}",
        missing.join("\n")
    );
}

#[test]
fn no_doc_describes_a_retired_mechanism() {
    let mut stale = Vec::new();
    for doc in docs() {
        for (n, line) in doc.lines.iter().enumerate() {
            let line = line.to_lowercase();
            for (phrase, now) in RETIRED {
                if line.contains(phrase) {
                    stale.push(format!("{}:{}: \"{phrase}\": now {now}", doc.path, n + 1));
                }
            }
        }
    }
    assert!(
        stale.is_empty(),
        "docs describing what is gone:\n{}",
        stale.join("\n")
    );
}

fn is_ident(s: &str) -> bool {
    let s = s.trim_end_matches("()");
    !s.is_empty()
        && s.split("::").all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// `(file, item)` references on a line, per the conventions in the module docs.
fn references(line: &str) -> Vec<(String, String)> {
    let spans = backticked(line);
    let mut refs = Vec::new();
    for (i, &(_, end, span)) in spans.iter().enumerate() {
        if let Some((file, item)) = span.split_once(".rs:") {
            if is_ident(item) {
                refs.push((format!("{file}.rs"), item.to_string()));
            }
            continue;
        }
        if !span.ends_with(".rs") || !looks_like_file_name(span) {
            continue;
        }
        // `file` `item`, `file`, `item`, `file` (`item`
        if let Some(&(start, _, next)) = spans.get(i + 1) {
            let between = &line[end..start];
            if ["", " ", ", ", " (", ": "].contains(&between) && is_ident(next) {
                refs.push((span.to_string(), next.trim_end_matches("()").to_string()));
            }
        }
        // `item` in `file`
        if i > 0 {
            let (_, prev_end, prev) = spans[i - 1];
            if &line[prev_end..spans[i].0] == " in " && is_ident(prev) {
                refs.push((span.to_string(), prev.trim_end_matches("()").to_string()));
            }
        }
    }
    refs
}

/// Whether `source` defines `item`: an item or a struct field of that name. For
/// `Type::method` of a type defined elsewhere (`BufReader::read_line` in a file that calls
/// it), the file must at least call it.
fn defines(source: &str, item: &str) -> bool {
    let name = item.rsplit("::").next().unwrap();
    if item.contains("::") && (source.contains(item) || source.contains(&format!(".{name}("))) {
        return true;
    }
    let is_field = |line: &str| {
        let mut line = line.trim_start();
        for prefix in ["pub(crate) ", "pub(super) ", "pub "] {
            line = line.strip_prefix(prefix).unwrap_or(line);
        }
        line.strip_prefix(name)
            .is_some_and(|rest| rest.starts_with(':') && !rest.starts_with("::"))
    };
    if source.lines().any(is_field) {
        return true;
    }
    let keywords = [
        "fn", "struct", "enum", "trait", "type", "const", "static", "mod", "union",
    ];
    source.lines().any(|line| {
        let words: Vec<&str> = line
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .collect();
        words
            .windows(2)
            .any(|w| keywords.contains(&w[0]) && w[1] == name)
    })
}

#[test]
fn every_file_function_reference_resolves() {
    let mut broken = Vec::new();
    for doc in docs() {
        for (n, line) in doc.lines.iter().enumerate() {
            for (file, item) in references(line) {
                if allowed(&doc.path, &file) {
                    continue;
                }
                let Some(path) = resolve(&doc.path, &file) else {
                    broken.push(format!("{}:{}: `{file}` does not exist", doc.path, n + 1));
                    continue;
                };
                let source = fs::read_to_string(&path).unwrap_or_default();
                if !defines(&source, &item) {
                    broken.push(format!(
                        "{}:{}: `{file}` `{item}`: {} defines no `{item}`",
                        doc.path,
                        n + 1,
                        relative(&path)
                    ));
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "`file` `item` references that do not resolve:\n{}",
        broken.join("\n")
    );
}

/// A measured figure in a line of prose, if any: returns each figure's text.
fn figures(line: &str) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts_number = chars[i].is_ascii_digit()
            && (i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_'));
        if !starts_number {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.' || chars[i] == ',') {
            i += 1;
        }
        // A trailing `.` or `,` ends the sentence, not the number.
        let mut number_end = i;
        while number_end > start && matches!(chars[number_end - 1], '.' | ',') {
            number_end -= 1;
        }
        let number: String = chars[start..number_end].iter().collect();
        let decimal = number.contains('.');
        let mut j = number_end;
        if j < chars.len() && chars[j] == ' ' {
            j += 1;
        }
        let rest: String = chars[j..].iter().take(6).collect();
        let unit_end = |unit: &str| {
            rest.starts_with(unit)
                && rest[unit.len()..]
                    .chars()
                    .next()
                    .is_none_or(|c| !c.is_alphanumeric())
        };
        let unit = ["µs", "us", "ns", "msg/s", "req/s", "%"]
            .into_iter()
            .find(|u| unit_end(u))
            .or_else(|| {
                // `x` only right after the number: "2.7x", not "3 x 1,000".
                (j == number_end && unit_end("x")).then_some("x")
            })
            .or_else(|| ["ms", "s"].into_iter().find(|u| decimal && unit_end(u)));
        if let Some(unit) = unit {
            let before: String = chars[..start].iter().collect();
            let before = before.trim_end();
            let is_target = ["≥", ">=", "<=", "≤", "target", "at least", "within"]
                .iter()
                .any(|t| before.ends_with(t));
            if !is_target {
                out.push(format!("{number}{unit}"));
            }
        }
        i = i.max(start + 1);
    }
    out
}

fn has_date(text: &str) -> bool {
    let b = text.as_bytes();
    (0..b.len().saturating_sub(9)).any(|i| {
        let d = |k: usize| b[i + k].is_ascii_digit();
        d(0) && d(1)
            && d(2)
            && d(3)
            && b[i + 4] == b'-'
            && d(5)
            && d(6)
            && b[i + 7] == b'-'
            && d(8)
            && d(9)
    })
}

fn has_command(text: &str) -> bool {
    backticked(text).iter().any(|(_, _, span)| {
        ["cargo ", "bash ", "valgrind ", "strace ", "MINIRT_TRACE="]
            .iter()
            .any(|c| span.starts_with(c))
    })
}

/// A block of Markdown: consecutive non-blank lines outside code fences.
struct Block {
    first_line: usize,
    text: String,
    is_table_or_list: bool,
    is_table: bool,
    ends_with_colon: bool,
    /// The first block after a heading takes nothing from the blocks before it.
    after_heading: bool,
}

fn blocks(lines: &[String]) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    let mut current: Option<Block> = None;
    let mut in_fence = false;
    let mut heading = true;
    for (n, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            in_fence = !in_fence;
            out.extend(current.take());
            continue;
        }
        if trimmed.starts_with('#') && !in_fence {
            out.extend(current.take());
            heading = true;
            continue;
        }
        // Images stand alone between a caption and its table.
        if in_fence || trimmed.is_empty() || trimmed.starts_with("![") {
            out.extend(current.take());
            continue;
        }
        let block = current.get_or_insert_with(|| Block {
            first_line: n + 1,
            text: String::new(),
            is_table_or_list: trimmed.starts_with('|')
                || trimmed.starts_with("- ")
                || trimmed.chars().next().is_some_and(|c| c.is_ascii_digit()),
            is_table: trimmed.starts_with('|'),
            ends_with_colon: false,
            after_heading: std::mem::take(&mut heading),
        });
        block.text.push_str(line);
        block.text.push('\n');
        block.ends_with_colon = trimmed.ends_with(':');
    }
    out.extend(current);
    out
}

/// The text that may carry block `k`'s date and command: the block itself; for a table or a
/// list, its caption (the paragraph right before it, or a list ending with `:`); for a
/// paragraph right after a table, which comments on it, the table's own context.
fn context(blocks: &[Block], k: usize) -> String {
    let block = &blocks[k];
    let mut text = block.text.clone();
    if k == 0 || block.after_heading {
        return text;
    }
    let previous = &blocks[k - 1];
    let caption =
        block.is_table_or_list && (!previous.is_table_or_list || previous.ends_with_colon);
    if caption || previous.is_table {
        text.push_str(&context(blocks, k - 1));
    }
    text
}

#[test]
fn every_figure_in_prose_says_when_and_how_it_was_measured() {
    let mut undated = Vec::new();
    for doc in docs().into_iter().filter(|d| d.markdown) {
        if GENERATED.contains(&doc.path.as_str()) {
            continue;
        }
        let blocks = blocks(&doc.lines);
        for (k, block) in blocks.iter().enumerate() {
            // Figures are found in the block's text with its lines joined, so that a target
            // split over two lines (`≥` / `0.95x`) is still seen as one.
            let found = figures(&block.text.replace('\n', " "));
            if found.is_empty() {
                continue;
            }
            let context = context(&blocks, k);
            if !(has_date(&context) && has_command(&context)) {
                undated.push(format!(
                    "{}:{}: {} without {}",
                    doc.path,
                    block.first_line,
                    found.join(", "),
                    match (has_date(&context), has_command(&context)) {
                        (false, false) => "a date or a command",
                        (false, true) => "a date",
                        _ => "a command",
                    }
                ));
            }
        }
    }
    assert!(
        undated.is_empty(),
        "figures in prose that do not say when (YYYY-MM-DD) and how (a backticked command) \
         they were measured, in their paragraph, table or list, or its caption:\n{}",
        undated.join("\n")
    );
}

#[test]
fn the_checker_catches_what_it_should() {
    // Paths and references.
    assert_eq!(
        path_tokens("(`IO_BUDGET` in `src/runtime.rs`)."),
        ["src/runtime.rs"]
    );
    assert!(resolve("tests/io_fairness.rs", "src/runtime.rs").is_none());
    assert!(resolve("benches/README.md", "compare/harness.rs").is_some());
    assert!(resolve("src/task/mod.rs", "raw.rs").is_some());
    assert_eq!(
        references("(`src/reactor.rs`, `Poller::modify` when a task waits)"),
        [("src/reactor.rs".to_string(), "Poller::modify".to_string())]
    );
    assert_eq!(
        references("`dealloc` in `raw.rs`; `src/task/raw.rs:dealloc`"),
        [
            ("raw.rs".to_string(), "dealloc".to_string()),
            ("src/task/raw.rs".to_string(), "dealloc".to_string())
        ]
    );
    assert!(defines("pub(crate) unsafe fn dealloc(self) {", "dealloc"));
    assert!(!defines("self.dealloc();", "dealloc"));
    // Figures and their context.
    assert_eq!(
        figures("spawn 3x, yield 2.7x, 0.63 ms late, 12 µs, 5% and 10 ms"),
        ["3x", "2.7x", "0.63ms", "12µs", "5%"]
    );
    assert!(figures("executor ≥ 1.5x tokio, target 1.5x; 64 x 100").is_empty());
    assert!(has_date("on 2026-11-21 06:29") && !has_date("on 11-21"));
    assert!(has_command("with `cargo bench --bench compare`") && !has_command("`cargo`"));
}

/// Lines of a source file before its unit tests (the first line that starts with
/// `#[cfg(test)]`): what `docs/first-pass.md` counts.
fn lines_before_tests(text: &str) -> usize {
    text.lines()
        .take_while(|line| !line.starts_with("#[cfg(test)]"))
        .count()
}

/// Whether `word` stands in `text` with no identifier character on either side.
fn contains_word(text: &str, word: &str) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(ident) && !after.is_some_and(ident)
    })
}

/// The double-quoted phrases of a line (section names the reader is sent to).
fn quoted(line: &str) -> Vec<&str> {
    line.split('"').skip(1).step_by(2).collect()
}

/// What a row of the route tells the reader to look for, missing from the file it names.
fn route_row_problems(file: &str, source: &str, cells: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    for cell in cells {
        for (_, _, token) in backticked(cell) {
            let token = token.trim_end_matches("()");
            if token.contains('/') || token.ends_with(".rs") || !is_ident(token) {
                continue; // paths are rule 1's; `self.note_*(..)` and the like are prose
            }
            if !token.split("::").all(|part| contains_word(source, part)) {
                problems.push(format!("`{token}` is not in {file}"));
            }
        }
        for phrase in quoted(cell) {
            if !source.contains(phrase) {
                problems.push(format!("\"{phrase}\" is not in {file}"));
            }
        }
    }
    problems
}

/// Issue 26: the first pass stays light and true. Each row of its route gives the file's line
/// count before the unit tests, which must be the file's; the intro's total must be their sum,
/// at most 2,200; and every identifier or quoted section a row sends the reader to must be in
/// the file that row names. (A moved function or a renamed heading used to leave the route
/// pointing at nothing, and the counts drifted by hundreds of lines.)
#[test]
fn the_first_pass_route_is_counted_true() {
    let text = fs::read_to_string(root().join("docs/first-pass.md")).unwrap();
    let mut problems = Vec::new();
    let mut total = 0;
    let mut rows = 0;
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | # | `file` | lines | read | skip for now |
        let [_, _, file, count, read, skip, _] = cells[..] else {
            continue;
        };
        let Some(file) = file.strip_prefix('`').and_then(|f| f.strip_suffix('`')) else {
            continue;
        };
        let Ok(count) = count.replace(',', "").parse::<usize>() else {
            continue;
        };
        rows += 1;
        let Ok(source) = fs::read_to_string(root().join(file)) else {
            problems.push(format!("{file}: no such file"));
            continue;
        };
        let lines = lines_before_tests(&source);
        total += lines;
        if lines != count {
            problems.push(format!(
                "{file}: the route says {count} lines, it has {lines}"
            ));
        }
        problems.extend(route_row_problems(file, &source, &[read, skip]));
    }
    assert!(rows >= 5, "the route table was not found");
    let intro = text
        .split("\n\n")
        .nth(1)
        .expect("an intro paragraph after the title");
    let said: usize = intro
        .split(" lines")
        .next()
        .and_then(|head| head.split_whitespace().last())
        .map(|n| n.replace(',', ""))
        .and_then(|n| n.parse().ok())
        .expect("the intro says how many lines the route has");
    if said != total {
        problems.push(format!(
            "the intro says {said} lines; the rows add up to {total}"
        ));
    }
    if total > 2_200 {
        problems.push(format!(
            "the route is {total} lines; a first pass is at most 2,200 (move weight off it)"
        ));
    }
    assert!(
        problems.is_empty(),
        "docs/first-pass.md:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_route_checker_catches_what_it_should() {
    assert_eq!(lines_before_tests("a\nb\n#[cfg(test)]\nmod tests {}\n"), 2);
    assert!(contains_word("fn run_task(&self)", "run_task"));
    assert!(!contains_word("fn run_tasks(&self)", "run_task"));
    assert_eq!(
        quoted(r#"the docs ("Readiness", "Why")"#),
        ["Readiness", "Why"]
    );
    let source = "//! # Readiness\nfn dispatch() {}\nstruct Slab;";
    assert!(route_row_problems("r.rs", source, &["`dispatch`, `Slab`, \"Readiness\""]).is_empty());
    assert_eq!(
        route_row_problems("r.rs", source, &["`park`, \"Spinning\", `src/x.rs`, `a.b`"]),
        ["`park` is not in r.rs", "\"Spinning\" is not in r.rs"]
    );
}
