//! Handlers of the log's read API.

use crate::AppState;
use crate::error::ApiError;
use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::{Engine, prelude::BASE64_STANDARD};
use proofless_core::entry::Entry;
use proofless_core::merkle::Hash;
use proofless_core::tiles::TileId;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

/// Tiles and entry bundles never change once served.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// A checkpoint is superseded as soon as the next batch commits; caches may hold it for a
/// second, which bounds how stale a cached view of the log can be.
const SHORT_LIVED: &str = "public, max-age=1";

fn b64(h: &Hash) -> String {
    BASE64_STANDARD.encode(h.0)
}

/// Strict decimal `u64`: digits only, no sign, no leading zeros.
pub(crate) fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || (s.len() > 1 && s.starts_with('0')) || !s.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    s.parse().ok()
}

/// The latest signed checkpoint (C2SP tlog-checkpoint in a signed note).
#[utoipa::path(
    get, path = "/checkpoint", tag = "tlog-tiles",
    responses((status = 200, description = "The latest checkpoint, signed by the ledger (C2SP signed-note).", content_type = "text/plain; charset=utf-8", body = String))
)]
pub(crate) async fn checkpoint(State(s): State<AppState>) -> Response {
    let cp = s.log.latest();
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(SHORT_LIVED)),
        ],
        cp.note.clone(),
    )
        .into_response()
}

/// The latest checkpoint cosigned by a quorum of witnesses.
#[utoipa::path(
    get, path = "/v1/checkpoint/cosigned", tag = "log",
    responses(
        (status = 200, description = "The latest checkpoint that at least k of the configured witnesses cosigned: the ledger's signed note followed by one C2SP tlog-cosignature line (`cosignature/v1`) per witness. It may be older than `/checkpoint`.", content_type = "text/plain; charset=utf-8", body = String),
        (status = 404, description = "No checkpoint has been cosigned by a quorum yet.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "No witnesses are configured (`not_configured`).", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn cosigned_checkpoint(State(s): State<AppState>) -> Result<Response, ApiError> {
    let cosigned = s.cosigned.as_ref().ok_or_else(|| {
        ApiError::new("not_configured").detail("this server has no witnesses configured")
    })?;
    let cp = cosigned.latest().ok_or_else(ApiError::not_found)?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(SHORT_LIVED)),
        ],
        cp.note.clone(),
    )
        .into_response())
}

/// A hash tile (`tile/<L>/<N>[.p/<W>]`) or entry bundle (`tile/entries/<N>[.p/<W>]`).
#[utoipa::path(
    get, path = "/tile/{path}", tag = "tlog-tiles",
    params(("path" = String, Path, description = "The rest of a C2SP tlog-tiles path, with its slashes: `<L>/<N>[.p/<W>]` or `entries/<N>[.p/<W>]`, N in 3-digit groups (`x001/x234/067`).")),
    responses(
        (status = 200, description = "Tile data: concatenated 32-byte hashes, or an entry bundle of uint16-length-prefixed entries. Immutable.", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 400, description = "Malformed tile path (`invalid_tile_path`).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "The tile is not (yet) covered by the checkpoint (`not_found`).", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn tile(
    State(s): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Ok(Path(path)) = path else {
        return Err(ApiError::new("invalid_tile_path"));
    };
    let id = TileId::parse(&path).map_err(|_| ApiError::new("invalid_tile_path"))?;
    let log = s.log.clone();
    let data = tokio::task::spawn_blocking(move || log.tile(id))
        .await
        .map_err(|e| ApiError::internal(&e))??;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE)),
        ],
        data,
    )
        .into_response())
}

/// What a client needs to follow the log.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LogInfo {
    /// The log's origin line, e.g. `ledger.qingdao.example/proofless/v1`.
    origin: String,
    /// Size of the latest checkpoint.
    size: u64,
    /// Root hash of the latest checkpoint, base64.
    root: String,
    /// The ledger's checkpoint verifier key in C2SP vkey form `<name>+<hex key id>+<base64>`.
    /// Pin it out of band: a key fetched from the server it verifies proves nothing.
    verifier_key: String,
    /// Tile height (C2SP tlog-tiles: 8).
    tile_height: u8,
}

/// The log's origin, size and verifier key.
#[utoipa::path(get, path = "/v1/log", tag = "log", responses((status = 200, body = LogInfo)))]
pub(crate) async fn log_info(State(s): State<AppState>) -> Response {
    let cp = s.log.latest();
    let info = LogInfo {
        origin: s.log.origin().to_owned(),
        size: cp.size,
        root: b64(&cp.root),
        verifier_key: s.log.vkey(),
        tile_height: proofless_core::tiles::TILE_HEIGHT,
    };
    (
        [(header::CACHE_CONTROL, HeaderValue::from_static(SHORT_LIVED))],
        Json(info),
    )
        .into_response()
}

/// One entry with its inclusion proof.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EntryResponse {
    /// Entry index.
    index: u64,
    /// Entry kind, e.g. `access_recorded`.
    kind: &'static str,
    /// The canonical CBOR entry, base64.
    entry: String,
    /// RFC 9162 leaf hash, base64.
    leaf_hash: String,
    /// Tree size the proof is for (that of `checkpoint`).
    tree_size: u64,
    /// RFC 9162 inclusion proof, base64 hashes from the leaf upwards.
    inclusion_proof: Vec<String>,
    /// The signed checkpoint the proof leads to.
    checkpoint: String,
}

/// An entry and its inclusion proof against the latest checkpoint.
#[utoipa::path(
    get, path = "/v1/entries/{index}", tag = "log",
    params(("index" = u64, Path, description = "Entry index, decimal.")),
    responses(
        (status = 200, body = EntryResponse),
        (status = 400, description = "`invalid_index`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn entry(
    State(s): State<AppState>,
    index: Result<Path<String>, PathRejection>,
) -> Result<Json<EntryResponse>, ApiError> {
    let index = index
        .ok()
        .and_then(|Path(i)| parse_u64(&i))
        .ok_or_else(|| ApiError::new("invalid_index"))?;
    let log = s.log.clone();
    let e = tokio::task::spawn_blocking(move || log.entry(index))
        .await
        .map_err(|e| ApiError::internal(&e))??;
    // Stored entries were validated on the way in; one that no longer decodes means the
    // store was altered behind the ledger's back.
    let kind = Entry::decode(&e.entry).map(|d| d.kind()).map_err(|err| {
        ApiError::internal(&format!("stored entry {index} does not decode: {err}"))
    })?;
    Ok(Json(EntryResponse {
        index,
        kind: kind.name(),
        entry: BASE64_STANDARD.encode(&e.entry),
        leaf_hash: b64(&proofless_core::merkle::leaf_hash(&e.entry)),
        tree_size: e.checkpoint.size,
        inclusion_proof: e.proof.iter().map(b64).collect(),
        checkpoint: String::from_utf8_lossy(&e.checkpoint.note).into_owned(),
    }))
}

/// Query of the consistency proof. It only describes the parameters in the OpenAPI
/// document: the handler parses the raw query itself, strictly (no unknown, repeated or
/// malformed parameters), so the fields are never read.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct ConsistencyQuery {
    /// The older tree size.
    old: u64,
    /// The newer tree size; default: the latest checkpoint's.
    new: Option<u64>,
}

/// A consistency proof.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ConsistencyResponse {
    /// Older tree size.
    old: u64,
    /// Newer tree size.
    new: u64,
    /// RFC 9162 consistency proof, base64 hashes.
    proof: Vec<String>,
    /// The latest signed checkpoint when the proof was made (its size is ≥ `new`).
    checkpoint: String,
}

/// A consistency proof between two tree sizes.
#[utoipa::path(
    get, path = "/v1/proofs/consistency", tag = "log",
    params(ConsistencyQuery),
    responses(
        (status = 200, body = ConsistencyResponse),
        (status = 400, description = "`invalid_query` or `invalid_range`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`new` is beyond the latest checkpoint (`not_found`)", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn consistency(
    State(s): State<AppState>,
    RawQuery(q): RawQuery,
) -> Result<Json<ConsistencyResponse>, ApiError> {
    let (old, new) = parse_consistency_query(q.as_deref().unwrap_or(""))?;
    let log = s.log.clone();
    let (new, proof, cp) = tokio::task::spawn_blocking(move || log.consistency(old, new))
        .await
        .map_err(|e| ApiError::internal(&e))??;
    Ok(Json(ConsistencyResponse {
        old,
        new,
        proof: proof.iter().map(b64).collect(),
        checkpoint: String::from_utf8_lossy(&cp.note).into_owned(),
    }))
}

fn parse_consistency_query(q: &str) -> Result<(u64, Option<u64>), ApiError> {
    let bad = || ApiError::new("invalid_query");
    let mut old = None;
    let mut new = None;
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').ok_or_else(bad)?;
        let v = parse_u64(v).ok_or_else(bad)?;
        let slot = match k {
            "old" => &mut old,
            "new" => &mut new,
            _ => return Err(bad().detail("allowed parameters: old, new")),
        };
        if slot.replace(v).is_some() {
            return Err(bad().detail("a parameter is repeated"));
        }
    }
    Ok((old.ok_or_else(|| bad().detail("old is required"))?, new))
}

/// Liveness and the size the server sees.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// `ok`.
    status: &'static str,
    /// Size of the latest checkpoint.
    tree_size: u64,
}

/// Liveness probe.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
pub(crate) async fn healthz(State(s): State<AppState>) -> Response {
    let h = Health {
        status: "ok",
        tree_size: s.log.latest().size,
    };
    (
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(h),
    )
        .into_response()
}

/// Prometheus metrics (OpenMetrics text).
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "OpenMetrics text exposition.", content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8", body = String)))]
pub(crate) async fn metrics(State(s): State<AppState>) -> Result<Response, ApiError> {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &s.registry)
        .map_err(|e| ApiError::internal(&e))?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        out,
    )
        .into_response())
}

/// This API's OpenAPI 3.1 description.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", responses((status = 200, description = "OpenAPI 3.1 document.", content_type = "application/json", body = Object)))]
pub(crate) async fn openapi_json() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        crate::openapi_json(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn strict_decimals() {
        assert_eq!(parse_u64("0"), Some(0));
        assert_eq!(parse_u64("18446744073709551615"), Some(u64::MAX));
        for bad in [
            "",
            "01",
            "+1",
            "-1",
            "1e3",
            " 1",
            "18446744073709551616",
            "0x10",
        ] {
            assert_eq!(parse_u64(bad), None, "{bad}");
        }
    }

    #[test]
    fn consistency_query() {
        assert_eq!(
            parse_consistency_query("old=1&new=2").unwrap(),
            (1, Some(2))
        );
        assert_eq!(parse_consistency_query("old=1").unwrap(), (1, None));
        for bad in [
            "",
            "new=2",
            "old=1&old=2",
            "old=1&x=2",
            "old",
            "old=-1",
            "old=1&new=",
        ] {
            assert_eq!(
                parse_consistency_query(bad).unwrap_err().code(),
                "invalid_query",
                "{bad}"
            );
        }
    }
}
