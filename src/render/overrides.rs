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

/// Where the foundation keeps the platform team's overrides of gitops templates, under its own
/// overrides: `.strata/templates/gitops/<gitops template path>` (the foundation is the
/// platform team's repo, so these may change any gitops path).
pub const GITOPS_IN_FOUNDATION: &str = "gitops/";

/// Whether a gitops template path is the application teams' (`services/`): the only paths
/// the gitops repo's own overrides may change. Everything else there (`CODEOWNERS`,
/// `.github/`, `apps/`, `platform/`, the README) is the platform team's.
pub fn is_app_team_path(path: &str) -> bool {
    path.starts_with("services/")
}

/// Whether a rendered path is an instance of a template path (`__x__` matches any one
/// component, `.tera` stripped).
pub fn instance_of(template: &str, path: &str) -> bool {
    let template = template.strip_suffix(".tera").unwrap_or(template);
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter().zip(&p).all(|(t, p)| {
            if !t.contains("__") {
                return t == p;
            }
            // `__service__.yaml` matches `web.yaml`: the fixed text around placeholders.
            let parts: Vec<&str> = t.split("__").collect();
            let (first, last) = (parts[0], parts[parts.len() - 1]);
            p.starts_with(first) && p.ends_with(last) && p.len() > first.len() + last.len()
        })
}

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
        layer
            .overridden
            .insert(path.to_string(), format!("{origin}/{path}"));
        let file = layer
            .files
            .iter_mut()
            .find(|f| f.path == path)
            .expect("found above");
        *file = TemplateFile {
            path,
            contents: Box::leak(bytes.into_boxed_slice()),
        };
    }
    problems.into_result()
}

/// The overrides a repo keeps (`<root>/.strata/templates`), none when it has none.
pub fn overrides_of(root: &Path) -> Result<Vec<(String, Vec<u8>)>, Problems> {
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
            Err(_) => return Ok(Vec::new()),
        }
    }
    read(&root.join(DIR))
}

/// The foundation's layer with the foundation's overrides in place (its `gitops/` overrides
/// are the gitops layer's: [`gitops_layer_of`]).
pub fn layer_of(root: &Path, mut layer: Layer) -> Result<Layer, Problems> {
    let overrides: Vec<(String, Vec<u8>)> = overrides_of(root)?
        .into_iter()
        .filter(|(path, _)| !path.starts_with(GITOPS_IN_FOUNDATION))
        .collect();
    if !overrides.is_empty() {
        apply(&mut layer, overrides, &format!("foundation: {DIR}"))?;
    }
    Ok(layer)
}

/// Whether either repo has overrides of gitops templates.
pub fn gitops_has_overrides(foundation: &Path, gitops: &Path) -> bool {
    gitops.join(DIR).exists() || foundation.join(DIR).join(GITOPS_IN_FOUNDATION).exists()
}

/// The gitops layer with its overrides in place: the platform team's, kept in the
/// foundation (`.strata/templates/gitops/<path>`, any path), then the gitops repo's own
/// (`.strata/templates/<path>`), which may change only the application teams' `services/`.
/// An override there of a platform path is refused, naming it: merged by an application
/// team, it would rewrite the platform's files (`CODEOWNERS`, the workflows, the
/// Applications' projects) in the platform engineer's next commit.
pub fn gitops_layer_of(
    foundation: &Path,
    gitops: &Path,
    mut layer: Layer,
) -> Result<Layer, Problems> {
    let platform: Vec<(String, Vec<u8>)> = overrides_of(foundation)?
        .into_iter()
        .filter_map(|(path, bytes)| {
            path.strip_prefix(GITOPS_IN_FOUNDATION)
                .map(|rest| (rest.to_string(), bytes))
        })
        .collect();
    let mut problems = Problems::default();
    if !platform.is_empty() {
        if let Err(more) = apply(
            &mut layer,
            platform,
            &format!(
                "foundation: {DIR}/{}",
                GITOPS_IN_FOUNDATION.trim_end_matches('/')
            ),
        ) {
            problems.extend(more);
        }
    }
    let (allowed, refused): (Vec<_>, Vec<_>) = overrides_of(gitops)?
        .into_iter()
        .partition(|(path, _)| is_app_team_path(path));
    for (path, _) in &refused {
        problems.push(
            Problem::new(
                format!("template override `{DIR}/{path}` (gitops)"),
                "overrides a path of the platform team: the gitops repo's overrides may change only `services/`",
            )
            .hint(format!(
                "the platform team keeps it in the foundation, as `{DIR}/{GITOPS_IN_FOUNDATION}{path}`; remove it from the gitops repo (`git rm {DIR}/{path}`)"
            )),
        );
    }
    if !allowed.is_empty() {
        if let Err(more) = apply(&mut layer, allowed, &format!("gitops: {DIR}")) {
            problems.extend(more);
        }
    }
    problems.into_result()?;
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
