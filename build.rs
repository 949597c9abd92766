//! Rebuild when a template or preset is added, changed or removed: `include_dir!` embeds the
//! files it finds, but cargo tracks only the files that existed at the last build, so a new
//! template would otherwise be missing from the binary until some Rust file changed.

// A build script talks to cargo on stdout; the ban on print macros is for strata's own output.
#[allow(clippy::disallowed_macros)]
fn main() {
    println!("cargo:rerun-if-changed=templates");
    println!("cargo:rerun-if-changed=presets");
}
