//! Publishing the no-proof scenario rule set into the log.
//!
//! Decisions must be re-checkable against the rules in force when they were made, so every
//! change of the rule set becomes a `PolicyPublished` entry with a new version, and the
//! version in force is kept beside the log (side table `Policy`) in the same transaction.
//! Publishing the same rules again changes nothing.

use crate::clock::Clock;
use crate::log::{AppendError, Log, PendingPut};
use proofless_core::entry::{Entry, PolicyPublished};
use proofless_core::policy::RuleSet;
use proofless_store::{Put, PutMode, Store, StoreError, Table};
use sha2::{Digest, Sha256};
use thiserror::Error;

pub(crate) const CURRENT: &[u8] = b"current";

/// Why the rule set could not be published.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The store failed, or holds a malformed record.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The log could not append.
    #[error(transparent)]
    Append(#[from] AppendError),
    /// The rule set is empty.
    #[error("the rule set has no scenario")]
    Empty,
    /// The rule set has more scenarios than one entry can list (256).
    #[error("the rule set has too many scenarios for one entry")]
    TooLarge,
}

/// The rule set version in force and its digest, if any was published.
pub fn current(store: &dyn Store) -> Result<Option<(u64, [u8; 32])>, StoreError> {
    let Some(raw) = store.get(Table::Policy, CURRENT)? else {
        return Ok(None);
    };
    if raw.len() != 8 + 32 + 8 {
        return Err(StoreError::Corrupt("policy record"));
    }
    let mut v = [0u8; 8];
    v.copy_from_slice(&raw[..8]);
    let mut d = [0u8; 32];
    d.copy_from_slice(&raw[8..40]);
    Ok(Some((u64::from_be_bytes(v), d)))
}

/// Publishes `rules` unless they are the version in force. Returns the version in force
/// afterwards and whether a new entry was appended.
pub async fn publish(
    log: &Log,
    store: &dyn Store,
    rules: &RuleSet,
    clock: &dyn Clock,
) -> Result<(u64, bool), PublishError> {
    if rules.is_empty() {
        return Err(PublishError::Empty);
    }
    let digest = rules.digest();
    let previous = current(store)?;
    if let Some((version, d)) = previous
        && d == digest
    {
        return Ok((version, false));
    }
    let version = previous.map_or(1, |(v, _)| v + 1);
    let entry = Entry::PolicyPublished(PolicyPublished {
        time: clock.now_millis(),
        version,
        digest,
        scenarios: rules
            .scenarios()
            .values()
            .map(|s| {
                (
                    s.code().to_owned(),
                    u64::from(s.version()),
                    Sha256::digest(s.text().as_bytes()).into(),
                )
            })
            .collect(),
    })
    .encode()
    .map_err(|_| PublishError::TooLarge)?;
    let mut value = version.to_be_bytes().to_vec();
    value.extend_from_slice(&digest);
    let put = PendingPut {
        put: Put {
            table: Table::Policy,
            key: CURRENT.to_vec(),
            value,
            mode: PutMode::Upsert,
        },
        key_index_of: None,
        index_of: Some(0),
    };
    log.append_with(vec![entry], vec![put]).await?;
    Ok((version, true))
}
