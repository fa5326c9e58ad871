//! `proofless serve`.

use crate::config::{self, DEFAULT_ORIGIN, FileConfig};
use anyhow::{Context, Result, bail};
use clap::Args;
use proofless_core::checkpoint::LedgerSigner;
use proofless_core::entry::{Entry, KeyAction, KeyEvent};
use proofless_core::keys;
use proofless_core::pki::TrustAnchor;
use proofless_ledger::accesses::{self, AccessIndex};
use proofless_ledger::catalog::Catalog;
use proofless_ledger::certs::Certificates;
use proofless_ledger::clock::SystemClock;
use proofless_ledger::vault::PseudonymKey;
use proofless_ledger::verify::Verifications;
use proofless_ledger::witness::Witnessing;
use proofless_ledger::{Log, LogConfig};
use proofless_server::AppState;
use proofless_store::{RedbStore, Store};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Arguments of `serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Data directory (default `./data`).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Listen address (default `127.0.0.1:8080`; port 0 picks a free port).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Configuration file (TOML); flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// On a ledger with no certificates yet, load synthetic demo data for this many
    /// holders, signed by the example issuers (see `proofless demo-data`).
    #[arg(long, default_value_t = 0)]
    sample_holders: u64,
    /// The example keys directory used for `--sample-holders`.
    #[arg(long, default_value = "keys-example")]
    sample_keys: PathBuf,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// How long (ms) a small group commit may wait for more entries: fewer, larger
    /// commits under load, for up to this much latency. 0 commits at once.
    #[arg(long, default_value_t = 0)]
    commit_linger_ms: u64,
    /// How long (µs) a group commit may wait for requests that have arrived and will
    /// append soon (a verification being checked): under load, fewer and larger commits;
    /// when no such request exists, no wait at all. 0 never waits.
    #[arg(long, default_value_t = 500)]
    announced_linger_us: u64,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

pub(crate) fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(crate::logsink::LogSink::stderr())
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if json {
        b.json().init();
    } else {
        b.init();
    }
}

pub(crate) fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn read_pem_certificate(path: &Path) -> Result<Vec<u8>> {
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(&text)
        .map_err(|e| anyhow::anyhow!("{}: not a PEM certificate: {e}", path.display()))?;
    if pem.label != "CERTIFICATE" {
        bail!(
            "{}: PEM block is {:?}, expected CERTIFICATE",
            path.display(),
            pem.label
        );
    }
    Ok(pem.contents)
}

fn spki_of(der: &[u8], path: &Path) -> Result<Vec<u8>> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| anyhow::anyhow!("{}: not an X.509 certificate: {e}", path.display()))?;
    Ok(cert.public_key().raw.to_vec())
}

/// The first entries of a new log: the trust anchor and the ledger's own key, so that
/// an auditor finds in the log itself which keys it started with.
fn genesis(
    signer: &LedgerSigner,
    ledger_cert: Option<&Path>,
    trust_anchor: Option<&Path>,
) -> Result<Vec<Entry>> {
    let time = now_millis();
    let mut out = Vec::new();
    if let Some(path) = trust_anchor {
        let der = read_pem_certificate(path)?;
        let spki = spki_of(&der, path)?;
        out.push(Entry::KeyEvent(KeyEvent {
            time,
            action: KeyAction::Registered,
            role: keys::TRUST_ANCHOR_ROLE.into(),
            key_id: keys::key_id(&spki),
            certificate: Some(der),
            organisation: None,
        }));
    }
    let own_spki = keys::ed25519_spki_der(signer.verifying_key().as_bytes());
    let certificate = match ledger_cert {
        Some(path) => {
            let der = read_pem_certificate(path)?;
            if spki_of(&der, path)? != own_spki {
                bail!(
                    "{}: the certificate is not for the configured ledger key",
                    path.display()
                );
            }
            Some(der)
        }
        None => None,
    };
    out.push(Entry::KeyEvent(KeyEvent {
        time,
        action: KeyAction::Registered,
        role: keys::Role::Ledger.name().into(),
        key_id: keys::key_id(&own_spki),
        certificate,
        organisation: None,
    }));
    Ok(out)
}

/// A ledger opened from configuration: the store, the log (genesis appended on first
/// start) and, when a trust anchor is configured, the certificate service.
pub(crate) struct Opened {
    pub(crate) log: Arc<Log>,
    pub(crate) certificates: Option<Arc<Certificates>>,
    /// The verification service, when scenario rules are configured.
    pub(crate) verifications: Option<Arc<Verifications>>,
    /// The witness cosignature collector, when witnesses are configured (not started).
    pub(crate) witnessing: Option<Witnessing>,
    /// The holder-access index, kept in step with the log.
    pub(crate) accesses: Arc<AccessIndex>,
    pub(crate) data: PathBuf,
}

/// Opens the ledger in `data` as configured by `file`; appends the genesis entries on a
/// new log.
pub(crate) async fn open_ledger(
    file: &FileConfig,
    data: PathBuf,
    log_config: LogConfig,
) -> Result<Opened> {
    // Checked before the store is opened: a bad witness configuration changes nothing.
    let witnesses = crate::witness::WitnessSetup::from_config(file)?;
    let signer = match &file.ledger_key {
        Some(p) => config::read_signer(p)?,
        None => config::signer_in_dir(&data, DEFAULT_ORIGIN)?,
    };
    let store = Arc::new(
        RedbStore::open(&data)
            .with_context(|| format!("opening the store in {}", data.display()))?,
    );
    let genesis_entries = if store.size()? == 0 {
        genesis(
            &signer,
            file.ledger_certificate.as_deref(),
            file.trust_anchor.as_deref(),
        )?
    } else {
        Vec::new()
    };
    let log = Arc::new(
        Log::open(store.clone(), signer.clone(), log_config)
            .with_context(|| format!("opening the log in {}", data.display()))?,
    );
    // The holder-access index follows the log from its own files beside the store: told of
    // each batch by the sequencer, reading the log only to catch up (decision 0014).
    let accesses = Arc::new(
        AccessIndex::open(store.clone(), &data.join(accesses::DIR_NAME))
            .context("opening the holder-access index")?,
    );
    log.set_follower(accesses.clone());
    accesses
        .follow(&log)
        .context("starting the holder-access index")?;
    if !genesis_entries.is_empty() {
        // One atomic batch: a crash cannot leave a log that has only part of it.
        let encoded = genesis_entries
            .iter()
            .map(Entry::encode)
            .collect::<Result<Vec<_>, _>>()?;
        log.append_all(encoded).await?;
    }
    let witnessing = witnesses.map(|w| w.collector(&log)).transpose()?;
    let certificates = match &file.trust_anchor {
        Some(anchor) => Some(Arc::new(certificate_service(
            log.clone(),
            store.clone(),
            anchor,
            file.certificate_types.as_deref(),
            &file
                .pseudonym_key
                .clone()
                .unwrap_or_else(|| data.join("pseudonym.key")),
        )?)),
        None => {
            tracing::warn!(
                "no trust_anchor configured: the certificate endpoints answer not_configured"
            );
            None
        }
    };
    let mut verifications = None;
    if let Some(dir) = &file.scenarios {
        let Some(certs) = &certificates else {
            anyhow::bail!(
                "scenarios need a trust_anchor and certificate types in the configuration"
            );
        };
        let rules = crate::policycmd::load_rules(dir, certs.catalog())?;
        let (version, published) =
            proofless_ledger::rules::publish(&log, store.as_ref(), &rules, &SystemClock).await?;
        tracing::info!(
            version,
            published,
            scenarios = rules.len(),
            "scenario rules in force"
        );
        let mut svc = Verifications::new(
            log.clone(),
            certs.clone(),
            Arc::new(rules),
            version,
            signer,
            Arc::new(SystemClock),
        )
        .with_authority(file.authority.clone())
        .with_access_index(accesses.clone());
        if let Some(w) = &witnessing {
            svc = svc.with_cosigned(w.cosigned());
        }
        verifications = Some(Arc::new(svc));
    }
    Ok(Opened {
        log,
        certificates,
        verifications,
        witnessing,
        accesses,
        data,
    })
}

/// Writes the holder-access index's rows and the span they cover to its files, so that the
/// next start reads nothing again (after a bulk import).
pub(crate) async fn save_access_index(opened: &Opened) -> Result<()> {
    let size = opened.log.latest().size;
    let accesses = opened.accesses.clone();
    tokio::task::spawn_blocking(move || accesses.persist(size))
        .await?
        .context("saving the holder-access index")
}

/// Loads demo data for `holders` holders into a ledger that has no certificate yet.
async fn load_sample(opened: &Opened, keys: &Path, holders: u64) -> Result<()> {
    let Some(svc) = &opened.certificates else {
        anyhow::bail!("--sample-holders needs a trust_anchor in the configuration");
    };
    if svc.any_issued()? {
        tracing::info!("the ledger already holds certificates: no sample loaded");
        return Ok(());
    }
    let file = opened.data.join("sample.jsonl");
    let hidden = indicatif::ProgressBar::hidden();
    let lines = crate::democmd::write_demo(keys, holders, 1, &file, &hidden)?;
    let issuers = Arc::new(crate::import::load_issuers(keys)?);
    let totals = crate::import::import_file(
        opened,
        &file,
        issuers,
        std::thread::available_parallelism().map_or(1, usize::from),
        crate::import::DEFAULT_CHUNK,
        &opened.data.join("sample.import-state.json"),
        &opened.data.join("sample.errors.jsonl"),
        hidden,
    )
    .await?;
    save_access_index(opened).await?;
    tracing::info!(
        holders,
        lines,
        imported = totals.imported,
        errors = totals.failed,
        "sample data loaded"
    );
    Ok(())
}

/// The data directory: the flag, else the configuration, else `./data`.
pub(crate) fn data_dir(flag: Option<&Path>, file: &FileConfig) -> PathBuf {
    flag.map(Path::to_path_buf)
        .or_else(|| file.data.clone())
        .unwrap_or_else(|| PathBuf::from("data"))
}

/// The configuration file named by `--config`, or the defaults.
pub(crate) fn load_config(path: Option<&Path>) -> Result<FileConfig> {
    match path {
        Some(p) => FileConfig::load(p),
        None => Ok(FileConfig::default()),
    }
}

pub(crate) fn run(args: ServeArgs) -> Result<()> {
    init_tracing(matches!(args.log_format, LogFormat::Json));
    let file = load_config(args.config.as_deref())?;
    let data = data_dir(args.data.as_deref(), &file);
    let listen = args
        .listen
        .or(file.listen)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let log_config = LogConfig {
            linger: std::time::Duration::from_millis(args.commit_linger_ms),
            announced_linger: std::time::Duration::from_micros(args.announced_linger_us),
            ..LogConfig::default()
        };
        let opened = open_ledger(&file, data, log_config).await?;
        if args.sample_holders > 0 {
            load_sample(&opened, &args.sample_keys, args.sample_holders).await?;
        }
        let Opened {
            log,
            certificates,
            verifications,
            witnessing,
            data,
            ..
        } = opened;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding {listen}"))?;
        let addr = listener.local_addr()?;
        tracing::info!(%addr, origin = %log.origin(), size = log.latest().size, data = %data.display(), "serving");
        // The one line on stdout: scripts and tests read the address from it.
        println!("proofless listening on http://{addr}");
        let mut state = AppState::new(log);
        if let Some(c) = certificates {
            state = state.with_certificates(c);
        }
        if let Some(v) = verifications {
            state = state.with_verifications(v);
        }
        if let Some(w) = witnessing {
            state = state.with_cosigned(w.cosigned());
            // The thread ends when the log is dropped, after the server stopped.
            w.spawn(
                std::time::Duration::from_millis(300),
                std::time::Duration::from_secs(5),
            )
            .context("starting the witnessing thread")?;
        }
        proofless_server::serve(listener, state, shutdown_signal()).await?;
        tracing::info!("stopped");
        Ok(())
    })
}

/// The certificate service: trust anchor, type catalog, pseudonym secret.
pub(crate) fn certificate_service(
    log: Arc<Log>,
    store: Arc<RedbStore>,
    anchor: &Path,
    types: Option<&Path>,
    pseudonym_key: &Path,
) -> Result<Certificates> {
    let pem = std::fs::read(anchor).with_context(|| format!("reading {}", anchor.display()))?;
    let anchor = TrustAnchor::from_pem(&pem)
        .map_err(|e| anyhow::anyhow!("{}: not a usable trust anchor: {e}", anchor.display()))?;
    let dir = types
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("schemas/certificates"));
    let catalog = Catalog::load(&config::read_schemas(&dir)?)?;
    tracing::info!(types = catalog.len(), dir = %dir.display(), "certificate types loaded");
    // Genesis holds no holder data: up to its two entries, a new secret is still safe.
    let secret = config::pseudonym_secret(pseudonym_key, log.latest().size <= 2)?;
    Ok(Certificates::new(
        log,
        store,
        Arc::new(catalog),
        anchor,
        PseudonymKey::new(secret),
        Arc::new(SystemClock),
    ))
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
