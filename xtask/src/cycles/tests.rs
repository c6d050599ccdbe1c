//! The checker on small in-memory crates.

#![allow(clippy::unwrap_used)]
use super::*;

/// An in-memory crate.
struct Memory(HashMap<PathBuf, String>);

impl Source for Memory {
    fn read(&self, path: &Path) -> io::Result<String> {
        self.0
            .get(path)
            .cloned()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }
}

fn cycles(files: &[(&str, &str)]) -> Vec<Cycle> {
    let memory = Memory(
        files
            .iter()
            .map(|(path, text)| (PathBuf::from(path), (*text).to_owned()))
            .collect(),
    );
    Graph::load(&memory, Path::new("src/lib.rs"))
        .unwrap()
        .cycles()
}

fn members(cycles: &[Cycle]) -> Vec<Vec<&str>> {
    cycles
        .iter()
        .map(|c| c.modules.iter().map(String::as_str).collect())
        .collect()
}

#[test]
fn finds_a_cycle_with_file_and_line() {
    let found = cycles(&[
        ("src/lib.rs", "mod a;\nmod b;\nmod c;\n"),
        ("src/a.rs", "use crate::b::B;\npub struct A;\n"),
        (
            "src/b.rs",
            "pub struct B;\n\npub fn f() -> crate::a::A {\n    todo!()\n}\n",
        ),
        ("src/c.rs", "use crate::a::A;\n"),
    ]);
    assert_eq!(members(&found), [["a", "b"]]);
    let edges: Vec<String> = found[0]
        .edges
        .iter()
        .map(|(from, to, e)| format!("{from}>{to} {}:{} {}", e.file.display(), e.line, e.path))
        .collect();
    assert_eq!(
        edges,
        ["a>b src/a.rs:1 crate::b::B", "b>a src/b.rs:3 crate::a::A"]
    );
    let text = found[0].render(Path::new("src/lib.rs"));
    assert!(text.starts_with("cycle in src/lib.rs: a <-> b\n"), "{text}");
}

#[test]
fn parent_and_child_are_not_a_cycle() {
    let found = cycles(&[
        (
            "src/lib.rs",
            "mod engine;\nmod policy;\npub use policy::Ctx;\n",
        ),
        (
            "src/policy/mod.rs",
            "mod pkce;\npub use pkce::check;\npub struct Ctx;\nfn f() { self::pkce::check() }\n",
        ),
        (
            "src/policy/pkce.rs",
            "use super::Ctx;\npub fn check() { let _ = crate::Ctx; }\n",
        ),
        ("src/engine.rs", "use crate::policy::check;\n"),
    ]);
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn tests_and_cfg_test_items_are_ignored() {
    let found = cycles(&[
        (
            "src/lib.rs",
            "mod a;\nmod b;\n#[cfg(test)]\nmod test_support;\n",
        ),
        (
            "src/a.rs",
            "pub fn x() {}\n#[cfg(test)]\nmod tests { use crate::b::y; }\n\
             mod tests_too {}\n#[cfg(all(test, unix))]\nuse crate::b::y;\n\
             impl S { #[cfg(test)] fn t() { crate::b::y() } }\n#[cfg(test)]\nmod tests;\n",
        ),
        ("src/b.rs", "use crate::a::x;\npub fn y() {}\n"),
    ]);
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn grouped_use_paths_and_deepest_module() {
    let found = cycles(&[
        ("src/lib.rs", "mod a;\nmod b;\nmod c;\n"),
        (
            "src/a.rs",
            "use crate::{\n    b::{self, inner::Thing},\n    c,\n};\n",
        ),
        ("src/b.rs", "pub mod inner;\n"),
        (
            "src/b/inner.rs",
            "use super::super::a::A;\npub struct Thing;\n",
        ),
        ("src/c.rs", "pub fn c() {}\n"),
    ]);
    // `a` uses `b` (the `self` of the group) and `b::inner`; only `b::inner` uses `a`.
    assert_eq!(members(&found), [["a", "b::inner"]]);
    let (_, _, example) = &found[0].edges[0];
    assert_eq!(
        (example.line, example.path.as_str()),
        (2, "crate::b::inner::Thing")
    );
}

#[test]
fn comments_and_strings_do_not_count_but_macro_tokens_do() {
    let quiet = cycles(&[
        ("src/lib.rs", "mod a;\nmod b;\n"),
        (
            "src/a.rs",
            "// use crate::b::X;\n/* crate::b::X */\n/// [`crate::b::X`]\nconst S: &str = \"crate::b::X\";\n",
        ),
        ("src/b.rs", "use crate::a::S;\n"),
    ]);
    assert!(quiet.is_empty(), "{quiet:?}");
    let loud = cycles(&[
        ("src/lib.rs", "mod a;\nmod b;\n"),
        ("src/a.rs", "fn f() { println!(\"{}\", crate::b::X); }\n"),
        ("src/b.rs", "use crate::a::S;\n"),
    ]);
    assert_eq!(members(&loud), [["a", "b"]]);
}

#[test]
fn inline_modules_and_three_module_components() {
    let found = cycles(&[
        (
            "src/lib.rs",
            "mod outer {\n    pub mod inner;\n}\nmod x;\nmod y;\n",
        ),
        ("src/outer/inner.rs", "use crate::x::X;\n"),
        ("src/x.rs", "pub struct X(crate::y::Y);\n"),
        ("src/y.rs", "pub struct Y(Vec<crate::outer::inner::I>);\n"),
    ]);
    assert_eq!(members(&found), [["outer::inner", "x", "y"]]);
    assert_eq!(found[0].edges.len(), 3);
}

#[test]
fn a_missing_module_file_is_an_error() {
    let memory = Memory(HashMap::from([(
        PathBuf::from("src/lib.rs"),
        "mod gone;\n".to_owned(),
    )]));
    let err = Graph::load(&memory, Path::new("src/lib.rs"))
        .err()
        .map(|e| format!("{e:#}"));
    assert!(err.unwrap().contains("src/gone.rs"));
}
