//! `proofless witness`: a C2SP `tlog-witness` server that cosigns the checkpoints of the
//! logs it knows, per C2SP `tlog-cosignature` (`cosignature/v1`, Ed25519).
//!
//! One route, `POST /add-checkpoint`. For each request, in this order:
//!
//! 1. the body must parse (`old <size>`, proof lines, an empty line, a checkpoint note),
//!    else **400**;
//! 2. the checkpoint's origin must be a configured log, else **404**, and the checkpoint
//!    must carry a valid signature by that log's key, else **403** (C2SP `tlog-witness`);
//! 3. `old` must equal the size this witness last cosigned for that log (0 before the
//!    first), else **409** with `Content-Type: text/x.tlog.size` and that size as body;
//! 4. the checkpoint may not be smaller than `old` (a rollback), else **400**;
//! 5. the consistency proof from the recorded (size, root) to the new checkpoint must
//!    verify (equal sizes need equal roots and an empty proof; from size 0 there is no
//!    proof: trust on first use), else **422**;
//! 6. the new view (size, root, checkpoint) is written to `DATA/<sha256(origin)>.json`
//!    atomically and durably (temporary file, fsync, rename, fsync of the directory)
//!    **before** the answer, so that a witness that cosigned a checkpoint never forgets
//!    it, even after a crash;
//! 7. the answer is **200**, `text/plain`, the cosignature line `— NAME base64(…)`.
//!
//! Requests for one log are serialised (a lock per origin), so two concurrent requests
//! cannot both move the view from the same size.
//!
//! The witness key is an Ed25519 PKCS#8 PEM file, as written by `proofless witness
//! --generate-key` (or `proofless keys example` for the example witness). The name is
//! given on the command line; the verifier key (`NAME+id+base64(0x04‖key)`) is printed by
//! `--generate-key` and `--print-vkey` and logged at start.
//!
//! This file also holds the ledger's side of the wire: [`WitnessSetup`] builds the
//! cosignature collector of `proofless serve` from the `[[witnesses]]` configuration, with
//! a `ureq` transport ([`proofless_ledger::witness`] does no network I/O itself).

use crate::config::FileConfig;
use crate::config::write_durably;
use anyhow::{Context, Result, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::{Engine, prelude::BASE64_STANDARD};
use clap::Args;
use ed25519_dalek::SigningKey;
use ed25519_dalek::ed25519::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::ed25519::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use proofless_core::checkpoint::{CheckpointError, LedgerVerifier};
use proofless_core::cosign::{
    AddCheckpoint, MAX_REQUEST_LEN, RequestError, WitnessPolicy, WitnessSigner, WitnessVerifier,
};
use proofless_core::merkle::{self, Hash};
use proofless_ledger::Log;
use proofless_ledger::witness::{
    Unreachable, WitnessEndpoint, WitnessReply, WitnessTransport, Witnessing,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use thiserror::Error;
use tokio::sync::Mutex;

/// Arguments of `witness`.
#[derive(Debug, Args)]
pub(crate) struct WitnessArgs {
    /// Directory of the witness's state, one JSON file per log.
    #[arg(long, default_value = "witness-data")]
    data: PathBuf,
    /// Listen address (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8081")]
    listen: SocketAddr,
    /// The witness's Ed25519 key (PKCS#8 PEM).
    #[arg(long)]
    key: PathBuf,
    /// The witness's name (its key name in cosignatures), e.g. `witness.audit.qingdao.example`.
    #[arg(long)]
    name: String,
    /// The verifier key (`origin+id+base64`) of a log this witness cosigns, or `@FILE` to
    /// read it from a file (e.g. `@keys-example/ledger.vkey`); repeatable.
    #[arg(long = "log")]
    logs: Vec<String>,
    /// Write a new random key to `--key` (refusing to overwrite), print its verifier key
    /// and exit.
    #[arg(long)]
    generate_key: bool,
    /// Print the verifier key of `--key` under `--name` and exit.
    #[arg(long)]
    print_vkey: bool,
}

/// What the witness remembers of one log: the last checkpoint it cosigned.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct View {
    origin: String,
    size: u64,
    /// Base64 root hash.
    root: String,
    /// The signed checkpoint note as received.
    checkpoint: String,
}

/// One known log.
struct KnownLog {
    verifier: LedgerVerifier,
    path: PathBuf,
    /// The recorded (size, root); `None` before the first cosignature.
    view: Mutex<Option<(u64, Hash)>>,
}

struct Witness {
    signer: WitnessSigner,
    logs: HashMap<String, Arc<KnownLog>>,
}

/// Why an `add-checkpoint` request was refused, with its HTTP status.
#[derive(Debug, Error)]
enum AddError {
    /// 400: the body is malformed.
    #[error("malformed request: {0}")]
    Malformed(#[from] RequestError),
    /// 404: the origin is not a log this witness knows.
    #[error("this witness does not witness this log")]
    UnknownOrigin,
    /// 403: no valid signature by the log's key.
    #[error("the checkpoint is not signed by the log's key")]
    NotSigned,
    /// 409: `old` is not the size this witness knows.
    #[error("old size does not match")]
    Conflict(u64),
    /// 400: the checkpoint is smaller than `old`.
    #[error("the checkpoint is older than the one already cosigned")]
    Rollback,
    /// 422: the consistency proof does not verify.
    #[error("the consistency proof does not verify")]
    BadProof,
    /// 500: the view could not be persisted; nothing was cosigned.
    #[error("internal error")]
    Persist,
}

impl IntoResponse for AddError {
    fn into_response(self) -> Response {
        let status = match &self {
            AddError::Malformed(_) | AddError::Rollback => StatusCode::BAD_REQUEST,
            AddError::UnknownOrigin => StatusCode::NOT_FOUND,
            AddError::NotSigned => StatusCode::FORBIDDEN,
            AddError::Conflict(size) => {
                let mut r = (StatusCode::CONFLICT, format!("{size}\n")).into_response();
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/x.tlog.size"),
                );
                return r;
            }
            AddError::BadProof => StatusCode::UNPROCESSABLE_ENTITY,
            AddError::Persist => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, format!("{self}\n")).into_response()
    }
}

fn state_file(data: &Path, origin: &str) -> PathBuf {
    data.join(format!(
        "{}.json",
        hex::encode(Sha256::digest(origin.as_bytes()))
    ))
}

fn read_key(path: &Path) -> Result<SigningKey> {
    let pem =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    SigningKey::from_pkcs8_pem(&pem)
        .map_err(|e| anyhow::anyhow!("{}: not an Ed25519 PKCS#8 PEM key: {e}", path.display()))
}

/// Loads the recorded view of `verifier`'s log, checking that it is still signed by it.
fn load_view(path: &Path, verifier: &LedgerVerifier) -> Result<Option<(u64, Hash)>> {
    if !path.exists() {
        return Ok(None);
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let view: View =
        serde_json::from_str(&text).with_context(|| format!("{}: not a view", path.display()))?;
    let cp = verifier
        .verify_checkpoint(view.checkpoint.as_bytes())
        .map_err(|e| anyhow::anyhow!("{}: stored checkpoint: {e}", path.display()))?;
    if cp.size != view.size
        || BASE64_STANDARD.encode(cp.root.0) != view.root
        || view.origin != verifier.name()
    {
        bail!("{}: the view disagrees with its checkpoint", path.display());
    }
    Ok(Some((cp.size, cp.root)))
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

async fn add_checkpoint(State(w): State<Arc<Witness>>, body: Bytes) -> Result<Response, AddError> {
    let req = AddCheckpoint::parse(&body)?;
    // `parse` checked that the checkpoint is a checkpoint note, whose first line is the
    // origin.
    let origin = std::str::from_utf8(&req.checkpoint)
        .ok()
        .and_then(|t| t.split_once('\n'))
        .map(|(o, _)| o.to_owned())
        .ok_or(AddError::Malformed(RequestError::Checkpoint))?;
    let log = w.logs.get(&origin).ok_or(AddError::UnknownOrigin)?.clone();
    let cp = log
        .verifier
        .verify_checkpoint(&req.checkpoint)
        .map_err(|e| match e {
            CheckpointError::Malformed => AddError::Malformed(RequestError::Checkpoint),
            _ => AddError::NotSigned,
        })?;
    let mut view = log.view.lock().await;
    let (known_size, known_root) = match *view {
        Some((s, r)) => (s, Some(r)),
        None => (0, None),
    };
    if req.old != known_size {
        return Err(AddError::Conflict(known_size));
    }
    if cp.size < req.old {
        return Err(AddError::Rollback);
    }
    match known_root {
        // Nothing seen yet, or only the empty tree: every tree extends it, and `parse`
        // refused a proof from size 0. Only another root of size 0 is a fork.
        Some(root) if known_size == 0 && cp.size == 0 && cp.root != root => {
            return Err(AddError::BadProof);
        }
        Some(_) if known_size == 0 => {}
        Some(root) => merkle::verify_consistency(&req.proof, known_size, root, cp.size, cp.root)
            .map_err(|_| AddError::BadProof)?,
        None => {}
    }
    let line = w
        .signer
        .cosign(&req.checkpoint, now_secs())
        .map_err(|_| AddError::Malformed(RequestError::Checkpoint))?;
    let record = View {
        origin: origin.clone(),
        size: cp.size,
        root: BASE64_STANDARD.encode(cp.root.0),
        checkpoint: String::from_utf8_lossy(&req.checkpoint).into_owned(),
    };
    let path = log.path.clone();
    let persisted = tokio::task::spawn_blocking(move || {
        let json = serde_json::to_vec_pretty(&record)?;
        write_durably(&path, &json, false)
    })
    .await;
    match persisted {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::error!(error = %e, "could not persist the witness view");
            return Err(AddError::Persist);
        }
        Err(e) => {
            tracing::error!(error = %e, "the persisting task failed");
            return Err(AddError::Persist);
        }
    }
    *view = Some((cp.size, cp.root));
    drop(view);
    tracing::info!(origin = %origin, size = cp.size, "cosigned");
    let mut resp = format!("{line}\n").into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(resp)
}

fn router(w: Arc<Witness>) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_LEN))
        .with_state(w)
}

pub(crate) fn run(args: WitnessArgs) -> Result<()> {
    if args.generate_key {
        if args.key.exists() {
            bail!("{} exists: not overwriting a key", args.key.display());
        }
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let key = SigningKey::from_bytes(&seed);
        let pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| anyhow::anyhow!("encoding the key: {e}"))?;
        let signer = WitnessSigner::new(&args.name, key)
            .map_err(|e| anyhow::anyhow!("--name {:?}: {e}", args.name))?;
        write_durably(&args.key, pem.as_bytes(), true)?;
        println!("{}", signer.vkey());
        return Ok(());
    }
    let signer = WitnessSigner::new(&args.name, read_key(&args.key)?)
        .map_err(|e| anyhow::anyhow!("--name {:?}: {e}", args.name))?;
    if args.print_vkey {
        println!("{}", signer.vkey());
        return Ok(());
    }
    crate::serve::init_tracing(false);
    if args.logs.is_empty() {
        bail!("give at least one --log VKEY to witness");
    }
    std::fs::create_dir_all(&args.data)
        .with_context(|| format!("creating {}", args.data.display()))?;
    let mut logs = HashMap::new();
    for arg in &args.logs {
        let verifier = crate::config::read_vkey(arg, "--log")?;
        let path = state_file(&args.data, verifier.name());
        let view = load_view(&path, &verifier)?;
        let origin = verifier.name().to_owned();
        if logs.contains_key(&origin) {
            bail!("--log {origin} given twice");
        }
        logs.insert(
            origin,
            Arc::new(KnownLog {
                verifier,
                path,
                view: Mutex::new(view),
            }),
        );
    }
    let witness = Arc::new(Witness { signer, logs });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("binding {}", args.listen))?;
        let addr = listener.local_addr()?;
        tracing::info!(%addr, vkey = %witness.signer.vkey(), logs = witness.logs.len(), "witnessing");
        // The one line on stdout: scripts and tests read the address from it.
        println!("proofless witness listening on http://{addr}");
        axum::serve(listener, router(witness))
            .with_graceful_shutdown(crate::serve::shutdown_signal())
            .await?;
        Ok(())
    })
}

/// The `ureq` transport of the ledger's cosignature collector.
struct UreqTransport {
    agent: ureq::Agent,
}

impl WitnessTransport for UreqTransport {
    fn add_checkpoint(&self, url: &str, body: &[u8]) -> Result<WitnessReply, Unreachable> {
        let resp = self
            .agent
            .post(url)
            .header("content-type", "text/plain; charset=utf-8")
            .send(body)
            .map_err(|_| Unreachable)?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .with_config()
            .limit(64 * 1024)
            .read_to_vec()
            .map_err(|_| Unreachable)?;
        Ok(WitnessReply { status, body })
    }
}

/// The witnesses configured in `file` (`[[witnesses]]`, `witness_quorum`), checked (vkeys,
/// distinct witnesses, 1 ≤ k ≤ n) before anything is opened; `None` without witnesses.
pub(crate) struct WitnessSetup {
    endpoints: Vec<WitnessEndpoint>,
    quorum: usize,
}

impl WitnessSetup {
    pub(crate) fn from_config(file: &FileConfig) -> Result<Option<Self>> {
        if file.witnesses.is_empty() {
            if file.witness_quorum.is_some() {
                bail!("witness_quorum is set but no [[witnesses]] are configured");
            }
            return Ok(None);
        }
        let mut endpoints = Vec::new();
        for w in &file.witnesses {
            let verifier = WitnessVerifier::from_vkey(&w.vkey)
                .map_err(|e| anyhow::anyhow!("witness {}: vkey: {e}", w.url))?;
            endpoints.push(WitnessEndpoint {
                url: w.url.clone(),
                verifier,
            });
        }
        let quorum = file.witness_quorum.unwrap_or(endpoints.len());
        WitnessPolicy::new(
            endpoints.iter().map(|e| e.verifier.clone()).collect(),
            quorum,
        )
        .map_err(|e| anyhow::anyhow!("witnesses: {e}"))?;
        if 2 * quorum <= endpoints.len() {
            // Two disjoint sets of honest witnesses could each cosign one side of a fork.
            tracing::warn!(
                quorum,
                witnesses = endpoints.len(),
                "witness_quorum is at most half of the witnesses: it does not prevent a split view"
            );
        }
        Ok(Some(Self { endpoints, quorum }))
    }

    /// The cosignature collector of `log`, with a `ureq` transport (not started).
    pub(crate) fn collector(self, log: &Arc<Log>) -> Result<Witnessing> {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(std::time::Duration::from_secs(10)))
            .http_status_as_error(false)
            .build()
            .new_agent();
        let n = self.endpoints.len();
        let w = Witnessing::new(
            log,
            self.endpoints,
            self.quorum,
            Arc::new(UreqTransport { agent }),
        )
        .map_err(|e| anyhow::anyhow!("witnesses: {e}"))?;
        tracing::info!(
            witnesses = n,
            quorum = self.quorum,
            "checkpoints will be sent to witnesses"
        );
        Ok(w)
    }
}
