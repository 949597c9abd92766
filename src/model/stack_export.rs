//! A Pulumi stack export: what `pulumi stack export` writes (deployment format 3), read for
//! `strata check --stack-export` and `strata migrate`.
//!
//! This module owns the export's format: its resources, the Kubernetes object behind each
//! `kubernetes:*` resource (kind, namespace, name, which pulumi-kubernetes wrote it), where a
//! resource sits in the tree (a Helm chart's child, a cluster component's child), and every
//! secret value the export holds, collected so that callers can prove none reaches their output
//! ([`SecretValues`]). Values under Pulumi's secret sigil are revealed only when the export is
//! in plain text (`--show-secrets`); ciphertext stays sealed. It reads one file; it writes and
//! prints nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use crate::util::problem::{Problem, Problems};

/// The key that marks a secret value in Pulumi's state.
pub const SIGIL: &str = "4dabf18193072939515e22adb298388d";

/// One resource of the export.
#[derive(Debug, Clone)]
pub struct Resource {
    pub urn: String,
    /// `kubernetes:apps/v1:Deployment`, `aws:eks/cluster:Cluster`, ...
    pub type_: String,
    pub custom: bool,
    pub id: Option<String>,
    pub parent: Option<String>,
    pub dependencies: Vec<String>,
    /// The provider resource that manages it: `<provider URN>::<provider id>`.
    pub provider: Option<String>,
    pub inputs: Value,
    pub outputs: Value,
    pub protect: bool,
}

/// The Kubernetes object a `kubernetes:<group>/<version>:<Kind>` resource manages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeObject {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    /// `None` for cluster-scoped objects.
    pub namespace: Option<String>,
}

/// Which pulumi-kubernetes wrote an object, told by what it left in the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writer {
    /// v3: client-side apply, `kubectl.kubernetes.io/last-applied-configuration` and the
    /// `app.kubernetes.io/managed-by: pulumi` label, field manager `pulumi-kubernetes`.
    V3,
    /// v4: server-side apply as field manager `pulumi-kubernetes-<hex>`.
    V4,
    Unknown,
}

impl Writer {
    pub fn text(self) -> &'static str {
        match self {
            Writer::V3 => "pulumi-kubernetes v3 (client-side apply, last-applied annotation, `app.kubernetes.io/managed-by: pulumi`)",
            Writer::V4 => "pulumi-kubernetes v4 (server-side apply, field manager `pulumi-kubernetes-*`)",
            Writer::Unknown => "an unknown pulumi-kubernetes",
        }
    }
}

/// A parsed export.
#[derive(Debug, Clone)]
pub struct StackExport {
    /// The file, as given.
    pub path: String,
    /// From the URNs: `urn:pulumi:<stack>::<project>::...`.
    pub stack: String,
    pub project: String,
    pub resources: Vec<Resource>,
    by_urn: BTreeMap<String, usize>,
    pub secrets: SecretValues,
}

/// Where a value sealed as a Pulumi secret could be read.
#[derive(Debug, Clone, PartialEq)]
pub enum Revealed<'a> {
    /// Not a secret.
    Plain(&'a Value),
    /// A secret exported in plain text (`--show-secrets`): its value.
    Decrypted(Value),
    /// A secret still encrypted: unreadable.
    Sealed,
}

/// Whether a stack or project name is made of Pulumi's name characters only
/// (`[A-Za-z0-9._-]`, not empty): nothing a shell reads as more than a word.
pub fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// The largest stack export `check` and `migrate` read: 512 MiB (an export of thousands of
/// resources is tens of MiB). A FIFO, a device or a larger file is refused (exit 2).
pub const EXPORT_MAX: u64 = 512 * 1024 * 1024;

impl StackExport {
    /// Reads and parses an export; every problem is bad input (exit 2).
    pub fn load(path: &Path) -> Result<StackExport, Problems> {
        let shown = path.display().to_string();
        // A link is followed to what it names, which must be a regular file too.
        let target = fs_err::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let bytes = crate::util::fs::read_regular(&target, EXPORT_MAX).map_err(|why| {
            Problem::new(format!("`{shown}`"), why.to_string()).hint(format!(
                "pass the regular file `pulumi stack export --file FILE` wrote (at most {} MiB)",
                EXPORT_MAX / (1024 * 1024)
            ))
        })?;
        Self::parse(&bytes, &shown)
    }

    /// Parses the bytes of an export.
    pub fn parse(bytes: &[u8], shown: &str) -> Result<StackExport, Problems> {
        let bad = |why: String| {
            Problems::from(Problem::new(format!("`{shown}`"), why).hint(
                "pass the file `pulumi stack export --file FILE` wrote (deployment format 3)",
            ))
        };
        // PowerShell's `>` writes a byte order mark (Windows PowerShell 5: UTF-16).
        let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
        if bytes.starts_with(b"\xff\xfe") || bytes.starts_with(b"\xfe\xff") {
            return Err(bad(
                "is UTF-16 text (as PowerShell's `>` writes it), not the UTF-8 JSON of an export"
                    .to_string(),
            ));
        }
        let document: Value = serde_json::from_slice(bytes).map_err(|err| {
            bad(format!(
                "is not a Pulumi stack export: not JSON (line {}, column {})",
                err.line(),
                err.column()
            ))
        })?;
        let version = document.get("version").and_then(Value::as_i64);
        // `pulumi stack export` writes `deployment`; a file backend's own checkpoint holds the
        // same deployment under `checkpoint.latest`.
        let deployment = document.get("deployment").or_else(|| {
            document
                .get("checkpoint")
                .and_then(|c| c.get("latest").or_else(|| c.get("Latest")))
        });
        let Some(deployment) = deployment else {
            return Err(bad(
                "is not a Pulumi stack export: it has no `deployment`".to_string()
            ));
        };
        if version != Some(3) {
            return Err(bad(format!(
                "has deployment format {}, strata reads format 3",
                version.map_or_else(|| "none".to_string(), |v| v.to_string())
            )));
        }
        let mut resources = Vec::new();
        let list = match deployment.get("resources") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(list)) => list.clone(),
            Some(_) => {
                return Err(bad(
                    "is not a Pulumi stack export: `deployment.resources` is not a list"
                        .to_string(),
                ))
            }
        };
        let mut problems = Problems::default();
        for (index, raw) in list.iter().enumerate() {
            let text = |key: &str| raw.get(key).and_then(Value::as_str).map(str::to_string);
            let (Some(urn), Some(type_)) = (text("urn"), text("type")) else {
                problems.push(
                    Problem::new(
                        format!("`{shown}`"),
                        format!("resource #{index} has no `urn` or `type`"),
                    )
                    .hint("export the stack again with `pulumi stack export --file FILE`"),
                );
                continue;
            };
            if !urn.starts_with("urn:pulumi:") || urn.split("::").count() < 4 {
                problems.push(
                    Problem::new(
                        format!("`{shown}`"),
                        format!("resource #{index} has a malformed URN"),
                    )
                    .hint("export the stack again with `pulumi stack export --file FILE`"),
                );
                continue;
            }
            let flag = |key: &str| raw.get(key).and_then(Value::as_bool).unwrap_or(false);
            resources.push(Resource {
                urn,
                type_,
                custom: flag("custom"),
                id: text("id").filter(|id| !id.is_empty()),
                parent: text("parent").filter(|p| !p.is_empty()),
                dependencies: raw
                    .get("dependencies")
                    .and_then(Value::as_array)
                    .map(|deps| {
                        deps.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
                provider: text("provider").filter(|p| !p.is_empty()),
                inputs: raw.get("inputs").cloned().unwrap_or(Value::Null),
                outputs: raw.get("outputs").cloned().unwrap_or(Value::Null),
                protect: flag("protect"),
            });
        }
        let (stack, project) = resources
            .first()
            .map(|r| {
                let mut parts = r.urn["urn:pulumi:".len()..].split("::");
                (
                    parts.next().unwrap_or_default().to_string(),
                    parts.next().unwrap_or_default().to_string(),
                )
            })
            .unwrap_or_default();
        // The stack and project names reach the shell commands of MIGRATION.md and
        // `migration.sh`: only Pulumi's own name characters are read.
        for (what, name) in [("stack", &stack), ("project", &project)] {
            if !is_plain_name(name) {
                problems.push(
                    Problem::new(
                        format!("`{shown}`"),
                        format!(
                            "names the {what} `{}`, which has characters outside `[A-Za-z0-9._-]`",
                            name.escape_debug()
                        ),
                    )
                    .hint("Pulumi names stacks and projects with letters, digits, `.`, `_` and `-`: export the stack again with `pulumi stack export`, and do not edit its URNs"),
                );
            }
        }
        problems.into_result()?;
        let by_urn = resources
            .iter()
            .enumerate()
            .map(|(i, r)| (r.urn.clone(), i))
            .collect();
        let mut export = StackExport {
            path: shown.to_string(),
            stack,
            project,
            resources,
            by_urn,
            secrets: SecretValues::default(),
        };
        export.secrets = SecretValues::collect(&document, &export);
        Ok(export)
    }

    pub fn get(&self, urn: &str) -> Option<&Resource> {
        self.by_urn.get(urn).map(|i| &self.resources[*i])
    }

    /// The provider resource of a resource (`provider` is `<URN>::<id>`), when the export has it.
    pub fn provider_of(&self, resource: &Resource) -> Option<&Resource> {
        let reference = resource.provider.as_deref()?;
        let (urn, _id) = reference.rsplit_once("::")?;
        self.get(urn)
    }

    /// The resource's ancestors, nearest first.
    pub fn ancestors<'a>(&'a self, resource: &'a Resource) -> Vec<&'a Resource> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        let mut next = resource.parent.as_deref();
        while let Some(urn) = next {
            if !seen.insert(urn) {
                break;
            }
            let Some(parent) = self.get(urn) else { break };
            out.push(parent);
            next = parent.parent.as_deref();
        }
        out
    }

    /// The resources that depend on `urn` (by `dependencies` or as children).
    pub fn dependents(&self, urn: &str) -> Vec<&Resource> {
        self.resources
            .iter()
            .filter(|r| r.parent.as_deref() == Some(urn) || r.dependencies.iter().any(|d| d == urn))
            .collect()
    }
}

impl Resource {
    /// The name at the end of the URN (the program's name of the resource).
    pub fn logical_name(&self) -> &str {
        self.urn.rsplit("::").next().unwrap_or_default()
    }

    /// `(group/version, Kind)` of a `kubernetes:<group>/<version>:<Kind>` type; the core group
    /// is written `core` in types and `` in `apiVersion`.
    pub fn kube_type(&self) -> Option<(String, String)> {
        let rest = self.type_.strip_prefix("kubernetes:")?;
        let (module, kind) = rest.rsplit_once(':')?;
        let (group, version) = module.split_once('/')?;
        let api_version = if group == "core" {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        Some((api_version, kind.to_string()))
    }

    /// The Kubernetes object this resource manages (custom `kubernetes:` resources only).
    pub fn kube_object(&self) -> Option<KubeObject> {
        if !self.custom {
            return None;
        }
        let (api_version, kind) = self.kube_type()?;
        let metadata = |v: &Value, key: &str| -> Option<String> {
            v.get("metadata")
                .and_then(|m| m.get(key))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        // The id is `<namespace>/<name>` (or `<name>` for cluster-scoped objects): what lives
        // in the cluster, whatever the program wrote.
        let (id_namespace, id_name) = match self.id.as_deref() {
            Some(id) => match id.split_once('/') {
                Some((ns, name)) => (Some(ns.to_string()), Some(name.to_string())),
                None => (None, Some(id.to_string())),
            },
            None => (None, None),
        };
        let name = id_name
            .or_else(|| metadata(&self.outputs, "name"))
            .or_else(|| metadata(&self.inputs, "name"))
            .unwrap_or_else(|| self.logical_name().to_string());
        let namespace = id_namespace
            .or_else(|| metadata(&self.outputs, "namespace"))
            .or_else(|| metadata(&self.inputs, "namespace"));
        Some(KubeObject {
            api_version,
            kind,
            name,
            namespace,
        })
    }

    /// Which pulumi-kubernetes wrote the object, from the field manager it recorded.
    pub fn writer(&self) -> Writer {
        let manager = self
            .outputs
            .get("__fieldManager")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if manager == "pulumi-kubernetes" {
            Writer::V3
        } else if manager.starts_with("pulumi-kubernetes-") {
            Writer::V4
        } else if self
            .outputs
            .pointer("/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration")
            .is_some()
        {
            Writer::V3
        } else {
            Writer::Unknown
        }
    }

    /// The program's own input for a key (`spec`, `data`, ...), falling back to the live
    /// object in the outputs.
    pub fn field(&self, key: &str) -> Revealed<'_> {
        match self.inputs.get(key) {
            Some(value) => reveal(value),
            None => self
                .outputs
                .get(key)
                .map_or(Revealed::Plain(&Value::Null), reveal),
        }
    }
}

/// Reads a value that may be sealed under Pulumi's secret sigil.
pub fn reveal(value: &Value) -> Revealed<'_> {
    match value.get(SIGIL) {
        None => Revealed::Plain(value),
        Some(_) => match value.get("plaintext").and_then(Value::as_str) {
            Some(text) => Revealed::Decrypted(
                serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string())),
            ),
            None => match value.get("value") {
                Some(inner) => Revealed::Decrypted(inner.clone()),
                None => Revealed::Sealed,
            },
        },
    }
}

/// Whether a value holds a sealed or revealed secret anywhere inside.
pub fn holds_secret(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.contains_key(SIGIL) || map.values().any(holds_secret),
        Value::Array(items) => items.iter().any(holds_secret),
        _ => false,
    }
}

/// Every secret value of an export: the ciphertexts and plain texts under the secret sigil,
/// and each value of every Kubernetes Secret (`data` as written and decoded, `stringData`).
/// Short values (under [`SecretValues::MIN_LEN`] characters) are not kept: they would match
/// ordinary text.
#[derive(Debug, Clone, Default)]
pub struct SecretValues {
    values: BTreeSet<String>,
}

impl SecretValues {
    pub const MIN_LEN: usize = 6;

    fn add(&mut self, value: &str) {
        if value.chars().count() >= Self::MIN_LEN {
            self.values.insert(value.to_string());
            // JSON writers escape some characters (`>` as `\u003e` in Go): keep that form too.
            let escaped = serde_json::to_string(value).unwrap_or_default();
            let inner = escaped.trim_matches('"');
            if inner != value {
                self.values.insert(inner.to_string());
            }
        }
    }

    fn add_leaves(&mut self, value: &Value) {
        match value {
            Value::String(s) => self.add(s),
            Value::Array(items) => items.iter().for_each(|v| self.add_leaves(v)),
            Value::Object(map) => map.values().for_each(|v| self.add_leaves(v)),
            _ => {}
        }
    }

    fn collect(document: &Value, export: &StackExport) -> SecretValues {
        let mut out = SecretValues::default();
        out.walk(document);
        for resource in &export.resources {
            let is_secret = resource
                .kube_type()
                .is_some_and(|(api, kind)| api == "v1" && kind == "Secret");
            if !is_secret {
                continue;
            }
            for side in [&resource.inputs, &resource.outputs] {
                for source in [side, side.get("__inputs").unwrap_or(&Value::Null)] {
                    for key in ["data", "stringData"] {
                        let Some(field) = source.get(key) else {
                            continue;
                        };
                        let value = match reveal(field) {
                            Revealed::Plain(v) => v.clone(),
                            Revealed::Decrypted(v) => v,
                            Revealed::Sealed => continue,
                        };
                        out.add_leaves(&value);
                        if key == "data" {
                            for encoded in value.as_object().into_iter().flat_map(|m| m.values()) {
                                if let Some(decoded) = encoded.as_str().and_then(base64_decode) {
                                    out.add(&decoded);
                                }
                            }
                        }
                    }
                    let applied = source.pointer(
                        "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration",
                    );
                    if let Some(applied) = applied {
                        match reveal(applied) {
                            Revealed::Plain(v) => out.add_leaves(v),
                            Revealed::Decrypted(v) => out.add_leaves(&v),
                            Revealed::Sealed => {}
                        }
                    }
                }
            }
        }
        out
    }

    /// Collects every value under a secret sigil.
    fn walk(&mut self, value: &Value) {
        match value {
            Value::Object(map) if map.contains_key(SIGIL) => {
                for key in ["ciphertext", "plaintext"] {
                    if let Some(text) = map.get(key).and_then(Value::as_str) {
                        self.add(text);
                        if key == "plaintext" {
                            // A secret string is the JSON of a string: keep the string itself.
                            if let Ok(Value::String(inner)) = serde_json::from_str(text) {
                                self.add(&inner);
                            }
                        }
                    }
                }
                if let Some(Value::String(inner)) = map.get("value") {
                    self.add(inner);
                }
            }
            Value::Object(map) => map.values().for_each(|v| self.walk(v)),
            Value::Array(items) => items.iter().for_each(|v| self.walk(v)),
            _ => {}
        }
    }

    /// Whether `text` contains one of the secret values (or the secret sigil itself).
    pub fn leaks_into(&self, text: &str) -> bool {
        text.contains(SIGIL) || self.values.iter().any(|v| text.contains(v.as_str()))
    }

    /// The values, for tests that grep output for them.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.values.iter().map(String::as_str)
    }
}

/// Decodes standard base64 (what Kubernetes Secret `data` holds); `None` when not base64 or
/// not UTF-8.
pub fn base64_decode(text: &str) -> Option<String> {
    fn value(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let bytes: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if bytes.is_empty() || !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for chunk in bytes.chunks(4) {
        let pad = chunk.iter().rev().take_while(|b| **b == b'=').count();
        let mut n: u32 = 0;
        for (i, b) in chunk.iter().enumerate() {
            let v = if *b == b'=' && i >= 4 - pad {
                0
            } else {
                value(*b)?
            };
            n = (n << 6) | v;
        }
        let decoded = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&decoded[..3 - pad]);
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn export(resources: Value) -> StackExport {
        let doc = serde_json::json!({"version": 3, "deployment": {"manifest": {}, "resources": resources}});
        StackExport::parse(doc.to_string().as_bytes(), "t.json").unwrap()
    }

    #[test]
    fn base64_decodes_padding() {
        assert_eq!(base64_decode("aGVsbG8=").as_deref(), Some("hello"));
        assert_eq!(base64_decode("aGk=").as_deref(), Some("hi"));
        assert_eq!(base64_decode("not base64!"), None);
    }

    #[test]
    fn bad_exports_are_bad_input() {
        let stack = br#"{"version": 3, "deployment": {"resources": [{"urn": "urn:pulumi:dev::acme::pulumi:pulumi:Stack::acme-dev", "type": "pulumi:pulumi:Stack"}]}}"#;
        assert!(StackExport::parse(stack, "plain.json").is_ok());
        assert!(
            StackExport::parse(&[b"\xef\xbb\xbf".as_slice(), stack].concat(), "bom.json").is_ok()
        );
        let utf16 = StackExport::parse(b"\xff\xfe{\x00", "utf16.json").unwrap_err();
        assert!(utf16.0[0].message.contains("is UTF-16 text"), "{utf16:?}");
        for (text, why) in [
            ("nope", "not JSON"),
            (r#"{"version":3}"#, "no `deployment`"),
            (r#"{"version":2,"deployment":{}}"#, "format 2"),
            (
                r#"{"version":3,"deployment":{"resources":[{"urn":"x","type":"t"}]}}"#,
                "malformed URN",
            ),
        ] {
            let err = StackExport::parse(text.as_bytes(), "f").unwrap_err();
            assert!(
                err.0[0].message.contains(why),
                "{text}: {}",
                err.0[0].message
            );
        }
    }

    #[test]
    fn kubernetes_objects_and_secrets_are_read() {
        let ex = export(serde_json::json!([
            {"urn": "urn:pulumi:dev::app::kubernetes:core/v1:Secret::db", "type": "kubernetes:core/v1:Secret",
             "custom": true, "id": "apps/db-1234",
             "inputs": {"data": {SIGIL: "1b47061264138c4ac30d75fd1eb44270", "plaintext": "{\"password\":\"c2VjcmV0LXZhbHVl\"}"}},
             "outputs": {"__fieldManager": "pulumi-kubernetes-abc"}},
        ]));
        let secret = &ex.resources[0];
        let object = secret.kube_object().unwrap();
        assert_eq!(
            (object.kind.as_str(), object.name.as_str()),
            ("Secret", "db-1234")
        );
        assert_eq!(object.namespace.as_deref(), Some("apps"));
        assert_eq!(object.api_version, "v1");
        assert_eq!(secret.writer(), Writer::V4);
        assert!(ex.secrets.leaks_into("x c2VjcmV0LXZhbHVl y"));
        assert!(ex.secrets.leaks_into("secret-value"));
        assert!(!ex.secrets.leaks_into("password"));
        assert_eq!(ex.stack, "dev");
        assert_eq!(ex.project, "app");
    }
}
