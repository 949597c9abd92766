//! The source stays readable: no function in `src/` is longer than a person can hold in their
//! head (issue 18). A function over the limit is two or more steps: split it along them.
//!
//! The scan is a small lexer, not a parser: it blanks comments and string and character
//! literals, then matches the braces of every `fn` item. Its length runs from the line of `fn`
//! to the line of the closing brace, both included.

use std::path::{Path, PathBuf};

/// The most lines a function of `src/` may have.
const LIMIT: usize = 150;

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|entry| entry.expect("src/ can be walked").into_path())
        .filter(|path| path.extension().is_some_and(|e| e == "rs"))
        .collect();
    files.sort();
    files
}

/// Where the contents of a raw string starting at `at` begin, and its number of `#`.
fn raw_string(chars: &[char], at: usize) -> Option<(usize, usize)> {
    if at > 0 && (chars[at - 1].is_alphanumeric() || chars[at - 1] == '_') {
        return None;
    }
    let r = if chars[at] == 'b' { at + 1 } else { at };
    if chars.get(r) != Some(&'r') {
        return None;
    }
    let hashes = chars[r + 1..].iter().take_while(|c| **c == '#').count();
    (chars.get(r + 1 + hashes) == Some(&'"')).then_some((r + 2 + hashes, hashes))
}

/// `source` with every comment and the contents of every string and character literal
/// replaced by spaces, newlines kept: braces and `fn` in it are code.
fn blank_non_code(source: &str) -> Vec<char> {
    let chars: Vec<char> = source.chars().collect();
    let mut out = chars.clone();
    let blank = |out: &mut Vec<char>, from: usize, to: usize| {
        for c in &mut out[from..to.min(chars.len())] {
            if *c != '\n' {
                *c = ' ';
            }
        }
    };
    let mut i = 0;
    while i < chars.len() {
        let rest = &chars[i..];
        let end = if rest.starts_with(&['/', '/']) {
            rest.iter()
                .position(|c| *c == '\n')
                .map_or(chars.len(), |n| i + n)
        } else if rest.starts_with(&['/', '*']) {
            let (mut depth, mut j) = (0usize, i);
            while j < chars.len() {
                if chars[j..].starts_with(&['/', '*']) {
                    depth += 1;
                    j += 2;
                } else if chars[j..].starts_with(&['*', '/']) {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            j
        } else if let Some((content, hashes)) = raw_string(&chars, i) {
            // `r"..."`, `br#"..."#`: ends at a quote followed by as many `#`.
            let mut j = content;
            loop {
                if j >= chars.len() {
                    break chars.len();
                }
                if chars[j] == '"'
                    && chars[j + 1..].iter().take_while(|c| **c == '#').count() >= hashes
                {
                    break j + 1 + hashes;
                }
                j += 1;
            }
        } else if rest[0] == '"' {
            let mut j = i + 1;
            while j < chars.len() && chars[j] != '"' {
                j += if chars[j] == '\\' { 2 } else { 1 };
            }
            j + 1
        } else if rest[0] == '\'' {
            // A character literal (`'x'`, `'\n'`, `'\u{1F600}'`), or a lifetime or label.
            if rest.get(1) == Some(&'\\') {
                let close = rest[2..]
                    .iter()
                    .position(|c| *c == '\'')
                    .map_or(0, |n| n + 2);
                i + close + 1
            } else if rest.get(2) == Some(&'\'') {
                i + 3
            } else {
                i += 1;
                continue;
            }
        } else {
            i += 1;
            continue;
        };
        blank(&mut out, i, end);
        i = end.max(i + 1);
    }
    out
}

/// Every function of a file: (name, line of `fn`, length in lines).
fn functions(source: &str) -> Vec<(String, usize, usize)> {
    let code = blank_non_code(source);
    let line_at = |at: usize| code[..at].iter().filter(|c| **c == '\n').count() + 1;
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut found = Vec::new();
    for at in 0..code.len().saturating_sub(2) {
        let keyword = code[at] == 'f'
            && code[at + 1] == 'n'
            && code[at + 2].is_whitespace()
            && (at == 0 || !ident(code[at - 1]));
        if !keyword {
            continue;
        }
        let name_start = at
            + 2
            + code[at + 2..]
                .iter()
                .take_while(|c| c.is_whitespace())
                .count();
        let name: String = code[name_start..]
            .iter()
            .take_while(|c| ident(**c))
            .collect();
        if name.is_empty() {
            continue; // a function pointer type, `fn(..)`
        }
        // The body: the first `{` outside the signature's brackets; a `;` first means none.
        let mut depth = 0i32;
        let mut open = None;
        for (j, c) in code.iter().enumerate().skip(name_start) {
            match c {
                '(' | '[' => depth += 1,
                ')' | ']' => depth -= 1,
                ';' if depth == 0 => break,
                '{' if depth == 0 => {
                    open = Some(j);
                    break;
                }
                _ => {}
            }
        }
        let Some(open) = open else { continue };
        let mut braces = 0i32;
        let close = code[open..]
            .iter()
            .position(|c| {
                braces += match c {
                    '{' => 1,
                    '}' => -1,
                    _ => 0,
                };
                braces == 0
            })
            .map_or(code.len() - 1, |n| open + n);
        found.push((name, line_at(at), line_at(close) - line_at(at) + 1));
    }
    found
}

#[test]
fn no_function_in_src_is_over_150_lines_issue_18() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut long = Vec::new();
    let mut counted = 0;
    for path in rust_files(&root.join("src")) {
        let source = fs_err::read_to_string(&path).unwrap();
        let relative = path.strip_prefix(root).unwrap().display().to_string();
        for (name, line, length) in functions(&source) {
            counted += 1;
            if length > LIMIT {
                long.push(format!("{relative}:{line}: `{name}` is {length} lines"));
            }
        }
    }
    assert!(counted > 500, "the scan found only {counted} functions");
    assert!(
        long.is_empty(),
        "functions over {LIMIT} lines; split each along its steps:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_scan_ignores_braces_in_comments_strings_and_characters() {
    let source = r##"
// fn commented() { {
fn first() {
    let s = "}}} fn fake() {";
    let r = r#"" }"#;
    let c = '}';
    let l: &'static str = "x";
    /* } /* nested } */ } */
}
fn pointer(f: fn(u8) -> u8) -> [u8; 2] { [f(1), f(2)] }
trait T { fn declared(&self); }
"##;
    assert_eq!(
        functions(source),
        [("first".to_string(), 3, 7), ("pointer".to_string(), 10, 1),]
    );
}
