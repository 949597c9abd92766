//! Files strata shares with others: it owns keys, not the file.
//!
//! `Pulumi.<stack>.yaml` is written by strata (its `config:` keys) and by Pulumi
//! (`encryptionsalt`, `secretsprovider`, `encryptedkey`, and every `pulumi config set`);
//! `apps/<env>/kustomization.yaml` lists strata's Applications and any a person adds. For such
//! a file strata owns *units*: each top-level key it renders, and inside each *container* (a
//! top-level key named by the layer, such as `config` or `resources`) each key or list item it
//! renders. A merge rewrites strata's units and keeps every other byte of the file as it is.
//!
//! What strata last wrote of each unit is recorded in the lock as the hash of its *value* (its
//! YAML parsed and serialised canonically), so that a reformatting by Pulumi's own YAML writer
//! is not mistaken for an edit. A unit whose value someone changed is a conflict, as is any
//! file strata cannot read as block-style YAML. The merge works on lines: it never re-emits
//! text it did not render.

use std::collections::BTreeMap;

use crate::model::lock::hash;

/// One unit of a file: where it is and what it holds.
#[derive(Debug, Clone)]
struct Unit {
    /// `key` at the top level, `container/key` or `container/item` inside a container.
    id: String,
    /// First and one-past-last line of its text.
    start: usize,
    end: usize,
    /// The hash of its canonical value.
    value: String,
}

/// A container found in a file: its key line and where its children end.
#[derive(Debug, Clone)]
struct Container {
    name: String,
    /// The line of `name:`.
    line: usize,
    /// One past the last line of its last child (or `line + 1` when it has none).
    end: usize,
    /// The indentation of its children (None when it has none).
    child_indent: Option<usize>,
    /// An inline empty value (`[]` or `{}`) on the key line.
    inline_empty: bool,
}

/// A file split into units.
#[derive(Debug, Clone)]
struct Parsed {
    lines: Vec<String>,
    units: Vec<Unit>,
    containers: Vec<Container>,
}

/// Why a shared file cannot be merged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unmergeable(pub String);

/// The result of merging a render into a shared file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    /// The file with strata's units rewritten (what `--force` would write when `conflicts` is
    /// not empty).
    pub bytes: Vec<u8>,
    /// Units someone else changed, with what happened to them.
    pub conflicts: Vec<String>,
    /// The units strata owns afterwards, with the hash of their values.
    pub units: BTreeMap<String, String>,
}

/// The units of a rendered shared file, for the lock.
pub fn units_of(
    rendered: &[u8],
    containers: &[String],
) -> Result<BTreeMap<String, String>, Unmergeable> {
    let parsed = parse(rendered, containers)?;
    let mut units: BTreeMap<String, String> =
        parsed.units.into_iter().map(|u| (u.id, u.value)).collect();
    let header = header_of(&parsed.lines);
    if header > 0 {
        units.insert(
            HEADER.to_string(),
            hash(parsed.lines[..header].concat().as_bytes()),
        );
    }
    Ok(units)
}

/// The unit of a file's opening comments: strata's text, rewritten when nobody changed it and
/// otherwise left alone (Pulumi's own writer may drop comments; that is no conflict).
const HEADER: &str = "#header";

/// How many lines open a file before its first key: comments and blank lines.
fn header_of(lines: &[String]) -> usize {
    lines.iter().take_while(|l| !is_content(l)).count()
}

/// Where strata's opening comments are in a file: the first run of top-level comment (and
/// blank) lines whose text hashes to `recorded`. Not only at the top: Pulumi puts its own keys
/// first (`encryptionsalt`, `secretsprovider`), and a person may comment beside strata's lines.
fn find_header(lines: &[String], recorded: &str) -> Option<(usize, usize)> {
    let comment = |line: &String| line.starts_with('#') || line.trim().is_empty();
    for start in (0..lines.len()).filter(|i| lines[*i].starts_with('#')) {
        let mut text = String::new();
        for (end, line) in lines.iter().enumerate().skip(start) {
            if !comment(line) {
                break;
            }
            text.push_str(line);
            if hash(text.as_bytes()) == recorded {
                return Some((start, end + 1));
            }
        }
    }
    None
}

/// An edit of a file's lines: (start, end, replacement lines).
type Edit = (usize, usize, Vec<String>);

/// Merges `rendered` (strata's whole file) into `disk`. `base` holds the units strata wrote
/// last time with their value hashes (empty when strata never wrote the file).
pub fn merge(
    disk: &[u8],
    rendered: &[u8],
    base: &BTreeMap<String, String>,
    containers: &[String],
) -> Result<Merged, Unmergeable> {
    let disk = parse(disk, containers)?;
    let new = parse(rendered, containers)
        .map_err(|e| Unmergeable(format!("strata's own render: {e}")))?;
    let mut merge = Merge::new(&disk, &new, base);
    let missing = merge.rewrite_rendered_units();
    merge.remove_units_no_longer_rendered();
    let file_tail = merge.add_missing_units(missing);
    merge.rewrite_header();
    merge.empty_emptied_containers();
    let bytes = apply(&disk.lines, merge.edits, file_tail)
        .concat()
        .into_bytes();
    let merged = parse(&bytes, containers)?;
    let mut units: BTreeMap<String, String> = merged
        .units
        .into_iter()
        .filter(|u| merge.new_ids.contains(&u.id.as_str()))
        .map(|u| (u.id, u.value))
        .collect();
    let new_header = header_of(&new.lines);
    if new_header > 0 {
        units.insert(
            HEADER.to_string(),
            hash(new.lines[..new_header].concat().as_bytes()),
        );
    }
    Ok(Merged {
        bytes,
        conflicts: merge.conflicts,
        units,
    })
}

/// A merge under way: the file on disk, strata's render, and the conflicts and line edits
/// found so far.
struct Merge<'a> {
    disk: &'a Parsed,
    new: &'a Parsed,
    base: &'a BTreeMap<String, String>,
    disk_units: BTreeMap<&'a str, &'a Unit>,
    new_ids: Vec<&'a str>,
    conflicts: Vec<String>,
    /// Edits on disk lines, applied bottom-up.
    edits: Vec<Edit>,
}

impl<'a> Merge<'a> {
    fn new(disk: &'a Parsed, new: &'a Parsed, base: &'a BTreeMap<String, String>) -> Self {
        Merge {
            disk,
            new,
            base,
            disk_units: disk.units.iter().map(|u| (u.id.as_str(), u)).collect(),
            new_ids: new.units.iter().map(|u| u.id.as_str()).collect(),
            conflicts: Vec::new(),
            edits: Vec::new(),
        }
    }

    /// Units strata renders now: rewritten where they differ (a conflict when someone changed
    /// them); returns those the file does not have.
    fn rewrite_rendered_units(&mut self) -> Vec<&'a Unit> {
        let mut missing: Vec<&Unit> = Vec::new();
        for unit in &self.new.units {
            match self.disk_units.get(unit.id.as_str()) {
                Some(on_disk) if on_disk.value == unit.value => {}
                Some(on_disk) => {
                    match self.base.get(&unit.id) {
                        Some(recorded) if *recorded == on_disk.value => {}
                        Some(_) => self.conflicts.push(format!(
                            "`{}` was changed since strata wrote it",
                            describe(&unit.id)
                        )),
                        None => self.conflicts.push(format!(
                            "`{}` holds a value strata did not write",
                            describe(&unit.id)
                        )),
                    }
                    let mut text = reindent(self.new, unit, indent_at(self.disk, on_disk));
                    let lost =
                        keep_comments(&self.disk.lines[on_disk.start..on_disk.end], &mut text);
                    for comment in lost {
                        self.conflicts.push(format!(
                            "`{}` holds your comment `{comment}`, which strata's new value has no place for",
                            describe(&unit.id)
                        ));
                    }
                    self.edits.push((on_disk.start, on_disk.end, text));
                }
                None => {
                    if self.base.contains_key(&unit.id) {
                        self.conflicts.push(format!(
                            "`{}` was removed since strata wrote it",
                            describe(&unit.id)
                        ));
                    }
                    missing.push(unit);
                }
            }
        }
        missing
    }

    /// Units strata wrote last time and renders no more: removed (a conflict when someone
    /// changed them).
    fn remove_units_no_longer_rendered(&mut self) {
        for (id, recorded) in self.base {
            if self.new_ids.contains(&id.as_str()) || id == HEADER {
                continue;
            }
            if let Some(on_disk) = self.disk_units.get(id.as_str()) {
                if on_disk.value != *recorded {
                    self.conflicts.push(format!(
                        "`{}` was changed since strata wrote it, and would be removed",
                        describe(id)
                    ));
                }
                self.edits.push((on_disk.start, on_disk.end, Vec::new()));
            }
        }
    }

    /// Units to add: after the unit that precedes them in the render, else at the end of their
    /// container (or of the file). Returns the lines that go at the end of the file.
    fn add_missing_units(&mut self, missing: Vec<&'a Unit>) -> Vec<String> {
        let mut appended_containers: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut file_tail: Vec<String> = Vec::new();
        for unit in missing {
            let container = unit.id.split_once('/').map(|(c, _)| c.to_string());
            let index = self
                .new
                .units
                .iter()
                .position(|u| u.id == unit.id)
                .expect("unit is in its render");
            let anchor = self.new.units[..index]
                .iter()
                .rev()
                .filter(|u| u.id.split_once('/').map(|(c, _)| c) == container.as_deref())
                .find_map(|u| self.disk_units.get(u.id.as_str()));
            match (&container, anchor) {
                (_, Some(anchor)) => {
                    let text = reindent(self.new, unit, indent_at(self.disk, anchor));
                    self.edits.push((anchor.end, anchor.end, text));
                }
                (Some(name), None) => match self.disk.containers.iter().find(|c| &c.name == name) {
                    Some(found) => {
                        let indent = found.child_indent.unwrap_or_else(|| {
                            self.new
                                .containers
                                .iter()
                                .find(|c| &c.name == name)
                                .and_then(|c| c.child_indent)
                                .unwrap_or(2)
                        });
                        let text = reindent(self.new, unit, indent);
                        if found.inline_empty {
                            // `resources: []` becomes a block: the key line loses its inline value.
                            let key_line = format!("{}:\n", name);
                            self.edits
                                .push((found.line, found.line + 1, vec![key_line]));
                        }
                        appended_containers
                            .entry(name.clone())
                            .or_default()
                            .extend(text);
                    }
                    None => {
                        let lines = appended_containers.entry(name.clone()).or_default();
                        lines.extend(reindent(self.new, unit, 2));
                    }
                },
                (None, None) => file_tail.extend(reindent(self.new, unit, 0)),
            }
        }
        for (name, lines) in appended_containers {
            match self.disk.containers.iter().find(|c| c.name == name) {
                Some(found) => self.edits.push((found.end, found.end, lines)),
                None => {
                    file_tail.push(format!("{name}:\n"));
                    file_tail.extend(lines);
                }
            }
        }
        file_tail
    }

    /// The opening comments: strata's, where they still are what it wrote, become the
    /// render's; edited ones stay as they are.
    fn rewrite_header(&mut self) {
        let new_header = header_of(&self.new.lines);
        let Some(recorded) = self.base.get(HEADER) else {
            return;
        };
        if let Some((start, end)) = find_header(&self.disk.lines, recorded) {
            self.edits
                .push((start, end, self.new.lines[..new_header].to_vec()));
        }
    }

    /// A container that loses its last entry takes the render's inline empty value
    /// (`resources: []`): a key with nothing under it reads as null, which kustomize refuses.
    fn empty_emptied_containers(&mut self) {
        for container in &self.disk.containers {
            let prefix = format!("{}/", container.name);
            let kept = self
                .disk
                .units
                .iter()
                .filter(|u| u.id.starts_with(&prefix))
                .filter(|u| {
                    !self
                        .edits
                        .iter()
                        .any(|(s, e, t)| *s == u.start && *e == u.end && t.is_empty())
                })
                .count();
            let added = self
                .edits
                .iter()
                .filter(|(s, e, t)| {
                    s == e && !t.is_empty() && *s > container.line && *s <= container.end
                })
                .count();
            let rendered_empty = self
                .new
                .containers
                .iter()
                .find(|c| c.name == container.name)
                .is_some_and(|c| c.inline_empty);
            if kept == 0 && added == 0 && rendered_empty && !container.inline_empty {
                let line = self.new.lines[self
                    .new
                    .containers
                    .iter()
                    .find(|c| c.name == container.name)
                    .expect("found")
                    .line]
                    .clone();
                self.edits
                    .push((container.line, container.line + 1, vec![line]));
            }
        }
    }
}

/// The disk's lines with the edits applied, bottom-up, and `file_tail` at the end.
fn apply(disk: &[String], mut edits: Vec<Edit>, file_tail: Vec<String>) -> Vec<String> {
    let mut lines = disk.to_vec();
    // A file without a final newline gets one before anything is added after its last line.
    if lines.last().is_some_and(|l| !l.ends_with('\n'))
        && edits
            .iter()
            .any(|(start, _, text)| *start == lines.len() && !text.is_empty())
    {
        let last = lines.len() - 1;
        lines[last].push('\n');
    }
    if !file_tail.is_empty() {
        if lines.last().is_some_and(|l| !l.ends_with('\n')) {
            let last = lines.len() - 1;
            lines[last].push('\n');
        }
        let end = lines.len();
        edits.push((end, end, file_tail));
    }
    // Bottom-up, inserts at a line after replacements that end there; several inserts at one
    // line go in the render's order (the last one is spliced in first).
    let mut edits: Vec<_> = edits.into_iter().enumerate().collect();
    edits.sort_by_key(|(i, e)| std::cmp::Reverse((e.0, e.1, *i)));
    for (_, (start, end, text)) in edits {
        lines.splice(start..end, text);
    }
    lines
}

/// How a unit is named to a person: `config: aws:region`, `resources: api.yaml`.
fn describe(id: &str) -> String {
    match id.split_once('/') {
        Some((container, key)) => format!("{container}: {key}"),
        None => id.to_string(),
    }
}

/// The indentation of a unit's first line on disk.
fn indent_at(parsed: &Parsed, unit: &Unit) -> usize {
    indent(&parsed.lines[unit.start])
}

/// The comments a person wrote in a unit strata rewrites stay with the key they describe: one
/// at the end of a line (`kubernetesVersion: "1.36"  # bumped quarterly`) on the line of the
/// same key, the comment lines above a key above the same key. Returns the comments that have
/// no such key in the new text (they would be dropped: a conflict).
fn keep_comments(old: &[String], new: &mut Vec<String>) -> Vec<String> {
    let trailing: Vec<(&str, &str)> = old
        .iter()
        .filter_map(|line| Some((line_key(line)?, trailing_comment(line)?)))
        .collect();
    for line in new.iter_mut() {
        if trailing_comment(line).is_some() {
            continue;
        }
        let Some(key) = line_key(line) else { continue };
        if let Some((_, comment)) = trailing.iter().find(|(k, _)| *k == key) {
            let body = line.trim_end_matches('\n');
            *line = format!("{body}  {comment}\n");
        }
    }
    // Comment lines above a key line, as a block.
    let mut above: Vec<(&str, Vec<String>)> = Vec::new();
    let mut block: Vec<String> = Vec::new();
    for line in old {
        if line.trim_start().starts_with('#') {
            block.push(line.clone());
        } else if let Some(key) = line_key(line).filter(|_| !block.is_empty()) {
            above.push((key, std::mem::take(&mut block)));
        } else {
            block.clear();
        }
    }
    for (key, comments) in above.iter().rev() {
        if let Some(at) = new.iter().position(|l| line_key(l) == Some(key)) {
            let indent = indent(&new[at]);
            // strata's own comments are in its render already.
            let missing: Vec<&String> = comments
                .iter()
                .filter(|c| !new.iter().any(|l| l.trim() == c.trim()))
                .collect();
            for comment in missing.into_iter().rev() {
                new.insert(at, format!("{}{}\n", " ".repeat(indent), comment.trim()));
            }
        }
    }
    let kept: std::collections::BTreeSet<String> =
        new.iter().filter_map(|l| comment_of(l)).collect();
    old.iter()
        .filter_map(|l| comment_of(l))
        .filter(|c| !kept.contains(c))
        .collect()
}

/// The comment of a line (a whole comment line, or one that ends it), trimmed.
pub(super) fn comment_of(line: &str) -> Option<String> {
    if line.trim_start().starts_with('#') {
        return Some(line.trim().to_string());
    }
    trailing_comment(line).map(|c| c.trim().to_string())
}

/// The key of a line `key: value` or `key:` (trimmed), if it is one.
fn line_key(line: &str) -> Option<&str> {
    let text = line.trim();
    let text = text.strip_prefix("- ").unwrap_or(text);
    match text.find(": ") {
        Some(i) => Some(&text[..i]),
        None => text.strip_suffix(':'),
    }
}

/// The comment that ends a line, if any: from a ` #` whose removal leaves the line's YAML
/// value as it is (a `#` inside a quoted value is not one).
fn trailing_comment(line: &str) -> Option<&str> {
    let body = line.trim_end_matches('\n');
    let whole: Option<crate::util::yaml::Node> = serde_yaml_ng::from_str(body.trim_start()).ok();
    body.match_indices(" #").find_map(|(i, _)| {
        let before: Option<crate::util::yaml::Node> =
            serde_yaml_ng::from_str(body[..i].trim_start()).ok();
        (before.is_some() && before == whole).then(|| body[i..].trim_start())
    })
}

/// A rendered unit's lines, shifted so that its first line starts at `target` columns.
fn reindent(parsed: &Parsed, unit: &Unit, target: usize) -> Vec<String> {
    let from = indent(&parsed.lines[unit.start]);
    parsed.lines[unit.start..unit.end]
        .iter()
        .map(|line| {
            let mut line = line.clone();
            if !line.ends_with('\n') {
                line.push('\n');
            }
            if line.trim().is_empty() {
                return line;
            }
            if target >= from {
                format!("{}{line}", " ".repeat(target - from))
            } else {
                let cut = indent(&line).min(from - target);
                line[cut..].to_string()
            }
        })
        .collect()
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// A line with content: not blank, not a comment.
fn is_content(line: &str) -> bool {
    let trimmed = line.trim();
    !trimmed.is_empty() && !trimmed.starts_with('#')
}

/// The key of a `key: value` or `key:` line (unquoted), if it is one.
fn key_of(line: &str) -> Option<String> {
    let text = line.trim().trim_end_matches('\r');
    let key = if let Some(stripped) = text.strip_suffix(':') {
        if stripped.contains(": ") {
            stripped.split_once(": ")?.0
        } else {
            stripped
        }
    } else {
        text.split_once(": ")?.0
    };
    let key = key.trim();
    let unquoted = key
        .strip_prefix('"')
        .and_then(|k| k.strip_suffix('"'))
        .or_else(|| key.strip_prefix('\'').and_then(|k| k.strip_suffix('\'')))
        .unwrap_or(key);
    (!unquoted.is_empty() && !unquoted.starts_with(['-', '[', '{', '&', '*', '!', '|', '>']))
        .then(|| unquoted.to_string())
}

/// The canonical value hash of some YAML text (a one-key mapping or a one-item sequence).
fn value_hash(text: &str) -> Result<String, Unmergeable> {
    if let Some(name) = plain_item(text) {
        return Ok(hash(format!("[\"{name}\"]").as_bytes()));
    }
    let value: serde_json::Value = crate::util::yaml::parse(text)
        .map_err(|e| Unmergeable(format!("a value is not YAML strata can read: {e}")))?;
    Ok(hash(value.to_string().as_bytes()))
}

/// The value of a one-line list item `- name.ext` that YAML can only read as that string: it
/// starts with a letter, holds a `.` and nothing but letters, digits, `.`, `-` and `_` (no
/// number, boolean or null looks so). The hundreds of entries of an app-of-apps' `resources:`
/// are such items; parsing each as YAML was most of the time of an `add service`.
fn plain_item(text: &str) -> Option<&str> {
    let rest = text.strip_prefix("- ")?;
    let value = rest.strip_suffix('\n').unwrap_or(rest);
    let plain = value.starts_with(|c: char| c.is_ascii_alphabetic())
        && value.contains('.')
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    plain.then_some(value)
}

/// One past the last content line of the block that starts at `start` with indentation
/// `level`: the lines after it that are indented deeper (trailing blanks and comments are not
/// part of it).
fn block_end(lines: &[String], start: usize, level: usize, sequence_item: bool) -> usize {
    let mut end = start + 1;
    for (i, line) in lines.iter().enumerate().skip(start + 1) {
        if !is_content(line) {
            continue;
        }
        let deeper = indent(line) > level;
        // A mapping's sequence value may sit at the key's own indentation (`key:\n- a`).
        let own_sequence =
            !sequence_item && indent(line) == level && line.trim_start().starts_with("- ");
        if deeper || own_sequence {
            end = i + 1;
        } else {
            break;
        }
    }
    end
}

fn parse(bytes: &[u8], containers: &[String]) -> Result<Parsed, Unmergeable> {
    let text = std::str::from_utf8(bytes).map_err(|_| Unmergeable("is not UTF-8".into()))?;
    if text
        .lines()
        .any(|l| l.trim_end() == "---" || l.trim_end() == "...")
    {
        return Err(Unmergeable("holds more than one YAML document".into()));
    }
    // The file must be a YAML mapping at all.
    let whole: serde_json::Value = crate::util::yaml::parse(text)
        .map_err(|e| Unmergeable(format!("is not valid YAML: {e}")))?;
    if !(whole.is_object() || whole.is_null()) {
        return Err(Unmergeable("is not a YAML mapping".into()));
    }
    let lines: Vec<String> = text.split_inclusive('\n').map(str::to_string).collect();
    let mut units = Vec::new();
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = &lines[i];
        if !is_content(line) {
            i += 1;
            continue;
        }
        if indent(line) != 0 {
            return Err(Unmergeable(format!(
                "line {} is indented where a top-level key belongs",
                i + 1
            )));
        }
        let key = key_of(line)
            .ok_or_else(|| Unmergeable(format!("line {} is not a `key:` line", i + 1)))?;
        let end = block_end(&lines, i, 0, false);
        if containers.contains(&key) {
            let inline = key_inline_value(line).unwrap_or_default();
            let inline_empty = matches!(inline.as_str(), "[]" | "{}");
            if !inline.is_empty() && !inline_empty && !inline.starts_with('#') {
                return Err(Unmergeable(format!(
                    "`{key}` is written inline; strata merges only block style"
                )));
            }
            let children: Vec<usize> = (i + 1..end).filter(|j| is_content(&lines[*j])).collect();
            let child_indent = children.first().map(|j| indent(&lines[*j]));
            let sequence = children
                .first()
                .is_some_and(|j| lines[*j].trim_start().starts_with("- "));
            let mut j = i + 1;
            while j < end {
                if !is_content(&lines[j]) {
                    j += 1;
                    continue;
                }
                let level = indent(&lines[j]);
                if Some(level) != child_indent {
                    return Err(Unmergeable(format!(
                        "line {} is indented unlike the other entries of `{key}`",
                        j + 1
                    )));
                }
                let child_end = block_end(&lines, j, level, sequence);
                let dedented: String = lines[j..child_end]
                    .iter()
                    .map(|l| {
                        if l.len() >= level && l[..level].trim().is_empty() {
                            &l[level..]
                        } else {
                            l.trim_start()
                        }
                    })
                    .collect();
                let id = if let Some(name) = sequence.then(|| plain_item(&dedented)).flatten() {
                    name.to_string()
                } else if sequence {
                    let item: serde_json::Value = crate::util::yaml::parse(&dedented)
                        .map_err(|e| Unmergeable(format!("line {}: {e}", j + 1)))?;
                    match item.as_array().and_then(|a| a.first()) {
                        Some(serde_json::Value::String(s)) => s.clone(),
                        Some(other) => other.to_string(),
                        None => {
                            return Err(Unmergeable(format!("line {} is not a list item", j + 1)))
                        }
                    }
                } else {
                    key_of(&lines[j]).ok_or_else(|| {
                        Unmergeable(format!("line {} is not a `key:` line", j + 1))
                    })?
                };
                units.push(Unit {
                    id: format!("{key}/{id}"),
                    start: j,
                    end: child_end,
                    value: value_hash(&dedented)?,
                });
                j = child_end;
            }
            let last_child_end = units
                .iter()
                .filter(|u| u.id.starts_with(&format!("{key}/")))
                .map(|u| u.end)
                .max()
                .unwrap_or(i + 1);
            found.push(Container {
                name: key,
                line: i,
                end: last_child_end,
                child_indent,
                inline_empty,
            });
        } else {
            let block: String = lines[i..end].concat();
            units.push(Unit {
                id: key,
                start: i,
                end,
                value: value_hash(&block)?,
            });
        }
        i = end;
    }
    let mut ids: Vec<&str> = units.iter().map(|u| u.id.as_str()).collect();
    ids.sort_unstable();
    if let Some(pair) = ids.windows(2).find(|w| w[0] == w[1]) {
        return Err(Unmergeable(format!(
            "`{}` appears twice",
            describe(pair[0])
        )));
    }
    Ok(Parsed {
        lines,
        units,
        containers: found,
    })
}

/// The inline value after `key:` on a key line, comments stripped.
fn key_inline_value(line: &str) -> Option<String> {
    let text = line.trim().trim_end_matches('\r');
    let rest = if let Some(stripped) = text.strip_suffix(':') {
        if stripped.contains(": ") {
            stripped.split_once(": ")?.1.to_string() + ":"
        } else {
            return Some(String::new());
        }
    } else {
        text.split_once(": ")?.1.to_string()
    };
    let rest = match rest.find(" #") {
        Some(p) => rest[..p].to_string(),
        None => rest,
    };
    Some(rest.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_list_item_hashes_as_yaml_reads_it() {
        for item in ["- api.yaml\n", "- svc-1.yaml", "- a_b.c.yml\n"] {
            let parsed: serde_json::Value = crate::util::yaml::parse(item).unwrap();
            assert!(plain_item(item).is_some(), "{item:?}");
            assert_eq!(
                value_hash(item).unwrap(),
                hash(parsed.to_string().as_bytes())
            );
        }
        for item in [
            "- 1.5\n",
            "- true\n",
            "- null\n",
            "- .inf\n",
            "- api\n",
            "- a b.yaml\n",
            "- 'a.yaml'\n",
            "- a.yaml # note\n",
            "- a.yaml\n  more\n",
            "-  a.yaml\n",
        ] {
            assert!(plain_item(item).is_none(), "{item:?}");
        }
    }

    #[test]
    fn a_comment_on_a_rewritten_line_stays_on_its_key() {
        let render_1 =
            "config:\n  acme:kubernetesVersion: \"1.35\"\n  acme:network:\n    azCount: 2\n";
        let render_2 =
            "config:\n  acme:kubernetesVersion: \"1.36\"\n  acme:network:\n    azCount: 3\n";
        let disk = "config:\n  acme:kubernetesVersion: \"1.35\"  # bumped quarterly\n  acme:network:\n    azCount: 2 # three in prod\n";
        let merged = merge(
            disk.as_bytes(),
            render_2.as_bytes(),
            &units_of(render_1.as_bytes(), &containers()).unwrap(),
            &containers(),
        )
        .unwrap();
        assert!(merged.conflicts.is_empty(), "{:?}", merged.conflicts);
        assert_eq!(
            String::from_utf8(merged.bytes).unwrap(),
            "config:\n  acme:kubernetesVersion: \"1.36\"  # bumped quarterly\n  acme:network:\n    azCount: 3  # three in prod\n"
        );
        assert_eq!(trailing_comment("  key: \"a #b\"\n"), None);

        // Comment lines above a key stay above it; one with no key left is a conflict.
        let render_1 = "config:\n  acme:endpoint:\n    privateAccess: true\n    publicAccessCidrs:\n      - 203.0.113.0/24\n";
        let render_2 = "config:\n  acme:endpoint:\n    privateAccess: true\n    publicAccessCidrs:\n      - 198.51.100.0/24\n";
        let disk = "config:\n  acme:endpoint:\n    # keep private on\n    privateAccess: true\n    # office egress only\n    publicAccessCidrs:\n      - 203.0.113.0/24\n";
        let merged = merge(
            disk.as_bytes(),
            render_2.as_bytes(),
            &units_of(render_1.as_bytes(), &containers()).unwrap(),
            &containers(),
        )
        .unwrap();
        assert!(merged.conflicts.is_empty(), "{:?}", merged.conflicts);
        assert_eq!(
            String::from_utf8(merged.bytes).unwrap(),
            "config:\n  acme:endpoint:\n    # keep private on\n    privateAccess: true\n    # office egress only\n    publicAccessCidrs:\n      - 198.51.100.0/24\n"
        );
        let disk = "config:\n  acme:endpoint:\n    privateAccess: true\n    publicAccessCidrs:\n      - 203.0.113.0/24  # office\n";
        let merged = merge(
            disk.as_bytes(),
            render_2.as_bytes(),
            &units_of(render_1.as_bytes(), &containers()).unwrap(),
            &containers(),
        )
        .unwrap();
        assert_eq!(merged.conflicts.len(), 1, "{:?}", merged.conflicts);
        assert!(merged.conflicts[0].contains("`# office`"));
        assert_eq!(trailing_comment("  key: \"a #b\" # c\n"), Some("# c"));
    }

    fn containers() -> Vec<String> {
        vec!["config".to_string(), "resources".to_string()]
    }

    const RENDER_1: &str = "# strata's header\nconfig:\n  aws:region: eu-west-1\n  acme:network:\n    cidr: 10.0.0.0/16\n    azCount: 2\n  acme:serviceRoles: []\n";
    const RENDER_2: &str = "# strata's header\nconfig:\n  aws:region: eu-west-1\n  acme:network:\n    cidr: 10.0.0.0/16\n    azCount: 3\n  acme:serviceRoles:\n    - service: api\n  acme:domain: example.com\n";

    fn base(render: &str) -> BTreeMap<String, String> {
        units_of(render.as_bytes(), &containers()).unwrap()
    }

    #[test]
    fn pulumi_keys_survive_and_strata_keys_follow_the_render() {
        let disk = "encryptionsalt: v1:abc:def\n# strata's header\nconfig:\n  aws:region: eu-west-1\n  acme:dbPassword:\n    secure: v1:xyz\n  acme:network:\n    cidr: 10.0.0.0/16\n    azCount: 2\n  acme:serviceRoles: []\n  hand:key: kept # a comment\n";
        let merged = merge(
            disk.as_bytes(),
            RENDER_2.as_bytes(),
            &base(RENDER_1),
            &containers(),
        )
        .unwrap();
        let text = String::from_utf8(merged.bytes).unwrap();
        assert!(merged.conflicts.is_empty(), "{:?}", merged.conflicts);
        assert_eq!(
            text,
            "encryptionsalt: v1:abc:def\n# strata's header\nconfig:\n  aws:region: eu-west-1\n  acme:dbPassword:\n    secure: v1:xyz\n  acme:network:\n    cidr: 10.0.0.0/16\n    azCount: 3\n  acme:serviceRoles:\n    - service: api\n  acme:domain: example.com\n  hand:key: kept # a comment\n"
        );
        assert_eq!(merged.units, base(RENDER_2));
    }

    #[test]
    fn new_keys_after_the_same_key_keep_the_renders_order_issue_22() {
        let render_2 = RENDER_1.replace(
            "  acme:serviceRoles: []\n",
            "  acme:serviceRoles: []\n  acme:compute: karpenter\n  acme:identity: irsa\n",
        );
        assert_ne!(render_2, RENDER_1);
        let merged = merge(
            RENDER_1.as_bytes(),
            render_2.as_bytes(),
            &base(RENDER_1),
            &containers(),
        )
        .unwrap();
        assert_eq!(String::from_utf8(merged.bytes).unwrap(), render_2);
    }

    #[test]
    fn strata_s_opening_comments_follow_the_template_unless_someone_changed_them() {
        let render_2 = RENDER_2.replace("# strata's header", "# strata's new header");
        let merged = merge(
            RENDER_1.as_bytes(),
            render_2.as_bytes(),
            &base(RENDER_1),
            &containers(),
        )
        .unwrap();
        assert!(String::from_utf8(merged.bytes)
            .unwrap()
            .starts_with("# strata's new header\n"));
        let disk = RENDER_1.replace("# strata's header", "# ours");
        let merged = merge(
            disk.as_bytes(),
            render_2.as_bytes(),
            &base(RENDER_1),
            &containers(),
        )
        .unwrap();
        assert!(merged.conflicts.is_empty());
        assert!(String::from_utf8(merged.bytes)
            .unwrap()
            .starts_with("# ours\n"));
    }

    /// Issue 19, item 10: strata 0.1.0's stack files opened with a comment saying strata owned
    /// the whole file. Below Pulumi's first key, or above a person's comment, it is still
    /// strata's, and becomes the render's; the person's comment and keys stay.
    #[test]
    fn strata_s_opening_comments_are_found_below_pulumi_s_keys_and_beside_a_person_s() {
        let render_2 = RENDER_2.replace("# strata's header", "# strata's new header\n# shared");
        let disk = RENDER_1.replace(
            "# strata's header\nconfig:",
            "encryptionsalt: v1:abc\n# strata's header\n# ours\nconfig:",
        );
        let merged = merge(
            disk.as_bytes(),
            render_2.as_bytes(),
            &base(RENDER_1),
            &containers(),
        )
        .unwrap();
        assert!(merged.conflicts.is_empty(), "{:?}", merged.conflicts);
        let text = String::from_utf8(merged.bytes).unwrap();
        assert!(
            text.starts_with(
                "encryptionsalt: v1:abc\n# strata's new header\n# shared\n# ours\nconfig:\n"
            ),
            "{text}"
        );
        assert_eq!(merged.units[HEADER], base(&render_2)[HEADER]);
        // Not found (edited, or dropped by Pulumi's writer): nothing is added or replaced.
        let disk = disk.replace("# strata's header\n", "# strata's header, edited\n");
        let merged = merge(
            disk.as_bytes(),
            render_2.as_bytes(),
            &base(RENDER_1),
            &containers(),
        )
        .unwrap();
        let text = String::from_utf8(merged.bytes).unwrap();
        assert!(
            text.contains("# strata's header, edited\n# ours\n"),
            "{text}"
        );
        assert!(!text.contains("new header"), "{text}");
    }

    #[test]
    fn a_reformatted_file_is_not_an_edit() {
        // Pulumi's writer: 4-space indentation, no comments, other quoting.
        let disk = "config:\n    acme:network:\n        azCount: 2\n        cidr: \"10.0.0.0/16\"\n    acme:serviceRoles: []\n    aws:region: eu-west-1\nencryptionsalt: v1:abc\n";
        let merged = merge(
            disk.as_bytes(),
            RENDER_2.as_bytes(),
            &base(RENDER_1),
            &containers(),
        )
        .unwrap();
        assert!(merged.conflicts.is_empty(), "{:?}", merged.conflicts);
        let text = String::from_utf8(merged.bytes).unwrap();
        assert!(
            text.contains("    acme:network:\n      cidr: 10.0.0.0/16\n      azCount: 3\n"),
            "{text}"
        );
        assert!(text.contains("    acme:domain: example.com\n"), "{text}");
        assert!(text.ends_with("encryptionsalt: v1:abc\n"), "{text}");
        let value: serde_json::Value = crate::util::yaml::parse(&text).unwrap();
        assert_eq!(value["config"]["acme:serviceRoles"][0]["service"], "api");
        assert_eq!(value["config"]["acme:network"]["azCount"], 3);
    }

    #[test]
    fn an_edited_strata_key_is_a_conflict_and_force_rewrites_only_it() {
        let disk = RENDER_1.replace("azCount: 2", "azCount: 4") + "secretsprovider: awskms://x\n";
        let merged = merge(
            disk.as_bytes(),
            RENDER_2.as_bytes(),
            &base(RENDER_1),
            &containers(),
        )
        .unwrap();
        assert_eq!(
            merged.conflicts,
            vec!["`config: acme:network` was changed since strata wrote it".to_string()]
        );
        let text = String::from_utf8(merged.bytes).unwrap();
        assert!(text.contains("azCount: 3") && text.ends_with("secretsprovider: awskms://x\n"));
    }

    #[test]
    fn list_items_added_by_hand_stay_and_removed_ones_go() {
        let r1 = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - api.yaml\n  - web.yaml\n";
        let r2 = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - api.yaml\n  - billing.yaml\n";
        let disk = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - api.yaml\n  - extra.yaml # mine\n  - web.yaml\n";
        let merged = merge(disk.as_bytes(), r2.as_bytes(), &base(r1), &containers()).unwrap();
        assert!(merged.conflicts.is_empty());
        assert_eq!(
            String::from_utf8(merged.bytes).unwrap(),
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - api.yaml\n  - billing.yaml\n  - extra.yaml # mine\n"
        );
        let r0 = "apiVersion: v1\nresources: []\n";
        let merged = merge(
            r0.as_bytes(),
            "apiVersion: v1\nresources:\n  - a.yaml\n".as_bytes(),
            &base(r0),
            &containers(),
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(merged.bytes).unwrap(),
            "apiVersion: v1\nresources:\n  - a.yaml\n"
        );
    }

    #[test]
    fn no_final_newline_and_an_emptied_list_stay_valid_yaml() {
        let r1 = "kind: Kustomization\nresources:\n  - a.yaml\n";
        let r2 = "kind: Kustomization\nresources:\n  - a.yaml\n  - b.yaml\n";
        let disk = "kind: Kustomization\nresources:\n  - a.yaml";
        let merged = merge(disk.as_bytes(), r2.as_bytes(), &base(r1), &containers()).unwrap();
        assert_eq!(
            String::from_utf8(merged.bytes).unwrap(),
            "kind: Kustomization\nresources:\n  - a.yaml\n  - b.yaml\n"
        );
        let r0 = "kind: Kustomization\nresources: []\n";
        let merged = merge(r1.as_bytes(), r0.as_bytes(), &base(r1), &containers()).unwrap();
        assert_eq!(String::from_utf8(merged.bytes).unwrap(), r0);
    }

    #[test]
    fn a_missing_container_is_appended_and_flow_style_is_refused() {
        let merged = merge(
            b"encryptionsalt: v1:abc\n",
            RENDER_1.as_bytes(),
            &BTreeMap::new(),
            &containers(),
        )
        .unwrap();
        assert!(merged.conflicts.is_empty());
        let text = String::from_utf8(merged.bytes).unwrap();
        assert!(
            text.starts_with("encryptionsalt: v1:abc\nconfig:\n  aws:region: eu-west-1\n"),
            "{text}"
        );
        assert!(merge(
            b"config: {a: 1}\n",
            RENDER_1.as_bytes(),
            &BTreeMap::new(),
            &containers()
        )
        .is_err());
        assert!(merge(
            b"- a\n",
            RENDER_1.as_bytes(),
            &BTreeMap::new(),
            &containers()
        )
        .is_err());
    }
}
