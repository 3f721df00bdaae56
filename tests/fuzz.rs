//! The fuzz targets' harnesses (`kgen::fuzz`, run by cargo-fuzz from `fuzz/`) replayed over
//! seeds, so the invariants they assert are exercised on every `cargo test`, and so a harness that
//! stopped reaching the renderer would be noticed: the examples resolve, broken input does not.

use crate::common;

use kgen::fuzz::{Outcome, environment_file, layered_files};

/// Every example environment file, as bytes.
fn examples() -> Vec<(String, Vec<u8>)> {
    common::examples()
        .into_iter()
        .map(|name| {
            let bytes = std::fs::read(common::root().join(format!("environments/{name}.yaml"))).unwrap();
            (name, bytes)
        })
        .collect()
}

#[test]
fn every_example_resolves_through_the_environment_harness() {
    let base = std::fs::read(common::root().join("environments/_base.yaml")).unwrap();
    for (name, bytes) in examples() {
        let o = environment_file(&[base.as_slice(), b"\0", &bytes].concat());
        assert!(o.resolved, "{name}: {o:?}");
    }
    // Without a base of its own the input gets the minimal one: a complete file resolves.
    let complete = "apiVersion: kgen/v1\nkind: Environment\nextends: _base\ncluster: {platform: kubernetes, kubernetesVersion: '1.33'}\n\
                    kserve: {deploymentMode: Standard, ingressDomain: m.example.com}\nmesh: {provider: istio}\ngitops: {engine: flux}\n";
    let o = environment_file(complete.as_bytes());
    assert!(o.resolved, "{o:?}");
}

#[test]
fn every_example_resolves_through_the_layered_harness() {
    // `_a` = the examples' `_base`, `_b` empty, `e` = the example extending `_a`.
    let base = std::fs::read(common::root().join("environments/_base.yaml")).unwrap();
    for (name, bytes) in examples() {
        let text = String::from_utf8(bytes).unwrap().replace("extends: _base", "extends: _a");
        let input = [base.as_slice(), b"\0apiVersion: kgen/v1\nkind: Environment\n\0", text.as_bytes()].concat();
        let o = layered_files(&input);
        assert!(o.resolved, "{name}: {o:?}");
    }
}

#[test]
fn broken_input_is_reported_not_resolved() {
    for input in [
        &b""[..],
        b"\0\0\0",
        b"\0",
        b"\xff\xfe not utf-8",
        b"apiVersion: kgen/v1\nkind: Environment\nextends: _base\ncluster: [",
        b"a: &a [*a, *a]\nb: *a\n",
        b"apiVersion: kgen/v1\nkind: Environment\nextends: _base\nextends: _base\n",
    ] {
        let o = environment_file(input);
        assert!(matches!(o, Outcome { resolved: false, diagnostics: 1.. }), "{input:?}: {o:?}");
        let o = layered_files(input);
        assert!(!o.resolved && o.diagnostics > 0, "{input:?}: {o:?}");
    }
}

#[test]
fn a_layer_cycle_is_reported_not_looped() {
    let input = b"apiVersion: kgen/v1\nkind: Environment\nextends: _b\n\0apiVersion: kgen/v1\nkind: Environment\nextends: _a\n\0apiVersion: kgen/v1\nkind: Environment\nextends: _a\n";
    let o = layered_files(input);
    assert!(!o.resolved && o.diagnostics > 0, "{o:?}");
}

#[test]
fn a_file_with_lone_carriage_returns_is_located_as_yaml_counts_lines() {
    // Found by the fuzzer: YAML breaks lines at a lone CR (old Mac line ends), `str::lines` does
    // not. The error is at YAML's line 4; the file has no LF at all.
    let base = b"apiVersion: kgen/v1\rkind: Environment\r\rx: [\r";
    let o = environment_file(&[&base[..], b"\0apiVersion: kgen/v1\nkind: Environment\nextends: _base\n"].concat());
    assert!(!o.resolved && o.diagnostics > 0, "{o:?}");
}
