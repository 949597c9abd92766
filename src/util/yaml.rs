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
