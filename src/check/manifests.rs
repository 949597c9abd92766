//! Kubernetes manifests on disk, read well enough to know what they declare: plain YAML
//! (many documents per file, `List`s), JSON, kustomize directories and Helm chart templates.
//!
//! Most questions `strata check` asks need only each document's `apiVersion`, `kind`, name
//! and namespace. Those are read from the top-level keys line by line, without a YAML parser:
//! that is fast on thousands of files and also works on Helm templates, which are not YAML
//! until rendered. Documents a caller needs whole (Applications, kustomizations) are parsed.
//! This module reads files; it judges nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// One object a manifest declares.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// The file, relative to the scanned root, `/`-separated.
    pub file: String,
    /// The line its document starts on (1-based).
    pub line: usize,
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
    /// The whole document, when the caller asked for this kind (or the document is JSON).
    pub doc: Option<Value>,
}

/// The documents of a file: each one's first line (1-based) and text.
pub fn documents(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut start_line = 1;
    let mut offset = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let bare = line.trim_end();
        let separator = bare == "---"
            || bare.starts_with("--- ")
            || bare.starts_with("---\t")
            || bare == "..."
            || bare.starts_with("--- #");
        if separator {
            out.push((start_line, &text[start..offset]));
            start = offset + line.len();
            start_line = index + 2;
        }
        offset += line.len();
    }
    out.push((start_line, &text[start..]));
    out.retain(|(_, doc)| doc.lines().any(is_content));
    out
}

fn is_content(line: &str) -> bool {
    let trimmed = line.trim();
    !trimmed.is_empty() && !trimmed.starts_with('#')
}

/// A scalar as written after `key:`: comments and quotes removed.
fn scalar(raw: &str) -> String {
    let raw = raw.trim();
    let mut chars = raw.char_indices();
    match chars.next() {
        Some((_, quote @ ('"' | '\''))) => {
            let mut out = String::new();
            let mut escaped = false;
            let mut rest = raw[1..].chars().peekable();
            while let Some(c) = rest.next() {
                if quote == '"' && escaped {
                    out.push(c);
                    escaped = false;
                } else if quote == '"' && c == '\\' {
                    escaped = true;
                } else if c == quote {
                    if quote == '\'' && rest.peek() == Some(&'\'') {
                        rest.next();
                        out.push('\'');
                    } else {
                        return out;
                    }
                } else {
                    out.push(c);
                }
            }
            out
        }
        _ => raw.split(" #").next().unwrap_or(raw).trim_end().to_string(),
    }
}

/// Splits `key: value` (a block mapping entry); `None` for anything else.
fn entry(line: &str) -> Option<(&str, &str)> {
    let (key, value) = line.split_once(':')?;
    let key = key.trim_end();
    let valid = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | '"'));
    (valid && (value.is_empty() || value.starts_with([' ', '\t'])))
        .then(|| (key.trim_matches('"'), value))
}

/// What a block-style document declares at its top level: (apiVersion, kind, name, namespace).
fn scan(doc: &str) -> Option<(String, String, String, Option<String>)> {
    let (mut api_version, mut kind, mut name, mut namespace) = (None, None, None, None);
    let mut in_metadata = false;
    let mut metadata_indent: Option<usize> = None;
    for line in doc.lines() {
        if !is_content(line) {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if indent == 0 {
            in_metadata = false;
            if line.starts_with(['{', '-', '[']) {
                continue;
            }
            let Some((key, value)) = entry(line) else {
                continue;
            };
            match key {
                "apiVersion" => api_version = Some(scalar(value)),
                "kind" => kind = Some(scalar(value)),
                "metadata" if value.trim().is_empty() => {
                    in_metadata = true;
                    metadata_indent = None;
                }
                _ => {}
            }
        } else if in_metadata {
            let level = *metadata_indent.get_or_insert(indent);
            if indent != level {
                continue;
            }
            if let Some((key, value)) = entry(line.trim_start()) {
                match key {
                    "name" if name.is_none() => name = Some(scalar(value)),
                    "namespace" if namespace.is_none() => namespace = Some(scalar(value)),
                    _ => {}
                }
            }
        }
    }
    Some((api_version?, kind?, name.unwrap_or_default(), namespace))
}

fn object_of(file: &str, line: usize, value: &Value) -> Option<Object> {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let metadata = value.get("metadata");
    Some(Object {
        file: file.to_string(),
        line,
        api_version: text(value.get("apiVersion"))?,
        kind: text(value.get("kind"))?,
        name: text(metadata.and_then(|m| m.get("name"))).unwrap_or_default(),
        namespace: text(metadata.and_then(|m| m.get("namespace"))),
        doc: Some(value.clone()),
    })
}

/// Every object a file declares. `want` names the kinds whose documents are parsed whole.
pub fn objects_in(file: &str, text: &str, want: &dyn Fn(&str) -> bool) -> Vec<Object> {
    let mut out = Vec::new();
    for (line, doc) in documents(text) {
        let first = doc.trim_start();
        let json_like =
            (first.starts_with('{') && !first.starts_with("{{")) || first.starts_with('[');
        if json_like {
            // JSON (or flow YAML): parse it.
            if let Ok(value) = crate::util::yaml::parse(doc) {
                push_value(file, line, &value, &mut out);
            }
            continue;
        }
        let Some((api_version, kind, name, namespace)) = scan(doc) else {
            continue;
        };
        if kind.ends_with("List") || want(&kind) {
            match crate::util::yaml::parse(doc) {
                Ok(value) => push_value(file, line, &value, &mut out),
                Err(_) => out.push(Object {
                    file: file.to_string(),
                    line,
                    api_version,
                    kind,
                    name,
                    namespace,
                    doc: None,
                }),
            }
            continue;
        }
        out.push(Object {
            file: file.to_string(),
            line,
            api_version,
            kind,
            name,
            namespace,
            doc: None,
        });
    }
    out
}

fn push_value(file: &str, line: usize, value: &Value, out: &mut Vec<Object>) {
    match value {
        Value::Array(items) => {
            for item in items {
                push_value(file, line, item, out);
            }
        }
        Value::Object(_) => {
            let is_list = value
                .get("kind")
                .and_then(Value::as_str)
                .is_some_and(|k| k.ends_with("List"))
                && value.get("items").is_some_and(Value::is_array);
            if is_list {
                for item in value["items"].as_array().into_iter().flatten() {
                    push_value(file, line, item, out);
                }
            } else if let Some(object) = object_of(file, line, value) {
                out.push(object);
            }
        }
        _ => {}
    }
}

/// Whether a file name is a manifest strata reads (`.yaml`, `.yml`, `.json`).
pub fn is_manifest_name(name: &str) -> bool {
    name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".json")
}

/// Every manifest file under `root`, relative and `/`-separated, sorted; `.git` and hidden
/// directories are skipped.
pub fn files_under(root: &Path) -> Vec<String> {
    let skipped = |entry: &walkdir::DirEntry| {
        let name = entry.file_name().to_string_lossy();
        entry.depth() > 0
            && entry.file_type().is_dir()
            && (name.starts_with('.') || name == "node_modules")
    };
    let mut out: Vec<String> = walkdir::WalkDir::new(root)
        .follow_links(false)
        .into_iter()
        .filter_entry(|entry| !skipped(entry))
        .filter_map(Result::ok)
        .filter(|entry| {
            entry.depth() > 0
                && entry.file_type().is_file()
                && is_manifest_name(&entry.file_name().to_string_lossy())
        })
        .filter_map(|entry| {
            let relative = entry.path().strip_prefix(root).ok()?;
            Some(relative.to_string_lossy().replace('\\', "/"))
        })
        .collect();
    out.sort();
    out
}

/// Reads many files on every core: path -> text (files that are not UTF-8 are skipped).
pub fn read_all(root: &Path, files: &[String]) -> BTreeMap<String, String> {
    let threads = std::thread::available_parallelism()
        .map(std::num::NonZeroUsize::get)
        .unwrap_or(2)
        .clamp(1, 8);
    let chunk = files.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .filter_map(|rel| {
                            fs_err::read(root.join(rel))
                                .ok()
                                .and_then(|bytes| String::from_utf8(bytes).ok())
                                .map(|text| (rel.clone(), text))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("reading files does not panic"))
            .collect()
    })
}

/// The kustomization file of a directory, if it has one.
pub fn kustomization_in(root: &Path, dir: &str) -> Option<String> {
    ["kustomization.yaml", "kustomization.yml", "Kustomization"]
        .iter()
        .map(|name| join(dir, name))
        .find(|rel| root.join(rel).is_file())
}

/// Joins a relative directory and a relative path, resolving `.` and `..` (callers check
/// [`escapes`] first).
pub fn join(dir: &str, path: &str) -> String {
    let mut parts: Vec<&str> = dir
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

/// Whether `path` climbs out of the root (`..` past the top).
pub fn escapes(dir: &str, path: &str) -> bool {
    let mut depth: i64 = dir
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .count()
        .try_into()
        .unwrap_or(i64::MAX);
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => depth -= 1,
            _ => depth += 1,
        }
        if depth < 0 {
            return true;
        }
    }
    false
}

/// What a directory deploys, as Argo CD would build it: a kustomization's `resources` (files
/// and directories, followed), a Helm chart's `templates/`, or else the directory's own
/// manifests. `read` returns a file's text; `seen` guards against cycles.
pub struct Deployed {
    pub objects: Vec<Object>,
    /// Directories or files that were named but are missing, or remote (not followed).
    pub unresolved: Vec<String>,
}

/// Collects what `dir` deploys. Results per directory are cached in `cache`.
pub fn deployed_by(
    root: &Path,
    dir: &str,
    read: &dyn Fn(&str) -> Option<String>,
    cache: &mut BTreeMap<String, std::rc::Rc<Deployed>>,
) -> std::rc::Rc<Deployed> {
    let mut stack = Vec::new();
    deployed_rec(root, dir, read, cache, &mut stack)
}

fn deployed_rec(
    root: &Path,
    dir: &str,
    read: &dyn Fn(&str) -> Option<String>,
    cache: &mut BTreeMap<String, std::rc::Rc<Deployed>>,
    stack: &mut Vec<String>,
) -> std::rc::Rc<Deployed> {
    if let Some(hit) = cache.get(dir) {
        return hit.clone();
    }
    if stack.iter().any(|d| d == dir) {
        return std::rc::Rc::new(Deployed {
            objects: Vec::new(),
            unresolved: vec![format!("{dir} (a cycle)")],
        });
    }
    stack.push(dir.to_string());
    let mut objects = Vec::new();
    let mut unresolved = Vec::new();
    let none = |_: &str| false;
    if let Some(kustomization) = kustomization_in(root, dir) {
        let parsed = read(&kustomization).and_then(|text| crate::util::yaml::parse(&text).ok());
        let entries: Vec<String> = ["resources", "bases", "components"]
            .iter()
            .filter_map(|key| parsed.as_ref().and_then(|v| v.get(*key)))
            .filter_map(Value::as_array)
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
        for entry in entries {
            if entry.contains("://") || entry.starts_with("github.com/") || escapes(dir, &entry) {
                unresolved.push(entry);
                continue;
            }
            let target = join(dir, &entry);
            let path: PathBuf = root.join(&target);
            if path.is_dir() {
                let inner = deployed_rec(root, &target, read, cache, stack);
                objects.extend(inner.objects.iter().cloned());
                unresolved.extend(inner.unresolved.iter().cloned());
            } else if let Some(text) = read(&target) {
                objects.extend(objects_in(&target, &text, &none));
            } else {
                unresolved.push(target);
            }
        }
    } else if root.join(dir).join("Chart.yaml").is_file() {
        let templates = join(dir, "templates");
        for rel in files_under(&root.join(&templates)) {
            let target = join(&templates, &rel);
            if let Some(text) = read(&target) {
                objects.extend(objects_in(&target, &text, &none));
            }
        }
    } else if let Ok(entries) = fs_err::read_dir(root.join(dir)) {
        let mut names: Vec<String> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| is_manifest_name(n))
            .collect();
        names.sort();
        for name in names {
            let target = join(dir, &name);
            if let Some(text) = read(&target) {
                objects.extend(objects_in(&target, &text, &none));
            }
        }
    } else {
        unresolved.push(dir.to_string());
    }
    stack.pop();
    let done = std::rc::Rc::new(Deployed {
        objects,
        unresolved,
    });
    cache.insert(dir.to_string(), done.clone());
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_split_on_separators_with_their_lines() {
        let text = "# c\n---\na: 1\n---\nkind: X\n--- # end\n";
        let docs = documents(text);
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].0, 3);
        assert_eq!(docs[1].0, 5);
    }

    #[test]
    fn the_top_level_keys_are_read_without_a_parser() {
        let helm = "{{- if .Values.enabled }}\napiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata:\n  name: {{ .Release.Name }}-default\n  labels:\n    name: nope\nspec:\n  name: nope\n{{- end }}\n";
        let objects = objects_in("t.yaml", helm, &|_| false);
        assert_eq!(objects.len(), 1);
        assert_eq!(objects[0].kind, "NodePool");
        assert_eq!(objects[0].name, "{{ .Release.Name }}-default");
        let plain = "apiVersion: v1\nkind: Namespace\nmetadata:\n    namespace: \"x\" # c\n    name: 'team'\n";
        let objects = objects_in("n.yaml", plain, &|_| false);
        assert_eq!(objects[0].name, "team");
        assert_eq!(objects[0].namespace.as_deref(), Some("x"));
    }

    #[test]
    fn lists_and_json_are_expanded() {
        let list = "apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: Namespace\n    metadata:\n      name: a\n";
        let objects = objects_in("l.yaml", list, &|_| false);
        assert_eq!(objects.len(), 1);
        assert_eq!(objects[0].kind, "Namespace");
        let json = r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"j"}}"#;
        assert_eq!(objects_in("j.json", json, &|_| false)[0].name, "j");
    }

    #[test]
    fn paths_join_and_never_escape_unnoticed() {
        assert_eq!(
            join("services/api/overlays/dev", "../../base"),
            "services/api/base"
        );
        assert!(escapes("a", "../../x"));
        assert!(!escapes("a/b", "../c"));
    }
}
