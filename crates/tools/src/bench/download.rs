//! `m365sync bench download`: the managed mirror against a raw reader of the same
//! download URLs at the same concurrency, then one very large file for memory.
//!
//! The simulator runs in this process; each engine runs as `m365sync run` in a child
//! process, so that its peak RSS is its own.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use clap::Args;
use m365sync::DriveState;
use m365sync_sim::{Faults, FileSizes, SimConfig, Simulator};
use serde_json::json;

use crate::bench::crawl::{ChildFigures, bearer_token, round2, run_engine_until};
use crate::error::message as err;
use crate::verify;

/// Flags of `m365sync bench download`.
#[derive(Args)]
pub struct DownloadBenchArgs {
    /// Files and folders of the drive (about one item in eight is a folder).
    #[arg(long, default_value_t = 3000)]
    items: u64,
    /// Median file size, KiB (sizes spread log-normally around it).
    #[arg(long, default_value_t = 512)]
    median_kib: u64,
    /// Largest file, MiB.
    #[arg(long, default_value_t = 64)]
    max_mib: u64,
    /// Downloads in flight at once, for the engine and the raw reader alike.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Size of the single large file whose download the engine's peak RSS is read
    /// from, MiB (0 skips it).
    #[arg(long, default_value_t = 2048)]
    large_mib: u64,
    /// Cut download bodies short (2 % resets, 2 % truncations) and report the bytes
    /// downloaded twice.
    #[arg(long)]
    faults: bool,
    /// Print one JSON object as the last line.
    #[arg(long)]
    json: bool,
}

/// Bytes per read of the raw reader, as the engine's.
const READ_BUFFER: usize = 256 * 1024;

/// Runs the benchmark and prints its figures.
pub fn download(args: DownloadBenchArgs) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = std::env::temp_dir().join(format!("m365sync-bench-download-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let result = run(&args, &exe, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    crate::bench::print_summary(&result?, args.json);
    Ok(())
}

fn run(args: &DownloadBenchArgs, exe: &Path, dir: &Path) -> Result<serde_json::Value, String> {
    let sim = Simulator::start(SimConfig {
        sites: 1,
        libraries_per_site: 1,
        users: 0,
        users_without_drive: 0,
        items: args.items,
        depth: 3,
        seed: 5,
        threads: args.concurrency * 2 + 4,
        file_sizes: FileSizes {
            median_bytes: args.median_kib * 1024,
            max_bytes: args.max_mib * 1024 * 1024,
        },
        ..SimConfig::default()
    })
    .map_err(err)?;
    let drive = sim.drives().remove(0).id;
    let files: Vec<(String, u64)> = sim
        .snapshot(&drive)
        .map_err(err)?
        .into_iter()
        .filter(|i| i.kind == "file")
        .map(|i| (i.id, i.size))
        .collect();
    let total: u64 = files.iter().map(|(_, s)| s).sum();
    let mb = total as f64 / 1e6;

    // The crawl first, so that the timed phase is downloads alone.
    let db = dir.join("bench.db");
    let config = |download: serde_json::Value| {
        sim.engine_config(json!({
            "database": db, "drives": [drive], "workers": 2, "poll_interval_secs": 3600,
            "download": download,
        }))
    };
    run_engine_until(exe, dir, &config(json!({})), &db, |store| {
        Ok(store
            .drive(&drive)?
            .is_some_and(|d| d.state == DriveState::Synced))
    })?;

    if args.faults {
        sim.set_faults(Faults {
            download_reset_rate: 0.02,
            download_truncate_rate: 0.02,
            seed: 5,
            ..Faults::default()
        })
        .map_err(err)?;
    }
    let raw_dir = dir.join("raw");
    std::fs::create_dir_all(&raw_dir).map_err(|e| e.to_string())?;
    let raw_secs = raw_reader(&sim, &drive, &files, &raw_dir, args.concurrency)?;
    let _ = std::fs::remove_dir_all(&raw_dir);

    let before = sim.stats();
    let mirror = dir.join("mirror");
    let (engine_secs, figures) = run_engine_until(
        exe,
        dir,
        &config(json!({"dir": mirror, "max_concurrent": args.concurrency, "ru_share": 1.0})),
        &db,
        |store| {
            let pending = verify::pending_downloads(store)?;
            Ok(pending == 0)
        },
    )?;
    let after = sim.stats();
    sim.set_faults(Faults::default()).map_err(err)?;
    let wrong = verify::mirror_copies(&sim, &mirror, &[], 3).map_err(err)?;
    if !wrong.is_empty() {
        return Err(format!(
            "the mirror differs from the truth: {}",
            wrong.join("; ")
        ));
    }
    let _ = std::fs::remove_dir_all(&mirror);
    let large = if args.large_mib > 0 {
        Some(large_file(exe, dir, args.large_mib)?)
    } else {
        None
    };
    let engine_mbps = mb / engine_secs;
    let raw_mbps = mb / raw_secs;
    Ok(json!({
        "files": files.len(),
        "total_mb": round2(mb),
        "concurrency": args.concurrency,
        "engine_mb_per_s": round2(engine_mbps),
        "raw_mb_per_s": round2(raw_mbps),
        "throughput_ratio": round2(engine_mbps / raw_mbps),
        "engine_secs": round2(engine_secs),
        "raw_secs": round2(raw_secs),
        "peak_rss_mb": round2(figures.peak_rss_mb),
        "engine_cpu_secs": round2(figures.cpu_secs),
        "ru_per_file": round2((after.ru_used - before.ru_used) as f64 / files.len() as f64),
        "violations": after.violations,
        "faults": args.faults,
        "bytes_redownloaded": (after.download_bytes - before.download_bytes).saturating_sub(total),
        "large_file_mb": large.as_ref().map(|l| l.mb),
        "large_file_mb_per_s": large.as_ref().map(|l| round2(l.mb / l.secs)),
        "large_file_peak_rss_mb": large.as_ref().map(|l| round2(l.figures.peak_rss_mb)),
    }))
}

/// What a host with its own HTTP client does: per file, the item with its download
/// URL from Graph, then the bytes from that URL into a file, `concurrency` at a time.
fn raw_reader(
    sim: &Simulator,
    drive: &str,
    files: &[(String, u64)],
    dir: &Path,
    concurrency: usize,
) -> Result<f64, String> {
    let agent = ureq::AgentBuilder::new()
        .max_idle_connections_per_host(concurrency * 2)
        .build();
    let authority = format!("{}/{}", sim.login_url(), sim.tenant_id());
    let bearer = bearer_token(&agent, &authority, sim.client_id(), sim.client_secret())?;
    let graph = sim.graph_url();
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..concurrency)
            .map(|_| {
                scope.spawn(|| -> Result<(), String> {
                    let mut buf = vec![0u8; READ_BUFFER];
                    loop {
                        let Some((id, _)) = files.get(next.fetch_add(1, Ordering::Relaxed)) else {
                            return Ok(());
                        };
                        let item: serde_json::Value = agent
                            .get(&format!(
                                "{graph}/drives/{drive}/items/{id}?$select=id,size,@microsoft.graph.downloadUrl"
                            ))
                            .set("Authorization", &bearer)
                            .call()
                            .map_err(|e| format!("raw reader: {e}"))?
                            .into_json()
                            .map_err(|e| e.to_string())?;
                        let url = item["@microsoft.graph.downloadUrl"]
                            .as_str()
                            .ok_or("raw reader: no download URL")?;
                        raw_copy(&agent, url, &dir.join(id), &mut buf)?;
                    }
                })
            })
            .collect();
        workers.into_iter().try_for_each(|w| {
            w.join()
                .unwrap_or_else(|_| Err("a raw reader panicked".into()))
        })
    })?;
    Ok(started.elapsed().as_secs_f64())
}

/// Copies one URL's bytes into `path`, resuming with Range after a cut body.
fn raw_copy(agent: &ureq::Agent, url: &str, path: &Path, buf: &mut [u8]) -> Result<(), String> {
    let mut file = std::fs::File::create(path).map_err(|e| e.to_string())?;
    let mut have = 0u64;
    for _ in 0..100 {
        let mut request = agent.get(url);
        if have > 0 {
            request = request.set("Range", &format!("bytes={have}-"));
        }
        let response = request.call().map_err(|e| format!("raw reader: {e}"))?;
        let length: u64 = response
            .header("Content-Length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut reader = response.into_reader();
        let mut got = 0;
        loop {
            match reader.read(buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    file.write_all(&buf[..n]).map_err(|e| e.to_string())?;
                    got += n as u64;
                }
            }
        }
        have += got;
        if got >= length {
            return Ok(());
        }
    }
    Err(format!("raw reader: {url} kept failing"))
}

/// One large file downloaded by the managed mirror of a fresh engine.
struct Large {
    mb: f64,
    secs: f64,
    figures: ChildFigures,
}

fn large_file(exe: &Path, dir: &Path, mib: u64) -> Result<Large, String> {
    let sim = Simulator::start(SimConfig {
        sites: 1,
        libraries_per_site: 1,
        users: 0,
        users_without_drive: 0,
        items: 0,
        ..SimConfig::default()
    })
    .map_err(err)?;
    let drive = sim.drives().remove(0).id;
    let size = mib * 1024 * 1024;
    let item = sim
        .create_file_sized(&drive, "root", "large.bin", size)
        .map_err(err)?;
    let db = dir.join("large.db");
    let mirror: PathBuf = dir.join("large-mirror");
    let config = sim.engine_config(json!({
        "database": db, "drives": [drive], "poll_interval_secs": 3600,
        "download": {"dir": mirror},
    }));
    let copy = mirror.join(&drive).join(&item.id);
    let (secs, figures) = run_engine_until(exe, dir, &config, &db, |_| Ok(copy.exists()))?;
    let wrong = verify::mirror_copies(&sim, &mirror, &[], 1).map_err(err)?;
    if !wrong.is_empty() {
        return Err(format!(
            "the large file's copy is wrong: {}",
            wrong.join("; ")
        ));
    }
    Ok(Large {
        mb: size as f64 / 1e6,
        secs,
        figures,
    })
}
