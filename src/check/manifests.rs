//! Kubernetes manifests on disk, read as kustomize and the API server read them: YAML (many
//! documents per file, `List`s, anchors, aliases, merge keys, tags, flow style, quoted keys),
//! JSON, in UTF-8 (with or without a byte order mark), UTF-16 or UTF-32; kustomize directories
//! and Helm charts followed.
//!
//! Every file is read once, safely (a regular file in the repo, at most [`FILE_MAX`] bytes; a
//! FIFO, a device or a link out of the repo is refused) and parsed whole on every core. A file
//! that does not parse is reported with the parser's reason, never skipped. Only Helm chart
//! templates (`<chart>/templates/`), which are not YAML until Helm renders them, are read for
//! their top-level `kind:` lines. This module reads files; it judges nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::problem::{Problem, Problems};

/// The most bytes `check` reads of one manifest file: 16 MiB, twenty times the largest CRD of
/// the common charts (about 830 KB). A larger file is refused (exit 2).
pub const FILE_MAX: u64 = 16 * 1024 * 1024;

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
    /// The whole document, for the kinds read whole (Applications, ApplicationSets, Flux
    /// objects, CRDs, AppProjects, lists); `None` for the others and for Helm templates.
    pub doc: Option<Value>,
    /// Read from a Helm chart (its `templates/` or `crds/`).
    pub in_chart: bool,
}

fn is_separator(line: &str) -> bool {
    let bare = line.trim_end();
    bare == "---" || bare.starts_with("--- ") || bare.starts_with("---\t") || bare == "..."
}

/// A separator with nothing after it but a comment.
fn is_bare_separator(line: &str) -> bool {
    let rest = line.trim_end().get(3..).unwrap_or("").trim();
    is_separator(line) && (rest.is_empty() || rest.starts_with('#') || line.trim_end() == "...")
}

/// The documents of a file: each one's first line (1-based) and text. A separator line that
/// carries content (`--- {kind: X}`) starts its document.
pub fn documents(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut start_line = 1;
    let mut offset = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        if is_separator(line) {
            out.push((start_line, &text[start..offset]));
            if is_bare_separator(line) {
                start = offset + line.len();
                start_line = index + 2;
            } else {
                start = offset;
                start_line = index + 1;
            }
        }
        offset += line.len();
    }
    out.push((start_line, &text[start..]));
    out.retain(|(_, doc)| doc.lines().any(|l| is_content(l) && !is_bare_separator(l)));
    out
}

fn is_content(line: &str) -> bool {
    let trimmed = line.trim();
    !trimmed.is_empty() && !trimmed.starts_with('#') && !line.starts_with('%')
}

/// Text from a file's bytes: UTF-8 (a byte order mark dropped), UTF-16 or UTF-32 (by their
/// byte order marks, or UTF-16 by the zero bytes of ASCII text, as YAML detects it).
pub fn decode(bytes: &[u8]) -> Result<String, String> {
    let utf16 = |rest: &[u8], big: bool| -> Result<String, String> {
        if !rest.len().is_multiple_of(2) {
            return Err("is UTF-16 with an odd number of bytes".to_string());
        }
        let units = rest.chunks_exact(2).map(|c| {
            if big {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from_le_bytes([c[0], c[1]])
            }
        });
        char::decode_utf16(units)
            .collect::<Result<String, _>>()
            .map_err(|_| "is not valid UTF-16".to_string())
    };
    let utf32 = |rest: &[u8], big: bool| -> Result<String, String> {
        if !rest.len().is_multiple_of(4) {
            return Err("is UTF-32 with a length not a multiple of 4".to_string());
        }
        rest.chunks_exact(4)
            .map(|c| {
                let n = if big {
                    u32::from_be_bytes([c[0], c[1], c[2], c[3]])
                } else {
                    u32::from_le_bytes([c[0], c[1], c[2], c[3]])
                };
                char::from_u32(n)
            })
            .collect::<Option<String>>()
            .ok_or_else(|| "is not valid UTF-32".to_string())
    };
    match bytes {
        [0, 0, 0xFE, 0xFF, rest @ ..] => utf32(rest, true),
        [0xFF, 0xFE, 0, 0, rest @ ..] => utf32(rest, false),
        [0xEF, 0xBB, 0xBF, rest @ ..] => {
            String::from_utf8(rest.to_vec()).map_err(|_| "is not valid UTF-8".to_string())
        }
        [0xFE, 0xFF, rest @ ..] => utf16(rest, true),
        [0xFF, 0xFE, rest @ ..] => utf16(rest, false),
        [0, a, ..] if *a != 0 => utf16(bytes, true),
        [a, 0, b, ..] if *a != 0 && *b != 0 => utf16(bytes, false),
        _ => String::from_utf8(bytes.to_vec())
            .map_err(|_| "is not text: not UTF-8, UTF-16 or UTF-32".to_string()),
    }
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
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | '"' | '\''));
    (valid && (value.is_empty() || value.starts_with([' ', '\t'])))
        .then(|| (key.trim_matches(['"', '\'']), value))
}

/// What a Helm template declares at its top level: (apiVersion, kind, name, namespace), read
/// line by line (a template is not YAML until rendered).
fn scan_template(doc: &str) -> Option<(String, String, String, Option<String>)> {
    let (mut api_version, mut kind, mut name, mut namespace) = (None, None, None, None);
    let mut in_metadata = false;
    let mut metadata_indent: Option<usize> = None;
    for line in doc.lines() {
        if !is_content(line) || is_bare_separator(line) {
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
    Some((
        api_version.unwrap_or_default(),
        kind?,
        name.unwrap_or_default(),
        namespace,
    ))
}

fn object_of(file: &str, line: usize, value: Value) -> Option<Object> {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let metadata = value.get("metadata");
    Some(Object {
        file: file.to_string(),
        line,
        api_version: text(value.get("apiVersion")).unwrap_or_default(),
        kind: text(value.get("kind"))?,
        name: text(metadata.and_then(|m| m.get("name"))).unwrap_or_default(),
        namespace: text(metadata.and_then(|m| m.get("namespace"))),
        doc: Some(value),
        in_chart: false,
    })
}

/// Every object a file declares; `template` for a Helm template (read line by line). The
/// error says why a document is not YAML, and where.
pub fn objects_in(file: &str, text: &str, template: bool) -> Result<Vec<Object>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    for (line, doc) in documents(text) {
        // Most documents need only their head; merge keys and the kinds read whole need the
        // whole parse.
        if !doc.contains("<<") {
            if let Some(head) = crate::util::yaml::manifest_head(doc) {
                match head.kind {
                    None => continue,
                    Some(kind) if !read_whole(&kind) => {
                        let metadata = head.metadata.unwrap_or_default();
                        out.push(Object {
                            file: file.to_string(),
                            line,
                            api_version: head.api_version.unwrap_or_default(),
                            kind,
                            name: metadata.name.unwrap_or_default(),
                            namespace: metadata.namespace,
                            doc: None,
                            in_chart: template,
                        });
                        continue;
                    }
                    Some(_) => {}
                }
            }
        }
        match crate::util::yaml::parse_manifest(doc) {
            Ok(value) => push_value(file, line, value, &mut out),
            Err(_) if template => {
                if let Some((api_version, kind, name, namespace)) = scan_template(doc) {
                    out.push(Object {
                        file: file.to_string(),
                        line,
                        api_version,
                        kind,
                        name,
                        namespace,
                        doc: None,
                        in_chart: true,
                    });
                }
            }
            Err(err) => {
                return Err(format!(
                    "the document at line {line} is not YAML: {}",
                    err.lines().next().unwrap_or_default()
                ))
            }
        }
    }
    if template {
        for object in &mut out {
            object.in_chart = true;
        }
    }
    Ok(out)
}

/// The kinds whose documents are kept whole: what delivers (Applications, ApplicationSets,
/// Flux objects), what gives scope (CRDs), fences (AppProjects) and lists.
fn read_whole(kind: &str) -> bool {
    kind.ends_with("List")
        || matches!(
            kind,
            "Application"
                | "ApplicationSet"
                | "HelmRelease"
                | "HelmChart"
                | "OCIRepository"
                | "GitRepository"
                | "HelmRepository"
                | "CustomResourceDefinition"
                | "Kustomization"
                | "AppProject"
        )
}

fn push_value(file: &str, line: usize, value: Value, out: &mut Vec<Object>) {
    match value {
        Value::Array(items) => {
            for item in items {
                push_value(file, line, item, out);
            }
        }
        Value::Object(mut map) => {
            let is_list = map
                .get("kind")
                .and_then(Value::as_str)
                .is_some_and(|k| k.ends_with("List"))
                && map.get("items").is_some_and(Value::is_array);
            if is_list {
                if let Some(Value::Array(items)) = map.remove("items") {
                    for item in items {
                        push_value(file, line, item, out);
                    }
                }
            } else if let Some(object) = object_of(file, line, Value::Object(map)) {
                out.push(object);
            }
        }
        _ => {}
    }
}

/// Whether a file name is a manifest strata reads (`.yaml`, `.yml`, `.json`).
pub fn is_manifest_name(name: &str) -> bool {
    name.ends_with(".yaml")
        || name.ends_with(".yml")
        || name.ends_with(".json")
        || name == "Kustomization"
}

/// A repo's manifests, each read and parsed once.
#[derive(Debug, Default)]
pub struct Scan {
    /// The repo's root.
    pub root: PathBuf,
    /// Every manifest file, relative and `/`-separated, sorted.
    pub files: Vec<String>,
    /// Each readable file's text.
    pub texts: BTreeMap<String, String>,
    /// Each readable file's objects.
    pub objects: BTreeMap<String, Vec<Object>>,
    /// Files that are not text or not YAML, and why.
    pub unreadable: Vec<(String, String)>,
    /// Files named by a symbolic link inside the repo: link -> target, both relative.
    pub links: BTreeMap<String, String>,
    /// Files whose text is not their bytes.
    pub recoded: BTreeSet<String>,
}

impl Scan {
    /// A file's text, as read (nothing outside the scan is read).
    pub fn text(&self, rel: &str) -> Option<&str> {
        self.texts.get(rel).map(String::as_str)
    }

    /// Whether the repo holds `rel` (a file or a directory), without leaving it.
    pub fn has_path(&self, rel: &str) -> bool {
        !escapes("", rel) && self.root.join(join("", rel)).exists()
    }

    /// Whether a file's text is not its bytes (a byte order mark dropped, UTF-16 decoded).
    pub fn recoded(&self, rel: &str) -> bool {
        self.recoded.contains(rel)
    }
}

/// Every manifest under `root`, read safely and parsed: `.git`, hidden directories and
/// `node_modules` are skipped. A FIFO, a device, a link out of the repo or a file over
/// [`FILE_MAX`] is a problem (exit 2): `check` never reads what the repo does not hold.
pub fn scan(root: &Path) -> Result<Scan, Problems> {
    let mut problems = Problems::default();
    let (files, links) = files_under(root, &mut problems);
    let charts: BTreeSet<String> = files
        .iter()
        .filter_map(|f| {
            f.strip_suffix("Chart.yaml")
                .filter(|dir| dir.is_empty() || dir.ends_with('/'))
                .map(str::to_string)
        })
        .collect();
    let is_template = |rel: &str| {
        charts
            .iter()
            .any(|dir| rel.starts_with(&format!("{dir}templates/")))
    };
    let in_chart = |rel: &str| {
        charts.iter().any(|dir| {
            rel.starts_with(&format!("{dir}templates/")) || rel.starts_with(&format!("{dir}crds/"))
        })
    };
    let results = parallel_map(&files, |rel| {
        let target = links.get(rel).map_or(rel.as_str(), String::as_str);
        let bytes = crate::util::fs::read_regular(&root.join(target), FILE_MAX);
        (rel.clone(), bytes)
    });
    let mut readable = Vec::new();
    for (rel, bytes) in results {
        match bytes {
            Ok(bytes) => readable.push((rel, bytes)),
            Err(why) => problems.push(
                Problem::new(format!("`{rel}`"), why.to_string()).hint(format!(
                    "`strata check` reads only regular files of the repo, up to {} MiB each: replace it with the file itself, or remove it",
                    FILE_MAX / (1024 * 1024)
                )),
            ),
        }
    }
    problems.into_result()?;
    let parsed = parallel_map(&readable, |(rel, bytes)| {
        let text = decode(bytes);
        let recoded = text.as_ref().is_ok_and(|t| t.len() != bytes.len());
        let objects = text.as_ref().map_err(Clone::clone).and_then(|text| {
            objects_in(rel, text, is_template(rel)).map(|mut objects| {
                if in_chart(rel) {
                    for object in &mut objects {
                        object.in_chart = true;
                    }
                }
                objects
            })
        });
        (rel.clone(), text.ok(), objects, recoded)
    });
    let mut out = Scan {
        root: root.to_path_buf(),
        files,
        links,
        ..Scan::default()
    };
    for (rel, text, objects, recoded) in parsed {
        if recoded {
            out.recoded.insert(rel.clone());
        }
        if let Some(text) = text {
            out.texts.insert(rel.clone(), text);
        }
        match objects {
            Ok(objects) => {
                out.objects.insert(rel, objects);
            }
            Err(why) => out.unreadable.push((rel, why)),
        }
    }
    Ok(out)
}

/// Maps on every core (at most 8 threads), keeping the order.
fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map(std::num::NonZeroUsize::get)
        .unwrap_or(2)
        .clamp(1, 8);
    let chunk = items.len().div_ceil(threads).max(1);
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(f).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("reading files does not panic"))
            .collect()
    })
}

/// Every manifest file under `root` (relative, `/`-separated, sorted), and the symbolic links
/// among them that stay in the repo (link -> target). A link out of the repo, or to nothing,
/// is a problem; so is a manifest name on something other than a file (a FIFO, a device).
fn files_under(root: &Path, problems: &mut Problems) -> (Vec<String>, BTreeMap<String, String>) {
    let skipped = |entry: &walkdir::DirEntry| {
        let name = entry.file_name().to_string_lossy();
        entry.depth() > 0
            && entry.file_type().is_dir()
            && (name.starts_with('.') || name == "node_modules")
    };
    let canonical_root = fs_err::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let mut out = Vec::new();
    let mut links = BTreeMap::new();
    for entry in walkdir::WalkDir::new(root)
        .follow_links(false)
        .into_iter()
        .filter_entry(|entry| !skipped(entry))
        .filter_map(Result::ok)
    {
        if entry.depth() == 0 || entry.file_type().is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy();
        let Some(rel) = entry
            .path()
            .strip_prefix(root)
            .ok()
            .map(|r| r.to_string_lossy().replace('\\', "/"))
        else {
            continue;
        };
        if entry.file_type().is_symlink() {
            let target = fs_err::canonicalize(entry.path()).ok();
            let inside = target
                .as_ref()
                .and_then(|t| t.strip_prefix(&canonical_root).ok())
                .map(|r| r.to_string_lossy().replace('\\', "/"));
            match inside {
                Some(target) if root.join(&target).is_dir() => {}
                Some(target) if is_manifest_name(&name) => {
                    links.insert(rel.clone(), target);
                    out.push(rel);
                }
                Some(_) => {}
                None if !is_manifest_name(&name) && !entry.path().is_dir() => {}
                None => problems.push(
                    Problem::new(
                        format!("`{rel}`"),
                        "is a symbolic link out of the repo (or to nothing)",
                    )
                    .hint("`strata check` reads only the repo's own files: replace the link with the file, or remove it"),
                ),
            }
        } else if is_manifest_name(&name) {
            out.push(rel);
        }
    }
    out.sort();
    (out, links)
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
/// and directories, followed), a Helm chart's `templates/` and `crds/`, or else the
/// directory's own manifests.
pub struct Deployed {
    pub objects: Vec<Object>,
    /// Directories or files that were named but are missing, or outside the repo.
    pub unresolved: Vec<String>,
    /// Remote bases and resources (URLs), not followed.
    pub remote: Vec<String>,
    /// Helm charts this directory is or depends on (`Chart.yaml` names and dependencies), and
    /// the charts a kustomization inflates (`helmCharts`).
    pub charts: Vec<String>,
}

/// Whether a kustomization entry is remote (a URL, or a `github.com/...` shorthand).
pub fn is_remote(entry: &str) -> bool {
    entry.contains("://")
        || entry.starts_with("github.com/")
        || entry.starts_with("git@")
        || entry.starts_with("gitlab.com/")
        || entry.starts_with("bitbucket.org/")
}

/// Collects what `dir` deploys. Results per directory are cached in `cache`.
pub fn deployed_by(
    root: &Path,
    dir: &str,
    scan: &Scan,
    cache: &mut BTreeMap<String, std::rc::Rc<Deployed>>,
) -> std::rc::Rc<Deployed> {
    let mut stack = Vec::new();
    deployed_rec(root, dir, scan, cache, &mut stack)
}

fn strings_at<'a>(value: Option<&'a Value>, keys: &[&str]) -> Vec<&'a Value> {
    keys.iter()
        .filter_map(|key| value.and_then(|v| v.get(*key)))
        .filter_map(Value::as_array)
        .flatten()
        .collect()
}

fn deployed_rec(
    root: &Path,
    dir: &str,
    scan: &Scan,
    cache: &mut BTreeMap<String, std::rc::Rc<Deployed>>,
    stack: &mut Vec<String>,
) -> std::rc::Rc<Deployed> {
    if let Some(hit) = cache.get(dir) {
        return hit.clone();
    }
    let mut done = Deployed {
        objects: Vec::new(),
        unresolved: Vec::new(),
        remote: Vec::new(),
        charts: Vec::new(),
    };
    if stack.iter().any(|d| d == dir) {
        done.unresolved.push(format!("{dir} (a cycle)"));
        return std::rc::Rc::new(done);
    }
    stack.push(dir.to_string());
    let objects_of = |rel: &str| scan.objects.get(rel).cloned().unwrap_or_default();
    if let Some(kustomization) = kustomization_in(root, dir) {
        let parsed = scan
            .text(&kustomization)
            .and_then(|text| crate::util::yaml::parse_manifest(text).ok());
        for chart in strings_at(parsed.as_ref(), &["helmCharts"]) {
            if let Some(name) = chart.get("name").and_then(Value::as_str) {
                done.charts.push(name.to_string());
            }
        }
        let entries: Vec<String> = strings_at(
            parsed.as_ref(),
            &["resources", "bases", "components", "crds"],
        )
        .into_iter()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
        for entry in entries {
            if is_remote(&entry) {
                done.remote.push(entry);
                continue;
            }
            if escapes(dir, &entry) {
                done.unresolved.push(entry);
                continue;
            }
            let target = join(dir, &entry);
            if root.join(&target).is_dir() {
                let inner = deployed_rec(root, &target, scan, cache, stack);
                done.objects.extend(inner.objects.iter().cloned());
                done.unresolved.extend(inner.unresolved.iter().cloned());
                done.remote.extend(inner.remote.iter().cloned());
                done.charts.extend(inner.charts.iter().cloned());
            } else if scan.objects.contains_key(&target) {
                done.objects.extend(objects_of(&target));
            } else if !scan.texts.contains_key(&target) {
                done.unresolved.push(target);
            }
        }
    } else if let Some(chart) = scan.text(&join(dir, "Chart.yaml")) {
        let parsed = crate::util::yaml::parse_manifest(chart).ok();
        if let Some(name) = parsed
            .as_ref()
            .and_then(|c| c.get("name"))
            .and_then(Value::as_str)
        {
            done.charts.push(name.to_string());
        }
        for dependency in strings_at(parsed.as_ref(), &["dependencies"]) {
            if let Some(name) = dependency.get("name").and_then(Value::as_str) {
                done.charts.push(name.to_string());
            }
        }
        for sub in ["templates/", "crds/", "charts/"] {
            let prefix = join(dir, sub) + "/";
            for (rel, objects) in scan.objects.range(prefix.clone()..) {
                if !rel.starts_with(&prefix) {
                    break;
                }
                done.objects.extend(objects.iter().cloned());
            }
        }
    } else if root.join(dir).is_dir() {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        for (rel, objects) in scan.objects.range(prefix.clone()..) {
            if !rel.starts_with(&prefix) {
                break;
            }
            if !rel[prefix.len()..].contains('/') {
                done.objects.extend(objects.iter().cloned());
            }
        }
    } else {
        done.unresolved.push(dir.to_string());
    }
    stack.pop();
    let done = std::rc::Rc::new(done);
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
    fn helm_templates_are_read_line_by_line_and_manifests_as_yaml() {
        let helm = "{{- if .Values.enabled }}\napiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata:\n  name: {{ .Release.Name }}-default\n  labels:\n    name: nope\nspec:\n  name: nope\n{{- end }}\n";
        let objects = objects_in("t.yaml", helm, true).unwrap();
        assert_eq!(objects.len(), 1);
        assert_eq!(objects[0].kind, "NodePool");
        assert_eq!(objects[0].name, "{{ .Release.Name }}-default");
        let plain = "apiVersion: v1\nkind: Namespace\nmetadata:\n    namespace: \"x\" # c\n    name: 'team'\n";
        let objects = objects_in("n.yaml", plain, false).unwrap();
        assert_eq!(objects[0].name, "team");
        assert_eq!(objects[0].namespace.as_deref(), Some("x"));
    }

    #[test]
    fn lists_and_json_are_expanded() {
        let list = "apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: Namespace\n    metadata:\n      name: a\n";
        let objects = objects_in("l.yaml", list, false).unwrap();
        assert_eq!(objects.len(), 1);
        assert_eq!(objects[0].kind, "Namespace");
        let json = r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"j"}}"#;
        assert_eq!(objects_in("j.json", json, false).unwrap()[0].name, "j");
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
