//! `m365sync download`: one item's current content, through the tenant's gate.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use m365sync::{Config, Download, Engine};

use crate::err;

/// Flags of `m365sync download`.
#[derive(Args)]
pub struct DownloadArgs {
    /// Configuration file (JSON); its database records the download.
    #[arg(long)]
    config: PathBuf,
    /// The drive id.
    #[arg(long)]
    drive: String,
    /// The item id.
    #[arg(long)]
    item: String,
    /// Where to write the file (`-` for standard output).
    #[arg(long)]
    out: PathBuf,
}

/// Downloads the item and says what happened (on standard error when the bytes go
/// to standard output).
pub fn download(args: DownloadArgs) -> Result<(), String> {
    let config = Config::from_file(&args.config).map_err(err)?;
    let engine = Engine::open(config).map_err(err)?;
    let to_stdout = args.out.as_os_str() == "-";
    let result = if to_stdout {
        let mut stdout = std::io::stdout().lock();
        let result = engine.download_to(&args.drive, &args.item, &mut stdout);
        stdout.flush().map_err(err)?;
        result
    } else {
        engine.download(&args.drive, &args.item, &args.out)
    }
    .map_err(err)?;
    let line = match &result {
        Download::Downloaded { bytes, hash, ctag } => {
            format!("downloaded {bytes} bytes (quickXorHash {hash}, cTag {ctag})")
        }
        Download::Unchanged { ctag } => format!("unchanged: cTag {ctag} was downloaded already"),
        Download::Skipped { reason } => format!("skipped: the item is a {reason}"),
    };
    if to_stdout {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
    Ok(())
}
