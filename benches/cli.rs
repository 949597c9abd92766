//! Benchmarks of the two speed targets, through the real binary (`cargo bench --bench cli`).
//!
//! - `strata new` with 3 environments and 2 services, both repos and their commits included:
//!   target under 25 ms (median).
//! - `strata add service` into a workspace of 300 services and 5 environments: target under
//!   50 ms (median), and its cost must not grow with the number of existing services beyond
//!   reading `strata.toml`: compared with a workspace of 30 services, the median may grow by at
//!   most 2x (reading and hashing the bigger answers and lock files).
//!
//! Prints the median, p90 and max of each, and exits 1 when a target is missed.

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
        std::fs::create_dir_all(&out).unwrap();
        samples.push(run(
            &[
                "new",
                "acme",
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
    let _ = std::fs::remove_dir_all(&tmp);
    report(
        "new: 3 environments, 2 services, 2 repos + commits",
        &stats(samples),
        Duration::from_millis(25),
    )
}

fn workspace(services: usize) -> std::path::PathBuf {
    let tmp = tempdir(&format!("ws{services}"));
    let names: Vec<String> = (0..services).map(|i| format!("svc{i}")).collect();
    run(
        &[
            "new",
            "acme",
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

fn bench_add(services: usize, iterations: usize) -> Stats {
    let gitops = workspace(services);
    let mut samples = Vec::new();
    for i in 0..iterations {
        samples.push(run(&["add", "service", &format!("extra{i}")], &gitops));
    }
    let _ = std::fs::remove_dir_all(gitops.parent().unwrap());
    stats(samples)
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("strata-bench-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument is ignored.
    let iterations = 30;
    let mut ok = bench_new(iterations);
    let small = bench_add(30, iterations);
    let large = bench_add(300, iterations);
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
    let growth = large.median.as_secs_f64() / small.median.as_secs_f64();
    println!("add service cost growth from 30 to 300 services: {growth:.2}x (limit 2.00x)");
    ok &= growth <= 2.0;
    if !ok {
        std::process::exit(1);
    }
}
