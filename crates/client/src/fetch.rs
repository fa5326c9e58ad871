//! Fetching resources of a log.

use std::time::Duration;
use thiserror::Error;

/// Largest response accepted: a full entry bundle of 256 maximal entries, plus slack.
pub const MAX_RESPONSE: u64 = 256 * 65_537 + 4096;

/// Why a fetch failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The server answered 404.
    #[error("{path}: not found")]
    NotFound {
        /// The path requested.
        path: String,
    },
    /// The server answered another non-success status.
    #[error("{path}: HTTP status {status}")]
    Status {
        /// The path requested.
        path: String,
        /// The status.
        status: u16,
    },
    /// The request could not be made or the response not read.
    #[error("{path}: {source}")]
    Transport {
        /// The path requested.
        path: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A GET of a path relative to the log's base URL (`checkpoint`, `tile/0/000`, …).
pub trait Fetch: Sync {
    /// Returns the body of a successful response.
    fn get(&self, path: &str) -> Result<Vec<u8>, FetchError>;
}

/// A read API held in memory, path → body (benchmarks, and tests that make it lie).
impl Fetch for std::collections::HashMap<String, Vec<u8>> {
    fn get(&self, path: &str) -> Result<Vec<u8>, FetchError> {
        std::collections::HashMap::get(self, path)
            .cloned()
            .ok_or_else(|| FetchError::NotFound {
                path: path.to_owned(),
            })
    }
}

/// [`Fetch`] over HTTP(S) with `ureq`.
#[derive(Debug)]
pub struct HttpFetch {
    base: String,
    agent: ureq::Agent,
}

impl HttpFetch {
    /// A fetcher for the log at `base` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base: &str) -> Self {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(60)))
            .http_status_as_error(false)
            .build();
        Self {
            base: base.trim_end_matches('/').to_owned(),
            agent: config.into(),
        }
    }
}

impl Fetch for HttpFetch {
    fn get(&self, path: &str) -> Result<Vec<u8>, FetchError> {
        let url = format!("{}/{}", self.base, path.trim_start_matches('/'));
        let transport = |e: ureq::Error| FetchError::Transport {
            path: path.to_owned(),
            source: Box::new(e),
        };
        let mut resp = self.agent.get(&url).call().map_err(transport)?;
        let status = resp.status().as_u16();
        if status == 404 {
            return Err(FetchError::NotFound {
                path: path.to_owned(),
            });
        }
        if !(200..300).contains(&status) {
            return Err(FetchError::Status {
                path: path.to_owned(),
                status,
            });
        }
        resp.body_mut()
            .with_config()
            .limit(MAX_RESPONSE)
            .read_to_vec()
            .map_err(transport)
    }
}
