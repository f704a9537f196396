//! `m365sync bench crawl`: first-crawl throughput and memory against a simulator
//! running as a separate process, compared with the raw limit of following the
//! same delta feed and discarding the bodies.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Args;
use m365sync::{Database, DriveState};
use serde_json::json;

/// Flags of `m365sync bench crawl`.
#[derive(Args)]
pub struct CrawlBenchArgs {
    /// Items of the large drive.
    #[arg(long, default_value_t = 1_000_000)]
    items: u64,
    /// Items of the small drive used to show that memory does not grow with the drive.
    #[arg(long, default_value_t = 100_000)]
    small_items: u64,
    /// Print one JSON object as the last line.
    #[arg(long)]
    json: bool,
    /// Files edited in the incremental round after the large drive's crawl (a move of
    /// its largest folder comes first); 0 skips both rounds.
    #[arg(long, default_value_t = 100_000)]
    incremental_edits: u64,
    /// Instead of one large drive: a tenant of this many small OneDrives, crawled against
    /// a binding resource-unit budget (see `--ru-per-window`).
    #[arg(long)]
    drives: Option<u32>,
    /// Items of each OneDrive, with `--drives`.
    #[arg(long, default_value_t = 100)]
    items_per_drive: u64,
    /// The simulator's resource-unit budget per window, with `--drives`.
    #[arg(long, default_value_t = 2000)]
    ru_per_window: u64,
    /// The simulator's budget window in seconds (Graph's minute scaled down), with
    /// `--drives`.
    #[arg(long, default_value_t = 6)]
    window_secs: u64,
}

const TENANT: &str = "bench-tenant";
const CLIENT: &str = "bench-client";
const SECRET: &str = "bench-secret";
const SELECT: &str =
    "id,name,parentReference,eTag,cTag,size,file,folder,root,deleted,shared,lastModifiedDateTime";

/// Figures of one drive size.
struct Figures {
    items: u64,
    raw_secs: f64,
    engine_secs: f64,
    engine: ChildFigures,
    /// The incremental rounds after the crawl, when asked for.
    rounds: Option<crate::bench::incremental::Rounds>,
}

/// What the kernel says about the engine child at the end of its crawl.
pub(crate) struct ChildFigures {
    /// VmHWM, MB.
    pub peak_rss_mb: f64,
    /// User + system CPU time of all its threads: on a shared machine it says more
    /// than the wall clock.
    pub cpu_secs: f64,
    /// Bytes handed to write(2) (WAL frames and checkpoints), MB.
    pub written_mb: f64,
}

/// Runs the benchmark and prints its figures.
pub fn crawl(args: CrawlBenchArgs) -> Result<(), String> {
    if let Some(drives) = args.drives {
        let summary = crate::bench::drives::run(&crate::bench::drives::DrivesBench {
            drives,
            items_per_drive: args.items_per_drive,
            ru_per_window: args.ru_per_window,
            window_secs: args.window_secs,
        })?;
        crate::bench::print_summary(&summary, args.json);
        return Ok(());
    }
    let small = measure(args.small_items, 0)?;
    let large = measure(args.items, args.incremental_edits)?;
    let rate = |n: u64, s: f64| (n as f64 / s).round();
    let ratio = |f: &Figures| (f.engine_secs / f.raw_secs * 100.0).round() / 100.0;
    let mut summary = json!({
        "items": large.items,
        "raw_secs": round2(large.raw_secs),
        "raw_items_per_sec": rate(large.items, large.raw_secs),
        "engine_secs": round2(large.engine_secs),
        "engine_items_per_sec": rate(large.items, large.engine_secs),
        "ratio_to_raw": ratio(&large),
        "peak_rss_mb": round2(large.engine.peak_rss_mb),
        "engine_cpu_secs": round2(large.engine.cpu_secs),
        "written_bytes_per_item": written_per_item(&large),
        "small_items": small.items,
        "small_engine_secs": round2(small.engine_secs),
        "small_ratio_to_raw": ratio(&small),
        "small_peak_rss_mb": round2(small.engine.peak_rss_mb),
        "small_written_bytes_per_item": written_per_item(&small),
        "rss_growth": round2(large.engine.peak_rss_mb / small.engine.peak_rss_mb - 1.0),
    });
    if let Some(rounds) = &large.rounds {
        crate::bench::merge_fields(&mut summary, rounds.to_json());
        println!(
            "incremental: a move of {} items in {:.2} s, {} edits in {:.2} s",
            rounds.move_items, rounds.move_secs, rounds.edits, rounds.edit_secs
        );
    }
    println!(
        "{:>10} {:>9} {:>12} {:>9} {:>12} {:>7} {:>9} {:>7} {:>10} {:>7}",
        "items",
        "raw s",
        "raw items/s",
        "engine s",
        "engine it/s",
        "ratio",
        "RSS MB",
        "CPU s",
        "written MB",
        "B/item"
    );
    for f in [&small, &large] {
        println!(
            "{:>10} {:>9.2} {:>12} {:>9.2} {:>12} {:>7.2} {:>9.1} {:>7.2} {:>10.0} {:>7}",
            f.items,
            f.raw_secs,
            rate(f.items, f.raw_secs),
            f.engine_secs,
            rate(f.items, f.engine_secs),
            ratio(f),
            f.engine.peak_rss_mb,
            f.engine.cpu_secs,
            f.engine.written_mb,
            written_per_item(f)
        );
    }
    if args.json {
        println!("{summary}");
    }
    Ok(())
}

/// Bytes the engine handed to write(2) per item of the drive: WAL frames and
/// checkpoints, independent of the machine's load.
fn written_per_item(f: &Figures) -> f64 {
    (f.engine.written_mb * 1e6 / f.items as f64).round()
}

/// `x` rounded to two decimals, for figures.
pub(crate) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Starts a one-drive simulator child, measures the raw crawl, then the engine's, then
/// (with `edits` > 0) the incremental rounds.
fn measure(items: u64, edits: u64) -> Result<Figures, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut sim = ChildGuard(
        Command::new(&exe)
            .args([
                "sim",
                "--listen",
                "127.0.0.1:0",
                "--sites",
                "1",
                "--libraries-per-site",
                "1",
            ])
            .args([
                "--users",
                "0",
                "--users-without-drive",
                "0",
                "--depth",
                "6",
                "--seed",
                "1",
            ])
            .args(["--items", &items.to_string(), "--tenant", TENANT])
            .args(["--client-id", CLIENT, "--client-secret", SECRET])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start the simulator: {e}"))?,
    );
    let url = read_listen_line(&mut sim.0)?;
    let graph = format!("{url}/v1.0");
    let drives: serde_json::Value = ureq::get(&format!("{url}/_sim/drives"))
        .call()
        .map_err(|e| e.to_string())?
        .into_json()
        .map_err(|e| e.to_string())?;
    let drive = drives
        .as_array()
        .and_then(|d| d.first())
        .and_then(|d| d["id"].as_str())
        .ok_or("the simulator has no drive")?
        .to_string();
    let raw_secs = raw_crawl(&url, &graph, &drive)?;
    let dir = std::env::temp_dir().join(format!("m365sync-bench-{}-{items}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let database = dir.join("bench.db");
    let config = json!({
        "tenant_id": TENANT, "client_id": CLIENT, "client_secret": SECRET,
        "graph_url": graph, "login_url": url, "database": database,
        "drives": [drive], "workers": 4, "poll_interval_secs": 3600,
        "page_size": 1000, "emit_initial_items": true,
    });
    let result = engine_crawl(&exe, &config, &drive, &dir).and_then(|(engine_secs, engine)| {
        let rounds = (edits > 0)
            .then(|| {
                crate::bench::incremental::rounds(
                    &exe, &url, &config, &dir, &database, &drive, edits,
                )
            })
            .transpose()?;
        Ok(Figures {
            items,
            raw_secs,
            engine_secs,
            engine,
            rounds,
        })
    });
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Follows the feed with one keep-alive connection, reading and discarding bodies.
fn raw_crawl(url: &str, graph: &str, drive: &str) -> Result<f64, String> {
    let agent = ureq::AgentBuilder::new().build();
    let bearer = bearer_token(&agent, &format!("{url}/{TENANT}"), CLIENT, SECRET)?;
    let mut next = Some(format!(
        "{graph}/drives/{drive}/root/delta?$select={SELECT}&$top=1000"
    ));
    let mut body = Vec::with_capacity(1 << 20);
    let started = Instant::now();
    while let Some(link) = next.take() {
        let response = agent
            .get(&link)
            .set("Authorization", &bearer)
            .call()
            .map_err(|e| format!("raw crawl: {e}"))?;
        body.clear();
        response
            .into_reader()
            .read_to_end(&mut body)
            .map_err(|e| e.to_string())?;
        // Only the link is needed; it sits at the end of the page.
        next = find_next_link(&body);
    }
    Ok(started.elapsed().as_secs_f64())
}

/// `Bearer …` for the client credentials of `client`, from `{authority}/oauth2/v2.0/token`.
pub(crate) fn bearer_token(
    agent: &ureq::Agent,
    authority: &str,
    client: &str,
    secret: &str,
) -> Result<String, String> {
    let token: serde_json::Value = agent
        .post(&format!("{authority}/oauth2/v2.0/token"))
        .send_form(&[
            ("client_id", client),
            ("client_secret", secret),
            ("scope", "https://graph.microsoft.com/.default"),
            ("grant_type", "client_credentials"),
        ])
        .map_err(|e| e.to_string())?
        .into_json()
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "Bearer {}",
        token["access_token"].as_str().unwrap_or_default()
    ))
}

fn find_next_link(body: &[u8]) -> Option<String> {
    const KEY: &[u8] = b"\"@odata.nextLink\":\"";
    let at = body.windows(KEY.len()).rposition(|w| w == KEY)? + KEY.len();
    let end = body[at..].iter().position(|&b| b == b'"')? + at;
    Some(String::from_utf8_lossy(&body[at..end]).replace("\\/", "/"))
}

/// Runs `m365sync run` with `config` as a child until the drive is synced; returns its
/// time and figures.
fn engine_crawl(
    exe: &Path,
    config: &serde_json::Value,
    drive: &str,
    dir: &Path,
) -> Result<(f64, ChildFigures), String> {
    let database = Path::new(config["database"].as_str().unwrap_or_default()).to_path_buf();
    run_engine_until(exe, dir, config, &database, |store| {
        Ok(store
            .drive(drive)?
            .is_some_and(|d| d.state == DriveState::Synced))
    })
}

/// Writes `config` into `dir` and runs `m365sync run` with it until `done` says so
/// (polled every 20 ms on one connection: opening the store each time costs the
/// engine's core more than the query); its time and figures. Fails after 30 minutes.
pub(crate) fn run_engine_until(
    exe: &Path,
    dir: &Path,
    config: &serde_json::Value,
    database: &Path,
    mut done: impl FnMut(&Database) -> m365sync::Result<bool>,
) -> Result<(f64, ChildFigures), String> {
    let config_path = dir.join("bench.json");
    std::fs::write(&config_path, config.to_string()).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut engine = ChildGuard(
        Command::new(exe)
            .args(["run", "--config"])
            .arg(&config_path)
            .env("RUST_LOG", "warn")
            .spawn()
            .map_err(|e| format!("cannot start the engine: {e}"))?,
    );
    let deadline = started + Duration::from_secs(1800);
    let mut store = None;
    loop {
        std::thread::sleep(Duration::from_millis(20));
        if let Some(status) = engine.0.try_wait().map_err(|e| e.to_string())? {
            return Err(format!("the engine exited: {status}"));
        }
        if store.is_none() && database.exists() {
            store = Database::open(database).ok();
        }
        if let Some(store) = &store {
            if done(store).map_err(|e| e.to_string())? {
                break;
            }
        }
        if Instant::now() > deadline {
            return Err("the engine did not finish in 30 minutes".into());
        }
    }
    let secs = started.elapsed().as_secs_f64();
    Ok((secs, child_figures(engine.0.id())?))
}

/// Peak RSS, CPU time and write volume of a live process, from /proc.
pub(crate) fn child_figures(pid: u32) -> Result<ChildFigures, String> {
    let read = |file: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/{file}"))
            .map_err(|e| format!("cannot read the engine's /proc/{pid}/{file}: {e}"))
    };
    let field = |text: &str, key: &str| -> Result<f64, String> {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("no {key} line for the engine in /proc"))
    };
    let peak_kb = field(&read("status")?, "VmHWM:")?;
    let written = field(&read("io")?, "wchar:")?;
    // utime and stime are fields 14 and 15, counted after the parenthesised name; the
    // kernel reports them in USER_HZ (1/100 s) ticks.
    let stat = read("stat")?;
    let ticks: f64 = stat
        .rsplit_once(')')
        .map(|(_, rest)| {
            rest.split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|v| v.parse::<f64>().ok())
                .sum()
        })
        .ok_or("unreadable /proc/PID/stat")?;
    Ok(ChildFigures {
        peak_rss_mb: peak_kb / 1024.0,
        cpu_secs: ticks / 100.0,
        written_mb: written / 1e6,
    })
}

fn read_listen_line(child: &mut Child) -> Result<String, String> {
    let stdout = child.stdout.take().ok_or("no simulator stdout")?;
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    reader.read_line(&mut line).map_err(|e| e.to_string())?;
    // Keep reading so that the simulator never writes into a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    line.trim()
        .strip_prefix("listening on ")
        .map(str::to_string)
        .ok_or_else(|| format!("unexpected first line from the simulator: {line:?}"))
}

/// Kills the child when dropped.
pub(crate) struct ChildGuard(pub(crate) Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
