//! Prometheus metrics of the log.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Metrics of one [`crate::Log`].
#[derive(Debug, Clone)]
pub struct LogMetrics {
    pub(crate) appended: Counter,
    pub(crate) batches: Counter,
    pub(crate) failed_batches: Counter,
    pub(crate) tree_size: Gauge,
    pub(crate) batch_size: Histogram,
    pub(crate) commit_seconds: Histogram,
}

impl Default for LogMetrics {
    fn default() -> Self {
        Self {
            appended: Counter::default(),
            batches: Counter::default(),
            failed_batches: Counter::default(),
            tree_size: Gauge::default(),
            batch_size: Histogram::new(exponential_buckets(1.0, 4.0, 9)),
            commit_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 14)),
        }
    }
}

impl LogMetrics {
    /// Batches committed so far.
    pub fn batches(&self) -> u64 {
        self.batches.get()
    }

    /// Registers the metrics under `proofless_log_*`.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("proofless_log");
        r.register(
            "appended_entries",
            "Entries durably appended",
            self.appended.clone(),
        );
        r.register(
            "batches",
            "Group-commit batches committed",
            self.batches.clone(),
        );
        r.register(
            "failed_batches",
            "Batches whose store commit failed (every writer got an error)",
            self.failed_batches.clone(),
        );
        r.register(
            "tree_size",
            "Size of the latest checkpoint",
            self.tree_size.clone(),
        );
        r.register(
            "batch_entries",
            "Entries per batch",
            self.batch_size.clone(),
        );
        r.register(
            "commit_seconds",
            "Time to integrate, sign and durably commit one batch",
            self.commit_seconds.clone(),
        );
    }
}
