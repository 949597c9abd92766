//! Benchmarks of the two speed targets, through the real binary (`cargo bench --bench cli`).
//!
//! - `strata new` with 3 environments and 2 services, both repos and their commits included:
//!   target under 25 ms (median).
//! - `strata add service` into a workspace of 300 services and 5 environments: target under
//!   50 ms (median), and its cost must not grow with the number of existing services beyond
//!   reading and rewriting the workspace's bookkeeping (`strata.toml` and `strata.lock`, whose
//!   size grows with the services): the time of `add service` minus the time of reading those
//!   files and writing them back (measured in process) may grow by at most 5 ms from 30 to 300
//!   services.
//!
//! - Peak memory (maximum resident set size) of that `strata new`: target 16 MiB or less.
//! - `strata add env --commit` into a workspace of 120 services (about 600 new files, both
//!   commits included): target under 200 ms (median).
//!
//! Prints the median, p90 and max of each, and exits 1 when a target is missed.

// A benchmark reports on the terminal; a closed stdout ending it is fine.
#![allow(clippy::disallowed_macros)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const STRATA: &str = env!("CARGO_BIN_EXE_strata");

fn run(args: &[&str], dir: &Path) -> Duration {
    let start = Instant::now();
    let output = Command::new(STRATA)
        .args(args)
        .current_dir(dir)
        .env_remove("STRATA_FAULT")
        .output()
        .expect("strata runs");
    let elapsed = start.elapsed();
    assert!(
        output.status.success(),
        "strata {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    elapsed
}

struct Stats {
    median: Duration,
    p90: Duration,
    max: Duration,
}

fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    Stats {
        median: at(0.5),
        p90: at(0.9),
        max: *samples.last().expect("samples"),
    }
}

fn report(name: &str, stats: &Stats, target: Duration) -> bool {
    let ok = stats.median <= target;
    println!(
        "{name:<58} median {:>7.2} ms  p90 {:>7.2} ms  max {:>7.2} ms  target {:>5.1} ms  {}",
        stats.median.as_secs_f64() * 1e3,
        stats.p90.as_secs_f64() * 1e3,
        stats.max.as_secs_f64() * 1e3,
        target.as_secs_f64() * 1e3,
        if ok { "ok" } else { "MISSED" }
    );
    ok
}

fn bench_new(iterations: usize) -> bool {
    let tmp = tempdir("new");
    let mut samples = Vec::new();
    for i in 0..iterations {
        let out = tmp.join(format!("run{i}"));
        fs_err::create_dir_all(&out).unwrap();
        samples.push(run(
            &[
                "new",
                "acme",
                "--domain",
                "example.com",
                "--git-base",
                "https://github.com/acme",
                "--envs",
                "dev,staging,prod",
                "--services",
                "api,web",
                "--out",
                out.to_str().unwrap(),
            ],
            &tmp,
        ));
    }
    let _ = fs_err::remove_dir_all(&tmp);
    report(
        "new: 3 environments, 2 services, 2 repos + commits",
        &stats(samples),
        Duration::from_millis(25),
    )
}

/// The peak resident memory of one `strata new` (3 environments, 2 services), in KiB, measured
/// by the kernel for a child process (`getrusage(RUSAGE_CHILDREN)` in a fresh process of its
/// own, so that no earlier child counts).
fn peak_memory_of_new() -> u64 {
    let tmp = tempdir("rss");
    let me = std::env::current_exe().expect("the bench binary");
    let output = Command::new(me)
        .arg("--peak-memory-of-new")
        .arg(&tmp)
        .output()
        .expect("the bench re-runs itself");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let _ = fs_err::remove_dir_all(&tmp);
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .expect("a number of KiB")
}

fn peak_memory_child(dir: &Path) {
    run(
        &[
            "new",
            "acme",
            "--domain",
            "example.com",
            "--git-base",
            "https://github.com/acme",
            "--envs",
            "dev,staging,prod",
            "--services",
            "api,web",
            "--out",
            dir.to_str().unwrap(),
        ],
        dir,
    );
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .expect("getrusage");
    println!("{}", usage.max_rss());
}

/// `add env --commit` into a workspace of `services` services, each run on a fresh copy.
fn bench_add_env(services: usize, iterations: usize) -> Stats {
    let names: Vec<String> = (0..services).map(|i| format!("svc{i}")).collect();
    let mut samples = Vec::new();
    for i in 0..iterations {
        let tmp = tempdir(&format!("env{i}"));
        run(
            &[
                "new",
                "acme",
                "--domain",
                "example.com",
                "--git-base",
                "https://github.com/acme",
                "--envs",
                "dev,prod",
                "--services",
                &names.join(","),
                "--out",
                tmp.to_str().unwrap(),
            ],
            &tmp,
        );
        samples.push(run(
            &["add", "env", "qa", "--commit"],
            &tmp.join("acme-gitops"),
        ));
        let _ = fs_err::remove_dir_all(&tmp);
    }
    stats(samples)
}

fn workspace(services: usize) -> std::path::PathBuf {
    let tmp = tempdir(&format!("ws{services}"));
    let names: Vec<String> = (0..services).map(|i| format!("svc{i}")).collect();
    run(
        &[
            "new",
            "acme",
            "--domain",
            "example.com",
            "--git-base",
            "https://github.com/acme",
            "--envs",
            "e1,e2,e3,e4,e5",
            "--services",
            &names.join(","),
            "--out",
            tmp.to_str().unwrap(),
        ],
        &tmp,
    );
    tmp.join("acme-gitops")
}

/// The median of `add service`, and of reading and rewriting the bookkeeping of the workspace
/// it adds to (both answers files and both locks).
fn bench_add(services: usize, iterations: usize) -> (Stats, Stats) {
    let gitops = workspace(services);
    // The baseline runs in a fresh process, like the command, so that both pay the same cold
    // costs (allocation, page faults) of the bigger files.
    let mut reads = Vec::new();
    let me = std::env::current_exe().expect("the bench binary");
    for _ in 0..iterations {
        let start = Instant::now();
        let status = Command::new(&me)
            .arg("--bookkeeping-only")
            .arg(&gitops)
            .status()
            .expect("the bench re-runs itself");
        reads.push(start.elapsed());
        assert!(status.success(), "the bookkeeping baseline failed");
    }
    let mut samples = Vec::new();
    for i in 0..iterations {
        samples.push(run(&["add", "service", &format!("extra{i}")], &gitops));
    }
    let _ = fs_err::remove_dir_all(gitops.parent().unwrap());
    (stats(samples), stats(reads))
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("strata-bench-{}-{name}", std::process::id()));
    let _ = fs_err::remove_dir_all(&dir);
    fs_err::create_dir_all(&dir).unwrap();
    dir
}

/// The baseline of `add service`: read the workspace (both answers files and locks), then
/// serialise and write them back beside it. Nothing else.
fn bookkeeping_only(gitops: &Path) {
    let workspace = strata::Workspace::open(gitops).expect("the workspace opens");
    let answers = workspace.answers.to_toml();
    for (repo, lock) in &workspace.locks {
        let dir = gitops.parent().unwrap().join(format!("bookkeeping-{repo}"));
        fs_err::create_dir_all(&dir).unwrap();
        strata::write_atomic(&dir.join("strata.toml"), answers.as_bytes(), None).unwrap();
        strata::write_atomic(&dir.join("strata.lock"), lock.to_text().as_bytes(), None).unwrap();
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(index) = args.iter().position(|a| a == "--bookkeeping-only") {
        bookkeeping_only(Path::new(&args[index + 1]));
        return;
    }
    if let Some(index) = args.iter().position(|a| a == "--peak-memory-of-new") {
        peak_memory_child(Path::new(&args[index + 1]));
        return;
    }
    // `cargo bench` passes `--bench`; any other argument is ignored.
    let iterations = 30;
    let mut ok = bench_new(iterations);
    let (small, small_read) = bench_add(30, iterations);
    let (large, large_read) = bench_add(300, iterations);
    report(
        "add service: 30 services, 5 environments",
        &small,
        Duration::from_millis(50),
    );
    ok &= report(
        "add service: 300 services, 5 environments",
        &large,
        Duration::from_millis(50),
    );
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let beyond_small = ms(small.median) - ms(small_read.median);
    let beyond_large = ms(large.median) - ms(large_read.median);
    println!(
        "reading and rewriting strata.toml and strata.lock: {:.2} ms (30 services), {:.2} ms (300 services)",
        ms(small_read.median),
        ms(large_read.median)
    );
    let growth = beyond_large - beyond_small;
    println!(
        "add service beyond that bookkeeping: {beyond_small:.2} ms (30) -> {beyond_large:.2} ms (300), growth {growth:.2} ms (limit 5.00 ms)"
    );
    ok &= growth <= 5.0;
    let peak = peak_memory_of_new();
    let peak_ok = peak <= 16 * 1024;
    println!(
        "new: peak memory {:.1} MiB (target 16.0 MiB)  {}",
        peak as f64 / 1024.0,
        if peak_ok { "ok" } else { "MISSED" }
    );
    ok &= peak_ok;
    ok &= report(
        "add env --commit: 120 services (about 600 new files)",
        &bench_add_env(120, 10),
        Duration::from_millis(200),
    );
    if !ok {
        std::process::exit(1);
    }
}
