//! The layer rule, enforced: data flows one way, so a module may only use modules of a lower
//! layer. A lower module importing a higher one (or two modules of one layer importing each
//! other) fails this test with the file and line.
//!
//! Why a test and not a convention: the first session's tree grew a four-module loop
//! (`ibkr → config → scheduler → cycle → ibkr`) without anyone noticing. The check reads every
//! `crate::<module>` path under `src/` (test code included: a test's imports are build
//! dependencies too) and compares the layers in [`LAYERS`]. One allowance: a unit-test file
//! (`tests.rs`, `*_tests.rs`) may use another module of its own layer, so the simulator's tests
//! can drive it with the client's real protocol math; production code never may. A new top-level module must be
//! added to the table, which is the moment to decide where it sits.
use std::collections::BTreeMap;
use std::path::Path;

/// Top-level modules by layer, lowest first. Within one layer, modules are independent.
const LAYERS: &[&[&str]] = &[
    // Foundations: no domain knowledge.
    &["util", "clock", "telemetry", "arena"],
    // Leaves: each knows only its own domain.
    &["strategy", "ibkr", "journal", "sim", "notify", "service"],
    // Pure layers over a leaf, and the scheduler (pure decisions + a driver over traits).
    &["portfolio_csv", "report", "scheduler", "tax"],
    // Flex Query reports and the Flex Web Service, read into the tax engine's lots.
    &["flex"],
    // The settings tree: composes the leaves' own settings types and validates once.
    &["config"],
    // One rebalance: snapshot → plan → guards → journal → executor, behind the Broker trait.
    &["cycle"],
    // Where the layers meet: config → client options, Broker on the client, driver seams.
    &["adapters"],
    // The approval page (calls the same approval path as the CLI).
    &["ui"],
    // Wiring: `pbal run`.
    &["daemon"],
    // The CLI.
    &["commands"],
    &["cli"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// The top-level module a file under `src/` belongs to (`src/ibkr/client/mod.rs` → `ibkr`).
fn module_of(rel: &Path) -> Option<String> {
    let first = rel.components().next()?.as_os_str().to_str()?.to_owned();
    match first.strip_suffix(".rs") {
        Some("lib" | "main") => None,
        // Executables' own code: `pbal-full` under `bin/`, the `pbal` front's start-up under
        // `front/` (thin wrappers over the library; nothing in the library may use them).
        None if first == "bin" || first == "front" => None,
        Some(m) => Some(m.to_owned()),
        None => Some(first),
    }
}

/// Every `crate::name` in non-comment code, including `use crate::{a, b::c}` groups.
fn imports(line: &str) -> Vec<String> {
    let code = match line.find("//") {
        Some(i) => &line[..i],
        None => line,
    };
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let before = &rest[..i];
        let after = &rest[i + "crate::".len()..];
        // `$crate::` in macros and `pbal_crate::`-like identifiers are not ours.
        let ident_before = before
            .chars()
            .last()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$');
        if !ident_before {
            if let Some(group) = after.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                for part in group[..end].split(',') {
                    let name: String = part
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        out.push(name);
                    }
                }
            } else {
                let name: String = after
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.push(name);
                }
            }
        }
        rest = after;
    }
    out
}

fn walk(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            walk(&p, files);
        } else if p.extension().is_some_and(|e| e == "rs") {
            files.push(p);
        }
    }
}

#[test]
fn imports_only_point_down() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    files.sort();
    let mut violations = Vec::new();
    let mut unknown = BTreeMap::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let Some(module) = module_of(rel) else {
            continue;
        };
        let Some(own) = layer_of(&module) else {
            unknown.insert(module.clone(), rel.display().to_string());
            continue;
        };
        // Unit-test files may hold two independent leaves of one layer together (e.g. the
        // simulator's login server driven by the client's real SRP math); upward stays banned.
        let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let test_file = name == "tests.rs" || name.ends_with("_tests.rs");
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let trimmed = line.trim_start();
            if trimmed.starts_with("//") {
                continue;
            }
            for used in imports(line) {
                if used == module {
                    continue;
                }
                match layer_of(&used) {
                    Some(l) if l < own => {}
                    Some(l) if l == own && test_file => {}
                    Some(l) => violations.push(format!(
                        "src/{}:{}: `{module}` (layer {own}) uses `{used}` (layer {l}): {}",
                        rel.display(),
                        n + 1,
                        line.trim()
                    )),
                    None => {
                        unknown.insert(used.clone(), format!("used in src/{}", rel.display()));
                    }
                }
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "modules missing from the layer table in tests/layers.rs: {unknown:?}"
    );
    assert!(
        violations.is_empty(),
        "imports that point up or sideways:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_checker_sees_imports() {
    // The checker itself must be able to fail: it has to find these.
    assert_eq!(imports("use crate::config::Settings;"), vec!["config"]);
    assert_eq!(
        imports("    use crate::{cycle::Cycle, journal};"),
        vec!["cycle", "journal"]
    );
    assert_eq!(
        imports("let s = crate::scheduler::Schedule::new(); // crate::daemon"),
        vec!["scheduler"]
    );
    assert!(imports("$crate::x").is_empty());
}
