//! Embeds every file under `templates/` into the binary as `(name, text)` pairs, so rendering
//! needs no files at run time and the template texts can be hashed into `kgen.lock.json`.

use std::path::{Path, PathBuf};

fn collect(dir: &Path, base: &Path, out: &mut Vec<(String, PathBuf)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).expect("templates/ is readable").flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        if p.is_dir() {
            collect(&p, base, out);
        } else if p.extension().is_some_and(|x| x == "j2") {
            let name = p.strip_prefix(base).expect("under base").to_string_lossy().replace('\\', "/");
            out.push((name, p));
        }
    }
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let dir = root.join("templates");
    println!("cargo:rerun-if-changed=templates");
    let mut files = Vec::new();
    collect(&dir, &dir, &mut files);
    let mut code = String::from(
        "/// Embedded templates: (name relative to `templates/`, text).\npub static TEMPLATES: &[(&str, &str)] = &[\n",
    );
    for (name, path) in files {
        println!("cargo:rerun-if-changed={}", path.display());
        code.push_str(&format!("    ({name:?}, include_str!({:?})),\n", path.display().to_string()));
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("templates.rs");
    std::fs::write(out, code).expect("OUT_DIR is writable");
}
