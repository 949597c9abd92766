//! What GitOps delivers, not only what the repo spells out: an Argo CD `Application` or
//! `ApplicationSet` (its template, with the values its generators give), a Flux `HelmRelease`
//! or `HelmChart`, a kustomization's remote bases and `helmCharts`, a chart's dependencies.
//!
//! A Helm chart is judged by the catalog ([`crate::check::catalog`]); a remote source (a URL
//! this repo does not hold) is a finding unless `strata.toml` allows it; a path of the repo is
//! read where it lies (every manifest of the repo is judged by its kind anyway). A Namespace or
//! CRD an application ships in its own chart, or a Namespace beside an application's workloads,
//! is a warning: the rule says the foundation creates it, but it delivers no infrastructure.
//! Reads the scan; writes nothing.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::check::catalog::{self, Catalog};
use crate::check::kinds::{self, Class, Row};
use crate::check::manifests::{self, Object, Scan};
use crate::check::{Finding, Severity, Source};

/// Everything a judgement of delivery needs.
pub struct Delivery<'a> {
    pub scan: &'a Scan,
    pub catalog: &'a Catalog,
    pub source: &'a Source,
    /// The repo's own URL, when known (a workspace): sources from it are not remote.
    pub repo_url: Option<&'a str>,
}

/// A chart named by a template placeholder the generators do not resolve.
const UNRESOLVED: &str = "(templated)";

impl Delivery<'_> {
    /// Every finding about delivery in the scan.
    pub fn judge(&self) -> Vec<Finding> {
        let mut findings = Vec::new();
        for (file, why) in &self.scan.unreadable {
            findings.push(
                Finding::new(
                    "manifest.unreadable",
                    self.source,
                    format!("`{file}` cannot be read as Kubernetes manifests: {why}"),
                )
                .at(file, None)
                .fix("make it valid YAML (kustomize and Argo CD refuse it too), or rename it if it is not a manifest"),
            );
        }
        for objects in self.scan.objects.values() {
            for object in objects {
                self.object(object, &mut findings);
            }
        }
        for file in &self.scan.files {
            let name = file.rsplit('/').next().unwrap_or(file);
            if name == "Chart.yaml" {
                self.chart_file(file, &mut findings);
            } else if matches!(
                name,
                "kustomization.yaml" | "kustomization.yml" | "Kustomization"
            ) {
                self.kustomization(file, &mut findings);
            }
        }
        findings
    }

    fn object(&self, object: &Object, findings: &mut Vec<Finding>) {
        let Some(doc) = &object.doc else {
            return;
        };
        let group = kinds::group_of(&object.api_version);
        match (group, object.kind.as_str()) {
            ("argoproj.io", "Application") => {
                for src in sources(doc.get("spec")) {
                    self.argo_source(object, src, None, findings);
                }
            }
            ("argoproj.io", "ApplicationSet") => {
                let spec = doc.get("spec");
                let generators = spec.and_then(|s| s.get("generators"));
                let template = spec
                    .and_then(|s| s.get("template"))
                    .and_then(|t| t.get("spec"));
                for src in sources(template) {
                    self.argo_source(object, src, generators, findings);
                }
            }
            ("helm.toolkit.fluxcd.io", "HelmRelease") => {
                let chart = doc
                    .pointer("/spec/chart/spec/chart")
                    .and_then(Value::as_str);
                let by_ref = doc.pointer("/spec/chartRef/name").and_then(Value::as_str);
                if let Some(chart) = chart {
                    self.chart(object, chart, "", findings);
                } else if let Some(name) = by_ref {
                    // An OCIRepository or HelmChart of the repo names the chart.
                    let url = self.flux_source_url(name);
                    self.chart(object, url.as_deref().unwrap_or(name), "", findings);
                }
            }
            ("source.toolkit.fluxcd.io", "HelmChart") => {
                if let Some(chart) = doc.pointer("/spec/chart").and_then(Value::as_str) {
                    self.chart(object, chart, "", findings);
                }
            }
            _ => {}
        }
    }

    /// The URL of a Flux OCIRepository (or the chart of a HelmChart) named `name`.
    fn flux_source_url(&self, name: &str) -> Option<String> {
        self.scan.objects.values().flatten().find_map(|o| {
            let doc = o.doc.as_ref()?;
            (o.name == name && kinds::group_of(&o.api_version) == "source.toolkit.fluxcd.io").then(
                || {
                    doc.pointer("/spec/url")
                        .or_else(|| doc.pointer("/spec/chart"))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                },
            )?
        })
    }

    /// One source of an Application (or of an ApplicationSet's template, with the values of
    /// its generators).
    fn argo_source(
        &self,
        object: &Object,
        src: &Value,
        generators: Option<&Value>,
        findings: &mut Vec<Finding>,
    ) {
        let text = |key: &str| src.get(key).and_then(Value::as_str).unwrap_or_default();
        let (repo, chart, path) = (text("repoURL"), text("chart"), text("path"));
        if !chart.is_empty() {
            for name in expand(chart, generators) {
                self.chart(object, &name, repo, findings);
            }
            return;
        }
        // A source of values only (`ref`), or one a template names, delivers nothing here.
        if repo.is_empty() || repo.contains("{{") || path.contains("{{") || src.get("ref").is_some()
        {
            return;
        }
        let ours = self
            .repo_url
            .is_some_and(|url| crate::check::same_repo(repo, url))
            || (!path.is_empty() && self.scan.has_path(path));
        // A path of this repo is judged where it lies (a chart by its `Chart.yaml`).
        if !ours {
            self.remote(object, &format!("{repo} (path `{path}`)"), repo, findings);
        }
    }

    fn chart(&self, object: &Object, reference: &str, repo: &str, findings: &mut Vec<Finding>) {
        if reference == UNRESOLVED {
            findings.push(
                Finding::new(
                    "delivery.unresolved",
                    self.source,
                    format!(
                        "{} `{}` delivers a chart named by a template that its generators do not resolve",
                        object.kind,
                        crate::check::gitops::display_name(&object.name)
                    ),
                )
                .severity(Severity::Warning)
                .at(&object.file, Some(object.line))
                .object(&object.kind, &object.name, object.namespace.as_deref())
                .fix("name the chart in the generators' elements or values, so that it can be checked"),
            );
            return;
        }
        if let Some(verdict) = self.catalog.chart(reference, repo) {
            let name = catalog::chart_name(reference);
            findings.push(
                Finding::new(
                    "delivery.infrastructure-chart",
                    self.source,
                    format!(
                        "{} `{}` delivers the Helm chart `{name}`: {}",
                        object.kind,
                        crate::check::gitops::display_name(&object.name),
                        verdict.why
                    ),
                )
                .row(verdict.row)
                .at(&object.file, Some(object.line))
                .object(&object.kind, &object.name, object.namespace.as_deref())
                .fix(format!("install `{name}` from the Pulumi foundation (a Helm release there), or list it under `[check] application_charts` in `strata.toml` if this workspace deploys it as an application")),
            );
        }
    }

    fn remote(&self, object: &Object, what: &str, url: &str, findings: &mut Vec<Finding>) {
        if self.catalog.remote_allowed(url) {
            return;
        }
        findings.push(
            Finding::new(
                "delivery.remote",
                self.source,
                format!(
                    "{} `{}` delivers from `{what}`, which this repo does not hold: what it installs is not checked",
                    object.kind,
                    crate::check::gitops::display_name(&object.name)
                ),
            )
            .row(Row::ContinuousDelivery)
            .at(&object.file, Some(object.line))
            .object(&object.kind, &object.name, object.namespace.as_deref())
            .fix("vendor what it installs into this repo, move it to the foundation if it is infrastructure, or allow the source under `[check] allowed_remotes` in `strata.toml`"),
        );
    }

    /// A chart of the repo: its own name and its dependencies.
    fn chart_file(&self, file: &str, findings: &mut Vec<Finding>) {
        let Some(parsed) = self
            .scan
            .text(file)
            .and_then(|t| crate::util::yaml::parse_manifest(t).ok())
        else {
            return;
        };
        let name = parsed
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let as_object = Object {
            file: file.to_string(),
            line: 1,
            api_version: String::new(),
            kind: "Chart".to_string(),
            name: name.to_string(),
            namespace: None,
            doc: None,
            in_chart: true,
        };
        self.chart(&as_object, name, "", findings);
        for dependency in parsed
            .get("dependencies")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let dep = dependency
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let repo = dependency
                .get("repository")
                .and_then(Value::as_str)
                .unwrap_or_default();
            self.chart(&as_object, dep, repo, findings);
        }
    }

    /// A kustomization: its remote bases and resources, and the charts it inflates.
    fn kustomization(&self, file: &str, findings: &mut Vec<Finding>) {
        let Some(parsed) = self
            .scan
            .text(file)
            .and_then(|t| crate::util::yaml::parse_manifest(t).ok())
        else {
            return;
        };
        let as_object = Object {
            file: file.to_string(),
            line: 1,
            api_version: String::new(),
            kind: "Kustomization".to_string(),
            name: file.rsplit_once('/').map_or("", |(dir, _)| dir).to_string(),
            namespace: None,
            doc: None,
            in_chart: false,
        };
        for key in ["resources", "bases", "components", "crds"] {
            for entry in parsed
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if manifests::is_remote(entry) {
                    self.remote(&as_object, entry, entry, findings);
                }
            }
        }
        for chart in parsed
            .get("helmCharts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = chart
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let repo = chart
                .get("repo")
                .and_then(Value::as_str)
                .unwrap_or_default();
            self.chart(&as_object, name, repo, findings);
        }
    }
}

/// `spec.source` and `spec.sources` of an Application spec.
fn sources(spec: Option<&Value>) -> Vec<&Value> {
    let mut out: Vec<&Value> = Vec::new();
    if let Some(spec) = spec {
        out.extend(spec.get("source"));
        out.extend(
            spec.get("sources")
                .and_then(Value::as_array)
                .into_iter()
                .flatten(),
        );
    }
    out
}

/// The values a templated string takes: each `{{ ... }}` placeholder replaced by every string
/// the generators give under the placeholder's last key (`{{.values.addonChart}}` ->
/// `addonChart`). A placeholder no generator resolves gives [`UNRESOLVED`].
fn expand(text: &str, generators: Option<&Value>) -> Vec<String> {
    let Some(open) = text.find("{{") else {
        return vec![text.to_string()];
    };
    let Some(close) = text[open..].find("}}").map(|c| open + c) else {
        return vec![text.to_string()];
    };
    let inner = text[open + 2..close].trim_matches(|c: char| c == '-' || c.is_whitespace());
    let key = inner
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .rsplit('.')
        .next()
        .unwrap_or_default();
    let mut values = BTreeSet::new();
    if let Some(generators) = generators {
        collect(generators, key, &mut values);
    }
    if values.is_empty() || key.is_empty() {
        return vec![UNRESOLVED.to_string()];
    }
    let mut out = Vec::new();
    for value in values {
        let replaced = format!("{}{value}{}", &text[..open], &text[close + 2..]);
        out.extend(expand(&replaced, generators));
        if out.len() > 256 {
            break;
        }
    }
    out
}

fn collect(value: &Value, key: &str, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == key {
                    if let Some(s) = v.as_str() {
                        out.insert(s.to_string());
                    }
                }
                collect(v, key, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect(v, key, out)),
        _ => {}
    }
}

/// Whether `object` is an application's own Namespace or CRD: a Namespace or CRD shipped in a
/// chart the catalog does not call infrastructure, or a Namespace in a directory that also
/// holds an application's workloads. The rule still says the foundation should create it,
/// so it is a warning, not infrastructure.
pub fn is_own_namespace_or_crd(object: &Object, scan: &Scan, catalog: &Catalog) -> bool {
    let namespace = object.kind == "Namespace" && object.api_version == "v1";
    let crd = object.kind == "CustomResourceDefinition";
    if !namespace && !crd {
        return false;
    }
    if object.in_chart {
        let chart_dir = ["/templates/", "/crds/"]
            .iter()
            .filter_map(|marker| object.file.rfind(marker).map(|at| &object.file[..at]))
            .max_by_key(|dir| dir.len())
            .or_else(|| {
                ["templates/", "crds/"]
                    .iter()
                    .any(|m| object.file.starts_with(m))
                    .then_some("")
            });
        let Some(dir) = chart_dir else {
            return false;
        };
        let name = scan
            .text(&manifests::join(dir, "Chart.yaml"))
            .and_then(|t| crate::util::yaml::parse_manifest(t).ok())
            .and_then(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_default();
        return catalog.chart(&name, "").is_none();
    }
    if !namespace {
        return false;
    }
    let dir = object.file.rsplit_once('/').map_or("", |(dir, _)| dir);
    scan.objects.iter().any(|(file, objects)| {
        file.rsplit_once('/').map_or("", |(d, _)| d) == dir
            && objects.iter().any(|o| {
                matches!(kinds::classify(&o.api_version, &o.kind), Class::Application)
                    || (o.kind == "HelmRelease"
                        && o.doc
                            .as_ref()
                            .and_then(|d| d.pointer("/spec/chart/spec/chart"))
                            .and_then(Value::as_str)
                            .is_some_and(|c| catalog.chart(c, "").is_none()))
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generators_resolve_templated_charts() {
        let generators = serde_json::json!([{"clusters": {"values": {"addonChart": "karpenter"}}}]);
        assert_eq!(
            expand("{{.values.addonChart}}", Some(&generators)),
            vec!["karpenter"]
        );
        assert_eq!(expand("{{ chart }}", None), vec![UNRESOLVED]);
        assert_eq!(expand("plain", None), vec!["plain"]);
    }
}
