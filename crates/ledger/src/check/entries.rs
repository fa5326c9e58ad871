//! The first pass of the check, entry by entry: each entry decoded, the rows it implies
//! looked up, each sealed payload opened and its items checked against their signed
//! digests, and the state the second pass needs (status changes, keys, consents, the
//! rule set in force) rebuilt from the log.

use super::{Checker, ConsentSeen, KeySeen, Problem, be_index, short};
use crate::certs::{StatusRecord, certificate_key, decode_payload};
use crate::consent::ConsentState;
use crate::vault;
use proofless_core::cert::{HOLDER_ITEM, SecurityObject, SignedSecurityObject, item_digest};
use proofless_core::entry::{CertificateIssued, Entry, KeyAction};
use proofless_core::keys;
use proofless_store::{Store, Table};

impl Checker<'_> {
    /// The per-entry checks (pass 1).
    pub(super) fn entry(&mut self, store: &dyn Store, i: u64, bytes: &[u8]) {
        let entry = match Entry::decode(bytes) {
            Ok(e) => e,
            Err(e) => {
                self.find(
                    "entries",
                    i.to_string(),
                    Problem::Undecodable(e.to_string()),
                );
                return;
            }
        };
        match entry {
            Entry::CertificateIssued(ci) => self.issued(store, i, &ci),
            Entry::StatusChanged(sc) => {
                let key = certificate_key(&sc.certificate_id);
                match self
                    .get(store, Table::Certificates, &key)
                    .as_deref()
                    .and_then(be_index)
                {
                    Some(issued) if issued < i => {
                        self.changes.insert(issued, (i, sc.status, sc.successor));
                    }
                    _ => self.find(
                        "entries",
                        i.to_string(),
                        Problem::Missing(
                            "the certificate whose status it changes is not indexed before it",
                        ),
                    ),
                }
            }
            Entry::PolicyPublished(p) => {
                self.policy = Some((p.version, p.digest, i));
                self.policy_digests.insert(p.version, p.digest);
            }
            Entry::KeyEvent(k) => {
                if k.role == keys::Role::Ledger.name() || k.role == keys::TRUST_ANCHOR_ROLE {
                    if k.role == keys::Role::Ledger.name() && self.ledger_key.is_none() {
                        self.ledger_key = Some((i, k.key_id));
                    }
                    return;
                }
                match k.action {
                    KeyAction::Registered => {
                        if self.keys.contains_key(&k.key_id) {
                            self.find(
                                "entries",
                                i.to_string(),
                                Problem::Unexpected("a key registered a second time"),
                            );
                            return;
                        }
                        self.keys.insert(
                            k.key_id,
                            KeySeen {
                                registered: i,
                                role: k.role,
                                organisation: k.organisation.unwrap_or_default(),
                                retired: false,
                            },
                        );
                    }
                    KeyAction::Retired => match self.keys.get_mut(&k.key_id) {
                        Some(seen) => seen.retired = true,
                        None => self.find(
                            "entries",
                            i.to_string(),
                            Problem::Missing("the key it retires was never registered"),
                        ),
                    },
                }
            }
            Entry::ConsentGranted(c) => {
                let seen = ConsentSeen {
                    granted: i,
                    holder: c.holder,
                    scenario: c.scenario,
                    department: c.department,
                    scope: c.scope,
                    expires: c.expires,
                    channel: c.channel,
                    state: ConsentState::Active,
                };
                if self.consents.insert(c.consent, seen).is_some() {
                    self.find(
                        "entries",
                        i.to_string(),
                        Problem::Unexpected("a consent code granted a second time"),
                    );
                }
            }
            Entry::ConsentRevoked(r) => self.spend(i, &r.consent, ConsentState::Revoked),
            Entry::AccessRecorded(a) => {
                if let Some(d) = a.consent {
                    self.spend(i, &d, ConsentState::Used);
                }
                if let Some(h) = a.holder {
                    self.access_about(i, &h);
                }
            }
            _ => self.find(
                "entries",
                i.to_string(),
                Problem::Unchecked("an entry kind this check does not know"),
            ),
        }
    }

    pub(super) fn spend(&mut self, i: u64, digest: &[u8; 32], to: ConsentState) {
        match self.consents.get_mut(digest) {
            Some(c) if c.state == ConsentState::Active => c.state = to,
            Some(_) => self.find(
                "entries",
                i.to_string(),
                Problem::Unexpected("a consent used or revoked a second time"),
            ),
            None => self.find(
                "entries",
                i.to_string(),
                Problem::Missing("the consent it uses or revokes was never granted"),
            ),
        }
    }

    pub(super) fn issued(&mut self, store: &dyn Store, i: u64, ci: &CertificateIssued) {
        self.report.summary.certificates += 1;
        let Ok(so) = SignedSecurityObject::parse(&ci.security_object) else {
            self.find(
                "entries",
                i.to_string(),
                Problem::Undecodable("the certificate's security object".into()),
            );
            return;
        };
        let obj = so.object();
        self.mark_issued(i);
        let at = format!("issued {i}");
        let key = certificate_key(&obj.certificate_id);
        match self.get(store, Table::Certificates, &key) {
            None => self.find(
                Table::Certificates.name(),
                short(&key),
                Problem::Missing("the index row of a certificate in the log"),
            ),
            Some(v) if be_index(&v) != Some(i) => self.find(
                Table::Certificates.name(),
                short(&key),
                Problem::Mismatch("the row does not name the certificate's entry"),
            ),
            Some(_) => self.confirmed.0 += 1,
        }
        let mut hk = ci.holder.to_vec();
        hk.extend_from_slice(obj.type_code.as_bytes());
        hk.extend_from_slice(&i.to_be_bytes());
        match self.get(store, Table::HolderIndex, &hk) {
            None => self.find(
                Table::HolderIndex.name(),
                at.clone(),
                Problem::Missing("the holder's index row of a certificate in the log"),
            ),
            Some(v) if !v.is_empty() => self.find(
                Table::HolderIndex.name(),
                at.clone(),
                Problem::Unexpected("a value in a key-only table"),
            ),
            Some(_) => self.confirmed.1 += 1,
        }
        let ik = i.to_be_bytes();
        match self.get(store, Table::Status, &ik) {
            None => self.find(
                Table::Status.name(),
                at.clone(),
                Problem::Missing("the status record of a certificate in the log"),
            ),
            // The rest of the record (latest entry, status, successor) is checked in the
            // side-table pass, once every status change is known; an undecodable record
            // is reported there.
            Some(v) => {
                if let Ok((rec, _)) = StatusRecord::decode(&v)
                    && rec.valid_until != obj.valid_until
                {
                    self.find(
                        Table::Status.name(),
                        at.clone(),
                        Problem::Mismatch("the end of validity is not the signed one"),
                    );
                }
            }
        }
        match self.get(store, Table::Payloads, &ik) {
            None => self.find(
                Table::Payloads.name(),
                at,
                Problem::Missing("the sealed payload of a certificate in the log"),
            ),
            Some(sealed) => self.payload(store, i, &ci.holder, obj, &sealed),
        }
    }

    pub(super) fn payload(
        &mut self,
        store: &dyn Store,
        i: u64,
        holder: &[u8; 32],
        obj: &SecurityObject,
        sealed: &[u8],
    ) {
        let at = format!("issued {i}");
        let key: [u8; 32] = match self.get(store, Table::HolderKeys, holder) {
            None => {
                self.report.summary.erased += 1;
                self.find(Table::Payloads.name(), at, Problem::Erased);
                return;
            }
            Some(k) => match k.try_into() {
                Ok(k) => k,
                Err(_) => {
                    self.find(
                        Table::HolderKeys.name(),
                        short(holder),
                        Problem::Undecodable("a holder key is not 32 bytes".into()),
                    );
                    return;
                }
            },
        };
        let Ok(plain) = vault::open(&key, obj.certificate_id.as_bytes(), sealed) else {
            self.find(
                Table::Payloads.name(),
                at,
                Problem::Mismatch("the payload does not open with the holder's key and its certificate's identifier"),
            );
            return;
        };
        let names: Vec<String> = obj.digests.keys().cloned().collect();
        let Ok(items) = decode_payload(&plain, &names) else {
            self.find(
                Table::Payloads.name(),
                at,
                Problem::Undecodable(
                    "the payload is not one [salt, value] pair per signed name".into(),
                ),
            );
            return;
        };
        for item in &items {
            let want = if item.name == HOLDER_ITEM {
                Some(&obj.holder)
            } else {
                obj.digests.get(&item.name)
            };
            if want != Some(&item_digest(item)) {
                self.find(
                    Table::Payloads.name(),
                    at.clone(),
                    Problem::ItemMismatch(item.name.clone()),
                );
            }
        }
        self.report.summary.payloads += 1;
    }
}
