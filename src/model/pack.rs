//! The embedded template packs and presets: the only module that knows about `include_dir`.
//!
//! `templates/gitops/` is the gitops layer, shared by every pack; `templates/packs/<name>/` is a
//! pack's foundation layer. Each layer has a manifest (`layer.toml` or `pack.toml`) with its
//! description and the globs of its `seed` files (written once, then the user's). Presets are
//! `presets/<name>.toml`. This module lists and reads them; it renders nothing.

use include_dir::{include_dir, Dir, DirEntry};
use serde::Deserialize;

use crate::model::repo::Repo;
use crate::util::problem::{did_you_mean, Problem};

static TEMPLATES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");
static PRESETS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/presets");

/// The pack used when `--pack` is not given.
pub const DEFAULT_PACK: &str = "pulumi-python";
/// The preset used when `--preset` is not given.
pub const DEFAULT_PRESET: &str = "startup";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    description: String,
    #[serde(default)]
    seed: Vec<String>,
    /// Files shared with others (template path -> the containers whose entries strata owns
    /// one by one); see `plan/merge.rs`.
    #[serde(default)]
    shared: std::collections::BTreeMap<String, Vec<String>>,
}

/// One file of a layer, as embedded.
#[derive(Debug, Clone, Copy)]
pub struct TemplateFile {
    /// Path inside the layer, with placeholders (`__env__`) and the `.tera` suffix.
    pub path: &'static str,
    pub contents: &'static [u8],
}

/// A set of templates that renders one repo.
#[derive(Debug)]
pub struct Layer {
    pub repo: Repo,
    pub description: String,
    /// The seed globs, compiled once: matched against every rendered path, they cost an
    /// `add env` of 300 services over a second when each match compiled its glob again.
    seeds: globset::GlobSet,
    /// The same globs with their placeholders as `*`, for rendered (instance) paths.
    seed_instances: globset::GlobSet,
    shared: std::collections::BTreeMap<String, Vec<String>>,
    pub files: Vec<TemplateFile>,
    /// The templates an override replaced: template path -> where the override is kept
    /// (`gitops: .strata/templates/services/...`), so that a command names it before writing.
    pub overridden: std::collections::BTreeMap<String, String>,
}

impl Layer {
    /// Whether a template path (placeholders kept, `.tera` stripped) is a seed file.
    pub fn is_seed(&self, path: &str) -> bool {
        self.seeds.is_match(path)
    }

    /// Whether a rendered path (placeholders replaced) is an instance of a seed file.
    pub fn is_seed_instance(&self, path: &str) -> bool {
        self.seed_instances.is_match(path)
    }

    /// The containers of a shared file (placeholders kept, `.tera` stripped), or `None` when
    /// strata owns the whole file.
    pub fn shared(&self, path: &str) -> Option<&[String]> {
        self.shared.get(path).map(Vec::as_slice)
    }
}

/// A pack's name and one-line description, for `strata packs`.
pub struct PackInfo {
    pub name: String,
    pub description: String,
}

fn load_layer(repo: Repo, dir: &'static Dir<'static>, manifest_name: &str) -> Layer {
    let manifest_path = dir.path().join(manifest_name);
    let manifest: Manifest = dir
        .get_file(&manifest_path)
        .and_then(|file| file.contents_utf8())
        .and_then(|text| toml::from_str(text).ok())
        .unwrap_or_else(|| {
            panic!(
                "embedded manifest `{}` is missing or invalid",
                manifest_path.display()
            )
        });
    let mut files = Vec::new();
    collect(dir, dir.path(), &mut files);
    files.retain(|file| file.path != manifest_name);
    files.sort_by_key(|file| file.path);
    let instance_patterns: Vec<String> =
        manifest.seed.iter().map(|p| instance_pattern(p)).collect();
    Layer {
        repo,
        description: manifest.description,
        seeds: glob_set(manifest.seed.iter().map(String::as_str)),
        seed_instances: glob_set(instance_patterns.iter().map(String::as_str)),
        shared: manifest.shared,
        files,
        overridden: std::collections::BTreeMap::new(),
    }
}

fn collect(dir: &'static Dir<'static>, root: &std::path::Path, out: &mut Vec<TemplateFile>) {
    for entry in dir.entries() {
        match entry {
            DirEntry::Dir(sub) => {
                if is_tool_cache(sub) {
                    continue;
                }
                collect(sub, root, out);
            }
            DirEntry::File(file) => {
                let path = file.path();
                if path.extension().is_some_and(|ext| ext == "pyc") {
                    continue;
                }
                let relative = path
                    .strip_prefix(root)
                    .expect("embedded file under its layer");
                let relative = relative.to_str().expect("embedded paths are UTF-8");
                out.push(TemplateFile {
                    path: relative,
                    contents: file.contents(),
                });
            }
        }
    }
}

/// Whether `dir` is a cache a tool left in the source tree (Python bytecode, pytest, ruff,
/// mypy, node): `include_dir!` embeds whatever is on disk at build time, and such a directory
/// must never reach a generated repo. Tools that follow the cache-directory convention mark
/// theirs with a `CACHEDIR.TAG`.
fn is_tool_cache(dir: &Dir<'_>) -> bool {
    const CACHES: [&str; 6] = [
        "__pycache__",
        ".pytest_cache",
        ".ruff_cache",
        ".mypy_cache",
        "node_modules",
        ".venv",
    ];
    dir.path()
        .file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| CACHES.contains(&name))
        || dir.get_file(dir.path().join("CACHEDIR.TAG")).is_some()
}

/// The names of every pack, sorted.
pub fn pack_names() -> Vec<&'static str> {
    let mut names: Vec<&str> = TEMPLATES
        .get_dir("packs")
        .map(|packs| {
            packs
                .dirs()
                .filter_map(|d| d.path().file_name()?.to_str())
                .collect()
        })
        .unwrap_or_default();
    names.sort_unstable();
    names
}

/// Every pack with its description.
pub fn packs() -> Vec<PackInfo> {
    pack_names()
        .into_iter()
        .map(|name| PackInfo {
            name: name.to_string(),
            description: foundation_layer(name)
                .map(|l| l.description)
                .unwrap_or_default(),
        })
        .collect()
}

/// Checks that a pack exists, with a "did you mean" when it does not.
pub fn check_pack(name: &str) -> Result<(), Problem> {
    if pack_names().contains(&name) {
        return Ok(());
    }
    let problem = Problem::new(format!("pack `{name}`"), "does not exist");
    Err(match did_you_mean(name, pack_names()) {
        Some(close) => problem.hint(format!("did you mean `{close}`? `strata packs` lists them")),
        None => problem.hint(format!(
            "use one of: {} (`strata packs` lists them)",
            pack_names().join(", ")
        )),
    })
}

/// The foundation layer of a pack.
pub fn foundation_layer(pack: &str) -> Result<Layer, Problem> {
    check_pack(pack)?;
    let dir = TEMPLATES
        .get_dir(format!("packs/{pack}"))
        .expect("checked pack directory");
    Ok(load_layer(Repo::Foundation, dir, "pack.toml"))
}

/// The gitops layer, shared by every pack.
pub fn gitops_layer() -> Layer {
    let dir = TEMPLATES.get_dir("gitops").expect("embedded gitops layer");
    load_layer(Repo::Gitops, dir, "layer.toml")
}

/// The names of every preset, sorted.
pub fn preset_names() -> Vec<&'static str> {
    let mut names: Vec<&str> = PRESETS
        .files()
        .filter_map(|f| f.path().to_str()?.strip_suffix(".toml"))
        .collect();
    names.sort_unstable();
    names
}

/// The text of a preset, with a "did you mean" when it does not exist.
pub fn preset_text(name: &str) -> Result<&'static str, Problem> {
    if let Some(text) = PRESETS
        .get_file(format!("{name}.toml"))
        .and_then(|f| f.contents_utf8())
    {
        return Ok(text);
    }
    let problem = Problem::new(format!("preset `{name}`"), "does not exist");
    Err(match did_you_mean(name, preset_names()) {
        Some(close) => problem.hint(format!(
            "did you mean `{close}`? `strata presets` lists them"
        )),
        None => problem.hint(format!(
            "use one of: {} (`strata presets` lists them)",
            preset_names().join(", ")
        )),
    })
}

/// One glob where `*` is one component and `**` any rest.
fn glob(pattern: &str) -> Option<globset::Glob> {
    globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .ok()
}

/// The globs of a manifest, compiled together (a glob that does not compile matches nothing).
fn glob_set<'a>(patterns: impl IntoIterator<Item = &'a str>) -> globset::GlobSet {
    let mut set = globset::GlobSetBuilder::new();
    for glob in patterns.into_iter().filter_map(glob) {
        set.add(glob);
    }
    set.build().unwrap_or_else(|_| globset::GlobSet::empty())
}

/// Matches a `/`-separated path against a glob where `*` is one component and `**` any rest.
#[cfg(test)]
pub fn glob_match(pattern: &str, path: &str) -> bool {
    glob(pattern).is_some_and(|glob| glob.compile_matcher().is_match(path))
}

/// A pattern written with placeholders (`services/__service__/overlays/__env__/patch-*.yaml`)
/// as a glob of its instance paths (placeholders replaced by names).
fn instance_pattern(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|part| {
            if part.starts_with("__") && part.ends_with("__") && part.len() > 4 {
                "*"
            } else {
                part
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether an instance path (placeholders replaced by names) matches a pattern written with
/// placeholders (`services/__service__/overlays/__env__/patch-*.yaml`).
#[cfg(test)]
pub fn instance_match(pattern: &str, path: &str) -> bool {
    glob_match(&instance_pattern(pattern), path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_components() {
        assert!(glob_match(
            "services/__service__/overlays/__env__/*",
            "services/__service__/overlays/__env__/kustomization.yaml"
        ));
        assert!(!glob_match(
            "services/__service__/overlays/__env__/*",
            "services/__service__/base/kustomization.yaml"
        ));
        assert!(glob_match("docs/**", "docs/a/b.md"));
        assert!(glob_match("README.md", "README.md"));
        // A wildcard inside a component: the overlays' patches are seeds.
        assert!(glob_match(
            "services/__service__/overlays/__env__/patch-*.yaml",
            "services/__service__/overlays/__env__/patch-hpa.yaml"
        ));
        assert!(!glob_match("a/*.yaml", "a/b/c.yaml"));
        assert!(instance_match(
            "services/__service__/overlays/__env__/patch-*.yaml",
            "services/api/overlays/dev/patch-ingress.yaml"
        ));
        assert!(!instance_match(
            "services/__service__/overlays/__env__/patch-*.yaml",
            "services/api/base/patch-ingress.yaml"
        ));
    }

    #[test]
    fn the_default_pack_and_presets_are_embedded() {
        assert!(pack_names().contains(&DEFAULT_PACK));
        assert!(preset_names().contains(&DEFAULT_PRESET));
        assert!(preset_names().contains(&"production"));
        let err = check_pack("pulumi-pyton").unwrap_err();
        assert!(err.hint.unwrap().contains("did you mean `pulumi-python`"));
    }

    /// `include_dir!` embeds whatever is on disk when the binary is built: a cache a linter left
    /// under `templates/` would ship in every generated repo. Every file strata can render must
    /// be one git tracks.
    #[test]
    fn only_tracked_files_are_embedded() {
        fn walk(dir: &'static Dir<'static>, prefix: &str, out: &mut Vec<String>) {
            for entry in dir.entries() {
                match entry {
                    DirEntry::Dir(sub) if !is_tool_cache(sub) => walk(sub, prefix, out),
                    DirEntry::Dir(_) => {}
                    DirEntry::File(file) if file.path().extension().is_some_and(|e| e == "pyc") => {
                    }
                    DirEntry::File(file) => {
                        out.push(format!("{prefix}/{}", file.path().display()));
                    }
                }
            }
        }
        let mut embedded = Vec::new();
        walk(&TEMPLATES, "templates", &mut embedded);
        walk(&PRESETS, "presets", &mut embedded);
        assert!(embedded.len() > 50, "the walk found the templates");

        let untracked =
            crate::git::untracked(std::path::Path::new(env!("CARGO_MANIFEST_DIR")), &embedded)
                .expect("the tests run in a git checkout of strata");
        assert!(
            untracked.is_empty(),
            "embedded but not tracked by git (delete them, or `git add` them): {untracked:?}"
        );
    }
}
