//! The results of a run: printed for a human and returned as JSON (`--json`).

use std::collections::HashMap;

use serde_json::{Value, json};

use super::client::Stats;
use super::{FLOW_STEPS, Target};
use crate::{LoadgenArgs, Scenario};

/// What the window loop measured besides the request counters, for [`print`].
pub(super) struct Measured {
    /// ES256 verifications per second on the load generator's core before the run.
    pub calibration: f64,
    /// Sum of the timed windows' wall-clock times, in seconds.
    pub timed: f64,
    pub windows: u32,
    /// The CPU the load generator is pinned to.
    pub self_cpu: Option<usize>,
    pub server_pid: Option<u32>,
    /// CPU seconds of the server over the timed windows.
    pub server_cpu: f64,
    /// CPU seconds of the load generator over the timed windows.
    pub self_cpu_used: f64,
    /// Per CPU: (busy seconds, total seconds) over the timed windows, from /proc/stat.
    pub core_busy: Vec<(f64, f64)>,
    /// Bytes the server caused to be written to storage (`write_bytes` of /proc/<pid>/io).
    pub server_written: u64,
    /// CPU seconds of the other processes over the timed windows, by command name.
    pub others: HashMap<String, f64>,
}

/// Prints the results and returns them as the JSON report.
pub(super) fn print(
    args: &LoadgenArgs,
    target: &Target,
    stats: &Stats,
    measured: Measured,
) -> Value {
    let Measured {
        calibration,
        timed,
        windows,
        self_cpu,
        server_pid,
        server_cpu,
        self_cpu_used,
        core_busy,
        server_written,
        others,
    } = measured;
    let hist = stats.histogram.borrow();
    let ok = stats.ok.get();
    let failed = stats.failed.get();
    let total = stats.total();
    let rps = total as f64 / timed.max(1e-9);
    let ok_rps = ok as f64 / timed.max(1e-9);
    let (unit, units, what) = match args.scenario {
        Scenario::Token => ("req", "requests", format!("POST {}", target.token_url)),
        Scenario::Par => ("req", "requests", format!("POST {}/par", target.issuer)),
        Scenario::Flow => (
            "flow",
            "flows",
            format!(
                "PAR → authorize (session, remembered consent) → token at {}",
                target.issuer
            ),
        ),
    };
    println!();
    println!(
        "loadgen: {} connections, {timed:.2} s timed in {windows} window(s), after {:.1} s warm-up, {what}",
        args.connections, args.warmup
    );
    println!(
        "  {units:<12} {total} ({ok} ok, {failed} failed, {} transport errors)",
        stats.io_errors.get()
    );
    println!("  throughput   {rps:.0} {unit}/s ({ok_rps:.0} ok/s)");
    println!(
        "  latency      p50 {:.2} ms   p90 {:.2} ms   p99 {:.2} ms   p99.9 {:.2} ms   max {:.2} ms   mean {:.2} ms",
        ms(hist.value_at_quantile(0.50)),
        ms(hist.value_at_quantile(0.90)),
        ms(hist.value_at_quantile(0.99)),
        ms(hist.value_at_quantile(0.999)),
        ms(hist.max()),
        hist.mean() / 1000.0
    );
    let steps: Vec<Value> = if args.scenario == Scenario::Flow {
        stats
            .steps
            .borrow()
            .iter()
            .zip(FLOW_STEPS)
            .map(|(h, name)| {
                println!(
                    "    {name:<10} p50 {:.2} ms   p99 {:.2} ms   mean {:.2} ms",
                    ms(h.value_at_quantile(0.50)),
                    ms(h.value_at_quantile(0.99)),
                    h.mean() / 1000.0
                );
                json!({"step": name, "p50_ms": ms(h.value_at_quantile(0.50)),
                       "p99_ms": ms(h.value_at_quantile(0.99)), "mean_ms": h.mean() / 1000.0})
            })
            .collect()
    } else {
        Vec::new()
    };
    if server_pid.is_some() {
        println!(
            "  server CPU   {:.0}% of one core over the timed phase",
            100.0 * server_cpu / timed.max(1e-9)
        );
    }
    println!(
        "  loadgen CPU  {:.0}% of one core{}",
        100.0 * self_cpu_used / timed.max(1e-9),
        self_cpu
            .map(|c| format!(" (pinned to CPU {c})"))
            .unwrap_or_default()
    );
    let busy: Vec<f64> = core_busy
        .iter()
        .map(|(b, t)| if *t > 0.0 { b / t } else { 0.0 })
        .collect();
    if !busy.is_empty() {
        let shown: Vec<String> = busy
            .iter()
            .enumerate()
            .map(|(i, b)| format!("cpu{i} {:.0}%", 100.0 * b))
            .collect();
        println!(
            "  CPU busy     {} (all processes; busy beyond the server's and the loadgen's share is other load)",
            shown.join("   ")
        );
    }
    let mut others: Vec<(String, f64)> = others
        .into_iter()
        .map(|(c, s)| (c, s / timed.max(1e-9)))
        .filter(|(_, share)| *share >= 0.005)
        .collect();
    others.sort_by(|a, b| b.1.total_cmp(&a.1));
    let postgres: f64 = others
        .iter()
        .filter(|(c, _)| c == "postgres")
        .map(|(_, s)| s)
        .sum();
    if postgres > 0.0 {
        println!(
            "  postgres     {:.0}% of one core (all postgres processes, unpinned)",
            100.0 * postgres
        );
    }
    let server_share = server_cpu / timed.max(1e-9);
    let loadgen_share = self_cpu_used / timed.max(1e-9);
    let other_load = busy.iter().sum::<f64>()
        - loadgen_share
        - postgres
        - if server_pid.is_some() {
            server_share
        } else {
            0.0
        };
    println!(
        "  other load   {:.0}% of a core: CPU time of neither the {}load generator{} (other processes, also \
         short-lived ones, kernel threads, interrupts; about 5% on an idle machine)",
        100.0 * other_load,
        if server_pid.is_some() {
            "server nor the "
        } else {
            ""
        },
        if postgres > 0.0 { " nor postgres" } else { "" },
    );
    if server_pid.is_some() && total > 0 {
        println!(
            "  server I/O   {:.1} KiB written to storage per {unit}",
            server_written as f64 / 1024.0 / total as f64
        );
    }
    let rest: Vec<String> = others
        .iter()
        .filter(|(c, _)| c != "postgres")
        .take(5)
        .map(|(c, s)| format!("{c} {:.0}%", 100.0 * s))
        .collect();
    println!(
        "  other procs  {}",
        if rest.is_empty() {
            "none above 0.5% of a core".to_owned()
        } else {
            rest.join(", ")
        }
    );
    println!(
        "  yardstick    {calibration:.0} ES256 verifications/s on the load generator's core before the run"
    );
    json!({
        "es256_verify_per_sec": calibration,
        "postgres_cpu_share": postgres,
        "other_load_cores": other_load,
        "scenario": format!("{:?}", args.scenario).to_lowercase(),
        "unit": unit,
        "flow_steps": steps,
        "server_storage_bytes_per_unit": server_pid.map(|_| server_written as f64 / total.max(1) as f64),
        "other_processes_cpu_share": others.iter().filter(|(c, _)| c != "postgres").map(|(c, s)| json!({"comm": c, "share": s})).collect::<Vec<_>>(),
        "cpu_busy_share": busy,
        "base": target.base,
        "connections": args.connections,
        "store": args.serve.map(|s| format!("{s:?}").to_lowercase()),
        "timed_secs": timed,
        "warmup_secs": args.warmup,
        "requests": total,
        "ok": ok,
        "failed": failed,
        "transport_errors": stats.io_errors.get(),
        "req_per_sec": rps,
        "p50_ms": ms(hist.value_at_quantile(0.50)),
        "p90_ms": ms(hist.value_at_quantile(0.90)),
        "p99_ms": ms(hist.value_at_quantile(0.99)),
        "p999_ms": ms(hist.value_at_quantile(0.999)),
        "max_ms": ms(hist.max()),
        "mean_ms": hist.mean() / 1000.0,
        "server_cpu_share": server_pid.map(|_| server_cpu / timed.max(1e-9)),
        "loadgen_cpu_share": self_cpu_used / timed.max(1e-9),
    })
}

/// Microseconds as milliseconds.
fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}
