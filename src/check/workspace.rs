//! A strata workspace against the rule: drift, wiring, the boundary and the layer of every
//! object an Application deploys.
//!
//! - Drift: each file strata owns (the lock's entries, seeds excepted: those are their
//!   owners') still holds what strata wrote; shared files still hold strata's own keys; and
//!   `strata.toml` agrees with the disk (the checks of `strata list`, passed in).
//! - Wiring: every Application's path exists; every service is reached by its environments'
//!   app-of-apps; no overlay is left that no Application deploys.
//! - The boundary: the environments' AppProjects are the foundation's (issue 8), so the gitops
//!   repo holds no AppProject, no `clusterResourceWhitelist` and no cluster-scoped object, and
//!   every Application uses its environment's project and deploys to its namespace only.
//! - Layers: nothing an Application deploys is a platform kind (Namespace, quota, role, CRD,
//!   storage class, node infrastructure).
//!
//! Reads the workspace once (every gitops manifest on all cores); writes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::rc::Rc;

use serde_json::Value;

use crate::check::catalog::Catalog;
use crate::check::delivery::{self, Delivery};
use crate::check::gitops::{display_name, fix_for, kind_finding};
use crate::check::kinds::{self, Class, Row};
use crate::check::manifests::{self, Deployed, Object, Scan};
use crate::check::{Finding, Source};
use crate::model::lock;
use crate::model::pack::{self, Layer};
use crate::model::repo::Repo;
use crate::write::workspace::Workspace;

/// The in-cluster API server: the only destination strata's Applications have.
pub const IN_CLUSTER: &str = "https://kubernetes.default.svc";

fn source_of(workspace: &Workspace, repo: Repo) -> Source {
    Source::Workspace {
        repo: repo.to_string(),
        root: workspace.roots[&repo].display().to_string(),
    }
}

/// Checks a workspace; `answers_drift` is what `strata list` found.
pub fn check(
    workspace: &Workspace,
    answers_drift: &[String],
) -> Result<Vec<Finding>, crate::util::problem::Problems> {
    let gitops_root = workspace.roots[&Repo::Gitops].clone();
    let gitops = source_of(workspace, Repo::Gitops);
    let scan = manifests::scan(&gitops_root)?;
    let files = &scan.files;
    let mut findings = Vec::new();

    findings.extend(drift(workspace, &scan));
    for line in answers_drift {
        findings.push(
            Finding::new("drift.answers", &gitops, line.clone())
                .fix("restore the missing files from git, or remove what strata no longer knows (`strata remove ...`)"),
        );
    }

    // Every object of every manifest, read once.
    let objects: Vec<&Object> = scan.objects.values().flatten().collect();
    let catalog = Catalog::new(&workspace.answers.check);
    let cluster_scoped = kinds::cluster_scoped_kinds(objects.iter().filter_map(|o| o.doc.as_ref()));
    let mut walk = Walk::new(workspace, &gitops_root, &gitops, &scan);
    walk.catalog = Some(&catalog);
    walk.cluster_scoped = cluster_scoped.clone();
    for app in objects
        .iter()
        .filter(|o| o.kind == "Application" && kinds::group_of(&o.api_version) == "argoproj.io")
    {
        walk.application(app);
    }
    findings.append(&mut walk.findings);
    findings.extend(unreached_services(workspace, &gitops, &walk.reached));
    findings.extend(orphan_overlays(files, &walk.app_paths, &gitops));
    let judge = Judge {
        scan: &scan,
        catalog: &catalog,
        cluster_scoped: &cluster_scoped,
    };
    findings.extend(outside_the_applications(
        &objects,
        &walk.deployed_files,
        &gitops,
        &judge,
    ));
    findings.extend(cluster_whitelists(&scan.texts, &gitops));
    let pods = service_pods(&scan);
    findings.extend(borrowed_identities(workspace, &pods, &gitops));
    findings.extend(node_access(&pods, &gitops));
    findings.extend(delivery_in_services(&scan, &gitops));
    findings.extend(platform_overrides(&gitops_root, &gitops));
    let delivery = Delivery {
        scan: &scan,
        catalog: &catalog,
        source: &gitops,
        repo_url: Some(workspace.answers.repos.gitops_url.as_str()),
    };
    findings.extend(delivery.judge());
    Ok(findings)
}

/// The walk of every Application of the gitops repo: its fence, where it deploys, and the
/// layer of everything it deploys.
struct Walk<'a> {
    root: &'a Path,
    gitops: &'a Source,
    /// The gitops repo's URL, as the Applications name it.
    url: &'a str,
    /// The environments and their namespaces (the same names).
    envs: BTreeMap<&'a str, &'a str>,
    scan: &'a Scan,
    catalog: Option<&'a Catalog>,
    cluster_scoped: BTreeSet<(String, String)>,
    /// What each environment's app-of-apps lists.
    listed: BTreeSet<String>,
    cache: BTreeMap<String, Rc<Deployed>>,
    /// Every object an Application deploys, by file and line.
    deployed_files: BTreeSet<(String, usize)>,
    /// Every path of this repo an Application deploys.
    app_paths: BTreeSet<String>,
    /// (environment, path): deployed by an Application its app-of-apps lists.
    reached: BTreeSet<(String, String)>,
    findings: Vec<Finding>,
}

impl<'a> Walk<'a> {
    fn new(workspace: &'a Workspace, root: &'a Path, gitops: &'a Source, scan: &'a Scan) -> Self {
        let envs: BTreeMap<&str, &str> = workspace
            .answers
            .environments
            .iter()
            .map(|e| (e.name.as_str(), e.name.as_str()))
            .collect();
        let mut walk = Walk {
            root,
            gitops,
            url: workspace.answers.repos.gitops_url.as_str(),
            envs,
            scan,
            catalog: None,
            cluster_scoped: BTreeSet::new(),
            listed: BTreeSet::new(),
            cache: BTreeMap::new(),
            deployed_files: BTreeSet::new(),
            app_paths: BTreeSet::new(),
            reached: BTreeSet::new(),
            findings: Vec::new(),
        };
        walk.listed = walk.listed_by_app_of_apps();
        walk
    }

    /// Only what the walk read: it follows no symbolic link, so nothing outside the repo is
    /// read.
    fn read(&self, rel: &str) -> Option<String> {
        self.scan.text(rel).map(str::to_string)
    }

    /// What each environment's app-of-apps lists.
    fn listed_by_app_of_apps(&self) -> BTreeSet<String> {
        let mut listed: BTreeSet<String> = BTreeSet::new();
        for env in self.envs.keys() {
            let dir = format!("apps/{env}");
            if let Some(kustomization) = manifests::kustomization_in(self.root, &dir) {
                let parsed = self
                    .read(&kustomization)
                    .and_then(|t| crate::util::yaml::parse(&t).ok());
                for entry in parsed
                    .as_ref()
                    .and_then(|v| v.get("resources"))
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    listed.insert(manifests::join(&dir, entry));
                }
            }
        }
        listed
    }

    /// One Application: its fence (an environment's project and namespace), then each of its
    /// sources in this repo.
    fn application(&mut self, app: &Object) {
        let parts: Vec<&str> = app.file.split('/').collect();
        let env = (parts.len() == 3 && parts[0] == "apps").then(|| parts[1]);
        let spec = app.doc.as_ref().and_then(|d| d.get("spec"));
        if let (Some(env), Some(spec)) = (env, spec) {
            if let Some(namespace) = self.envs.get(env) {
                check_fence(self.gitops, app, spec, env, namespace, &mut self.findings);
            }
        }
        let mut sources: Vec<&Value> = Vec::new();
        if let Some(spec) = spec {
            sources.extend(spec.get("source"));
            sources.extend(
                spec.get("sources")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten(),
            );
        }
        for src in sources {
            self.source(app, env, src);
        }
    }

    /// One source of an Application: its path must exist, and nothing it deploys may be a
    /// platform kind.
    fn source(&mut self, app: &Object, env: Option<&str>, src: &Value) {
        let gitops = self.gitops;
        let name = display_name(&app.name);
        let repo_url = src
            .get("repoURL")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some(path) = src.get("path").and_then(Value::as_str) else {
            return;
        };
        if !same_repo(repo_url, self.url) {
            return;
        }
        let path = manifests::join("", path);
        self.app_paths.insert(path.clone());
        if self.listed.contains(&app.file) {
            if let Some(env) = env {
                self.reached.insert((env.to_string(), path.clone()));
            }
        }
        if manifests::escapes("", src["path"].as_str().unwrap_or_default())
            || !self.root.join(&path).is_dir()
        {
            self.findings.push(
                Finding::new(
                    "wiring.application-path",
                    gitops,
                    format!("Application `{name}` deploys `{path}`, which the gitops repo does not have"),
                )
                .row(Row::ContinuousDelivery)
                .at(&app.file, Some(app.line))
                .object("Application", &app.name, app.namespace.as_deref())
                .fix("point `spec.source.path` at an existing directory, or restore it (`strata list` shows what strata expects)"),
            );
            return;
        }
        let deployed = manifests::deployed_by(self.root, &path, self.scan, &mut self.cache);
        for object in &deployed.objects {
            self.deployed_files
                .insert((object.file.clone(), object.line));
            if let Class::Platform(row, what) =
                kinds::classify_scoped(&object.api_version, &object.kind, &self.cluster_scoped)
            {
                let own = object.in_chart
                    && self.catalog.is_some_and(|catalog| {
                        delivery::is_own_namespace_or_crd(object, self.scan, catalog)
                    });
                self.findings.push(kind_finding(
                    "layer.platform-kind",
                    gitops,
                    object,
                    row,
                    format!(
                        "Application `{name}` deploys {} `{}` ({what})",
                        object.kind,
                        display_name(&object.name)
                    ),
                    own,
                ));
            }
        }
        for missing in &deployed.unresolved {
            self.findings.push(
                Finding::new(
                    "wiring.application-path",
                    gitops,
                    format!("Application `{name}` deploys `{path}`, whose kustomization names `{missing}`, which is missing or outside the repo"),
                )
                .row(Row::ContinuousDelivery)
                .at(&app.file, Some(app.line))
                .fix("fix the `resources` entry, or restore the file"),
            );
        }
    }
}

/// Every service is reached in each of its environments.
fn unreached_services(
    workspace: &Workspace,
    gitops: &Source,
    reached: &BTreeSet<(String, String)>,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (service, values) in &workspace.answers.services {
        for env in values.envs.keys() {
            let path = format!("services/{service}/overlays/{env}");
            if !reached.contains(&(env.to_string(), path.clone())) {
                findings.push(
                    Finding::new(
                        "wiring.unreached",
                        gitops,
                        format!("service `{service}` is not reached in `{env}`: no Application listed in `apps/{env}/kustomization.yaml` deploys `{path}`"),
                    )
                    .row(Row::ContinuousDelivery)
                    .at(format!("apps/{env}/kustomization.yaml"), None)
                    .fix(format!("list `{service}.yaml` in `apps/{env}/kustomization.yaml` and restore `apps/{env}/{service}.yaml` (its path is `{path}`)")),
                );
            }
        }
    }
    findings
}

/// The kinds whose pods name a ServiceAccount, and where their pod spec is.
const WORKLOADS: &[(&str, &[&str])] = &[
    ("Deployment", &["spec", "template", "spec"]),
    ("StatefulSet", &["spec", "template", "spec"]),
    ("DaemonSet", &["spec", "template", "spec"]),
    ("ReplicaSet", &["spec", "template", "spec"]),
    ("Job", &["spec", "template", "spec"]),
    (
        "CronJob",
        &["spec", "jobTemplate", "spec", "template", "spec"],
    ),
    ("Pod", &["spec"]),
];

/// The pod specs of the workloads under `services/` (and patches of them): (file, kind, pod
/// spec), each document split and read as everywhere else in `check` (merge keys, anchors and
/// tags applied). Patches count wherever they are: strategic-merge patch files, `List` items,
/// and the patches a kustomization or Component holds inline or names (JSON 6902 operations
/// included), each as the part of a pod spec it sets.
fn service_pods(scan: &Scan) -> Vec<(&str, &'static str, serde_json::Value)> {
    // Only files that can set a pod spec are read again: those with a workload, a List or a
    // kustomization among their objects, and those with no object (a JSON 6902 operations list,
    // a kustomization without `kind`).
    let may_set_pods = |file: &str| {
        scan.objects.get(file).is_none_or(|objects| {
            objects.is_empty()
                || objects.iter().any(|o| {
                    WORKLOADS.iter().any(|(k, _)| *k == o.kind)
                        || matches!(o.kind.as_str(), "List" | "Kustomization" | "Component")
                })
        })
    };
    let mut pods = Vec::new();
    for (file, text) in scan
        .texts
        .iter()
        .filter(|(f, _)| f.starts_with("services/") && may_set_pods(f))
    {
        for (_, doc) in manifests::documents(text) {
            let Ok(doc) = crate::util::yaml::parse_manifest(doc) else {
                continue;
            };
            pods_of(&doc, &mut |kind, pod| pods.push((file.as_str(), kind, pod)));
        }
    }
    pods
}

/// The pod specs one document sets: a workload (or a patch of one), the items of a `List`, the
/// inline patches of a kustomization, or JSON 6902 operations.
fn pods_of(doc: &serde_json::Value, found: &mut dyn FnMut(&'static str, serde_json::Value)) {
    use serde_json::Value;
    if let Some((kind, path)) = WORKLOADS.iter().find(|(k, _)| doc["kind"] == *k) {
        found(
            kind,
            path.iter().fold(doc, |value, key| &value[*key]).clone(),
        );
        return;
    }
    if let Some(ops) = doc.as_array() {
        if ops.iter().any(|op| op.get("op").is_some()) {
            found("patch", pod_of_operations(ops));
        }
        return;
    }
    if doc["kind"] == "List" {
        for item in doc["items"].as_array().into_iter().flatten() {
            pods_of(item, found);
        }
        return;
    }
    for key in ["patches", "patchesStrategicMerge", "patchesJson6902"] {
        for entry in doc[key].as_array().into_iter().flatten() {
            let inline = entry
                .get("patch")
                .and_then(Value::as_str)
                .or_else(|| entry.as_str().filter(|s| s.contains('\n')));
            let Some(text) = inline else { continue };
            for (_, patch) in manifests::documents(text) {
                if let Ok(patch) = crate::util::yaml::parse_manifest(patch) {
                    pods_of(&patch, found);
                }
            }
        }
    }
}

/// The part of a pod spec JSON 6902 operations add or replace (paths under `.../template/spec`).
fn pod_of_operations(ops: &[serde_json::Value]) -> serde_json::Value {
    use serde_json::Value;
    let mut pod = Value::Object(Default::default());
    for op in ops {
        let (Some(path), Some(value)) = (op["path"].as_str(), op.get("value")) else {
            continue;
        };
        if !matches!(op["op"].as_str(), Some("add" | "replace")) {
            continue;
        }
        let Some(rest) = path.split_once("template/spec").map(|(_, rest)| rest) else {
            continue;
        };
        let mut at = &mut pod;
        let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            let next_is_index = parts
                .get(i + 1)
                .is_some_and(|p| *p == "-" || p.parse::<usize>().is_ok());
            let empty = || {
                if next_is_index {
                    Value::Array(Vec::new())
                } else {
                    Value::Object(Default::default())
                }
            };
            at = match at {
                Value::Array(items) => {
                    items.push(if last { value.clone() } else { empty() });
                    items.last_mut().expect("just pushed")
                }
                Value::Object(map) => {
                    let slot = map
                        .entry(part.replace("~1", "/").replace("~0", "~"))
                        .or_insert_with(empty);
                    if last {
                        *slot = value.clone();
                    }
                    slot
                }
                _ => break,
            };
        }
        if parts.is_empty() {
            if let (Value::Object(map), Value::Object(more)) = (&mut pod, value) {
                map.extend(more.clone());
            }
        }
    }
    pod
}

/// A service's pods run as its own ServiceAccount: one that names another service's account
/// (services of an environment share its namespace) gets that service's AWS role, and one that
/// names the foundation's secrets reader reads every service's secrets.
fn borrowed_identities(
    workspace: &Workspace,
    pods: &[(&str, &str, serde_json::Value)],
    gitops: &Source,
) -> Vec<Finding> {
    let services: BTreeSet<&str> = workspace
        .answers
        .services
        .keys()
        .map(|name| name.as_str())
        .collect();
    let mut findings = Vec::new();
    for (file, kind, pod) in pods {
        let Some(owner) = file.split('/').nth(1) else {
            continue;
        };
        let Some(account) = pod["serviceAccountName"]
            .as_str()
            .or(pod["serviceAccount"].as_str())
        else {
            continue;
        };
        let whose = if account == owner {
            continue;
        } else if services.contains(account) {
            format!("service `{account}`'s, with its AWS role and permissions")
        } else if crate::model::names::FOUNDATION_NAMESPACED_OBJECTS.contains(&account) {
            "the foundation's, which reads every service's secrets".to_string()
        } else {
            continue;
        };
        findings.push(
            Finding::new(
                "boundary.borrowed-identity",
                gitops,
                format!("a {kind} of service `{owner}` runs as ServiceAccount `{account}`: {whose}"),
            )
            .row(Row::PlatformOwned)
            .at(*file, None)
            .fix(format!("run it as `{owner}` (its own ServiceAccount); give the service the AWS access it needs with `strata edit service {owner} --aws-role`")),
        );
    }
    findings
}

/// A service's pods that reach their node (host namespaces, `hostPath`, privileged, host
/// ports): the environment's namespace enforces Pod Security `restricted`, which refuses them,
/// and an agent of the node is the platform's.
fn node_access(pods: &[(&str, &str, serde_json::Value)], gitops: &Source) -> Vec<Finding> {
    pods.iter()
        .filter_map(|(file, kind, pod)| {
            let access = crate::model::pod_security::node_access(pod)?;
            Some(
                Finding::new(
                    "boundary.node-access",
                    gitops,
                    format!("a {kind} of `{file}` reaches its node: {access}"),
                )
                .row(Row::PlatformOwned)
                .at(*file, None)
                .fix("drop it: the environment's namespace enforces Pod Security `restricted`, which refuses it; an agent of every node (a DaemonSet with host access) belongs to the foundation"),
            )
        })
        .collect()
}

/// The gitops repo's template overrides of the platform team's paths (anything outside
/// `services/`): strata refuses them when it renders, on the platform engineer's machine after
/// the merge; reported here, the pull request that adds one fails its `strata check` first.
fn platform_overrides(root: &Path, gitops: &Source) -> Vec<Finding> {
    use crate::render::overrides::{is_app_team_path, overrides_of, DIR, GITOPS_IN_FOUNDATION};
    let found = match overrides_of(root) {
        Ok(found) => found,
        Err(problems) => {
            return problems
                .0
                .into_iter()
                .map(|p| {
                    Finding::new(
                        "boundary.platform-override",
                        gitops,
                        format!("{}: {}", p.subject, p.message),
                    )
                    .row(Row::PlatformOwned)
                    .at(DIR, None)
                    .fix(p.hint.unwrap_or_default())
                })
                .collect()
        }
    };
    found
        .into_iter()
        .filter(|(path, _)| !is_app_team_path(path))
        .map(|(path, _)| {
            Finding::new(
                "boundary.platform-override",
                gitops,
                format!("template override `{DIR}/{path}` changes a path of the platform team: the gitops repo's overrides may change only `services/`"),
            )
            .row(Row::PlatformOwned)
            .at(format!("{DIR}/{path}"), None)
            .fix(format!("remove it (`git rm {DIR}/{path}`); the platform team keeps it in the foundation, as `{DIR}/{GITOPS_IN_FOUNDATION}{path}`"))
        })
        .collect()
}

/// The objects that deliver other things (Argo CD's and Flux's), which only the app-of-apps
/// under `apps/<env>/` holds: one in a service's tree would deliver whatever it names, past
/// the review of `apps/` (the AppProject refuses it in the cluster; this says so before).
const DELIVERY_KINDS: &[(&str, &str)] = &[
    ("argoproj.io/", "Application"),
    ("argoproj.io/", "ApplicationSet"),
    ("argoproj.io/", "AppProject"),
    ("kustomize.toolkit.fluxcd.io/", "Kustomization"),
    ("helm.toolkit.fluxcd.io/", "HelmRelease"),
];

/// An Argo CD or Flux delivery object in a service's tree.
fn delivery_in_services(scan: &Scan, gitops: &Source) -> Vec<Finding> {
    scan.objects
        .values()
        .flatten()
        .filter(|o| o.file.starts_with("services/"))
        .filter(|o| {
            DELIVERY_KINDS
                .iter()
                .any(|(group, kind)| o.api_version.starts_with(group) && o.kind == *kind)
        })
        .map(|o| {
            let service = o.file.split('/').nth(1).unwrap_or_default();
            Finding::new(
                "boundary.delivery-in-service",
                gitops,
                format!(
                    "{} `{}` is in service `{service}`'s tree: only the app-of-apps under `apps/<env>/` delivers",
                    o.kind,
                    super::gitops::display_name(&o.name)
                ),
            )
            .row(Row::ContinuousDelivery)
            .at(o.file.clone(), Some(o.line))
            .object(&o.kind, &o.name, o.namespace.as_deref())
            .fix("delete it: a service's tree holds its own workloads; `strata add service` writes the Applications of `apps/<env>/`")
        })
        .collect()
}

/// No overlay without an Application.
fn orphan_overlays(
    files: &[String],
    app_paths: &BTreeSet<String>,
    gitops: &Source,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let overlays: BTreeSet<String> = files
        .iter()
        .filter_map(|f| {
            let parts: Vec<&str> = f.split('/').collect();
            (parts.len() >= 5 && parts[0] == "services" && parts[2] == "overlays")
                .then(|| parts[..4].join("/"))
        })
        .collect();
    for overlay in overlays.difference(app_paths) {
        findings.push(
            Finding::new(
                "wiring.orphan-overlay",
                gitops,
                format!("overlay `{overlay}` is deployed by no Application"),
            )
            .row(Row::ContinuousDelivery)
            .at(overlay.clone(), None)
            .fix("delete it, or add the environment to the service (`strata remove` deletes what it removes whole)"),
        );
    }
    findings
}

/// The boundary: what lies in the repo outside what the Applications deploy.
/// What judging a kind needs beyond the kind: the repo's CRDs and charts, and the catalog.
struct Judge<'a> {
    scan: &'a Scan,
    catalog: &'a Catalog,
    cluster_scoped: &'a BTreeSet<(String, String)>,
}

fn outside_the_applications(
    objects: &[&Object],
    deployed_files: &BTreeSet<(String, usize)>,
    gitops: &Source,
    judge: &Judge,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for object in objects {
        if deployed_files.contains(&(object.file.clone(), object.line)) {
            continue;
        }
        let name = display_name(&object.name);
        let class = kinds::classify_scoped(&object.api_version, &object.kind, judge.cluster_scoped);
        if let Class::Platform(row, what) = class {
            if object.in_chart
                && delivery::is_own_namespace_or_crd(object, judge.scan, judge.catalog)
            {
                findings.push(kind_finding(
                    "boundary.cluster-scoped",
                    gitops,
                    object,
                    row,
                    format!("{} `{name}` ({what}) is in the gitops repo", object.kind),
                    true,
                ));
                continue;
            }
        }
        match class {
            Class::Platform(row, _) if object.kind == "AppProject" => findings.push(
                Finding::new(
                    "boundary.appproject",
                    gitops,
                    format!("AppProject `{name}` is in the gitops repo: whoever merges here could widen it"),
                )
                .row(row)
                .at(&object.file, Some(object.line))
                .object(&object.kind, &object.name, object.namespace.as_deref())
                .fix("delete it: each environment's AppProject is defined by the foundation (Pulumi), with the namespaces and quotas it guards"),
            ),
            Class::Platform(row @ (Row::ClusterScoped | Row::Foundational), what) => findings.push(
                Finding::new(
                    "boundary.cluster-scoped",
                    gitops,
                    format!("{} `{name}` ({what}) is in the gitops repo", object.kind),
                )
                .row(row)
                .at(&object.file, Some(object.line))
                .object(&object.kind, &object.name, object.namespace.as_deref())
                .fix(fix_for(row, &object.kind)),
            ),
            Class::Platform(row, what) => findings.push(
                Finding::new(
                    "boundary.platform-object",
                    gitops,
                    format!("{} `{name}` ({what}) is in the gitops repo", object.kind),
                )
                .row(row)
                .at(&object.file, Some(object.line))
                .object(&object.kind, &object.name, object.namespace.as_deref())
                .fix(fix_for(row, &object.kind)),
            ),
            Class::Application | Class::Unknown => {}
        }
    }

    findings
}

/// A `clusterResourceWhitelist` anywhere in the repo.
fn cluster_whitelists(texts: &BTreeMap<String, String>, gitops: &Source) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (file, text) in texts {
        for (index, line) in text.lines().enumerate() {
            let key = line.trim_start().trim_start_matches("- ");
            if key.starts_with("clusterResourceWhitelist:")
                || key.starts_with("\"clusterResourceWhitelist\"")
            {
                findings.push(
                    Finding::new(
                        "boundary.cluster-whitelist",
                        gitops,
                        "a `clusterResourceWhitelist` is in the gitops repo: it lets Applications create cluster-scoped objects".to_string(),
                    )
                    .row(Row::ClusterScoped)
                    .at(file.clone(), Some(index + 1))
                    .fix("delete it: cluster-scoped objects are the foundation's, and the foundation's AppProjects allow none"),
                );
            }
        }
    }
    findings
}

/// Whether two git URLs name the same repo (`.git` and a trailing `/` aside).
use crate::check::same_repo;

/// An Application of environment `env` uses project `env` and deploys to the environment's
/// namespace in this cluster, nothing else.
fn check_fence(
    source: &Source,
    app: &Object,
    spec: &Value,
    env: &str,
    namespace: &str,
    findings: &mut Vec<Finding>,
) {
    let name = display_name(&app.name);
    let project = spec
        .get("project")
        .and_then(Value::as_str)
        .unwrap_or("default");
    if project != env {
        findings.push(
            Finding::new(
                "boundary.application-project",
                source,
                format!("Application `{name}` of environment `{env}` uses project `{project}`, not `{env}`"),
            )
            .row(Row::PlatformOwned)
            .at(&app.file, Some(app.line))
            .object("Application", &app.name, app.namespace.as_deref())
            .fix(format!("set `spec.project: {env}`: the environment's AppProject (the foundation's) is its only fence")),
        );
    }
    let destination = spec.get("destination");
    let server = destination
        .and_then(|d| d.get("server"))
        .and_then(Value::as_str);
    let cluster_name = destination
        .and_then(|d| d.get("name"))
        .and_then(Value::as_str);
    let dest_namespace = destination
        .and_then(|d| d.get("namespace"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let in_cluster = server.map_or(cluster_name == Some("in-cluster"), |s| {
        s.trim_end_matches('/') == IN_CLUSTER
    });
    if dest_namespace != namespace || !in_cluster {
        findings.push(
            Finding::new(
                "boundary.application-destination",
                source,
                format!(
                    "Application `{name}` of environment `{env}` deploys to {} namespace `{dest_namespace}`, not to `{namespace}` in this cluster",
                    server.or(cluster_name).unwrap_or("(no cluster)")
                ),
            )
            .row(Row::PlatformOwned)
            .at(&app.file, Some(app.line))
            .object("Application", &app.name, app.namespace.as_deref())
            .fix(format!("set `spec.destination` to server `{IN_CLUSTER}` and namespace `{namespace}`")),
        );
    }
}

/// The layer of each repo, for telling seeds and shared files from owned ones.
fn layer_of(workspace: &Workspace, repo: Repo) -> Option<Layer> {
    match repo {
        Repo::Gitops => Some(pack::gitops_layer()),
        Repo::Foundation => pack::foundation_layer(&workspace.answers.pack).ok(),
    }
}

/// Whether `path` is an instance of a template path (`__service__`, `__env__`, `__stack__`
/// stand for any text within one component). Cheap: no glob is compiled, which matters for a
/// lock of thousands of entries.
fn instance_of(template: &str, path: &str) -> bool {
    let (mut t, mut p) = (template.split('/'), path.split('/'));
    loop {
        match (t.next(), p.next()) {
            (None, None) => return true,
            (Some(a), Some(b)) if component_match(a, b) => {}
            _ => return false,
        }
    }
}

fn component_match(template: &str, actual: &str) -> bool {
    let mut parts: Vec<&str> = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("__") {
        let Some(len) = rest[start + 2..].find("__") else {
            break;
        };
        parts.push(&rest[..start]);
        rest = &rest[start + 2 + len + 2..];
    }
    parts.push(rest);
    if parts.len() == 1 {
        return template == actual;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !actual.starts_with(first)
        || !actual.ends_with(last)
        || actual.len() < first.len() + last.len()
    {
        return false;
    }
    let mut middle = &actual[first.len()..actual.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match middle.find(part) {
            Some(at) => middle = &middle[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// The template paths of a layer (placeholders kept, `.tera` stripped): the seeds, and the
/// shared files with their containers.
struct Templates {
    seeds: Vec<String>,
    shared: Vec<(String, Vec<String>)>,
}

impl Templates {
    fn of(layer: &Layer) -> Self {
        let mut seeds = Vec::new();
        let mut shared = Vec::new();
        for file in &layer.files {
            let template = file.path.strip_suffix(".tera").unwrap_or(file.path);
            if layer.is_seed(template) {
                seeds.push(template.to_string());
            }
            if let Some(containers) = layer.shared(template) {
                shared.push((template.to_string(), containers.to_vec()));
            }
        }
        Self { seeds, shared }
    }

    fn is_seed(&self, path: &str) -> bool {
        self.seeds.iter().any(|t| instance_of(t, path))
    }

    /// The containers strata owns in a shared file, by its instance path.
    fn shared(&self, path: &str) -> Option<&[String]> {
        self.shared
            .iter()
            .find(|(t, _)| instance_of(t, path))
            .map(|(_, c)| c.as_slice())
    }
}

/// Owned files that differ from what strata wrote, or are gone.
fn drift(workspace: &Workspace, scan: &Scan) -> Vec<Finding> {
    let mut findings = Vec::new();
    for repo in Repo::BOTH {
        let source = source_of(workspace, repo);
        let root = &workspace.roots[&repo];
        let Some(layer) = layer_of(workspace, repo) else {
            continue;
        };
        let templates = Templates::of(&layer);
        let lock = &workspace.locks[&repo];
        let owned: Vec<(&String, &String)> = lock
            .files
            .iter()
            .filter(|(path, _)| !templates.is_seed(path))
            .collect();
        // A symbolic link is read as nothing: strata wrote a file there, and reads through no link.
        let bytes_of = |path: &str| -> Option<Vec<u8>> {
            match (repo, scan.text(path)) {
                (Repo::Gitops, Some(text))
                    if !scan.recoded(path) && !scan.links.contains_key(path) =>
                {
                    Some(text.as_bytes().to_vec())
                }
                _ if fs_err::symlink_metadata(root.join(path)).is_ok_and(|m| !m.is_file()) => None,
                _ => fs_err::read(root.join(path)).ok(),
            }
        };
        // A file read with a CR is compared as git stores it (`core.autocrlf`, `eol=crlf`):
        // converting needs the repo's attributes, which are not shared across threads, so such
        // files (rare) are judged after the parallel pass.
        let line_endings = &workspace.line_endings[&repo];
        let judge = |path: &str, recorded: &String, bytes: Vec<u8>| -> Option<Finding> {
            if let (Some(units), Some(containers)) = (lock.units.get(path), templates.shared(path))
            {
                let changed: Vec<String> = match crate::plan::merge::units_of(&bytes, containers) {
                    Ok(now) => units
                        .iter()
                        .filter(|(unit, hash)| {
                            unit.as_str() != "#header" && now.get(*unit) != Some(*hash)
                        })
                        .map(|(unit, _)| unit.clone())
                        .collect(),
                    Err(_) => vec!["(the file no longer parses)".to_string()],
                };
                return (!changed.is_empty()).then(|| {
                    Finding::new(
                        "drift.owned-file",
                        &source,
                        format!(
                            "`{path}` is shared: strata's own entries changed ({})",
                            changed.join(", ")
                        ),
                    )
                    .row(Row::ContinuousDelivery)
                    .at(path, None)
                    .fix("restore strata's entries (the others are yours), or run `strata upgrade` to rewrite only them")
                });
            }
            (lock::hash(&bytes) != **recorded).then(|| {
                Finding::new(
                    "drift.owned-file",
                    &source,
                    format!("`{path}`, which strata owns, differs from what strata wrote"),
                )
                .row(Row::ContinuousDelivery)
                .at(path, None)
                .fix(format!(
                    "restore it (`git -C {} checkout -- {path}`), or make the change where it belongs: the overlay of the environment (yours), or `strata edit service` and `strata set`",
                    root.display()
                ))
            })
        };
        let gone = |path: &str| -> Finding {
            Finding::new(
                "drift.owned-file",
                &source,
                format!("`{path}`, which strata owns, is gone"),
            )
            .row(Row::ContinuousDelivery)
            .at(path, None)
            .fix(format!(
                "restore it: `git -C {} checkout -- {path}`",
                root.display()
            ))
        };
        let results: Vec<Result<Option<Finding>, Vec<u8>>> =
            parallel_map(&owned, |(path, recorded)| match bytes_of(path) {
                None => Ok(Some(gone(path))),
                Some(bytes) if bytes.contains(&b'\r') => Err(bytes),
                Some(bytes) => Ok(judge(path, recorded, bytes)),
            });
        for ((path, recorded), result) in owned.iter().zip(results) {
            let finding = match result {
                Ok(finding) => finding,
                Err(bytes) => judge(path, recorded, line_endings.to_git(path, bytes)),
            };
            findings.extend(finding);
        }
    }
    findings
}

/// Maps on every core, keeping the order.
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
            .map(|part| scope.spawn(move || part.iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("checking does not panic"))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_match_their_templates_component_by_component() {
        assert!(instance_of(
            "services/__service__/overlays/__env__/kustomization.yaml",
            "services/api/overlays/dev/kustomization.yaml"
        ));
        assert!(instance_of("Pulumi.__stack__.yaml", "Pulumi.dev.yaml"));
        assert!(!instance_of("Pulumi.__stack__.yaml", "Pulumi.yaml"));
        assert!(!instance_of(
            "services/__service__/base/x.yaml",
            "services/api/base/y.yaml"
        ));
        assert!(!instance_of(
            "services/__service__/x.yaml",
            "services/a/b/x.yaml"
        ));
        assert!(instance_of("README.md", "README.md"));
    }

    #[test]
    fn seeds_are_told_without_compiling_globs() {
        let templates = Templates::of(&pack::gitops_layer());
        assert!(templates.is_seed("services/api/overlays/dev/kustomization.yaml"));
        assert!(templates.is_seed("services/api/overlays/dev/patch-hpa.yaml"));
        assert!(!templates.is_seed("services/api/base/deployment.yaml"));
        assert!(templates.shared("apps/dev/kustomization.yaml").is_some());
    }
}
