//! The second pass of the check: every side-table row against the log (the rows of each
//! table, in key order, each checked against the entry it names and the state the first
//! pass rebuilt from the log), and the rows the log implies that no table holds.

use super::{CHUNK, Checker, Problem, be_index, describe, short};
use crate::certs::{StatusRecord, certificate_key, key_record_map};
use crate::consent::{ConsentRecord, ConsentState};
use proofless_core::cert::{SecurityObject, SignedSecurityObject, Status};
use proofless_core::entry::{CertificateIssued, Entry};
use proofless_store::{Store, Table};
use std::collections::HashSet;

impl Checker<'_> {
    /// Reads every row of `table`, page by page, and checks each with `f`.
    pub(super) fn scan_all(
        &mut self,
        store: &dyn Store,
        table: Table,
        mut f: impl FnMut(&mut Self, &dyn Store, &[u8], &[u8]),
    ) {
        let mut after: Option<Vec<u8>> = None;
        loop {
            let page = match store.scan(table, b"", after.as_deref(), CHUNK as usize) {
                Ok(p) => p,
                Err(e) => {
                    let at = after.as_deref().map(short).unwrap_or_default();
                    self.find(table.name(), at, Problem::Unreadable(describe(&e)));
                    return;
                }
            };
            for (k, v) in &page {
                // Keys come in strictly increasing order from any sound store; a corrupt
                // B-tree could repeat them forever, so a step back ends the scan.
                if after.as_deref().is_some_and(|a| k.as_slice() <= a) {
                    self.find(
                        table.name(),
                        short(k),
                        Problem::Mismatch("the table's keys are out of order"),
                    );
                    return;
                }
                *self.report.summary.rows.entry(table.name()).or_default() += 1;
                f(self, store, k, v);
                after = Some(k.clone());
            }
            if page.len() < CHUNK as usize {
                return;
            }
        }
    }

    /// The decoded entry at `index`, if it is below the size and decodes (a failure was
    /// reported by pass 1).
    pub(super) fn entry_at(&self, store: &dyn Store, index: u64) -> Option<Entry> {
        if index >= self.size {
            return None;
        }
        let raw = store.entries(index, index + 1).ok()?.pop()?;
        Entry::decode(&raw).ok()
    }

    pub(super) fn issued_at(
        &self,
        store: &dyn Store,
        index: u64,
    ) -> Option<(CertificateIssued, SecurityObject)> {
        match self.entry_at(store, index)? {
            Entry::CertificateIssued(ci) => {
                let obj = SignedSecurityObject::parse(&ci.security_object)
                    .ok()?
                    .object()
                    .clone();
                Some((ci, obj))
            }
            _ => None,
        }
    }

    pub(super) fn certificate_row(&mut self, store: &dyn Store, k: &[u8], v: &[u8]) {
        let table = Table::Certificates.name();
        let Some(i) = be_index(v) else {
            self.find(
                table,
                short(k),
                Problem::Undecodable("the value is not an 8-byte index".into()),
            );
            return;
        };
        match self.issued_at(store, i) {
            Some((_, obj)) if certificate_key(&obj.certificate_id).as_slice() == k => {}
            Some(_) => self.find(
                table,
                short(k),
                Problem::Mismatch(
                    "the key is not the hash of the identifier of the certificate it names",
                ),
            ),
            None => self.find(
                table,
                short(k),
                Problem::Mismatch("the row does not name a CertificateIssued entry"),
            ),
        }
    }

    pub(super) fn holder_index_row(&mut self, store: &dyn Store, k: &[u8], v: &[u8]) {
        let table = Table::HolderIndex.name();
        let Some((head, idx)) = k.split_at_checked(k.len().saturating_sub(8)) else {
            return;
        };
        let (Some(i), Some((holder, type_code))) = (be_index(idx), head.split_at_checked(32))
        else {
            self.find(
                table,
                short(k),
                Problem::Undecodable("the key is not pseudonym ‖ type ‖ index".into()),
            );
            return;
        };
        let at = format!("issued {i}");
        if !v.is_empty() {
            self.find(
                table,
                at.clone(),
                Problem::Unexpected("a value in a key-only table"),
            );
        }
        match self.issued_at(store, i) {
            Some((ci, obj))
                if ci.holder.as_slice() == holder && obj.type_code.as_bytes() == type_code => {}
            Some(_) => self.find(
                table,
                at,
                Problem::Mismatch("the holder or type is not the certificate's"),
            ),
            None => self.find(
                table,
                at,
                Problem::Mismatch("the row does not name a CertificateIssued entry"),
            ),
        }
    }

    pub(super) fn status_row(&mut self, _store: &dyn Store, k: &[u8], v: &[u8]) {
        let table = Table::Status.name();
        let Some(i) = be_index(k) else {
            self.find(
                table,
                short(k),
                Problem::Undecodable("the key is not an 8-byte index".into()),
            );
            return;
        };
        let at = format!("issued {i}");
        // The end of validity was compared with the signed one in the entry pass.
        if !self.is_issued(i) {
            self.find(
                table,
                at,
                Problem::Mismatch("the row does not name a CertificateIssued entry"),
            );
            return;
        }
        let Ok((rec, latest)) = StatusRecord::decode(v) else {
            self.find(table, at, Problem::Undecodable("the status record".into()));
            return;
        };
        let (want_latest, want_status, want_successor) =
            self.changes
                .get(&i)
                .cloned()
                .unwrap_or((i, Status::Valid.code(), None));
        if latest != want_latest {
            self.find(
                table,
                at.clone(),
                Problem::Mismatch("the latest index is not the certificate's last entry"),
            );
        }
        if rec.status.code() != want_status {
            self.find(
                table,
                at.clone(),
                Problem::Mismatch("the status is not the one of the certificate's last entry"),
            );
        }
        if rec.successor != want_successor {
            self.find(
                table,
                at,
                Problem::Mismatch("the successor is not the one of the certificate's last entry"),
            );
        }
    }

    pub(super) fn payload_row(&mut self, _store: &dyn Store, k: &[u8], _v: &[u8]) {
        let table = Table::Payloads.name();
        let Some(i) = be_index(k) else {
            self.find(
                table,
                short(k),
                Problem::Undecodable("the key is not an 8-byte index".into()),
            );
            return;
        };
        if !self.is_issued(i) {
            self.find(
                table,
                format!("issued {i}"),
                Problem::Mismatch("the row does not name a CertificateIssued entry"),
            );
        }
    }

    /// A table whose every row the entry pass looked up: when it holds exactly as many
    /// rows as the entry pass confirmed (distinct rows, each naming its own certificate),
    /// every row is one of those, and none needs its entry decoded again. Otherwise each
    /// row is checked against its entry, to name the ones that should not be there.
    pub(super) fn counted_table(
        &mut self,
        store: &dyn Store,
        table: Table,
        confirmed: u64,
        full: fn(&mut Self, &dyn Store, &[u8], &[u8]),
    ) {
        self.scan_all(store, table, |_, _, _, _| {});
        let rows = self.rows_seen(table);
        if rows != confirmed {
            self.scan_all(store, table, full);
            self.report.summary.rows.insert(table.name(), rows);
        }
    }

    pub(super) fn holder_key_row(&mut self, store: &dyn Store, k: &[u8], v: &[u8]) {
        let table = Table::HolderKeys.name();
        if k.len() != 32 || v.len() != 32 {
            self.find(
                table,
                short(k),
                Problem::Undecodable("a holder key row is 32 bytes → 32 bytes".into()),
            );
            return;
        }
        match store.scan(Table::HolderIndex, k, None, 1) {
            Ok(rows) if rows.is_empty() => {
                self.find(
                    table,
                    short(k),
                    Problem::Unexpected("a key for a holder without certificates"),
                );
            }
            Ok(_) => {}
            Err(e) => self.find(table, short(k), Problem::Unreadable(describe(&e))),
        }
    }

    pub(super) fn keys_table(&mut self, store: &dyn Store) {
        let mut seen: HashSet<[u8; 32]> = HashSet::new();
        self.scan_all(store, Table::Keys, |c, _, k, v| {
            let table = Table::Keys.name();
            let Ok(id) = <[u8; 32]>::try_from(k) else {
                c.find(
                    table,
                    short(k),
                    Problem::Undecodable("the key is not a 32-byte key id".into()),
                );
                return;
            };
            seen.insert(id);
            let Some((role, organisation, retired)) = decode_key_record(v) else {
                c.find(
                    table,
                    short(k),
                    Problem::Undecodable("the key record".into()),
                );
                return;
            };
            let at = v.get(v.len().saturating_sub(8)..).and_then(be_index);
            let Some(want) = c.keys.get(&id) else {
                c.find(
                    table,
                    short(k),
                    Problem::Unexpected("a key that no KeyEvent registered"),
                );
                return;
            };
            let ok = at == Some(want.registered)
                && role == want.role
                && organisation == want.organisation
                && retired == want.retired;
            if !ok {
                c.find(
                    table,
                    short(k),
                    Problem::Mismatch(
                        "the record is not the key's registration and retirement in the log",
                    ),
                );
            }
        });
        let mut missing: Vec<u64> = self
            .keys
            .iter()
            .filter(|(id, _)| !seen.contains(*id))
            .map(|(_, k)| k.registered)
            .collect();
        missing.sort_unstable();
        for i in missing {
            self.find(
                Table::Keys.name(),
                format!("registered at {i}"),
                Problem::Missing("the record of a key registered in the log"),
            );
        }
    }

    pub(super) fn policy_table(&mut self, store: &dyn Store) {
        let mut found = false;
        self.scan_all(store, Table::Policy, |c, _, k, v| {
            let table = Table::Policy.name();
            if let Some(suffix) = k.strip_prefix(crate::rules::TEXT_PREFIX) {
                // The files of a published version: they must hash to its digest.
                let version = <[u8; 8]>::try_from(suffix).ok().map(u64::from_be_bytes);
                let Some(want) = version.and_then(|v| c.policy_digests.get(&v)) else {
                    c.find(
                        table,
                        short(k),
                        Problem::Unexpected("the files of a rule set version never published"),
                    );
                    return;
                };
                let digest = serde_json::from_slice::<Vec<crate::rules::PublishedFile>>(v)
                    .ok()
                    .and_then(|files| {
                        let scenarios = files
                            .iter()
                            .map(|f| {
                                proofless_core::policy::Scenario::parse(&f.file_name, &f.text).ok()
                            })
                            .collect::<Option<Vec<_>>>()?;
                        proofless_core::policy::RuleSet::from_published(scenarios).ok()
                    })
                    .map(|set| set.digest());
                if digest.as_ref() != Some(want) {
                    c.find(
                        table,
                        short(k),
                        Problem::Mismatch(
                            "the rule files do not hash to the digest their version published",
                        ),
                    );
                }
                return;
            }
            if k != crate::rules::CURRENT {
                c.find(
                    table,
                    short(k),
                    Problem::Unexpected("a key other than `current` or `text/<version>`"),
                );
                return;
            }
            found = true;
            let Some(want) = c.policy else {
                c.find(
                    table,
                    "current".into(),
                    Problem::Unexpected("a rule set in force but none published in the log"),
                );
                return;
            };
            let mut expect = want.0.to_be_bytes().to_vec();
            expect.extend_from_slice(&want.1);
            expect.extend_from_slice(&want.2.to_be_bytes());
            if v != expect.as_slice() {
                c.find(
                    table,
                    "current".into(),
                    Problem::Mismatch(
                        "not the version, digest and index of the last PolicyPublished entry",
                    ),
                );
            }
        });
        if !found && self.policy.is_some() {
            self.find(
                Table::Policy.name(),
                "current".into(),
                Problem::Missing("the rule set in force, published in the log"),
            );
        }
    }

    pub(super) fn consents_table(&mut self, store: &dyn Store) {
        let mut records: HashSet<[u8; 32]> = HashSet::new();
        let mut markers: HashSet<[u8; 32]> = HashSet::new();
        self.scan_all(store, Table::Consents, |c, _, k, v| {
            let table = Table::Consents.name();
            if let Some(d) = k
                .strip_suffix(b"/spent")
                .and_then(|d| <[u8; 32]>::try_from(d).ok())
            {
                markers.insert(d);
                if !v.is_empty() {
                    c.find(
                        table,
                        short(k),
                        Problem::Unexpected("a value in a spent marker"),
                    );
                }
                if !c
                    .consents
                    .get(&d)
                    .is_some_and(|s| s.state != ConsentState::Active)
                {
                    c.find(
                        table,
                        short(k),
                        Problem::Unexpected(
                            "a spent marker of a consent neither used nor revoked in the log",
                        ),
                    );
                }
                return;
            }
            let Ok(d) = <[u8; 32]>::try_from(k) else {
                c.find(
                    table,
                    short(k),
                    Problem::Undecodable("the key is neither a digest nor a spent marker".into()),
                );
                return;
            };
            records.insert(d);
            let Ok(rec) = ConsentRecord::decode(v) else {
                c.find(
                    table,
                    short(k),
                    Problem::Undecodable("the consent record".into()),
                );
                return;
            };
            let Some(want) = c.consents.get(&d) else {
                c.find(
                    table,
                    short(k),
                    Problem::Unexpected("a consent never granted in the log"),
                );
                return;
            };
            let ok = rec.granted_index == want.granted
                && rec.holder == want.holder
                && rec.scenario == want.scenario
                && rec.department == want.department
                && rec.scope == want.scope
                && rec.expires == want.expires
                && rec.channel == want.channel
                && rec.state == want.state;
            if !ok {
                c.find(
                    table,
                    short(k),
                    Problem::Mismatch(
                        "the record is not the consent as granted, used or revoked in the log",
                    ),
                );
            }
        });
        let mut missing: Vec<(u64, &'static str)> = Vec::new();
        for (d, s) in &self.consents {
            if !records.contains(d) {
                missing.push((s.granted, "the record of a consent granted in the log"));
            }
            if s.state != ConsentState::Active && !markers.contains(d) {
                missing.push((
                    s.granted,
                    "the spent marker of a consent used or revoked in the log",
                ));
            }
        }
        missing.sort_unstable();
        for (i, what) in missing {
            self.find(
                Table::Consents.name(),
                format!("granted at {i}"),
                Problem::Missing(what),
            );
        }
    }
}

/// `(role, organisation, retired)` of a key record.
fn decode_key_record(v: &[u8]) -> Option<(String, String, bool)> {
    let mut m = key_record_map(v).ok()?;
    let role = m.text(1, 64).ok()?;
    let organisation = m.text(2, 256).ok()?;
    let retired = match m.take(3).ok()? {
        ciborium::value::Value::Bool(b) => b,
        _ => return None,
    };
    m.finish().ok()?;
    Some((role, organisation, retired))
}
