//! Server configuration: a TOML file, overridden by flags.
//!
//! Relative paths in the file are resolved against the file's directory, so a config can
//! be used from anywhere.

use anyhow::{Context, Result, bail};
use proofless_core::checkpoint::LedgerSigner;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Default origin of a log started without configuration.
pub(crate) const DEFAULT_ORIGIN: &str = "proofless.localhost/log";
/// Name of the ledger's signer key file in a key or data directory.
pub(crate) const LEDGER_KEY_FILE: &str = "ledger.key";
/// Name of the ledger's verifier key file.
pub(crate) const LEDGER_VKEY_FILE: &str = "ledger.vkey";

/// The configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    /// Data directory.
    pub(crate) data: Option<PathBuf>,
    /// Listen address.
    pub(crate) listen: Option<SocketAddr>,
    /// The ledger's signer key (`PRIVATE+KEY+…`); its name is the log's origin.
    pub(crate) ledger_key: Option<PathBuf>,
    /// The ledger's X.509 certificate (PEM), registered in the log's first entry.
    pub(crate) ledger_certificate: Option<PathBuf>,
    /// The deployment's trust anchor (PEM), registered in the log's first entries.
    /// Without it the certificate endpoints answer `not_configured`.
    pub(crate) trust_anchor: Option<PathBuf>,
    /// Directory of certificate type schemas (default `schemas/certificates`).
    pub(crate) certificate_types: Option<PathBuf>,
    /// Directory of no-proof scenario rules; when set, the rule set is linted at start
    /// and published into the log whenever it changed.
    pub(crate) scenarios: Option<PathBuf>,
    /// The host (and port) departments and channels address this ledger by, e.g.
    /// `ledger.qingdao.example`: signed requests for any other `@authority` are refused.
    /// Unset: any authority is accepted (the signature still covers it).
    pub(crate) authority: Option<String>,
    /// The deployment secret that keys holder pseudonyms (32 bytes, hex); default
    /// `<data>/pseudonym.key`, generated on first start.
    pub(crate) pseudonym_key: Option<PathBuf>,
    /// Witnesses asked to cosign every new checkpoint (C2SP tlog-witness).
    #[serde(default)]
    pub(crate) witnesses: Vec<WitnessConfig>,
    /// How many of `witnesses` must cosign a checkpoint before it is served as cosigned
    /// (default: all of them).
    pub(crate) witness_quorum: Option<usize>,
}

/// One witness: `[[witnesses]]` with `url` and `vkey`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WitnessConfig {
    /// Base URL; the ledger POSTs to `<url>/add-checkpoint`.
    pub(crate) url: String,
    /// The witness's verifier key, `name+id+base64(0x04 ‖ key)`.
    pub(crate) vkey: String,
}

impl FileConfig {
    /// Reads `path`, resolving relative paths against its directory.
    pub(crate) fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config {}", path.display()))?;
        let mut c: FileConfig =
            toml::from_str(&text).with_context(|| format!("config {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for p in [
            &mut c.data,
            &mut c.ledger_key,
            &mut c.ledger_certificate,
            &mut c.trust_anchor,
            &mut c.certificate_types,
            &mut c.scenarios,
            &mut c.pseudonym_key,
        ]
        .into_iter()
        .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        Ok(c)
    }
}

/// Reads every `*.json` in `dir` as (file name, text), sorted by name.
pub(crate) fn read_schemas(dir: &Path) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = e?.path();
        if path.extension().is_some_and(|x| x == "json") {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            out.push((path.display().to_string(), text));
        }
    }
    out.sort();
    Ok(out)
}

/// The pseudonym secret at `path`, generated (32 random bytes, hex, 0600) on first use.
///
/// A ledger that already holds entries never gets a new secret silently: every holder
/// index was built with the old one, so a missing file is an error there (`may_create`
/// false).
pub(crate) fn pseudonym_secret(path: &Path, may_create: bool) -> Result<[u8; 32]> {
    if path.exists() {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let bytes =
            hex::decode(text.trim()).with_context(|| format!("{}: not hex", path.display()))?;
        return bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("{}: must be 32 bytes of hex", path.display()));
    }
    if !may_create {
        anyhow::bail!(
            "{}: the pseudonym secret is missing, but this ledger already holds entries indexed with it; restore the file (it cannot be regenerated)",
            path.display()
        );
    }
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    write_durably(path, format!("{}\n", hex::encode(secret)).as_bytes(), true)?;
    tracing::info!(path = %path.display(), "generated a new pseudonym secret");
    Ok(secret)
}

/// Reads a signer key file.
pub(crate) fn read_signer(path: &Path) -> Result<LedgerSigner> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading ledger key {}", path.display()))?;
    LedgerSigner::from_skey(text.trim()).with_context(|| {
        format!(
            "ledger key {}: not a PRIVATE+KEY+… Ed25519 signer key",
            path.display()
        )
    })
}

/// The signer key in `dir/ledger.key`, generated with `origin` on first use.
pub(crate) fn signer_in_dir(dir: &Path, origin: &str) -> Result<LedgerSigner> {
    let path = dir.join(LEDGER_KEY_FILE);
    if path.exists() {
        return read_signer(&path);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let signer = new_signer(origin)?;
    write_key_files(dir, &signer)?;
    tracing::info!(path = %path.display(), vkey = %signer.vkey(), "generated a new ledger key");
    Ok(signer)
}

/// A new random signer.
pub(crate) fn new_signer(origin: &str) -> Result<LedgerSigner> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    match LedgerSigner::from_seed(origin, seed) {
        Ok(s) => Ok(s),
        Err(_) => bail!("origin {origin:?} is not a valid key name (no spaces or '+')"),
    }
}

/// Writes `ledger.key` (0600) and `ledger.vkey` into `dir`, each durably.
pub(crate) fn write_key_files(dir: &Path, signer: &LedgerSigner) -> Result<()> {
    write_durably(
        &dir.join(LEDGER_KEY_FILE),
        format!("{}\n", signer.skey()).as_bytes(),
        true,
    )?;
    write_durably(
        &dir.join(LEDGER_VKEY_FILE),
        format!("{}\n", signer.vkey()).as_bytes(),
        false,
    )
}

/// Writes a file atomically and durably: temp file, fsync, rename, fsync the directory.
pub(crate) fn write_durably(path: &Path, data: &[u8], secret: bool) -> Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    // Temporary files are created 0600; public files are made readable by all.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = if secret { 0o600 } else { 0o644 };
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = secret;
    tmp.write_all(data)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// A ledger verifier key given on the command line as `<origin>+<id>+<key>`, or as `@FILE`
/// to read it from a file (e.g. `@keys-example/ledger.vkey`). `flag` names the option in
/// errors.
pub(crate) fn read_vkey(
    arg: &str,
    flag: &str,
) -> Result<proofless_core::checkpoint::LedgerVerifier> {
    let text = match arg.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?,
        None => arg.to_owned(),
    };
    proofless_core::checkpoint::LedgerVerifier::from_vkey(text.trim())
        .with_context(|| format!("{flag}: not a verifier key"))
}
