//! Publishing the no-proof scenario rule set into the log.
//!
//! Decisions must be re-checkable against the rules in force when they were made, so every
//! change of the rule set becomes a `PolicyPublished` entry with a new version, and the
//! version in force is kept beside the log (side table `Policy`) in the same transaction.
//! Publishing the same rules again changes nothing.

use crate::clock::Clock;
use crate::log::{AppendError, Log, PendingPut};
use proofless_core::entry::Entry;
use proofless_core::policy::RuleSet;
use proofless_store::{Put, PutMode, Store, StoreError, Table};
use thiserror::Error;

pub(crate) const CURRENT: &[u8] = b"current";
pub(crate) const TEXT_PREFIX: &[u8] = b"text/";

pub(crate) fn text_key(version: u64) -> Vec<u8> {
    let mut k = TEXT_PREFIX.to_vec();
    k.extend_from_slice(&version.to_be_bytes());
    k
}

/// The files of a published rule set version, as an auditor needs them to re-check the
/// decisions made under it: each scenario's file name and exact text, in code order.
/// Their [`RuleSet::digest`] is the one in the version's `PolicyPublished` entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PublishedFile {
    /// The file name it was read from.
    pub file_name: String,
    /// Its exact text.
    pub text: String,
}

fn texts_of(rules: &RuleSet) -> Vec<u8> {
    let files: Vec<PublishedFile> = rules
        .scenarios()
        .values()
        .map(|s| PublishedFile {
            file_name: s
                .file_name()
                .rsplit(['/', '\\'])
                .next()
                .unwrap_or_default()
                .to_owned(),
            text: s.text().to_owned(),
        })
        .collect();
    // INVARIANT: a vector of plain strings always serialises.
    #[allow(clippy::expect_used)]
    serde_json::to_vec(&files).expect("rule files serialise")
}

/// The files of rule set `version`, if this store kept them (stores older than this
/// feature kept only the digest).
pub fn published(
    store: &dyn Store,
    version: u64,
) -> Result<Option<Vec<PublishedFile>>, StoreError> {
    let Some(raw) = store.get(Table::Policy, &text_key(version))? else {
        return Ok(None);
    };
    serde_json::from_slice(&raw)
        .map(Some)
        .map_err(|_| StoreError::Corrupt("published rule files"))
}

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
    let entry = Entry::PolicyPublished(rules.publication(version, clock.now_millis()))
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
    let files = PendingPut::plain(Put {
        table: Table::Policy,
        key: text_key(version),
        value: texts_of(rules),
        mode: PutMode::Upsert,
    });
    log.append_with(vec![entry], vec![put, files]).await?;
    Ok((version, true))
}
