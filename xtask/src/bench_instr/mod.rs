//! `cargo xtask bench-instr`: instructions per request of token and PAR issuance, counted by
//! callgrind, for the working tree and a baseline revision, run interleaved (A B A B ...).
//!
//! 1. builds the harness `benches/issuance` (`issuance-bench`, `--release`) in the working tree;
//! 2. checks the baseline revision out with `git worktree add` into
//!    `target/bench-worktrees/<rev>`; if that tree has no harness, copies the working tree's into it
//!    and adds it to the workspace members there; builds it in that tree's own `target/`, seeded
//!    from the working tree's `target/release` when the worktree is created (so the crates.io
//!    dependencies are not compiled again; see [`revision::prepare_worktree`] for why the two
//!    trees cannot share one target directory);
//! 3. runs both binaries under `valgrind --tool=callgrind`, `--rounds` times each, alternating;
//!    callgrind zeroes its counters when the harness enters its measured function
//!    (`bench_region`) and dumps them when it returns, once per workload, with the costs of every
//!    thread (sqlx runs SQLite on worker threads of its own);
//! 4. prints instructions per request for each workload and revision (the least of its rounds:
//!    what varies between runs is extra polling and parking of the runtime while it waits for
//!    the SQLite threads, which depends on how valgrind schedules the threads, so the noise only
//!    adds), the spread between rounds and the ratio working tree / baseline, and fails if a ratio
//!    exceeds `--max-ratio`.
//!
//! See `docs/benchmarks.md`, "Instruction counts (in-process)".

mod callgrind;
mod revision;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::json;

/// The harness crate, relative to a workspace root.
const HARNESS_DIR: &str = "benches/issuance";
const HARNESS_PACKAGE: &str = "clavex-bench-issuance";
const HARNESS_BIN: &str = "issuance-bench";
/// The harness's measured function; callgrind patterns match demangled names.
const REGION_FN: &str = "*::bench_region";
/// Workloads in the order the harness measures them.
const WORKLOADS: [&str; 2] = ["token", "par"];

#[derive(Args, Debug, Clone)]
pub struct BenchInstrArgs {
    /// Revision to compare the working tree with (anything `git rev-parse` takes).
    #[arg(long, default_value = "main")]
    pub baseline: String,
    /// Fail (exit non-zero) if working tree / baseline instructions per request exceed this for
    /// any workload (e.g. 1.03).
    #[arg(long)]
    pub max_ratio: Option<f64>,
    /// Measured requests per workload and run.
    #[arg(long, default_value_t = 200)]
    pub requests: usize,
    /// Unmeasured requests per workload before the measured ones.
    #[arg(long, default_value_t = 50)]
    pub warmup: usize,
    /// Runs of each revision, interleaved (working tree, baseline, working tree, baseline, ...).
    /// The least count of a revision's runs is compared: the noise only adds instructions.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Use the binaries of the previous invocation (target/bench-instr/bin) without building.
    #[arg(long)]
    pub no_build: bool,
    /// Write the results as JSON to this file as well.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// One revision's harness binary.
struct Subject {
    /// `HEAD` (the working tree) or `base`.
    label: &'static str,
    /// What was built: commit, and whether the working tree had changes.
    describe: String,
    binary: PathBuf,
    /// The harness prints the directory it was built from; checked against this.
    tree: PathBuf,
}

pub fn main(args: BenchInstrArgs) -> Result<()> {
    if args.rounds == 0 || args.requests == 0 {
        bail!("--rounds and --requests must be at least 1");
    }
    let started = Instant::now();
    callgrind::check_valgrind()?;
    let root = revision::workspace_root();
    let target = revision::target_dir(&root);
    let out = target.join("bench-instr");
    let bin_dir = out.join("bin");
    std::fs::create_dir_all(&bin_dir).with_context(|| format!("creating {}", bin_dir.display()))?;

    let base_sha = revision::resolve(&root, &args.baseline)?;
    let head_describe = revision::describe_working_tree(&root)?;
    let base_describe = format!(
        "{} ({})",
        &base_sha[..12.min(base_sha.len())],
        args.baseline
    );
    let base_tree = target
        .join("bench-worktrees")
        .join(&base_sha[..12.min(base_sha.len())]);

    let head = Subject {
        label: "HEAD",
        describe: head_describe,
        binary: bin_dir.join(format!("{HARNESS_BIN}-head")),
        tree: root.clone(),
    };
    let base = Subject {
        label: "base",
        describe: base_describe,
        binary: bin_dir.join(format!("{HARNESS_BIN}-base")),
        tree: base_tree.clone(),
    };

    if !args.no_build {
        let build_started = Instant::now();
        eprintln!(
            "bench-instr: building the harness in the working tree ({})",
            head.describe
        );
        revision::build_harness(&root, &target, &head.binary)?;
        eprintln!(
            "bench-instr: checking out {} in {}",
            base.describe,
            base_tree.display()
        );
        let copied =
            revision::prepare_worktree(&root, &base_sha, &base_tree, &target.join("release"))?;
        if copied {
            eprintln!(
                "bench-instr: the baseline has no {HARNESS_DIR}: using the working tree's harness there"
            );
        }
        eprintln!("bench-instr: building the harness at the baseline");
        revision::build_harness(&base_tree, &base_tree.join("target"), &base.binary)?;
        eprintln!(
            "bench-instr: builds took {:.0} s",
            build_started.elapsed().as_secs_f64()
        );
    }
    for subject in [&head, &base] {
        if !subject.binary.exists() {
            bail!(
                "{} does not exist (run without --no-build)",
                subject.binary.display()
            );
        }
    }

    // results[label][workload] = instructions per request of each round.
    let mut results: BTreeMap<&str, BTreeMap<&str, Vec<f64>>> = BTreeMap::new();
    let runs_started = Instant::now();
    for round in 1..=args.rounds {
        for subject in [&head, &base] {
            let run_dir = out.join("runs").join(format!("{}-{round}", subject.label));
            let run = callgrind::run(
                &subject.binary,
                &run_dir,
                REGION_FN,
                &[
                    "--requests".to_owned(),
                    args.requests.to_string(),
                    "--warmup".to_owned(),
                    args.warmup.to_string(),
                    "--workloads".to_owned(),
                    WORKLOADS.join(","),
                ],
            )?;
            let expected = revision::canonical(&subject.tree.join(HARNESS_DIR));
            if revision::canonical(&run.built_from) != expected {
                bail!(
                    "{} was built from {}, not from {}",
                    subject.binary.display(),
                    run.built_from.display(),
                    expected.display()
                );
            }
            if run.regions.len() != WORKLOADS.len() {
                bail!(
                    "{} run {round}: {} measured regions, expected {}",
                    subject.label,
                    run.regions.len(),
                    WORKLOADS.len()
                );
            }
            for (region, workload) in run.regions.iter().zip(WORKLOADS) {
                if region.workload != workload || region.requests != args.requests {
                    bail!(
                        "{} run {round}: region {:?} × {}, expected {workload} × {}",
                        subject.label,
                        region.workload,
                        region.requests,
                        args.requests
                    );
                }
                let per_request = region.instructions as f64 / region.requests as f64;
                eprintln!(
                    "bench-instr: round {round} {:<4} {workload:<5} {:>12.0} instructions/request ({:.0} s under valgrind)",
                    subject.label, per_request, run.seconds
                );
                results
                    .entry(subject.label)
                    .or_default()
                    .entry(workload)
                    .or_default()
                    .push(per_request);
            }
        }
    }
    let runs_seconds = runs_started.elapsed().as_secs_f64();

    println!();
    println!("HEAD = working tree {}", head.describe);
    println!("base = {}", base.describe);
    println!(
        "{} measured requests per workload and run ({} warm-up), {} rounds interleaved (HEAD base ...)",
        args.requests, args.warmup, args.rounds
    );
    println!();
    println!(
        "{:<8} {:>14} {:>8} {:>14} {:>8} {:>10}",
        "workload", "HEAD instr/req", "spread", "base instr/req", "spread", "HEAD/base"
    );
    println!(
        "{:<8} {:>14} {:>8} {:>14} {:>8} {:>10}",
        "", "(least run)", "", "(least run)", "", "(least)"
    );
    let mut over = Vec::new();
    let mut json_rows = serde_json::Map::new();
    for workload in WORKLOADS {
        let h = stats(results.get("HEAD").and_then(|w| w.get(workload)));
        let b = stats(results.get("base").and_then(|w| w.get(workload)));
        let ratio = h.min / b.min;
        println!(
            "{workload:<8} {:>14.0} {:>7.2}% {:>14.0} {:>7.2}% {:>10.4}",
            h.min,
            h.spread * 100.0,
            b.min,
            b.spread * 100.0,
            ratio
        );
        if let Some(max) = args.max_ratio
            && (ratio > max || ratio.is_nan())
        {
            over.push(format!("{workload}: {ratio:.4} > {max}"));
        }
        json_rows.insert(
            workload.to_owned(),
            json!({
                "head": { "per_request": h.values, "least": h.min, "mean": h.mean, "spread": h.spread },
                "base": { "per_request": b.values, "least": b.min, "mean": b.mean, "spread": b.spread },
                "ratio": ratio,
            }),
        );
    }
    println!();
    println!(
        "instr/req: the least of the rounds; spread = (max - min) / min over the rounds; total {:.0} s ({:.0} s under valgrind)",
        started.elapsed().as_secs_f64(),
        runs_seconds
    );
    if let Some(path) = &args.json {
        let report = json!({
            "head": head.describe,
            "base": base.describe,
            "requests": args.requests,
            "warmup": args.warmup,
            "rounds": args.rounds,
            "workloads": json_rows,
        });
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if !over.is_empty() {
        bail!("instruction count regression: {}", over.join(", "));
    }
    Ok(())
}

struct Stats {
    values: Vec<f64>,
    min: f64,
    mean: f64,
    spread: f64,
}

fn stats(values: Option<&Vec<f64>>) -> Stats {
    let values = values.cloned().unwrap_or_default();
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let max = values.iter().copied().fold(f64::MIN, f64::max);
    let min = values.iter().copied().fold(f64::MAX, f64::min);
    Stats {
        spread: (max - min) / min,
        values,
        min,
        mean,
    }
}
