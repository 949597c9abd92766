//! Three-way merges of a file's lines, as git merges them (libgit2's `git_merge_file`): in
//! memory, no repo needed. The structure-aware merge of YAML is `plan/merge3.rs`'s.

/// Merges the lines of `ours` and `theirs`, both descended from `base`; `None` when they
/// collide (or libgit2 cannot merge them). `path` names the file for git's merge drivers.
pub fn lines(path: &str, base: &[u8], ours: &[u8], theirs: &[u8]) -> Option<Vec<u8>> {
    // libgit2 must be initialised before `git_merge_file`, which (unlike opening a repository)
    // does not do it itself; creating an empty configuration does.
    git2::Config::new().ok()?;
    let mut b = git2::MergeFileInput::new();
    b.content(base).path(path);
    let mut o = git2::MergeFileInput::new();
    o.content(ours).path(path);
    let mut t = git2::MergeFileInput::new();
    t.content(theirs).path(path);
    let result = git2::merge_file(&b, &o, &t, None).ok()?;
    result.is_automergeable().then(|| result.content().to_vec())
}
