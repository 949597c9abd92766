//! Results on stdout, written so that a closed pipe (`strata list | head -1`) is an error the
//! caller can see, not a panic.
//!
//! `println!` panics when stdout is gone. Commands print results with [`outln!`] and [`out!`]
//! instead, which return the `io::Error`; `commands::run` ends quietly on a broken pipe (exit
//! 0, as ripgrep does). Status lines and errors go to stderr with [`status!`], which drops a write
//! that fails: `eprintln!` would panic on a closed stderr, possibly in the middle of a change.

use std::fmt;
use std::io::{self, Write as _};

/// Writes formatted text and a line feed to stdout.
pub fn line(args: fmt::Arguments<'_>) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    stdout.write_fmt(args)?;
    stdout.write_all(b"\n")
}

/// Writes formatted text to stdout.
pub fn text(args: fmt::Arguments<'_>) -> io::Result<()> {
    io::stdout().lock().write_fmt(args)
}

/// Whether an error comes from writing to a reader that went away.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|err| err.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// `println!` that returns an `io::Result` instead of panicking on a closed stdout.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::util::term::line(format_args!($($arg)*))
    };
}

/// Writes formatted text and a line feed to stderr, ignoring a stderr that is gone.
pub fn status_line(args: fmt::Arguments<'_>) {
    let mut stderr = io::stderr().lock();
    let _ = stderr
        .write_fmt(args)
        .and_then(|()| stderr.write_all(b"\n"));
}

/// `eprintln!` that never panics: a status line is not worth a crash when stderr is closed.
macro_rules! status {
    ($($arg:tt)*) => {
        $crate::util::term::status_line(format_args!($($arg)*))
    };
}

/// `print!` that returns an `io::Result` instead of panicking on a closed stdout.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::util::term::text(format_args!($($arg)*))
    };
}

pub(crate) use {out, outln, status};
