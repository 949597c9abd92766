//! Low-level file operations: atomic writes, directory flushes, removing what a removal leaves
//! empty. They know nothing of repos, plans or journals; the writer (`write/apply.rs`) and the
//! journal (`write/journal.rs`) build on them.

use fs_err as fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

/// Flushes a directory, so that the renames and removals in it survive a power cut.
pub fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("flushing `{}`", dir.display()))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Flushes everything written to the file system that holds `path` (`syncfs`): one call in
/// place of one flush per file, git object and directory of a large change.
pub fn sync_file_system(path: &Path) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        let dir = fs::File::open(path).with_context(|| format!("opening `{}`", path.display()))?;
        rustix::fs::syncfs(&dir).with_context(|| format!("flushing `{}`", path.display()))?;
    }
    #[cfg(not(target_os = "linux"))]
    let _ = path;
    Ok(())
}

/// Writes `bytes` to a flushed temporary file beside `path` (with `mode`, or the mode of the
/// file it replaces), then renames it over `path`.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: Option<u32>) -> Result<()> {
    write_renamed(path, bytes, mode, true)
}

/// [`write_atomic`], flushing the temporary file only with `flush` (a caller that flushes many
/// files at once afterwards saves one disk round trip per file).
pub fn write_renamed(path: &Path, bytes: &[u8], mode: Option<u32>, flush: bool) -> Result<()> {
    let dir = path.parent().context("a file path has a parent")?;
    let name = path
        .file_name()
        .context("a file path has a name")?
        .to_string_lossy();
    let tmp = dir.join(format!(".{name}.strata-{}.tmp", std::process::id()));
    #[cfg(unix)]
    let mode = mode.or_else(|| {
        fs::symlink_metadata(path)
            .ok()
            .filter(std::fs::Metadata::is_file)
            .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777)
    });
    let result = (|| -> Result<()> {
        let mut file =
            fs::File::create(&tmp).with_context(|| format!("creating `{}`", tmp.display()))?;
        file.write_all(bytes)
            .with_context(|| format!("writing `{}`", tmp.display()))?;
        #[cfg(unix)]
        if let Some(mode) = mode {
            file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))?;
        }
        #[cfg(not(unix))]
        let _ = mode;
        if flush {
            file.sync_all()
                .with_context(|| format!("flushing `{}`", tmp.display()))?;
        }
        fs::rename(&tmp, path).with_context(|| format!("replacing `{}`", path.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Removes a file and then every directory it leaves empty, up to `root`.
pub fn remove_with_empty_parents(root: &Path, path: &Path) -> Result<()> {
    fs::remove_file(path).with_context(|| format!("removing `{}`", path.display()))?;
    let mut dir = path.parent();
    while let Some(d) = dir {
        if d == root || !d.starts_with(root) {
            break;
        }
        if fs::read_dir(d).is_ok_and(|mut entries| entries.next().is_none()) {
            fs::remove_dir(d).with_context(|| format!("removing `{}`", d.display()))?;
            dir = d.parent();
        } else {
            break;
        }
    }
    Ok(())
}

/// Removes the directories `new` created for `--out` (the deepest first) that are still empty.
pub fn remove_empty(created: &[PathBuf]) {
    for dir in created {
        let _ = fs::remove_dir(dir);
    }
}

/// Why an input file was not read: it is not a regular file, or it is larger than the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadRefused {
    /// A FIFO, a device, a socket or a directory: reading it could block or never end.
    NotRegular(&'static str),
    /// A symbolic link (callers that allow links in the repo resolve them first).
    Link,
    /// More bytes than the limit.
    TooLarge { limit: u64 },
    /// The file could not be opened or read.
    Io(String),
}

impl std::fmt::Display for ReadRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadRefused::NotRegular(what) => write!(f, "is {what}, not a regular file"),
            ReadRefused::Link => write!(f, "is a symbolic link"),
            ReadRefused::TooLarge { limit } => {
                write!(f, "is larger than {} MiB, the limit", limit / (1024 * 1024))
            }
            ReadRefused::Io(err) => write!(f, "cannot be read ({err})"),
        }
    }
}

/// Reads an input file safely: never through a symbolic link (`O_NOFOLLOW`), never blocking
/// on a FIFO or a device (`O_NONBLOCK`, then the opened file must be a regular one), and never
/// more than `limit` bytes (a file that grows while it is read is cut and refused).
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, ReadRefused> {
    use fs_err::os::unix::fs::OpenOptionsExt as _;
    use std::io::Read as _;
    use std::os::unix::fs::FileTypeExt as _;
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let kind = |t: std::fs::FileType| {
        if t.is_fifo() {
            "a FIFO"
        } else if t.is_char_device() || t.is_block_device() {
            "a device"
        } else if t.is_socket() {
            "a socket"
        } else if t.is_dir() {
            "a directory"
        } else {
            "not a file"
        }
    };
    // `O_NONBLOCK` opens a FIFO without waiting for a writer; `O_NOFOLLOW` refuses a link
    // (`ELOOP`); the opened file's own type decides, so nothing can swap it in between.
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)
        .map_err(|err| match err.raw_os_error() {
            Some(code) if code == rustix::io::Errno::LOOP.raw_os_error() => ReadRefused::Link,
            _ => ReadRefused::Io(err.to_string()),
        })?;
    let meta = file
        .metadata()
        .map_err(|err| ReadRefused::Io(err.to_string()))?;
    if !meta.file_type().is_file() {
        return Err(ReadRefused::NotRegular(kind(meta.file_type())));
    }
    if meta.len() > limit {
        return Err(ReadRefused::TooLarge { limit });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| ReadRefused::Io(err.to_string()))?;
    if bytes.len() as u64 > limit {
        return Err(ReadRefused::TooLarge { limit });
    }
    Ok(bytes)
}
