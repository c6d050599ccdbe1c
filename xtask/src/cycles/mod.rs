//! `cargo xtask check-cycles`: import cycles between the modules of one crate.
//!
//! Why: when two modules use each other (`admin` calls into `engine`, `engine` into `admin`),
//! neither can be read, tested or moved on its own, and the layering the crate layout suggests is
//! not real. Rust accepts such cycles, so nothing else in CI would catch them.
//!
//! How: every crate root (`src/lib.rs`, `src/main.rs`, `src/bin/*`) of the workspace packages
//! (`crates/*`, `examples/*`, `xtask`) is parsed with `syn`, following `mod` declarations
//! (`foo.rs`, `foo/mod.rs`, inline `mod foo { … }`, `#[path]`). Every path of a module that starts
//! with `crate`, `super` or `self` gives an edge: in `use` trees (grouped ones included), types,
//! expressions, patterns, and in the tokens of macro calls, which `syn` does not parse. The edge
//! goes to the deepest module the path names: `crate::a::b::Item` is an edge to `a::b` if that is
//! a module, else to `a`. Edges between a module and its ancestor or descendant are dropped, since
//! a parent re-exporting its children and children using `super::` items is the normal layout.
//! Every strongly connected component (Tarjan) of more than one module in what remains is a
//! cycle, printed with one example reference (file:line) per edge.
//!
//! Test code may reach anywhere: modules named `tests` and items under `#[cfg(test)]` are skipped.
//! Comments are not tokens and string literals are not paths, so neither makes an edge.
//!
//! Not seen: a reference through a re-export (`crate::Foo`, defined in `a`, re-exported by the
//! root) is an edge to the re-exporting module, usually an ancestor, so a cycle routed through
//! re-exports goes unnoticed.
//!
//! Layout: this module finds the crates, builds each graph and reports its strongly connected
//! components; [`load`] reads a crate's module tree, [`references`] finds a module's paths.

mod load;
mod references;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use syn::Item;
use syn::visit::Visit;

use crate::serve::workspace_root;
use load::load_file;
use references::References;

/// `cargo xtask check-cycles`: checks every crate of the workspace, prints the cycles, fails if
/// there is any.
pub fn main() -> Result<()> {
    let root = workspace_root();
    let roots = crate_roots(&root)?;
    let source = Disk(root);
    let mut modules = 0;
    let mut cycles = 0;
    for crate_root in &roots {
        let graph = Graph::load(&source, crate_root)?;
        modules += graph.modules.len();
        for cycle in graph.cycles() {
            cycles += 1;
            print!("{}", cycle.render(crate_root));
        }
    }
    println!(
        "check-cycles: {} crates, {modules} modules, {cycles} cycle(s)",
        roots.len()
    );
    if cycles > 0 {
        // A cycle is a finding, not a failure of the tool: exit 1 without anyhow's "Error:" and
        // backtrace (RUST_BACKTRACE is often set), which would bury the report.
        io::stdout().flush()?;
        eprintln!("check-cycles: FAILED: {cycles} module import cycle(s), listed above");
        std::process::exit(1);
    }
    Ok(())
}

/// The crate roots of the workspace packages, relative to the workspace root. Integration tests,
/// benches and build scripts are left out: tests may reach anywhere.
fn crate_roots(root: &Path) -> Result<Vec<PathBuf>> {
    let mut packages = vec![PathBuf::from("xtask")];
    for group in ["crates", "examples"] {
        let dir = root.join(group);
        if !dir.is_dir() {
            continue;
        }
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))?
        {
            let entry = entry?;
            if entry.path().join("Cargo.toml").is_file() {
                packages.push(Path::new(group).join(entry.file_name()));
            }
        }
    }
    packages.sort();
    let mut roots = Vec::new();
    for package in packages {
        let src = package.join("src");
        for name in ["lib.rs", "main.rs"] {
            if root.join(&src).join(name).is_file() {
                roots.push(src.join(name));
            }
        }
        let Ok(entries) = std::fs::read_dir(root.join(&src).join("bin")) else {
            continue;
        };
        let mut bins = Vec::new();
        for entry in entries {
            let path = entry?.path();
            let Some(name) = path.file_name() else {
                continue;
            };
            let bin = src.join("bin").join(name);
            if path.extension().is_some_and(|e| e == "rs") {
                bins.push(bin);
            } else if path.join("main.rs").is_file() {
                bins.push(bin.join("main.rs"));
            }
        }
        bins.sort();
        roots.extend(bins);
    }
    Ok(roots)
}

/// Where source files come from: the disk, or an in-memory tree in the tests.
trait Source {
    /// The text of `path`, relative to the workspace root (`ErrorKind::NotFound` if absent).
    fn read(&self, path: &Path) -> io::Result<String>;
}

/// The workspace on disk.
struct Disk(PathBuf);

impl Source for Disk {
    fn read(&self, path: &Path) -> io::Result<String> {
        std::fs::read_to_string(self.0.join(path))
    }
}

/// One module: its path below the crate root and the items that are its own (its submodules are
/// modules of their own).
struct Module {
    /// Empty for the crate root.
    path: Vec<String>,
    /// The file the items are in.
    file: PathBuf,
    items: Vec<Item>,
}

/// The first reference that made an edge, to show where it is.
#[derive(Clone, Debug)]
struct Example {
    file: PathBuf,
    line: usize,
    /// The path as written, e.g. `crate::engine::check_org_id`.
    path: String,
}

/// The module graph of one crate.
struct Graph {
    /// Module paths, sorted; edges refer to them by index.
    modules: Vec<Vec<String>>,
    /// Edges between modules neither of which is an ancestor of the other.
    edges: BTreeMap<(usize, usize), Example>,
}

/// One strongly connected component.
#[derive(Debug)]
struct Cycle {
    /// Module names (`a::b`, `crate` for the root), sorted.
    modules: Vec<String>,
    /// `(from, to, example)` for every edge inside the component.
    edges: Vec<(String, String, Example)>,
}

impl Graph {
    /// Parses the crate whose root file is `root` and collects its edges.
    fn load(source: &dyn Source, root: &Path) -> Result<Graph> {
        let text = source
            .read(root)
            .with_context(|| format!("reading {}", root.display()))?;
        let mut modules = Vec::new();
        load_file(source, Vec::new(), root, &text, true, &mut modules)?;
        modules.sort_by(|a, b| a.path.cmp(&b.path));
        let index: HashMap<Vec<String>, usize> = modules
            .iter()
            .enumerate()
            .map(|(i, m)| (m.path.clone(), i))
            .collect();
        let mut edges = BTreeMap::new();
        for (from, module) in modules.iter().enumerate() {
            let mut refs = References {
                module: &module.path,
                modules: &index,
                found: Vec::new(),
            };
            for item in &module.items {
                refs.visit_item(item);
            }
            for (target, line, path) in refs.found {
                if related(&module.path, &target) {
                    continue;
                }
                let Some(&to) = index.get(&target) else {
                    continue;
                };
                edges.entry((from, to)).or_insert_with(|| Example {
                    file: module.file.clone(),
                    line,
                    path,
                });
            }
        }
        Ok(Graph {
            modules: modules.into_iter().map(|m| m.path).collect(),
            edges,
        })
    }

    /// The cycles, in module order.
    fn cycles(&self) -> Vec<Cycle> {
        let mut successors = vec![Vec::new(); self.modules.len()];
        for &(from, to) in self.edges.keys() {
            successors[from].push(to);
        }
        components(&successors)
            .into_iter()
            .map(|component| Cycle {
                modules: component.iter().map(|&m| self.name(m)).collect(),
                edges: self
                    .edges
                    .iter()
                    .filter(|((from, to), _)| component.contains(from) && component.contains(to))
                    .map(|(&(from, to), example)| (self.name(from), self.name(to), example.clone()))
                    .collect(),
            })
            .collect()
    }

    fn name(&self, module: usize) -> String {
        let path = &self.modules[module];
        if path.is_empty() {
            "crate".to_owned()
        } else {
            path.join("::")
        }
    }
}

impl Cycle {
    fn render(&self, crate_root: &Path) -> String {
        let mut out = format!(
            "cycle in {}: {}\n",
            crate_root.display(),
            self.modules.join(" <-> ")
        );
        let width = self
            .edges
            .iter()
            .map(|(from, to, _)| from.len() + to.len() + 4)
            .max()
            .unwrap_or(0);
        for (from, to, example) in &self.edges {
            let edge = format!("{from} -> {to}");
            out.push_str(&format!(
                "    {edge:<width$}  {}:{}  {}\n",
                example.file.display(),
                example.line,
                example.path
            ));
        }
        out
    }
}

/// Whether one module is the other or an ancestor of it.
fn related(a: &[String], b: &[String]) -> bool {
    a.starts_with(b) || b.starts_with(a)
}
/// The strongly connected components of more than one node (Tarjan), each sorted.
fn components(successors: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let mut tarjan = Tarjan {
        successors,
        index: vec![None; successors.len()],
        low: vec![0; successors.len()],
        on_stack: vec![false; successors.len()],
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for node in 0..successors.len() {
        if tarjan.index[node].is_none() {
            tarjan.connect(node);
        }
    }
    tarjan.out.sort();
    tarjan.out
}

struct Tarjan<'a> {
    successors: &'a [Vec<usize>],
    index: Vec<Option<usize>>,
    low: Vec<usize>,
    on_stack: Vec<bool>,
    stack: Vec<usize>,
    next: usize,
    out: Vec<Vec<usize>>,
}

impl Tarjan<'_> {
    /// Recursive: the depth is bounded by the number of modules of one crate.
    fn connect(&mut self, node: usize) {
        self.index[node] = Some(self.next);
        self.low[node] = self.next;
        self.next += 1;
        self.stack.push(node);
        self.on_stack[node] = true;
        let successors = self.successors;
        for &next in &successors[node] {
            match self.index[next] {
                None => {
                    self.connect(next);
                    self.low[node] = self.low[node].min(self.low[next]);
                }
                Some(index) if self.on_stack[next] => {
                    self.low[node] = self.low[node].min(index);
                }
                Some(_) => {}
            }
        }
        if self.index[node] == Some(self.low[node]) {
            let mut component = Vec::new();
            while let Some(member) = self.stack.pop() {
                self.on_stack[member] = false;
                component.push(member);
                if member == node {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort_unstable();
                self.out.push(component);
            }
        }
    }
}
