//! YAML documents read and written: the only module that imports the YAML crate
//! (`serde_yaml_ng`). `check` and `migrate` read manifests and kustomizations with it, `migrate`
//! writes the objects it keeps verbatim, and the planner's merges read the files strata shares.

use serde_json::Value;

/// Parses one YAML document into a JSON value (manifests and kustomizations read back by
/// `strata check` and `strata migrate`). The error is the parser's message, with its line.
pub fn parse(text: &str) -> Result<Value, String> {
    serde_yaml_ng::from_str::<Value>(text).map_err(|err| err.to_string())
}

/// Writes a JSON value as block-style YAML (the objects `strata migrate` keeps verbatim).
/// Strings that YAML would read as something else are quoted by the emitter.
pub fn emit(value: &Value) -> String {
    serde_yaml_ng::to_string(value).unwrap_or_else(|_| value.to_string())
}

/// A YAML value as the YAML crate holds it (keys in their order, any scalar a key): what the
/// three-way merge (`plan/merge3.rs`) compares and merges.
pub use serde_yaml_ng::{Mapping, Value as Node};

/// Every document of a YAML stream, in order; `None` when one of them does not parse.
pub fn documents(text: &str) -> Option<Vec<Node>> {
    use serde::Deserialize as _;
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|doc| Node::deserialize(doc).ok())
        .collect()
}

/// The first error of a YAML stream (each document read as YAML, nothing more); `None` when
/// every document reads.
pub fn first_error(text: &str) -> Option<String> {
    use serde::Deserialize as _;
    serde_yaml_ng::Deserializer::from_str(text)
        .find_map(|doc| Node::deserialize(doc).err())
        .map(|err| err.to_string())
}

/// Writes one document as block-style YAML; `None` when it cannot be written.
pub fn emit_node(node: &Node) -> Option<String> {
    serde_yaml_ng::to_string(node).ok()
}

/// Parses one YAML document (tests read back what a merge wrote).
#[cfg(test)]
pub fn parse_node(bytes: &[u8]) -> Result<Node, String> {
    serde_yaml_ng::from_slice(bytes).map_err(|err| err.to_string())
}

/// Parses one document of a Kubernetes manifest the way kustomize and the API server read it:
/// anchors and aliases resolved, merge keys (`<<`) applied, tags (`!!str`, custom ones)
/// dropped for the value they tag, keys that are not strings written as text. An empty
/// document is `null`. The error is the parser's message, with its line.
pub fn parse_manifest(text: &str) -> Result<Value, String> {
    let mut node: Node = serde_yaml_ng::from_str(text).map_err(|err| err.to_string())?;
    node.apply_merge().map_err(|err| err.to_string())?;
    Ok(to_json(node))
}

/// What most manifests are asked: `apiVersion`, `kind`, `metadata.name` and
/// `metadata.namespace`, read without building the document (the parser still reads all of it,
/// aliases and `!!str` included). `None` when the document does not read that way (a custom
/// tag, a value of another type, not YAML): the caller then parses it whole
/// ([`parse_manifest`]), and so for merge keys, which only the whole parse applies.
pub fn manifest_head(text: &str) -> Option<Head> {
    serde_yaml_ng::from_str::<Option<Head>>(text).ok().flatten()
}

/// The head of a manifest ([`manifest_head`]).
#[derive(Debug, Default, serde::Deserialize)]
pub struct Head {
    #[serde(rename = "apiVersion", default)]
    pub api_version: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub metadata: Option<HeadMetadata>,
}

/// `metadata` of a [`Head`].
#[derive(Debug, Default, serde::Deserialize)]
pub struct HeadMetadata {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
}

fn to_json(node: Node) -> Value {
    match node {
        Node::Null => Value::Null,
        Node::Bool(b) => Value::Bool(b),
        Node::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(Value::Null, Value::Number)
            }
        }
        Node::String(s) => Value::String(s),
        Node::Sequence(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Node::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| (key_text(key), to_json(value)))
                .collect(),
        ),
        Node::Tagged(tagged) => to_json(tagged.value),
    }
}

fn key_text(key: Node) -> String {
    match to_json(key) {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

#[cfg(test)]
mod manifest_tests {
    use super::*;

    #[test]
    fn tags_merge_keys_aliases_and_flow_style_are_read_as_kubernetes_does() {
        let cases = [
            "kind: !!str ClusterRole\n",
            "kind: !custom ClusterRole\n",
            "'kind': ClusterRole\n",
            "\"kind\": ClusterRole\n",
            "kind: >-\n  ClusterRole\n",
            "kind:\n  ClusterRole\n",
            "base: &b {kind: ClusterRole}\n<<: *b\n",
            "<<: {kind: ClusterRole}\n",
            "x: &k ClusterRole\nkind: *k\n",
            "{kind: ClusterRole}\n",
        ];
        for case in cases {
            let value = parse_manifest(case).unwrap();
            assert_eq!(value["kind"], "ClusterRole", "{case}");
        }
        let nested = parse_manifest("m: &m {name: x}\nmetadata:\n  <<: *m\n").unwrap();
        assert_eq!(nested["metadata"]["name"], "x");
    }
}
