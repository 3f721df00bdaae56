//! Benchmark: a synthetic GitOps repository of 1,000 environments (mixed modes, meshes,
//! platforms, releases and engines), timed end to end through the real binary:
//! `render --all` (cold and warm), `render --all --check`, `validate`, and `cp -r` of the same output tree
//! as the baseline SPEC §9 measures against. Prints each figure next to its target.
//!
//! Run: `cargo bench --bench render` (set `KGEN_BENCH_ENVS` to change the count).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{best_of, files_and_bytes, run, write_fleet};

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
    println!("\nhostile environment files (`kgen validate`, release build):");
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
    println!("\nhostile previous render (1 GiB sparse files, release build):");
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

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: keep that run small.
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let count: usize = std::env::var("KGEN_BENCH_ENVS").ok().and_then(|v| v.parse().ok()).unwrap_or(if bench_mode {
        1000
    } else {
        20
    });
    let kgen = env!("CARGO_BIN_EXE_kgen");
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
    let (files, bytes) = files_and_bytes(&dir.path().join("rendered"));
    let warm = best_of(3, || run(&mut render()));
    let check = best_of(3, || {
        let mut c = Command::new(kgen);
        c.arg("-C").arg(dir.path()).args(["-q", "render", "--all", "--check"]);
        run(&mut c)
    });
    assert_eq!(check.code, 0, "--check found drift right after a render");
    // Every rule at full depth: the environment rules plus the render and history rules over
    // every rendered file (what `render` and `diff` skip in release builds).
    let validate = best_of(3, || {
        let mut c = Command::new(kgen);
        c.arg("-C").arg(dir.path()).args(["-q", "validate"]);
        run(&mut c)
    });
    assert_eq!(validate.code, 0, "validate failed on the fleet");
    let cp = best_of(3, || {
        let target = dir.path().join("copy");
        let _ = std::fs::remove_dir_all(&target);
        run(Command::new("cp").arg("-r").arg(dir.path().join("rendered")).arg(&target))
    });
    // A render that rewrites everything: fresh output folder each time.
    let full = best_of(3, || {
        let out = dir.path().join("fresh");
        let _ = std::fs::remove_dir_all(&out);
        let mut c = render();
        c.arg("--out").arg(&out);
        run(&mut c)
    });

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mb = |kb: i64| kb as f64 / 1024.0;
    println!(
        "kgen render benchmark: {count} environments, {files} files, {:.1} MB rendered, {} cores",
        bytes as f64 / 1e6,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("{:<34} {:>10} {:>10}   target (SPEC §9) / baseline", "measure", "time", "peak RSS");
    println!(
        "{:<34} {:>8.0}ms {:>8.1}MB   baseline for the render targets",
        "cp -r of the output tree",
        ms(cp.wall),
        mb(cp.max_rss_kb)
    );
    println!(
        "{:<34} {:>8.0}ms {:>8.1}MB   ≤ 2 × cp -r = {:.0} ms  ({:.2}× cp -r)",
        "render --all (new output folder)",
        ms(full.wall),
        mb(full.max_rss_kb),
        2.0 * ms(cp.wall),
        ms(full.wall) / ms(cp.wall)
    );
    println!(
        "{:<34} {:>8.0}ms {:>8.1}MB   (first render, includes creating 1,000 folders)",
        "render --all (cold, in place)",
        ms(cold.wall),
        mb(cold.max_rss_kb)
    );
    println!(
        "{:<34} {:>8.0}ms {:>8.1}MB   (nothing changed: nothing written)",
        "render --all (warm, no changes)",
        ms(warm.wall),
        mb(warm.max_rss_kb)
    );
    println!(
        "{:<34} {:>8.0}ms {:>8.1}MB   ≤ 1000 ms and ≤ 150 MB",
        "render --all --check",
        ms(check.wall),
        mb(check.max_rss_kb)
    );
    println!(
        "{:<34} {:>8.0}ms {:>8.1}MB   (every rule over every rendered file; no target)",
        "validate (full-depth render rules)",
        ms(validate.wall),
        mb(validate.max_rss_kb)
    );
    hostile_inputs(kgen);
    hostile_previous_render(kgen);
}

/// The fleet's folder (a `TempDir` unless kept).
struct Fleet(std::path::PathBuf);

impl Fleet {
    fn path(&self) -> &Path {
        &self.0
    }
}
