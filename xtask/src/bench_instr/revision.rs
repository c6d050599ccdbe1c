//! Revisions: the working tree, a baseline checked out with `git worktree`, the harness built in
//! each with one shared target directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::{HARNESS_BIN, HARNESS_DIR, HARNESS_PACKAGE};

/// The workspace this xtask was built in.
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

pub fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

pub fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .with_context(|| format!("running git {}", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The full commit id of `rev`.
pub fn resolve(root: &Path, rev: &str) -> Result<String> {
    git(
        root,
        &["rev-parse", "--verify", &format!("{rev}^{{commit}}")],
    )
    .with_context(|| format!("--baseline {rev} is not a commit"))
}

/// `<short HEAD>`, with `+ changes` when the working tree differs from it.
pub fn describe_working_tree(root: &Path) -> Result<String> {
    let head = git(root, &["rev-parse", "--short=12", "HEAD"])?;
    let dirty = !git(root, &["status", "--porcelain", "--untracked-files=no"])?.is_empty();
    Ok(if dirty {
        format!("{head} + uncommitted changes")
    } else {
        head
    })
}

/// Checks `sha` out (detached) in `tree`, creating the worktree if needed and discarding what an
/// earlier run changed there. If that revision has no harness, copies the working tree's into it
/// and adds it to the workspace members; returns whether it did.
///
/// The worktree builds into its own `target/`, seeded from the working tree's `target/release`
/// when the worktree is created. One target directory for both trees does not work: cargo hashes
/// a workspace crate's path relative to its workspace root, so both trees' `clavex-core` (and the
/// harness) get the same artifact names, and a tree whose sources are older than the other
/// tree's artifacts is taken as up to date. The seed is safe because the worktree's files are
/// checked out after the seeded artifacts were built (cargo rebuilds the workspace crates and
/// reuses the crates.io ones).
pub fn prepare_worktree(root: &Path, sha: &str, tree: &Path, seed: &Path) -> Result<bool> {
    if tree.join(".git").exists() && !tree.join("target").exists() {
        // Files older than a seed would be taken as built: start over.
        let path = tree.to_string_lossy();
        git(root, &["worktree", "remove", "--force", path.as_ref()])?;
    }
    if tree.join(".git").exists() {
        git(tree, &["checkout", "--quiet", "--force", "--detach", sha])?;
        git(tree, &["reset", "--quiet", "--hard", sha])?;
        git(tree, &["clean", "--quiet", "-fd", "--", HARNESS_DIR])?;
    } else {
        if tree.exists() {
            bail!(
                "{} exists but is not a git worktree; remove it",
                tree.display()
            );
        }
        // A worktree whose directory was deleted by hand is still registered.
        git(root, &["worktree", "prune"])?;
        let path = tree.to_string_lossy();
        git(
            root,
            &["worktree", "add", "--quiet", "--detach", path.as_ref(), sha],
        )?;
        std::fs::create_dir_all(tree.join("target"))?;
        if seed.is_dir() {
            // `cp -a` keeps the artifacts' times, older than the files just checked out.
            let status = Command::new("cp")
                .arg("-a")
                .arg("--reflink=auto")
                .arg(seed)
                .arg(tree.join("target"))
                .status()
                .context("running cp")?;
            if !status.success() {
                bail!("seeding {} from {} failed", tree.display(), seed.display());
            }
        }
    }
    if tree.join(HARNESS_DIR).join("Cargo.toml").exists() {
        return Ok(false);
    }
    copy_dir(&root.join(HARNESS_DIR), &tree.join(HARNESS_DIR))?;
    let manifest = tree.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("reading {}", manifest.display()))?;
    if !text.contains(&format!("\"{HARNESS_DIR}\"")) {
        let Some(at) = text.find("members = [") else {
            bail!(
                "{} has no `members = [` line to add {HARNESS_DIR} to",
                manifest.display()
            );
        };
        let at = at + "members = [".len();
        let patched = format!("{}\"{HARNESS_DIR}\", {}", &text[..at], &text[at..]);
        std::fs::write(&manifest, patched)
            .with_context(|| format!("writing {}", manifest.display()))?;
    }
    Ok(true)
}

/// Copies a directory tree (regular files and directories).
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target).with_context(|| {
                format!("copying {} to {}", entry.path().display(), target.display())
            })?;
        }
    }
    Ok(())
}

/// `cargo build --release -p clavex-bench-issuance` in `tree` with `target` as target directory,
/// then copies the binary to `dest`.
pub fn build_harness(tree: &Path, target: &Path, dest: &Path) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .current_dir(tree)
        .env("CARGO_TARGET_DIR", target)
        .args(["build", "--release", "--package", HARNESS_PACKAGE])
        .args(["--bin", HARNESS_BIN])
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!(
            "cargo build --release -p {HARNESS_PACKAGE} failed in {}",
            tree.display()
        );
    }
    let built = target.join("release").join(HARNESS_BIN);
    std::fs::copy(&built, dest)
        .with_context(|| format!("copying {} to {}", built.display(), dest.display()))?;
    Ok(())
}
