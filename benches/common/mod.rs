//! What both benchmarks share: the synthetic fleet and timing a child process with its own
//! peak memory.
#![allow(dead_code, unreachable_pub)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The shared layer of the synthetic fleet.
pub const BASE: &str = "apiVersion: kgen/v1
kind: Environment
kserve:
  ingressDomain: models.example.com
gitops:
  repoUrl: https://github.com/example/fleet.git
";

/// Environment shapes cycled through the fleet.
pub fn shape(i: usize) -> String {
    // Knative shapes (0, 3, 4) land on 1.33 or 1.34: Knative 1.21 needs 1.33 (rule KG202).
    let k8s = ["1.33", "1.34", "1.32"][i % 3];
    let body = match i % 6 {
        0 => "kserve: {version: v0.20.0, deploymentMode: Knative}\nmesh: {provider: istio}\n".to_string(),
        1 => "kserve: {version: v0.20.0, deploymentMode: Standard, ingress: gatewayApi}\ngatewayApi: {implementation: envoy}\n".to_string(),
        2 => "kserve: {version: v0.19.0, deploymentMode: Standard, ingress: ingress}\nmesh: {provider: istio}\n".to_string(),
        3 => "kserve: {version: v0.18.1, deploymentMode: Knative}\nmesh: {provider: istio}\nvalues: {istiod: {replicaCount: 2}}\n".to_string(),
        4 => "kserve: {version: v0.17.1, deploymentMode: Knative}\nmesh: {provider: istio}\nknative: {config: {autoscaler: {enable-scale-to-zero: \"false\"}}}\n".to_string(),
        _ => "kserve: {version: v0.20.0, deploymentMode: Standard, ingress: gatewayApi}\ngatewayApi: {implementation: envoy}\ncertManager: {install: false}\n".to_string(),
    };
    let engine = if i.is_multiple_of(2) { "argocd" } else { "flux" };
    format!(
        "apiVersion: kgen/v1\nkind: Environment\nextends: _base\ncluster: {{platform: kubernetes, kubernetesVersion: \"{k8s}\", name: c{i:04}}}\n{body}gitops: {{engine: {engine}}}\n"
    )
}

/// One finished child process.
pub struct Run {
    /// Wall time.
    pub wall: Duration,
    /// Its own peak RSS.
    pub max_rss_kb: i64,
    /// Exit code.
    pub code: i32,
}

/// Runs a command and reads its own peak RSS (wait4), so figures are per process.
pub fn run(cmd: &mut Command) -> Run {
    let start = Instant::now();
    let child = cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().expect("spawn");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for the child we spawned.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(rc, pid, "wait4 failed");
    std::mem::forget(child);
    Run { wall: start.elapsed(), max_rss_kb: usage.ru_maxrss, code: libc::WEXITSTATUS(status) }
}

/// The fastest of `n` runs.
pub fn best_of(n: usize, mut f: impl FnMut() -> Run) -> Run {
    (0..n).map(|_| f()).min_by_key(|r| r.wall).expect("n > 0")
}

/// Files and bytes under a folder.
pub fn files_and_bytes(dir: &Path) -> (usize, u64) {
    let (mut n, mut b) = (0, 0);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let m = e.metadata().unwrap();
            if m.is_dir() {
                stack.push(e.path());
            } else {
                n += 1;
                b += m.len();
            }
        }
    }
    (n, b)
}

/// Writes `environments/` of a synthetic fleet of `count` environments under `root`.
pub fn write_fleet(root: &Path, count: usize) {
    let envs = root.join("environments");
    std::fs::create_dir_all(&envs).unwrap();
    std::fs::write(envs.join("_base.yaml"), BASE).unwrap();
    for i in 0..count {
        std::fs::write(envs.join(format!("env-{i:04}.yaml")), shape(i)).unwrap();
    }
}

/// The environment variable that turns a benchmark binary into the "read the tree" baseline.
const READ_TREE: &str = "KGEN_BENCH_READ_TREE";

/// The baseline for `render --all --check`: a child process (this benchmark binary again) that
/// walks a folder and reads every file whole, one after the other on one thread — what any
/// checker of the tree must at least do. Its process start is in the figure, as kgen's is.
pub fn read_tree(dir: &Path) -> Run {
    run(Command::new(std::env::current_exe().expect("current_exe")).env(READ_TREE, dir))
}

/// Call first in `main`: when started by [`read_tree`], reads the tree and exits.
pub fn serve_read_tree() {
    let Some(dir) = std::env::var_os(READ_TREE) else { return };
    let mut stack = vec![std::path::PathBuf::from(dir)];
    let (mut files, mut bytes) = (0usize, 0usize);
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            if e.file_type().expect("file_type").is_dir() {
                stack.push(e.path());
            } else {
                bytes += std::fs::read(e.path()).expect("read").len();
                files += 1;
            }
        }
    }
    println!("{files} files, {bytes} bytes");
    std::process::exit(0);
}

/// `cat` of every file of the tree (`find -exec cat {} +`), for comparison with [`read_tree`].
pub fn cat_tree(dir: &Path) -> Run {
    run(Command::new("sh").arg("-c").arg("find \"$1\" -type f -exec cat {} + >/dev/null").arg("sh").arg(dir))
}

/// Milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Megabytes (MiB) from the kilobytes `wait4` reports.
pub fn mb(kb: i64) -> f64 {
    kb as f64 / 1024.0
}

/// The machine, for the header of each table: cores and the load average when the run started.
pub fn machine() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!(
        "{} cores, load average {} at start",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        load.join(" ")
    )
}

/// The fastest of `runs` runs of each measure, the measures taking turns run by run so that a
/// disk or load hiccup hits a baseline and the measure compared with it alike.
pub fn interleaved<const N: usize>(runs: usize, mut measures: [&mut dyn FnMut() -> Run; N]) -> [Run; N] {
    let mut best: [Option<Run>; N] = std::array::from_fn(|_| None);
    for _ in 0..runs {
        for (m, b) in measures.iter_mut().zip(best.iter_mut()) {
            let r = m();
            if b.as_ref().is_none_or(|b| r.wall < b.wall) {
                *b = Some(r);
            }
        }
    }
    best.map(|b| b.expect("runs > 0"))
}

/// The build the figures are of: `cargo bench` builds kgen in release, `cargo test --benches` not.
pub fn build() -> &'static str {
    if cfg!(debug_assertions) { "debug build" } else { "release build" }
}

/// Runs per measure: `KGEN_BENCH_RUNS`, else `default`.
pub fn runs(default: usize) -> usize {
    std::env::var("KGEN_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).filter(|&n| n > 0).unwrap_or(default)
}
