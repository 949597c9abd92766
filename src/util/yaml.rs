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

/// Writes one document as block-style YAML; `None` when it cannot be written.
pub fn emit_node(node: &Node) -> Option<String> {
    serde_yaml_ng::to_string(node).ok()
}

/// Parses one YAML document (tests read back what a merge wrote).
#[cfg(test)]
pub fn parse_node(bytes: &[u8]) -> Result<Node, String> {
    serde_yaml_ng::from_slice(bytes).map_err(|err| err.to_string())
}
