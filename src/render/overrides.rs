//! Template overrides: an organisation's own versions of strata's templates.
//!
//! A repo may carry `.strata/templates/<path>`, where `<path>` is the path of one of its
//! layer's templates (`services/__service__/base/deployment.yaml.tera` in the gitops repo,
//! `addons.py` in the foundation). Every command renders that repo with the override in place of
//! the embedded template, so `add`, `remove` and `upgrade` all agree. `strata new --templates
//! DIR` takes `DIR/foundation/…` and `DIR/gitops/…` and copies them into each repo's
//! `.strata/templates/`, so that the repo itself holds its customisation.

use std::path::Path;

use crate::model::pack::{Layer, TemplateFile};
use crate::util::problem::{Problem, Problems};

/// Where a repo keeps its overrides.
pub const DIR: &str = ".strata/templates";

/// Every file under `dir`, as (path relative to `dir`, bytes), sorted. Symbolic links are
/// refused rather than followed. A missing `dir` has no overrides.
pub fn read(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, Problems> {
    let mut out = Vec::new();
    if fs_err::symlink_metadata(dir).is_err() {
        return Ok(out);
    }
    let problem = |path: &Path, why: &str| {
        Problems::from(
            Problem::new(
                format!("template override `{}`", path.display()),
                why.to_string(),
            )
            .hint("keep plain files under the overrides directory"),
        )
    };
    let entries = walkdir::WalkDir::new(dir)
        .follow_links(false)
        .follow_root_links(false)
        .sort_by_file_name();
    for entry in entries {
        let entry = entry.map_err(|err| {
            let why = err
                .io_error()
                .map_or_else(|| err.to_string(), ToString::to_string);
            problem(err.path().unwrap_or(dir), &why)
        })?;
        let path = entry.path();
        let kind = entry.file_type();
        if kind.is_symlink() {
            return Err(problem(path, "is a symbolic link"));
        } else if kind.is_file() {
            let relative = path
                .strip_prefix(dir)
                .expect("walked under its root")
                .to_str()
                .ok_or_else(|| problem(path, "has a name that is not UTF-8"))?
                .replace('\\', "/");
            let bytes = fs_err::read(path).map_err(|e| problem(path, &e.to_string()))?;
            out.push((relative, bytes));
        } else if !kind.is_dir() {
            return Err(problem(
                path,
                "is a special file (a FIFO, socket or device)",
            ));
        }
    }
    out.sort();
    Ok(out)
}

/// Puts overrides in place of a layer's templates. Each must replace an existing template:
/// an override of nothing is refused, naming the templates it could have meant.
pub fn apply(
    layer: &mut Layer,
    overrides: Vec<(String, Vec<u8>)>,
    origin: &str,
) -> Result<(), Problems> {
    let mut problems = Problems::default();
    for (path, bytes) in overrides {
        let Some(file) = layer.files.iter_mut().find(|f| f.path == path) else {
            problems.push(
                Problem::new(
                    format!("template override `{origin}/{path}`"),
                    format!("replaces no template of the {} layer", layer.repo),
                )
                .hint("name an existing template by its path in the pack, for example `services/__service__/base/deployment.yaml.tera`"),
            );
            continue;
        };
        if path.ends_with(".tera") && std::str::from_utf8(&bytes).is_err() {
            problems.push(
                Problem::new(
                    format!("template override `{origin}/{path}`"),
                    "is not UTF-8",
                )
                .hint("save the template as UTF-8"),
            );
            continue;
        }
        // The embedded templates live for the whole process; overrides join them. A command
        // reads a handful of small files once, so leaking them costs nothing measurable.
        let path: &'static str = file.path;
        *file = TemplateFile {
            path,
            contents: Box::leak(bytes.into_boxed_slice()),
        };
    }
    problems.into_result()
}

/// A repo's layer with its overrides (from `<root>/.strata/templates`) in place.
pub fn layer_of(root: &Path, mut layer: Layer) -> Result<Layer, Problems> {
    // Every component of `.strata/templates` is checked: a link there would read templates
    // from outside the repo.
    let mut dir = root.to_path_buf();
    for part in DIR.split('/') {
        dir.push(part);
        match fs_err::symlink_metadata(&dir) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(Problems::from(
                    Problem::new(format!("`{}`", dir.display()), "is a symbolic link")
                        .hint("keep the template overrides as plain files in the repo"),
                ))
            }
            Ok(_) => {}
            Err(_) => return Ok(layer),
        }
    }
    let overrides = read(&root.join(DIR))?;
    if !overrides.is_empty() {
        apply(&mut layer, overrides, DIR)?;
    }
    Ok(layer)
}

/// The names `strata.toml` records for a new workspace's overrides: `<repo>/<template path>`.
pub fn names(foundation: &[(String, Vec<u8>)], gitops: &[(String, Vec<u8>)]) -> Vec<String> {
    foundation
        .iter()
        .map(|(p, _)| format!("foundation/{p}"))
        .chain(gitops.iter().map(|(p, _)| format!("gitops/{p}")))
        .collect()
}

/// The renderer of a new workspace: the pack's and the gitops layer's templates with the
/// given overrides of each.
pub fn renderer(
    pack: &str,
    foundation_overrides: &[(String, Vec<u8>)],
    gitops_overrides: &[(String, Vec<u8>)],
) -> anyhow::Result<crate::render::Renderer> {
    let mut foundation = crate::model::pack::foundation_layer(pack).map_err(Problems::from)?;
    let mut gitops = crate::model::pack::gitops_layer();
    let mut problems = Problems::default();
    for (layer, overrides, origin) in [
        (&mut foundation, foundation_overrides, "foundation"),
        (&mut gitops, gitops_overrides, "gitops"),
    ] {
        if let Err(more) = apply(layer, overrides.to_vec(), origin) {
            problems.extend(more);
        }
    }
    problems.into_result()?;
    crate::render::Renderer::new(vec![foundation, gitops])
}
