//! Unit tests of the pure comparison.

use super::*;

fn rendered(env: &str, files: &[(&str, &str)]) -> Rendered {
    Rendered { env: env.into(), files: files.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect() }
}

fn previous(files: &[(&str, &str)]) -> Previous {
    Previous {
        generated: files.iter().map(|(p, _)| p.to_string()).collect(),
        contents: files.iter().map(|(p, c)| (p.to_string(), c.as_bytes().to_vec())).collect(),
    }
}

const DEPLOY: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: team
spec:
  selector:
    matchLabels: {app: web}
  template:
    spec:
      containers:
      - name: web
        image: registry.example.com/web:1.24.0
        env:
        - {name: A, value: '1'}
        - {name: B, value: '2'}
      - name: sidecar
        image: proxy:1
";

#[test]
fn documents_moved_within_a_file_are_not_changes() {
    let a = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: n}\ndata: {k: v}\n";
    let b = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: n}\ndata: {k: w}\n";
    let old = previous(&[("manifests/n/all.yaml", &format!("{a}---\n{b}"))]);
    let new = rendered("e", &[("manifests/n/all.yaml", &format!("# moved\n{b}---\n{a}"))]);
    let d = diff_env(&new, &old);
    assert!(!d.has_changes(), "{d:#?}");
    assert_eq!(d.status, EnvStatus::Rewritten);
    assert_eq!(d.rewritten, vec!["manifests/n/all.yaml"]);
}

#[test]
fn keyed_lists_and_field_paths() {
    let new_text = DEPLOY.replace("web:1.24.0", "web:1.25.1").replace(
        "- {name: A, value: '1'}\n        - {name: B, value: '2'}",
        "- {name: B, value: '2'}\n        - {name: A, value: '3'}",
    );
    let old = previous(&[("manifests/team/deployment-web.yaml", DEPLOY)]);
    let new = rendered("e", &[("manifests/team/deployment-web.yaml", &new_text)]);
    let d = diff_env(&new, &old);
    assert_eq!(d.objects_changed, 1);
    let paths: Vec<&str> = d.files[0].documents[0].changes.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "spec.template.spec.containers[name=web].image",
            "spec.template.spec.containers[name=web].env[name=A].value"
        ]
    );
    assert!(d.risks.is_empty());
    assert!(!d.files[0].hunks.is_empty());
}

#[test]
fn immutable_selector_is_a_risk() {
    let new_text = DEPLOY.replace("matchLabels: {app: web}", "matchLabels: {app: web2}");
    let old = previous(&[("manifests/team/deployment-web.yaml", DEPLOY)]);
    let new = rendered("e", &[("manifests/team/deployment-web.yaml", &new_text)]);
    let d = diff_env(&new, &old);
    assert_eq!(d.risks.len(), 1, "{:#?}", d.risks);
    assert_eq!(d.risks[0].kind, RiskKind::ImmutableField);
    assert_eq!(fields(&d.risks[0]), [Some("manifests/team/deployment-web.yaml"), Some("spec.selector"), None, None]);
}

#[test]
fn objects_that_change_file_are_moves() {
    let ns = "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n";
    let old = previous(&[("manifests/_cluster/a.yaml", ns)]);
    let new = rendered("e", &[("manifests/_cluster/namespace-x.yaml", ns)]);
    let d = diff_env(&new, &old);
    assert!(d.risks.is_empty(), "a move is not a removal: {:#?}", d.risks);
    assert_eq!((d.objects_added, d.objects_removed, d.objects_changed), (0, 0, 0));
    let moved = &d.files.iter().find(|f| f.path.ends_with("namespace-x.yaml")).unwrap().documents[0];
    assert_eq!(moved.status, DocStatus::Moved);
    assert_eq!(moved.moved_from.as_deref(), Some("manifests/_cluster/a.yaml"));
}

#[test]
fn removed_namespaces_and_crds_are_risks() {
    let ns = "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n";
    let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: things.example.com}\nspec: {scope: Namespaced}\n";
    let old = previous(&[
        ("manifests/_cluster/namespace-x.yaml", ns),
        ("manifests/_cluster/crd.yaml", crd),
        ("keep.yaml", "a: 1\n"),
    ]);
    let new = rendered("e", &[("keep.yaml", "a: 1\n")]);
    let d = diff_env(&new, &old);
    let kinds: Vec<RiskKind> = d.risks.iter().map(|r| r.kind).collect();
    assert_eq!(kinds, vec![RiskKind::CrdRemoved, RiskKind::NamespaceRemoved]);
    assert_eq!(d.objects_removed, 2);
}

fn lock(mode: &str, kserve: &str, releases: &[(&str, &str, &str)]) -> String {
    let releases: Vec<(&str, &str, &str, &str)> = releases.iter().map(|&(n, c, v)| (n, c, v, "ns")).collect();
    lock_in(mode, kserve, &releases)
}

/// An index (in lock format 1, which records no mesh provider: it is derived from the istio
/// releases) whose releases are (name, chart, version, namespace).
fn lock_in(mode: &str, kserve: &str, releases: &[(&str, &str, &str, &str)]) -> String {
    let rel: Vec<Value> = releases
        .iter()
        .map(|(n, c, v, ns)| serde_json::json!({"name": n, "chart": c, "repo": "oci://r", "version": v, "namespace": ns}))
        .collect();
    serde_json::to_string_pretty(&serde_json::json!({
        "kgenVersion": "0.1.0",
        "environment": "e",
        "inputs": {"digest": format!("sha256:{mode}{kserve}"), "files": ["environments/e.yaml"]},
        "kserve": {"version": kserve, "deploymentMode": mode},
        "versions": {"istio": "1.27.1"},
        "releases": rel,
        "crdSources": [],
        "order": [],
        "files": {"a": format!("sha256:{kserve}")},
    }))
    .unwrap()
}

/// A risk's `file`, `path`, `old` and `new`.
fn fields(r: &Risk) -> [Option<&str>; 4] {
    [r.file.as_deref(), r.path.as_deref(), r.old.as_deref(), r.new.as_deref()]
}

#[test]
fn lock_risks_mode_mesh_downgrade_rename() {
    let old = previous(&[(
        LOCK_FILE,
        &lock(
            "Knative",
            "v0.20.0",
            &[
                ("istiod", "istiod", "1.27.1"),
                ("kserve", "kserve-resources", "v0.20.0"),
                ("old-name", "thing", "1.0.0"),
            ],
        ),
    )]);
    let new = rendered(
        "e",
        &[(
            LOCK_FILE,
            &lock("RawDeployment", "v0.16.0", &[("kserve", "kserve", "v0.16.0"), ("new-name", "thing", "1.0.0")]),
        )],
    );
    let d = diff_env(&new, &old);
    let got: Vec<String> = d.risks.iter().map(|r| format!("{}: {}", r.kind.as_str(), r.message)).collect();
    assert_eq!(
        got,
        vec![
            "release-removed: Helm release istiod (chart istiod) is removed: uninstalling it deletes what it installed",
            "release-renamed: Helm release kserve changes chart kserve-resources → kserve: check the upgrade notes of the new chart",
            "release-renamed: Helm release old-name → new-name (chart thing): the old release is uninstalled and a new one installed",
            "deployment-mode-switch: KServe deployment mode Knative → RawDeployment",
            "mesh-switch: mesh provider istio → none",
            "version-downgrade: KServe v0.20.0 → v0.16.0 (Helm releases kserve): downgrade",
        ]
    );
    // What bots read instead of the messages: where in the index, and the values before and after.
    assert_eq!(
        d.risks.iter().map(fields).collect::<Vec<_>>(),
        vec![
            [Some(LOCK_FILE), Some("releases[name=istiod]"), Some("istiod"), None],
            [Some(LOCK_FILE), Some("releases[name=kserve].chart"), Some("kserve-resources"), Some("kserve")],
            [Some(LOCK_FILE), Some("releases[name=old-name]"), Some("old-name"), Some("new-name")],
            [Some(LOCK_FILE), Some("kserve.deploymentMode"), Some("Knative"), Some("RawDeployment")],
            [None, None, Some("istio"), Some("none")],
            [Some(LOCK_FILE), Some("kserve.version"), Some("v0.20.0"), Some("v0.16.0")],
        ]
    );
    assert!(d.risks.iter().all(|r| r.object.is_none()));
    // Derived index fields are not changes.
    let paths: Vec<&str> = d.files[0].documents[0].changes.iter().map(|c| c.path.as_str()).collect();
    assert!(!paths.iter().any(|p| p.starts_with("files") || p.starts_with("inputs.digest")), "{paths:?}");
}

#[test]
fn downgrades_of_pins_and_charts_name_what_goes_down() {
    let mut old: Value =
        serde_json::from_str(&lock("Knative", "v0.16.0", &[("cert-manager", "cert-manager", "v1.16.1")])).unwrap();
    old["versions"]["knativeOperator"] = "v1.16.0".into();
    let mut new: Value =
        serde_json::from_str(&lock("Knative", "v0.16.0", &[("cert-manager", "cert-manager", "v1.15.0")])).unwrap();
    new["versions"]["knativeOperator"] = "v1.15.7".into();
    let old = previous(&[(LOCK_FILE, &serde_json::to_string(&old).unwrap())]);
    let new = rendered("e", &[(LOCK_FILE, &serde_json::to_string(&new).unwrap())]);
    let d = diff_env(&new, &old);
    let messages: Vec<&str> = d.risks.iter().map(|r| r.message.as_str()).collect();
    assert_eq!(
        messages,
        vec!["Helm release cert-manager v1.16.1 → v1.15.0: downgrade", "knativeOperator v1.16.0 → v1.15.7: downgrade"]
    );
    assert_eq!(
        d.risks.iter().map(fields).collect::<Vec<_>>(),
        vec![
            [Some(LOCK_FILE), Some("releases[name=cert-manager].version"), Some("v1.16.1"), Some("v1.15.0")],
            [Some(LOCK_FILE), Some("versions.knativeOperator"), Some("v1.16.0"), Some("v1.15.7")],
        ]
    );
}

#[test]
fn a_release_that_changes_namespace_is_moved() {
    let old = previous(&[(
        LOCK_FILE,
        &lock_in(
            "Knative",
            "v0.15.2",
            &[
                ("knative-operator", "knative-operator", "v1.15.7", "knative-serving"),
                ("kserve", "kserve", "v0.15.2", "kserve"),
            ],
        ),
    )]);
    let new = rendered(
        "e",
        &[(
            LOCK_FILE,
            &lock_in(
                "Knative",
                "v0.16.0",
                &[
                    ("knative-operator", "knative-operator", "v1.16.0", "knative-operator"),
                    ("kserve", "kserve", "v0.16.0", "kserve"),
                ],
            ),
        )],
    );
    let d = diff_env(&new, &old);
    assert_eq!(d.risks.len(), 1, "{:#?}", d.risks);
    let r = &d.risks[0];
    assert_eq!(r.kind, RiskKind::ReleaseMoved);
    assert!(r.message.starts_with("Helm release knative-operator moves from namespace knative-serving to knative-operator: Helm cannot move a release"), "{}", r.message);
    assert_eq!(
        fields(r),
        [
            Some(LOCK_FILE),
            Some("releases[name=knative-operator].namespace"),
            Some("knative-serving"),
            Some("knative-operator")
        ]
    );
    // An index without namespaces (or with the same one) moves nothing.
    let old = previous(&[(LOCK_FILE, &lock("Knative", "v0.15.2", &[("kserve", "kserve", "v0.15.2")]))]);
    let new = rendered("e", &[(LOCK_FILE, &lock("Knative", "v0.16.0", &[("kserve", "kserve", "v0.16.0")]))]);
    assert!(diff_env(&new, &old).risks.is_empty());
    let mut bare: Value =
        serde_json::from_str(&lock("Knative", "v0.16.0", &[("kserve", "kserve", "v0.16.0")])).unwrap();
    bare["releases"][0].as_object_mut().unwrap().remove("namespace");
    let new = rendered("e", &[(LOCK_FILE, &serde_json::to_string(&bare).unwrap())]);
    assert!(diff_env(&new, &old).risks.is_empty());
}

#[test]
fn without_an_index_the_mode_switch_is_read_from_the_values() {
    let values = |m: &str| format!("kserve:\n  controller:\n    deploymentMode: {m}\n");
    let old = previous(&[("values/kserve.yaml", &values("Serverless"))]);
    let new = rendered("e", &[("values/kserve.yaml", &values("Standard"))]);
    let d = diff_env(&new, &old);
    assert_eq!(d.risks.len(), 1, "{:#?}", d.risks);
    let r = &d.risks[0];
    assert_eq!(r.kind, RiskKind::DeploymentModeSwitch);
    assert_eq!(r.message, "KServe deployment mode Serverless → Standard");
    assert_eq!(
        fields(r),
        [Some("values/kserve.yaml"), Some("kserve.controller.deploymentMode"), Some("Serverless"), Some("Standard")]
    );
    // The same mode under its other name is not a switch.
    let new = rendered("e", &[("values/kserve.yaml", &values("Knative"))]);
    assert!(diff_env(&new, &old).risks.is_empty());
}

#[test]
fn legacy_mode_names_are_not_a_switch() {
    let old = previous(&[(LOCK_FILE, &lock("Serverless", "v0.15.2", &[]))]);
    let new = rendered("e", &[(LOCK_FILE, &lock("Knative", "v0.16.0", &[]))]);
    let d = diff_env(&new, &old);
    assert!(d.risks.is_empty(), "{:#?}", d.risks);
}

#[test]
fn derived_only_index_changes_are_rewrites() {
    let mut a: Value = serde_json::from_str(&lock("Knative", "v0.20.0", &[])).unwrap();
    let old = previous(&[(LOCK_FILE, &serde_json::to_string(&a).unwrap())]);
    a["files"]["a"] = "sha256:other".into();
    a["inputs"]["digest"] = "sha256:other".into();
    let new = rendered("e", &[(LOCK_FILE, &serde_json::to_string(&a).unwrap())]);
    let d = diff_env(&new, &old);
    assert_eq!(d.status, EnvStatus::Rewritten);
}

#[test]
fn secret_values_never_appear() {
    let old_secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: creds, namespace: n}\ntype: Opaque\ndata:\n  password: c2VjcmV0LW9sZA==\n  user: YWRtaW4=\n  gone: Z29uZS12YWx1ZQ==\nstringData:\n  token: tok-old-123\n";
    let new_secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: creds, namespace: n, labels: {a: b}}\ntype: Opaque\ndata:\n  password: c2VjcmV0LW5ldw==\n  user: YWRtaW4=\n  extra: ZXh0cmEtdmFsdWU=\nstringData:\n  token: tok-new-456\n";
    let added_secret =
        "apiVersion: v1\nkind: Secret\nmetadata: {name: fresh, namespace: n}\nstringData: {apiKey: fresh-key-789}\n";
    let old = previous(&[("manifests/n/secret-creds.yaml", old_secret)]);
    let new = rendered(
        "e",
        &[("manifests/n/secret-creds.yaml", new_secret), ("manifests/n/secret-fresh.yaml", added_secret)],
    );
    let d = diff_env(&new, &old);
    let report = report(Base { source: BaseSource::Disk, git_ref: None, path: "rendered".into() }, vec![d]);
    let outputs = [
        text::render(&report, false),
        text::render(&report, true),
        markdown::render(&report, 65_000).join("\n"),
        json::render(&report),
    ];
    for out in &outputs {
        for secret in
            ["c2VjcmV0", "YWRtaW4", "Z29uZS", "ZXh0cmE", "tok-old", "tok-new", "fresh-key", "secret-old", "secret-new"]
        {
            assert!(!out.contains(secret), "{secret} leaked into:\n{out}");
        }
        for key in ["data.password", "data.extra", "data.gone", "stringData.token", "metadata.labels"] {
            assert!(out.contains(key), "{key} missing from:\n{out}");
        }
        assert!(!out.contains("data.user"), "unchanged key listed:\n{out}");
    }
    let f = &report.environments[0].files;
    assert!(f.iter().all(|f| f.hunks.is_empty() && f.hunks_omitted == Some(HunksOmitted::Secret)));
}

#[test]
fn unparseable_previous_files_compare_as_text() {
    let old = previous(&[("values/x.yaml", "a: [1\n")]);
    let new = rendered("e", &[("values/x.yaml", "a: 1\n")]);
    let d = diff_env(&new, &old);
    assert!(d.has_changes());
    assert!(d.files[0].note.as_deref().unwrap().starts_with("compared as text: not valid YAML"));
    assert!(!d.files[0].hunks.is_empty());
}

#[test]
fn show_value_quotes_what_would_be_misread() {
    assert_eq!(show_value(&Value::String("1.20".into()), 50), "\"1.20\"");
    assert_eq!(show_value(&Value::String("true".into()), 50), "\"true\"");
    assert_eq!(show_value(&Value::String("Knative".into()), 50), "Knative");
    assert_eq!(show_value(&Value::String("a\nb\n".into()), 50), "\"a…\" … (2 lines)");
    assert_eq!(show_value(&serde_json::json!({"a": [1]}), 50), "{\"a\":[1]}");
    assert_eq!(show_value(&Value::String("x".repeat(10)), 5), "xxxx…");
}

#[test]
fn only_documents_that_differ_are_parsed_and_secrets_next_to_them_stay_hidden() {
    let secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: n}\nstringData: {token: hunter2}\n";
    let cm =
        |v: &str| format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c, namespace: n}}\ndata: {{k: {v}}}\n");
    let old = previous(&[("manifests/n/all.yaml", &format!("{secret}---\n{}", cm("a")))]);
    let new = rendered("e", &[("manifests/n/all.yaml", &format!("{secret}---\n{}", cm("b")))]);
    let d = diff_env(&new, &old);
    assert_eq!(d.objects_changed, 1);
    assert_eq!(d.files[0].documents.len(), 1);
    assert_eq!(d.files[0].hunks_omitted, Some(HunksOmitted::Secret), "no hunk next to an unchanged Secret");
    assert!(
        !json::render(&report(Base { source: BaseSource::Disk, git_ref: None, path: "r".into() }, vec![d]))
            .contains("hunter2")
    );
    // A document that only parses with its neighbours falls back to reading the whole file.
    assert_eq!(split_docs("a: 1\n--- |\n  x\n"), None);
    assert_eq!(split_docs("a: 1\n---\nb: 2\n"), Some(vec!["a: 1\n", "b: 2\n"]));
}

#[test]
fn hunks_escape_what_would_drive_a_terminal() {
    // A hand-edited previous render (a branch's content) with an escape sequence that clears
    // the screen: the diff shows it escaped, in every format.
    let old = previous(&[("values/kserve.yaml", "a: 1\n# \u{1b}[2J\u{1b}]0;owned\u{7}\n")]);
    let new = rendered("e", &[("values/kserve.yaml", "a: 2\n")]);
    let d = diff_env(&new, &old);
    let lines: Vec<&String> = d.files.iter().flat_map(|f| &f.hunks).flat_map(|h| &h.lines).collect();
    assert!(lines.iter().any(|l| l.contains("\\u{1b}[2J")), "{lines:?}");
    assert!(lines.iter().all(|l| !l.contains('\u{1b}') && !l.contains('\u{7}')), "{lines:?}");
}
