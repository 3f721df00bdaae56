//! Benchmark: a synthetic GitOps repository of 1,000 environments (mixed modes, meshes,
//! platforms, releases and engines), timed end to end through the real binary, each figure
//! beside its baseline, the ratio and the goal (issue 15):
//! - `render --all --check` against reading every file of the rendered tree (a Rust child
//!   process reading each file whole on one thread; `cat` of every file beside it), and its
//!   peak RSS;
//! - `render --all` into a new output folder against `cp -r` of the output tree;
//! - `render --all` in place (first render and nothing changed) and `validate`, for scale;
//! - `kgen render prod` and `kgen explain prod` on the repository's own examples;
//! - hostile environment files and a hostile previous render (SPEC §3);
//! - `kgen hydrate prod` (issue 18) with the tests' helm stand-in, against the same
//!   `helm template` runs one after another (needs `../shared` and `KGEN_HELM_PYTHON`, as the
//!   tests; skipped with one line without them).
//!
//! Run: `cargo bench --bench render` (`KGEN_BENCH_ENVS` sets the environment count;
//! `KGEN_BENCH_ONLY=check` measures only the `--check` rows, for 10,000 environments;
//! `KGEN_BENCH_RUNS` sets the runs per measure, the fastest of which is printed).

mod common;

use common::{Run, best_of, cat_tree, files_and_bytes, interleaved, mb, ms, read_tree, run, write_fleet};
use std::path::Path;
use std::process::Command;

/// Hostile environment files, each alone in a project, and how `kgen validate` copes (SPEC §3:
/// rejected within a second, bounded memory).
fn hostile_inputs(kgen: &str) {
    // Each file is written and its text dropped before kgen starts: a child's peak RSS counts
    // the parent's memory at fork time, so the generator must not hold 50 MB then.
    type Gen = fn() -> String;
    fn bomb() -> String {
        let mut s = String::from("apiVersion: kgen/v1\nkind: Environment\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            s.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        s
    }
    fn deep() -> String {
        format!(
            "apiVersion: kgen/v1\nkind: Environment\nvalues:\n  kserve: {}{}\n",
            "[".repeat(10_000),
            "]".repeat(10_000)
        )
    }
    fn nodes() -> String {
        let mut s = String::from("apiVersion: kgen/v1\nkind: Environment\nvalues:\n  kserve:\n    items:\n");
        for i in 0..150_000 {
            s.push_str(&format!("      - {i}\n"));
        }
        s
    }
    fn huge() -> String {
        // Written in chunks by `write_case`: never held whole in this process.
        String::from("apiVersion: kgen/v1\nkind: Environment\ndescription: \"")
    }
    println!("\nhostile environment files (`kgen validate`, {}):", common::build());
    println!("{:<34} {:>10} {:>10}   target (SPEC §3)", "input", "time", "peak RSS");
    let cases: [(&str, Gen); 4] = [
        ("billion laughs (10^10 leaves)", bomb),
        ("10,000-level flow nesting", deep),
        ("150,000 nodes (1.1 MB)", nodes),
        ("50 MB file", huge),
    ];
    for (name, generate) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("environments")).unwrap();
        let path = dir.path().join("environments/bad.yaml");
        std::fs::write(&path, generate()).unwrap();
        if name == "50 MB file" {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
            let chunk = vec![b'x'; 1024 * 1024];
            for _ in 0..50 {
                f.write_all(&chunk).unwrap();
            }
            f.write_all(b"\"\n").unwrap();
        }
        let mut c = Command::new(kgen);
        c.arg("-C").arg(dir.path()).args(["-q", "validate"]);
        let r = run(&mut c);
        assert_eq!(r.code, 2, "{name} must be rejected");
        println!(
            "{:<34} {:>8.0}ms {:>8.1}MB   < 1000 ms, bounded memory",
            name,
            r.wall.as_secs_f64() * 1000.0,
            r.max_rss_kb as f64 / 1024.0
        );
    }
}

/// A hostile previous render (SPEC §3's bounded memory, for what kgen reads back): a 1 GiB file
/// where a generated values file is, and a 1 GiB `kgen.lock.json`. Sparse files: no disk space.
/// kgen refuses both by their size, before reading (before: `render --check` 3.1 GB peak RSS,
/// `diff` 4.2 GB, a 1 GB lock 1 GB).
fn hostile_previous_render(kgen: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    write_fleet(dir.path(), 1);
    let kgen_in = |args: &[&str]| {
        let mut c = Command::new(kgen);
        c.arg("-C").arg(dir.path()).arg("-q").args(args);
        run(&mut c)
    };
    assert_eq!(kgen_in(&["render", "--all"]).code, 0, "render failed");
    let env = dir.path().join("rendered/env-0000");
    let values = std::fs::read_dir(env.join("values")).unwrap().next().unwrap().unwrap().path();
    let gib = 1024 * 1024 * 1024;
    println!("\nhostile previous render (1 GiB sparse files, {}):", common::build());
    println!("{:<34} {:>10} {:>10}   target", "input", "time", "peak RSS");
    std::fs::File::create(&values).unwrap().set_len(gib).unwrap();
    for (name, args) in
        [("1 GiB values file: render --check", &["render", "--check"][..]), ("1 GiB values file: diff", &["diff"][..])]
    {
        let r = kgen_in(args);
        assert_eq!(r.code, 2, "{name} must be refused");
        println!(
            "{:<34} {:>8.0}ms {:>8.1}MB   refused (exit 2), bounded memory",
            name,
            r.wall.as_secs_f64() * 1000.0,
            r.max_rss_kb as f64 / 1024.0
        );
    }
    std::fs::write(&values, "").unwrap();
    std::fs::File::create(env.join("kgen.lock.json")).unwrap().set_len(gib).unwrap();
    for (name, args) in [
        ("1 GiB kgen.lock.json: validate", &["validate"][..]),
        ("1 GiB kgen.lock.json: --check", &["render", "--check"][..]),
    ] {
        let r = kgen_in(args);
        assert_eq!(r.code, 2, "{name} must be refused");
        println!(
            "{:<34} {:>8.0}ms {:>8.1}MB   refused (exit 2), bounded memory",
            name,
            r.wall.as_secs_f64() * 1000.0,
            r.max_rss_kb as f64 / 1024.0
        );
    }
}

/// One row of a table: name, wall time, peak RSS, and what it is compared with.
fn row(name: &str, r: &Run, note: &str) {
    println!("{:<40} {:>8.0}ms {:>8.1}MB   {note}", name, ms(r.wall), mb(r.max_rss_kb));
}

/// `measure / baseline` as a ratio with the goal and whether it is met.
fn ratio(r: &Run, base: &Run, base_name: &str, goal: f64) -> String {
    let x = ms(r.wall) / ms(base.wall);
    let verdict = if x <= goal { "met" } else { "MISSED" };
    format!("{x:.2}× {base_name} (goal ≤ {goal:.1}×: {verdict})")
}

/// Peak RSS against the 150 MB goal.
fn memory(r: &Run) -> String {
    let verdict = if mb(r.max_rss_kb) <= 150.0 { "met" } else { "MISSED" };
    format!("peak RSS goal ≤ 150 MB: {verdict}")
}

/// The repository's own examples (`environments/` of this crate), one environment through the
/// whole process: what a user waits for at the prompt.
fn examples(kgen: &str, runs: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    for folder in ["environments", "rendered"] {
        let status = Command::new("cp").arg("-r").arg(here.join(folder)).arg(dir.path()).status().expect("cp");
        assert!(status.success(), "copying {folder}/ failed");
    }
    let kg = |args: &[&str]| {
        let mut c = Command::new(kgen);
        c.arg("-C").arg(dir.path()).arg("-q").args(args);
        c
    };
    let (files, bytes) = files_and_bytes(&dir.path().join("rendered/prod"));
    println!(
        "\nthe repository's own examples, one environment, whole process ({}, best of {runs}; \
         rendered/prod: {files} files, {:.0} kB):",
        common::build(),
        bytes as f64 / 1e3
    );
    println!("{:<40} {:>10} {:>10}   goal", "measure", "time", "peak RSS");
    let same = best_of(runs, || run(&mut kg(&["render", "prod"])));
    assert_eq!(same.code, 0, "render prod failed");
    row("kgen render prod (nothing changed)", &same, "");
    let fresh = best_of(runs, || {
        let out = dir.path().join("fresh");
        let _ = std::fs::remove_dir_all(&out);
        let mut c = kg(&["render", "prod", "--out"]);
        c.arg(&out);
        run(&mut c)
    });
    assert_eq!(fresh.code, 0, "render prod --out failed");
    row("kgen render prod (new output folder)", &fresh, "");
    let check = best_of(runs, || run(&mut kg(&["render", "prod", "--check"])));
    assert_eq!(check.code, 0, "render prod --check found drift in the committed render");
    row("kgen render prod --check", &check, "");
    let explain = best_of(runs, || run(&mut kg(&["explain", "prod"])));
    assert_eq!(explain.code, 0, "explain prod failed");
    let verdict = if ms(explain.wall) <= 50.0 { "met" } else { "MISSED" };
    row("kgen explain prod", &explain, &format!("≤ 50 ms: {verdict}"));
    let one = best_of(runs, || run(&mut kg(&["explain", "prod", "kserve.ingressDomain"])));
    assert_eq!(one.code, 0, "explain prod KEY failed");
    row("kgen explain prod kserve.ingressDomain", &one, "");
}

fn main() {
    common::serve_read_tree();
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: keep that run small.
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let count: usize = std::env::var("KGEN_BENCH_ENVS").ok().and_then(|v| v.parse().ok()).unwrap_or(if bench_mode {
        1000
    } else {
        20
    });
    // `KGEN_BENCH_ONLY=check`: only what the `--check` goal needs (for 10,000 environments,
    // where the whole table takes many minutes).
    let only_check = std::env::var("KGEN_BENCH_ONLY").is_ok_and(|v| v == "check");
    let runs = common::runs(if bench_mode { 3 } else { 1 });
    let kgen = env!("CARGO_BIN_EXE_kgen");
    let machine = common::machine();
    let dir = tempfile::tempdir().expect("tempdir");
    // `KGEN_BENCH_KEEP=1` leaves the fleet (printed below) for profiling a single command.
    let dir_path = if std::env::var_os("KGEN_BENCH_KEEP").is_some() { dir.keep() } else { dir.path().to_path_buf() };
    let dir = Fleet(dir_path);
    write_fleet(dir.path(), count);
    if std::env::var_os("KGEN_BENCH_KEEP").is_some() {
        println!("fleet kept in {}", dir.path().display());
    }
    let render = || {
        let mut c = Command::new(kgen);
        c.arg("-C").arg(dir.path()).args(["-q", "render", "--all"]);
        c
    };
    let cold = run(&mut render());
    assert_eq!(cold.code, 0, "render failed");
    let rendered = dir.path().join("rendered");
    let (files, bytes) = files_and_bytes(&rendered);
    println!(
        "kgen render benchmark: {count} environments, {files} files, {:.1} MB rendered; {}, \
         best of {runs}, warm page cache; {machine}",
        bytes as f64 / 1e6,
        common::build(),
    );
    println!("{:<40} {:>10} {:>10}   baseline, ratio and goal", "measure", "time", "peak RSS");
    let [read, cat, check] = interleaved(
        runs,
        [&mut || read_tree(&rendered), &mut || cat_tree(&rendered), &mut || {
            let mut c = Command::new(kgen);
            c.arg("-C").arg(dir.path()).args(["-q", "render", "--all", "--check"]);
            run(&mut c)
        }],
    );
    assert_eq!(check.code, 0, "--check found drift right after a render");
    row("read every file (Rust, one thread)", &read, "baseline for --check");
    row("cat every file (find -exec cat)", &cat, "for comparison");
    row("render --all --check", &check, &format!("{}; {}", ratio(&check, &read, "read", 1.1), memory(&check)));
    if only_check {
        return;
    }
    // A render that writes everything, a fresh output folder each time, against a copy of it.
    let [cp, full] = interleaved(
        runs,
        [
            &mut || {
                let target = dir.path().join("copy");
                let _ = std::fs::remove_dir_all(&target);
                run(Command::new("cp").arg("-r").arg(&rendered).arg(&target))
            },
            &mut || {
                let out = dir.path().join("fresh");
                let _ = std::fs::remove_dir_all(&out);
                let mut c = render();
                c.arg("--out").arg(&out);
                run(&mut c)
            },
        ],
    );
    let warm = best_of(runs, || run(&mut render()));
    // Every rule at full depth: the environment rules plus the render and history rules over
    // every rendered file (what `render` and `diff` skip in release builds).
    let validate = best_of(runs, || {
        let mut c = Command::new(kgen);
        c.arg("-C").arg(dir.path()).args(["-q", "validate"]);
        run(&mut c)
    });
    assert_eq!(validate.code, 0, "validate failed on the fleet");
    row("cp -r of the output tree", &cp, "baseline for render --all");
    row("render --all (new output folder)", &full, &ratio(&full, &cp, "cp -r", 1.0));
    row("render --all (first render, in place)", &cold, "one run: the fleet's first render");
    row("render --all (nothing changed)", &warm, "nothing written");
    row("validate (every rule at full depth)", &validate, "no goal");
    examples(kgen, common::runs(if bench_mode { 10 } else { 1 }));
    hostile_inputs(kgen);
    hostile_previous_render(kgen);
    hydrate(kgen, common::runs(if bench_mode { 3 } else { 1 }));
}

/// `kgen hydrate prod` through the tests' helm stand-in (`tests/fixtures/helm-standin/helm`:
/// the real Helm v4 engine of `../shared/tools/helm_render.py`, one Python process per run, so
/// the figures are that engine's, not a Go `helm`'s). Baseline: the same `helm template` runs
/// one after another, which is what a script looping over the releases does.
fn hydrate(kgen: &str, runs: usize) {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = std::env::var_os("KGEN_SHARED").map_or_else(|| here.join("../shared"), std::path::PathBuf::from);
    let python = std::env::var_os("KGEN_HELM_PYTHON");
    let (true, Some(python)) = (shared.join("tools/helm_render.py").is_file(), python) else {
        println!("\nkgen hydrate: skipped (needs ../shared and KGEN_HELM_PYTHON, as tests/hydrate.rs)");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let status = Command::new("cp").arg("-r").arg(here.join("environments")).arg(dir.path()).status().expect("cp");
    assert!(status.success(), "copying environments/ failed");
    let standin = here.join("tests/fixtures/helm-standin");
    let mut path = vec![standin.clone()];
    path.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
    let path = std::env::join_paths(path).unwrap();
    let cache = dir.path().join(".cache");
    let env = |c: &mut Command| {
        c.env("PATH", &path).env("KGEN_CACHE_DIR", &cache).env("KGEN_SHARED", &shared).env("KGEN_HELM_PYTHON", &python);
    };
    let hydrate = || {
        let mut c = Command::new(kgen);
        c.arg("-C").arg(dir.path()).args(["-q", "hydrate", "prod", "--out", "out"]);
        env(&mut c);
        c
    };
    let cold = run(&mut hydrate());
    assert_eq!(cold.code, 0, "kgen hydrate prod failed");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("out/prod/kgen.hydrated.json")).unwrap()).unwrap();
    let releases = index["releases"].as_array().unwrap().clone();
    let (files, bytes) = files_and_bytes(&dir.path().join("out/prod"));
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "\nkgen hydrate prod: {} Helm releases, {files} files, {:.1} MB ({}, best of {runs}, {threads} core(s); \
         helm = the tests' stand-in, the Helm v4 engine through Python):",
        releases.len(),
        bytes as f64 / 1e6,
        common::build()
    );
    println!("{:<40} {:>10} {:>10}   baseline, ratio and goal", "measure", "time", "peak RSS");
    // The same runs, serially: each release's archive from the cache, its values from a render.
    let rendered = dir.path().join("rendered");
    let mut c = Command::new(kgen);
    c.arg("-C").arg(dir.path()).args(["-q", "render", "prod"]);
    assert_eq!(run(&mut c).code, 0, "render prod failed");
    let archives: Vec<std::path::PathBuf> = releases
        .iter()
        .map(|r| {
            let name = format!("{}-{}.tgz", r["chart"].as_str().unwrap(), r["version"].as_str().unwrap());
            walk(&cache.join("charts")).into_iter().find(|p| p.ends_with(&name)).expect("archive in the cache")
        })
        .collect();
    let serial = best_of(runs, || {
        let start = std::time::Instant::now();
        let mut code = 0;
        for (r, archive) in releases.iter().zip(&archives) {
            let name = r["name"].as_str().unwrap();
            let mut c = Command::new(standin.join("helm"));
            c.arg("template").arg(name).arg(archive).args(["--namespace", r["namespace"].as_str().unwrap(), "-f"]);
            c.arg(rendered.join(format!("prod/values/{name}.yaml"))).arg("--include-crds");
            env(&mut c);
            code = code.max(run(&mut c).code);
        }
        common::Run { wall: start.elapsed(), max_rss_kb: 0, code }
    });
    assert_eq!(serial.code, 0, "a helm template run failed");
    let warm = best_of(runs, || run(&mut hydrate()));
    assert_eq!(warm.code, 0, "kgen hydrate prod failed");
    row("helm template of each release, serially", &serial, "baseline (peak RSS not summed)");
    row("kgen hydrate prod (charts cached)", &warm, &ratio(&warm, &serial, "serial", 1.0));
    row("kgen hydrate prod (empty chart cache)", &cold, "one run: pulls every chart first");
}

/// Every file under a folder.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() { stack.push(p) } else { out.push(p) }
        }
    }
    out
}

/// The fleet's folder (a `TempDir` unless kept).
struct Fleet(std::path::PathBuf);

impl Fleet {
    fn path(&self) -> &Path {
        &self.0
    }
}
