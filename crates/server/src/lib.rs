//! The Proofless HTTP API (axum).
//!
//! Routes (all described in the OpenAPI document served at `/openapi.json` and committed
//! as `docs/openapi.json`):
//!
//! * C2SP tlog-tiles: `GET /checkpoint`, `GET /tile/<L>/<N>[.p/<W>]`,
//!   `GET /tile/entries/<N>[.p/<W>]` — tiles are immutable and cached for a year, the
//!   checkpoint for one second;
//! * `GET /v1/log`, `GET /v1/entries/{index}`, `GET /v1/proofs/consistency?old=&new=`;
//! * `GET /v1/checkpoint/cosigned` — the latest checkpoint cosigned by a quorum of
//!   witnesses (C2SP tlog-cosignature lines after the ledger's signature);
//! * `GET /healthz`, `GET /metrics`, `GET /openapi.json`.
//!
//! # Guarantees
//! * Every error is RFC 9457 problem+json with a stable `code` ([`error::CODES`]);
//!   malformed paths and parameters get 400 or 404, never a panic or a 500.
//! * No handler echoes request data in an error, and the access log (a `tracing` event
//!   per request) and the metrics record the matched route template, never the raw URL.
//! * The server never blocks the async runtime on storage: store reads run on the
//!   blocking pool, appends on the sequencer thread.

mod certs;
mod consent;
pub mod error;
mod extract;
mod routes;
mod verify;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use proofless_ledger::Log;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use utoipa::OpenApi;

/// Largest request body accepted by any route.
pub const MAX_BODY: usize = 1024 * 1024;
/// Longest a request may take before it is answered 503 `timeout`.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: String,
    method: String,
    status: u16,
}

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    log: Arc<Log>,
    certificates: Option<Arc<proofless_ledger::certs::Certificates>>,
    verifications: Option<Arc<proofless_ledger::verify::Verifications>>,
    cosigned: Option<Arc<proofless_ledger::witness::CosignedCheckpoints>>,
    registry: Arc<Registry>,
    requests: Family<HttpLabels, Counter>,
    latency: Family<HttpLabels, Histogram>,
}

impl AppState {
    /// Serves the certificate endpoints with `certificates`.
    pub fn with_certificates(
        mut self,
        certificates: Arc<proofless_ledger::certs::Certificates>,
    ) -> Self {
        self.certificates = Some(certificates);
        self
    }

    /// Serves `POST /v1/verifications` with `verifications`.
    pub fn with_verifications(
        mut self,
        verifications: Arc<proofless_ledger::verify::Verifications>,
    ) -> Self {
        self.verifications = Some(verifications);
        self
    }

    /// Serves `GET /v1/checkpoint/cosigned` from `cosigned`, the checkpoints cosigned by a
    /// quorum of witnesses, and adds its `proofless_witness_*` metrics. Call it before the
    /// state is shared (cloned): the metrics registry is only writable until then.
    pub fn with_cosigned(
        mut self,
        cosigned: Arc<proofless_ledger::witness::CosignedCheckpoints>,
    ) -> Self {
        match Arc::get_mut(&mut self.registry) {
            Some(registry) => cosigned.register(registry),
            None => tracing::warn!("witness metrics not registered: the state is already shared"),
        }
        self.cosigned = Some(cosigned);
        self
    }

    /// State for a server of `log`, with its metrics registered.
    pub fn new(log: Arc<Log>) -> Self {
        let mut registry = Registry::default();
        log.metrics().register(&mut registry);
        let requests = Family::<HttpLabels, Counter>::default();
        let latency = Family::<HttpLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 14))
        });
        let http = registry.sub_registry_with_prefix("proofless_http");
        http.register(
            "requests",
            "HTTP requests by route template and status",
            requests.clone(),
        );
        http.register("request_seconds", "HTTP request latency", latency.clone());
        Self {
            log,
            certificates: None,
            verifications: None,
            cosigned: None,
            registry: Arc::new(registry),
            requests,
            latency,
        }
    }
}

/// The OpenAPI description of every route.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Proofless",
        description = "The ledger behind a no-proof city: signed electronic certificates and every access to them in an append-only, publicly verifiable Merkle log.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    paths(
        routes::checkpoint,
        routes::cosigned_checkpoint,
        routes::tile,
        routes::log_info,
        routes::entry,
        routes::consistency,
        routes::healthz,
        routes::metrics,
        routes::openapi_json,
        certs::issue,
        certs::change_status,
        certs::get_certificate,
        certs::lookup,
        certs::retire_key,
        verify::register,
        verify::verify,
        verify::receipt_proof,
        verify::published_rules,
        consent::grant,
        consent::revoke,
        consent::history,
    ),
    components(schemas(error::Problem)),
    tags(
        (name = "tlog-tiles", description = "C2SP tlog-tiles read API"),
        (name = "log", description = "Entries and proofs"),
        (name = "certificates", description = "Electronic certificates: issuance, status, lookups"),
        (name = "verifications", description = "No-proof verifications by departments: signed requests, answers, receipts"),
        (name = "consents", description = "Channels (citizen side): one-time consents and the holder's access history"),
        (name = "operations", description = "Health, metrics and this document"),
    )
)]
pub struct ApiDoc;

/// The OpenAPI document as pretty JSON, exactly as committed in `docs/openapi.json`.
pub fn openapi_json() -> String {
    let mut s = ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|_| String::from("{}"));
    s.push('\n');
    s
}

async fn record_metrics(State(s): State<AppState>, req: Request, next: Next) -> Response {
    // The route template, never the raw path: raw paths could carry data.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let resp = next.run(req).await;
    let elapsed = started.elapsed();
    let labels = HttpLabels {
        route,
        method,
        status: resp.status().as_u16(),
    };
    tracing::info!(
        target: "proofless::access",
        route = %labels.route,
        method = %labels.method,
        status = labels.status,
        ms = elapsed.as_secs_f64() * 1000.0,
    );
    s.requests.get_or_create(&labels).inc();
    s.latency
        .get_or_create(&labels)
        .observe(elapsed.as_secs_f64());
    resp
}

/// The body-limit and timeout layers answer on their own, in plain text or with an empty
/// body; this puts their answers in the same problem+json shape as every other error.
async fn problem_for_layer_errors(resp: Response) -> Response {
    let is_problem = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v == "application/problem+json");
    match resp.status() {
        StatusCode::PAYLOAD_TOO_LARGE if !is_problem => {
            error::ApiError::new("payload_too_large").into_response()
        }
        StatusCode::SERVICE_UNAVAILABLE if !is_problem => {
            error::ApiError::new("timeout").into_response()
        }
        _ => resp,
    }
}

/// The API router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/checkpoint", get(routes::checkpoint))
        .route("/v1/checkpoint/cosigned", get(routes::cosigned_checkpoint))
        .route("/tile/{*path}", get(routes::tile))
        .route("/v1/log", get(routes::log_info))
        .route("/v1/entries/{index}", get(routes::entry))
        .route("/v1/proofs/consistency", get(routes::consistency))
        .route("/healthz", get(routes::healthz))
        .route("/metrics", get(routes::metrics))
        .route("/openapi.json", get(routes::openapi_json))
        .route("/v1/certificates", post(certs::issue))
        .route("/v1/certificates/lookup", post(certs::lookup))
        .route("/v1/certificates/{id}", get(certs::get_certificate))
        .route("/v1/certificates/{id}/status", post(certs::change_status))
        .route("/v1/keys/retire", post(certs::retire_key))
        .route("/v1/keys", post(verify::register))
        .route("/v1/verifications", post(verify::verify))
        .route("/v1/receipts/{index}/proof", get(verify::receipt_proof))
        .route("/v1/policies/{version}", get(verify::published_rules))
        .route("/v1/consents", post(consent::grant))
        .route("/v1/consents/revoke", post(consent::revoke))
        .route("/v1/holder-accesses", post(consent::history))
        .fallback(|| async { error::ApiError::not_found() })
        .method_not_allowed_fallback(|| async { error::ApiError::new("method_not_allowed") })
        // Innermost first: the limits, then the problem+json mapping of their answers,
        // then metrics and the access log, which thus see every response.
        .layer(RequestBodyLimitLayer::new(MAX_BODY))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ))
        .layer(middleware::map_response(problem_for_layer_errors))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            record_metrics,
        ))
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` resolves, then drains in-flight
/// requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
