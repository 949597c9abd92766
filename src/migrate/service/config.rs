//! A service's configuration and secrets: the ConfigMaps whose every entry strata can hold and
//! the literal environment values become config values; the Secrets become the keys of the
//! service's ExternalSecret. Secret values are never read, only their keys.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{file_name, text, verbatim, Derivation, Stay};
use crate::migrate::{declared, Candidate, OverlayFile, Role, SecretKeys};
use crate::model::names;
use crate::model::stack_export::Resource;

/// The keys strata sets in every service's ConfigMap itself.
const RESERVED_KEYS: [&str; 2] = ["SERVICE_NAME", "ENVIRONMENT"];

/// The service's config values, and the ConfigMaps that became them.
pub(super) struct Config {
    pub values: BTreeMap<String, String>,
    pub converted: BTreeSet<String>,
}

/// The service's secret keys, and the Secrets that became them.
pub(super) struct Secrets {
    pub keys: Vec<SecretKeys>,
    pub converted: BTreeSet<String>,
}

/// The keys of a Secret, read without its values: from `data`/`stringData` when readable,
/// else from the fields the API server recorded (`managedFields`).
fn secret_keys(resource: &Resource) -> Option<Vec<String>> {
    let mut keys = BTreeSet::new();
    let mut readable = false;
    for field in ["data", "stringData"] {
        if let Some((Value::Object(map), _)) = declared(resource, field) {
            readable = true;
            keys.extend(map.keys().cloned());
        }
    }
    if !readable {
        for entry in resource
            .outputs
            .pointer("/metadata/managedFields")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(data) = entry.pointer("/fieldsV1/f:data").and_then(Value::as_object) {
                readable = true;
                keys.extend(
                    data.keys()
                        .filter_map(|k| k.strip_prefix("f:"))
                        .map(str::to_string),
                );
            }
        }
    }
    readable.then(|| keys.into_iter().collect())
}

/// Moves the container's literal environment values that fit strata's configuration into
/// `config` (the spec was not secret), and returns the rest of its environment.
pub(super) fn take_literal_env(first: &Value, config: &mut BTreeMap<String, String>) -> Vec<Value> {
    let mut env = first
        .get("env")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    env.retain(|var| {
        let (Some(name), Some(value)) = (
            var.get("name").and_then(Value::as_str),
            var.get("value").and_then(Value::as_str),
        ) else {
            return true;
        };
        let fits = names::parse_config_key(name).is_ok()
            && names::parse_config_value(name, value).is_ok()
            && !RESERVED_KEYS.contains(&name)
            && config.get(name).is_none_or(|old| old == value);
        if fits {
            config.insert(name.to_string(), value.to_string());
        }
        !fits
    });
    env
}

impl<'a> Derivation<'a> {
    fn members_of_kind(&self, kind: &str) -> Vec<&'a Candidate<'a>> {
        self.members
            .iter()
            .copied()
            .filter(|c| c.object.kind == kind)
            .collect()
    }

    /// Turns each ConfigMap whose every entry strata can hold into config values, and keeps the
    /// others verbatim in the overlay. A ConfigMap sealed in the export keeps the service in
    /// Pulumi.
    pub(super) fn convert_config_maps(&mut self) -> Result<Config, Stay> {
        let mut config: BTreeMap<String, String> = BTreeMap::new();
        let mut converted: BTreeSet<String> = BTreeSet::new();
        for candidate in self.members_of_kind("ConfigMap") {
            let data = declared(candidate.resource, "data");
            let binary = candidate.resource.inputs.get("binaryData").is_some();
            let convertible = match &data {
                Some((Value::Object(map), false)) if !binary => map.iter().all(|(k, v)| {
                    v.is_string()
                        && names::parse_config_key(k).is_ok()
                        && names::parse_config_value(k, v.as_str().unwrap_or_default()).is_ok()
                        && !RESERVED_KEYS.contains(&k.as_str())
                        && config
                            .get(k)
                            .is_none_or(|old| Some(old.as_str()) == v.as_str())
                }),
                Some((Value::Null, false)) if !binary => true,
                _ => false,
            };
            if matches!(data, Some((_, true)) | None) {
                return Err(self.stay(
                    format!("ConfigMap `{}` is a Pulumi secret in the export; strata will not write it to git: make it a Secret first", candidate.object.name),
                ));
            }
            if convertible {
                if let Some((Value::Object(map), _)) = data {
                    for (k, v) in map {
                        config.insert(k, v.as_str().unwrap_or_default().to_string());
                    }
                }
                converted.insert(candidate.object.name.clone());
                let service = &self.service;
                let becomes =
                    format!("config values of service `{service}` (ConfigMap `{service}-config`)");
                self.push_moved(candidate, becomes);
                self.delete_later("configmap", &candidate.object.name);
            } else {
                let object = verbatim(candidate).map_err(|why| self.stay(why))?;
                let name = file_name("ConfigMap", &candidate.object.name);
                self.kept.push(format!("ConfigMap `{}` (its keys or binary data do not fit strata's configuration): `{name}`", candidate.object.name));
                self.files.push(OverlayFile {
                    name: name.clone(),
                    text: crate::util::yaml::emit(&object),
                    role: Role::Resource,
                });
                self.push_moved(candidate, format!("kept verbatim: `{name}`"));
            }
        }
        Ok(Config {
            values: config,
            converted,
        })
    }

    /// Turns each Secret into keys of the service's ExternalSecret. A Secret that is not
    /// Opaque, whose keys cannot be read, or whose keys clash keeps the service in Pulumi.
    pub(super) fn convert_secrets(
        &mut self,
        config: &BTreeMap<String, String>,
    ) -> Result<Secrets, Stay> {
        let mut secrets: Vec<SecretKeys> = Vec::new();
        let mut secret_key_set: BTreeSet<String> = BTreeSet::new();
        let mut converted: BTreeSet<String> = BTreeSet::new();
        for candidate in self.members_of_kind("Secret") {
            let secret_type = text(candidate.resource.inputs.get("type"))
                .or_else(|| text(candidate.resource.outputs.get("type")));
            if secret_type.as_deref().is_some_and(|t| t != "Opaque") {
                return Err(self.stay(
                    format!("Secret `{}` has type `{}`; strata's ExternalSecrets make Opaque secrets: move it by hand", candidate.object.name, secret_type.unwrap_or_default()),
                ));
            }
            let Some(keys) = secret_keys(candidate.resource) else {
                return Err(self.stay(format!(
                    "the keys of Secret `{}` cannot be read from the export",
                    candidate.object.name
                )));
            };
            for key in &keys {
                if names::parse_config_key(key).is_err()
                    || config.contains_key(key)
                    || !secret_key_set.insert(key.clone())
                {
                    return Err(self.stay(
                        format!("key `{key}` of Secret `{}` is not a valid key, or another Secret or the configuration of the service has it too", candidate.object.name),
                    ));
                }
            }
            converted.insert(candidate.object.name.clone());
            secrets.push(SecretKeys {
                name: candidate.object.name.clone(),
                namespace: self.namespace.clone(),
                keys,
            });
            let service = &self.service;
            let becomes = format!(
                "keys of the ExternalSecret `{service}` (AWS Secrets Manager `{}/{}/{service}`, Secret `{service}-secrets`)",
                self.request.answers.project, self.request.env
            );
            self.push_moved(candidate, becomes);
            if candidate.object.name != format!("{}-secrets", self.service) {
                self.delete_later("secret", &candidate.object.name);
            }
        }
        Ok(Secrets {
            keys: secrets,
            converted,
        })
    }
}
