//! Rendering: answers + layers -> files in memory. Pure: no disk, no git; only the layers'
//! overrides (`overrides.rs`) are read from a repo's `.strata/templates` before rendering.
//!
//! A template path may hold the placeholders `__stack__`, `__env__` and `__service__`; each
//! template is instantiated once per value (per service and environment the service runs in,
//! when both appear). Only `*.tera` files are rendered (suffix stripped); every other file is
//! copied byte for byte; a template that renders to whitespace only is not emitted (that is
//! how a file is optional). Each path component is checked on its own, so no value can make a
//! path outside its repo. Values reach YAML only through the `q` filter (see `quote.rs`);
//! the values templates see are built in `context.rs`. Only this folder imports tera.

mod context;
mod limits;
pub(crate) mod overrides;
pub(crate) mod quote;
mod recursion;

use std::collections::BTreeMap;

use serde_json::Value;
use tera::Tera;

use crate::model::answers::Answers;
use crate::model::names::ServiceName;
use crate::model::pack::{Layer, TemplateFile};
use crate::model::repo::Repo;
use crate::model::stack::stacks;
use crate::util::problem::{Problem, Problems};

use context::{service_value, Model};

/// A file ready to be planned: which repo, where, what, and who owns it afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    pub repo: Repo,
    /// Path relative to the repo root, `/`-separated.
    pub path: String,
    pub bytes: Vec<u8>,
    /// Written once and then left to its owner.
    pub seed: bool,
    /// Shared with others: strata owns only its units of these containers and the other
    /// top-level keys it renders (`plan/merge.rs`). Empty when strata owns the whole file.
    pub shared: Option<Vec<String>>,
}

/// Which instances of the templates a command renders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Everything: `strata new`.
    All,
    /// One service's files, plus every file that lists services or environments.
    Service(ServiceName),
    /// One environment's files, plus every file that lists services or environments.
    Env(String),
}

/// One template bound to its placeholder values.
#[derive(Debug, Clone)]
struct Instance<'a> {
    file: &'a TemplateFile,
    path: String,
    stack: Option<usize>,
    env: Option<usize>,
    service: Option<&'a str>,
}

/// A pair of layers with their compiled templates.
pub struct Renderer {
    /// Each layer with its own compiled templates: the two repos compile and render in
    /// parallel.
    layers: Vec<(Layer, Tera)>,
}

impl Renderer {
    /// The override that rendered `path` of `repo`, if one did: where it is kept.
    pub fn override_of(&self, repo: crate::model::repo::Repo, path: &str) -> Option<&str> {
        self.layers
            .iter()
            .filter(|(layer, _)| layer.repo == repo)
            .flat_map(|(layer, _)| &layer.overridden)
            .find(|(template, _)| overrides::instance_of(template, path))
            .map(|(_, origin)| origin.as_str())
    }

    /// Refuses a template override that renders a YAML file as text that is not YAML: the
    /// override's fault, named with the error (exit 2), never a conflict with a person's edit.
    pub fn check_overridden_yaml(&self, files: &[RenderedFile]) -> Result<(), Problems> {
        let mut problems = Problems::default();
        for file in files
            .iter()
            .filter(|f| f.path.ends_with(".yaml") || f.path.ends_with(".yml"))
        {
            let Some(origin) = self.override_of(file.repo, &file.path) else {
                continue;
            };
            let error = match std::str::from_utf8(&file.bytes) {
                Ok(text) => crate::util::yaml::first_error(text),
                Err(_) => Some("it is not UTF-8".to_string()),
            };
            if let Some(error) = error {
                problems.push(
                    Problem::new(
                        format!("template override `{origin}`"),
                        format!("renders {} `{}` as invalid YAML: {error}", file.repo, file.path),
                    )
                    .hint("fix the override (the pack's own template renders valid YAML), or remove it"),
                );
            }
        }
        problems.into_result()
    }
}

/// A layer with its templates compiled.
pub struct CompiledLayer {
    layer: Layer,
    tera: Tera,
}

impl CompiledLayer {
    /// Compiles every `.tera` file of a layer.
    pub fn new(layer: Layer) -> anyhow::Result<Self> {
        let mut tera = Tera::default();
        tera.autoescape_on(vec![]);
        quote::register_filters(&mut tera);
        let mut sources = Vec::new();
        for file in &layer.files {
            if let Some(name) = file.path.strip_suffix(".tera") {
                let text = std::str::from_utf8(file.contents)
                    .map_err(|_| anyhow::anyhow!("template `{}` is not UTF-8", file.path))?;
                sources.push((name, text));
            }
        }
        // A template that does not compile, or calls itself without end, can only be an
        // override (strata's own are tested): bad input, exit 2.
        let repo = layer.repo;
        let bad = |why: String| {
            crate::util::problem::Problems::from(
                crate::util::problem::Problem::new(format!("the {repo} repo's templates"), why)
                    .hint("fix the template override (in the repo's `.strata/templates/`, or the `--templates` directory) or remove it, then run the command again"),
            )
        };
        tera.add_raw_templates(sources).map_err(|err| {
            let chain: Vec<String> =
                std::iter::successors(Some(&err as &dyn std::error::Error), |e| e.source())
                    .map(ToString::to_string)
                    .collect();
            bad(format!("do not compile: {}", chain.join(": ")))
        })?;
        if let Some(cycle) = recursion::find_cycle(&tera) {
            return Err(bad(format!(
                "call themselves without end ({cycle}), which would exhaust strata's stack; use a `{{% for %}}` loop instead"
            ))
            .into());
        }
        Ok(Self { layer, tera })
    }
}

/// A path component that is unsafe to write.
#[derive(Debug, thiserror::Error)]
#[error("template path `{0}` renders to an unsafe path component `{1}`")]
pub struct UnsafePath(pub String, pub String);

impl Renderer {
    /// Compiles every `.tera` file of the layers, one thread per layer.
    pub fn new(layers: Vec<Layer>) -> anyhow::Result<Self> {
        let compiled: Vec<anyhow::Result<CompiledLayer>> = std::thread::scope(|scope| {
            let handles: Vec<_> = layers
                .into_iter()
                .map(|layer| scope.spawn(move || CompiledLayer::new(layer)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("template compilation does not panic"))
                .collect()
        });
        Self::from_compiled(compiled.into_iter().collect::<anyhow::Result<Vec<_>>>()?)
    }

    /// A renderer from layers compiled elsewhere (for example on a background thread while the
    /// workspace is read).
    pub fn from_compiled(layers: Vec<CompiledLayer>) -> anyhow::Result<Self> {
        Ok(Self {
            layers: layers.into_iter().map(|c| (c.layer, c.tera)).collect(),
        })
    }

    /// Renders the instances a scope selects, one thread per layer.
    pub fn render(&self, answers: &Answers, scope: &Scope) -> anyhow::Result<Vec<RenderedFile>> {
        let model = Model::new(answers)?;
        let base = &model.globals;
        let results: Vec<anyhow::Result<Vec<RenderedFile>>> = std::thread::scope(|threads| {
            let handles: Vec<_> = self
                .layers
                .iter()
                .map(|(layer, tera)| {
                    let model = &model;
                    threads.spawn(move || render_layer(layer, tera, answers, model, base, scope))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("rendering does not panic"))
                .collect()
        });
        let mut out = Vec::new();
        for result in results {
            out.extend(result?);
        }
        Ok(out)
    }

    /// Every template path of each layer, placeholders kept and `.tera` stripped.
    pub fn templates(&self) -> Vec<(Repo, &str)> {
        self.layers
            .iter()
            .flat_map(|(layer, _)| {
                layer.files.iter().map(|file| {
                    (
                        layer.repo,
                        file.path.strip_suffix(".tera").unwrap_or(file.path),
                    )
                })
            })
            .collect()
    }

    /// Whether a rendered path of a repo is an instance of one of its layer's seed files.
    pub fn is_seed_instance(&self, repo: Repo, path: &str) -> bool {
        self.layers
            .iter()
            .any(|(layer, _)| layer.repo == repo && layer.is_seed_instance(path))
    }

    /// The paths a scope renders, without rendering them (for deletions).
    pub fn paths(
        &self,
        answers: &Answers,
        scope: &Scope,
    ) -> anyhow::Result<Vec<(Repo, String, bool)>> {
        let mut out = Vec::new();
        for (layer, _) in &self.layers {
            for instance in instances(layer, answers, scope)? {
                let template_path = instance
                    .file
                    .path
                    .strip_suffix(".tera")
                    .unwrap_or(instance.file.path);
                out.push((layer.repo, instance.path, layer.is_seed(template_path)));
            }
        }
        Ok(out)
    }
}

/// The keys of the context that belong to one instance, not to every template.
const INSTANCE_KEYS: [&str; 5] = ["stack", "env", "env_services", "service", "senv"];

/// Renders one layer's instances of a scope.
fn render_layer(
    layer: &Layer,
    tera: &Tera,
    answers: &Answers,
    model: &Model,
    base: &tera::Context,
    scope: &Scope,
) -> anyhow::Result<Vec<RenderedFile>> {
    // One service's templates see that service only; its values are built when first
    // needed, so a command that renders one service does not build all of them.
    let mut service_values: BTreeMap<&str, Value> = BTreeMap::new();
    let mut out = Vec::new();
    // One context for every instance: the keys of an instance are removed after its render.
    // Cloning the globals per instance cost more than rendering (an `add env` renders 1,500).
    let mut context = base.clone();
    for instance in instances(layer, answers, scope)? {
        let bytes = match instance.file.path.strip_suffix(".tera") {
            Some(name) => {
                for key in INSTANCE_KEYS {
                    context.remove(key);
                }
                if let Some(i) = instance.stack {
                    context.insert("stack", &model.stacks[i]);
                }
                if let Some(i) = instance.env {
                    context.insert("env", &model.envs[i]);
                    if instance.service.is_none() {
                        // An environment's own files list the services it runs.
                        let env_name = &answers.environments[i].name;
                        let env_services: Vec<&str> = answers
                            .services
                            .iter()
                            .filter(|(_, service)| service.envs.contains_key(env_name))
                            .map(|(service, _)| service.as_str())
                            .collect();
                        context.insert("env_services", &env_services);
                    }
                }
                if let Some(service) = instance.service {
                    let value = service_values.entry(service).or_insert_with(|| {
                        service_value(answers, service, &answers.services[service])
                    });
                    context.insert("service", value);
                    if let Some(i) = instance.env {
                        let env_name = answers.environments[i].name.as_str();
                        context.insert("senv", &value["in"][env_name]);
                    }
                }
                tera.render(name, &context)
                    .map_err(|err| {
                        anyhow::anyhow!("rendering `{}`: {}", instance.path, tera_chain(&err))
                    })?
                    .into_bytes()
            }
            None => instance.file.contents.to_vec(),
        };
        // A template that renders to nothing but whitespace is a file this instance does not
        // have (for example the ExternalSecret of a service without secrets).
        if instance.file.path.ends_with(".tera") && bytes.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let template_path = instance
            .file
            .path
            .strip_suffix(".tera")
            .unwrap_or(instance.file.path);
        out.push(RenderedFile {
            repo: layer.repo,
            path: instance.path,
            bytes,
            seed: layer.is_seed(template_path),
            shared: layer.shared(template_path).map(<[String]>::to_vec),
        });
    }
    Ok(out)
}

fn tera_chain(err: &tera::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// Expands every template of a layer into the instances the scope selects.
fn instances<'a>(
    layer: &'a Layer,
    answers: &'a Answers,
    scope: &Scope,
) -> Result<Vec<Instance<'a>>, UnsafePath> {
    let stacks = stacks(answers);
    let mut out = Vec::new();
    for file in &layer.files {
        let path = file.path.strip_suffix(".tera").unwrap_or(file.path);
        let has_stack = path.contains("__stack__");
        let has_env = path.contains("__env__");
        let has_service = path.contains("__service__");
        let stack_values: Vec<Option<usize>> = if has_stack {
            (0..stacks.len()).map(Some).collect()
        } else {
            vec![None]
        };
        for stack in stack_values {
            let env_values: Vec<Option<usize>> = if has_env {
                (0..answers.environments.len()).map(Some).collect()
            } else {
                vec![None]
            };
            for env in env_values {
                let env_name = env.map(|i| answers.environments[i].name.as_str());
                let service_values: Vec<Option<&str>> = if has_service {
                    answers
                        .services
                        .iter()
                        .filter(|(_, service)| {
                            env_name.is_none_or(|e| service.envs.contains_key(e))
                        })
                        .map(|(name, _)| Some(name.as_str()))
                        .collect()
                } else {
                    vec![None]
                };
                for service in service_values {
                    let selected = match (scope, service, env_name) {
                        (Scope::All, _, _) | (_, None, _) => true,
                        (Scope::Service(s), Some(svc), _) => s == svc,
                        (Scope::Env(e), Some(_), Some(env)) => e == env,
                        (Scope::Env(_), Some(_), None) => false,
                    };
                    if !selected {
                        continue;
                    }
                    let rendered_path = instance_path(
                        path,
                        stack.map(|i| stacks[i].name.as_str()),
                        env_name,
                        service,
                    )?;
                    out.push(Instance {
                        file,
                        path: rendered_path,
                        stack,
                        env,
                        service,
                    });
                }
            }
        }
    }
    Ok(out)
}

/// Replaces the placeholders of a template path, one component at a time, refusing any
/// component that is empty, `.`, `..` or holds a separator.
fn instance_path(
    template: &str,
    stack: Option<&str>,
    env: Option<&str>,
    service: Option<&str>,
) -> Result<String, UnsafePath> {
    let mut parts = Vec::new();
    for component in template.split('/') {
        let mut value = component.to_string();
        for (placeholder, replacement) in [
            ("__stack__", stack),
            ("__env__", env),
            ("__service__", service),
        ] {
            if let Some(replacement) = replacement {
                value = value.replace(placeholder, replacement);
            }
        }
        let unsafe_component = value.is_empty()
            || value == "."
            || value == ".."
            || value.contains(['/', '\\', '\0'])
            || value.contains("__stack__")
            || value.contains("__env__")
            || value.contains("__service__");
        if unsafe_component {
            return Err(UnsafePath(template.to_string(), value));
        }
        parts.push(value);
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_replaced_per_component() {
        assert_eq!(
            instance_path(
                "services/__service__/overlays/__env__/k.yaml",
                None,
                Some("dev"),
                Some("api")
            )
            .unwrap(),
            "services/api/overlays/dev/k.yaml"
        );
        assert_eq!(
            instance_path("Pulumi.__stack__.yaml", Some("shared"), None, None).unwrap(),
            "Pulumi.shared.yaml"
        );
    }

    #[test]
    fn github_repositories_are_read_from_their_remote_urls_only_on_github_com() {
        for url in [
            "https://github.com/acme/acme-foundation.git",
            "https://github.com/acme/acme-foundation",
            "git@github.com:acme/acme-foundation.git",
            "ssh://git@github.com/acme/acme-foundation.git",
        ] {
            assert_eq!(
                crate::model::names::github_repository(url),
                "acme/acme-foundation",
                "{url}"
            );
        }
        for url in [
            "https://gitlab.com/acme/acme-foundation.git",
            "https://github.example.com/acme/acme-foundation.git",
            "https://github.com/acme/group/acme-foundation.git",
            "https://github.com/acme",
        ] {
            assert_eq!(crate::model::names::github_repository(url), "", "{url}");
        }
    }

    #[test]
    fn no_value_can_escape_the_repo() {
        for bad in ["..", ".", "", "a/b", "a\\b"] {
            assert!(
                instance_path("services/__service__/x", None, None, Some(bad)).is_err(),
                "{bad:?}"
            );
        }
        assert!(
            instance_path("apps/__env__/x", None, None, None).is_err(),
            "an unfilled placeholder is refused"
        );
    }
}
