//! Admission of certificates, one or many at a time.
//!
//! Admission is split in two so that a bulk import can spread the expensive part over
//! every core and still commit a whole chunk of certificates in one append:
//!
//! * [`Certificates::check`] runs every check that writes nothing (steps 1–6 of the module
//!   documentation: COSE and canonical CBOR, issuer chain and retirement, the issuer
//!   signature, identifiers, dates, digests, holder code, schema) and prepares what does not
//!   depend on the store (pseudonym, payload). It takes `&self` and no lock, so it runs on
//!   any number of threads at once. Only it (and [`Certificates::check_all`]) makes a
//!   [`Checked`]. [`Certificates::check_all`] checks many requests with the same answer for
//!   each, but verifies their signatures together: exactly what `verify_strict` accepts,
//!   with one batch equation where that gives the same answer
//!   (`proofless_core::ed25519`, decision 0012).
//! * [`Certificates::admit_checked`] takes any number of [`Checked`] certificates, refuses
//!   identifiers already in the log, in flight or repeated within the batch, gets the holder
//!   keys, seals the payloads and appends every `CertificateIssued` entry with its side
//!   writes as **one** job: they commit together, at consecutive indices, in one group
//!   commit. A refused certificate does not hold back the others.
//!
//! `Certificates::issue` (`POST /v1/certificates`) is `check` followed by a batch of one, so
//! single and bulk issuance run the same code.

use super::{
    CertificateError, Certificates, InFlight, IssueRequest, PendingKey, StatusRecord, append_err,
    certificate_key, encode_payload, malformed, random, store_err,
};
use crate::clock::is_date;
use crate::log::PendingPut;
use crate::vault::{self, Pseudonym};
use proofless_core::cert::{
    CertError, FieldValue, HOLDER_ITEM, Item, SignedSecurityObject, Status, VerifiedSecurityObject,
};
use proofless_core::entry::{CertificateIssued, EncodedEntry, Entry};
use proofless_core::ids::{CertificateId, HolderCode};
use proofless_core::pki::Principal;
use proofless_store::{Put, PutMode, Table};
use std::collections::{BTreeMap, HashMap, HashSet};

/// A certificate that passed every check that writes nothing, ready to be admitted.
///
/// INVARIANT: only [`Certificates::check`] creates one, so a certificate cannot reach the
/// log without its issuer chain, signature, identifiers, digests, holder code and schema
/// having been checked.
pub struct Checked {
    id: String,
    principal: Principal,
    log_form: Vec<u8>,
    type_code: String,
    issuer: String,
    valid_until: Option<String>,
    pseudonym: Pseudonym,
    /// The plaintext of the sealed payload (`encode_payload`).
    payload: Vec<u8>,
}

/// Names the certificate only: the payload holds the holder's personal data.
impl std::fmt::Debug for Checked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checked")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Checked {
    /// The certificate identifier (电子证照标识).
    pub fn certificate_id(&self) -> &str {
        &self.id
    }

    /// The signed object in its log form, as the `CertificateIssued` entry will hold it:
    /// lets a caller recognise the very same certificate among stored ones.
    pub fn log_form(&self) -> &[u8] {
        &self.log_form
    }
}

/// One certificate of a batch on its way into the log.
struct Ready<'a> {
    /// Its position in the caller's batch.
    at: usize,
    entry: EncodedEntry,
    puts: Vec<PendingPut>,
    _pending: PendingKey<'a>,
}

/// A batch of checked certificates with their payloads sealed and their entries built,
/// no identifier reserved yet ([`Certificates::seal_all`]); admitted by
/// [`Certificates::admit_sealed`]. While it lives, the holder keys it generated are
/// pending, so that later certificates of the same holders share them.
pub struct Sealed<'a> {
    /// Each certificate's identifier, and its entry or why it was refused.
    items: Vec<(String, Result<Ready<'a>, CertificateError>)>,
}

/// Names the number of certificates only: the entries hold pseudonyms and sealed data.
impl std::fmt::Debug for Sealed<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealed")
            .field("certificates", &self.items.len())
            .finish_non_exhaustive()
    }
}

impl Certificates {
    /// Every check of an issuance that writes nothing (see the module documentation).
    pub fn check(&self, req: &IssueRequest) -> Result<Checked, CertificateError> {
        self.check_all(std::slice::from_ref(req))
            .pop()
            .unwrap_or(Err(CertificateError::Unavailable))
    }

    /// [`Self::check`] of many requests, with the same answer for each. The issuer
    /// signatures are verified together
    /// ([`SignedSecurityObject::verify_all`]: exactly what `verify_strict` accepts, with
    /// one batch equation where that gives the same answer).
    pub fn check_all(&self, reqs: &[IssueRequest]) -> Vec<Result<Checked, CertificateError>> {
        let mut out: Vec<Option<Result<Checked, CertificateError>>> =
            (0..reqs.len()).map(|_| None).collect();
        // 1. The signed objects and their issuer chains...
        let mut signed = Vec::with_capacity(reqs.len());
        let mut principals = Vec::with_capacity(reqs.len());
        // Whether each issuer key is retired, read once for the whole batch.
        let mut retired = HashMap::new();
        for (at, req) in reqs.iter().enumerate() {
            let parsed = SignedSecurityObject::parse(&req.security_object)
                .map_err(malformed)
                .and_then(|s| {
                    let chain = s.x5chain().map_err(malformed)?;
                    Ok((s, self.principal_read(&chain, &mut retired)?))
                });
            match parsed {
                Ok((s, p)) => {
                    signed.push(s);
                    principals.push((at, p));
                }
                Err(e) => out[at] = Some(Err(e)),
            }
        }
        // ...and their signatures, all at once.
        let seed = match random::<32>() {
            Ok(seed) => seed,
            Err(e) => return reqs.iter().map(|_| Err(e.clone())).collect(),
        };
        let verified = SignedSecurityObject::verify_all(
            signed
                .into_iter()
                .zip(&principals)
                .map(|(s, (_, p))| (s, p.verifying_key()))
                .collect(),
            &seed,
        );
        for ((at, principal), v) in principals.into_iter().zip(verified) {
            out[at] = Some(
                v.map_err(malformed)
                    .and_then(|v| self.check_verified(&reqs[at], v, principal)),
            );
        }
        // Every place was filled above; an empty one would be a bug, reported as such.
        out.into_iter()
            .map(|o| o.unwrap_or(Err(CertificateError::Unavailable)))
            .collect()
    }

    /// Steps 2–6 of one request whose signature verified.
    fn check_verified(
        &self,
        req: &IssueRequest,
        verified: VerifiedSecurityObject,
        principal: Principal,
    ) -> Result<Checked, CertificateError> {
        let so = verified.object();

        // 2. Who issued what: identifier, type, issuer organisation.
        let id =
            CertificateId::parse(&so.certificate_id).map_err(CertificateError::BadIdentifier)?;
        if id.type_code().as_str() != so.type_code || id.issuer().as_str() != so.issuer {
            return Err(CertificateError::IssuerMismatch);
        }
        if principal.organisation().map(|u| u.as_str().to_owned()) != Some(so.issuer.clone()) {
            return Err(CertificateError::IssuerMismatch);
        }
        let cert_type = self
            .catalog
            .get(&so.type_code)
            .ok_or(CertificateError::UnknownType)?;
        if !principal
            .certificate_types()
            .iter()
            .any(|t| t.as_str() == so.type_code)
        {
            return Err(CertificateError::TypeNotAllowed);
        }

        // 3. Signing time and validity dates. A signing time from the future would let a
        // key backdate nothing, but it would let the signature outlive a retirement that
        // happens before that time, so it is refused.
        if so.signed > self.clock.now_millis() + 5 * 60 * 1000 {
            return Err(CertificateError::SignedInFuture);
        }
        if !is_date(&so.valid_from)
            || so
                .valid_until
                .as_deref()
                .is_some_and(|u| !is_date(u) || *u < *so.valid_from)
        {
            return Err(CertificateError::BadValidity);
        }

        // 4. Every item matches its digest; exactly the signed names are disclosed.
        let mut disclosed: BTreeMap<String, Item> = BTreeMap::new();
        let mut holder = None;
        let mut values = serde_json::Map::new();
        for raw in &req.items {
            let item = verified.check_item_bytes(raw).map_err(|e| match e {
                CertError::Item(m) => CertificateError::DigestMismatch(m),
                _ => CertificateError::DigestMismatch("an item is malformed"),
            })?;
            if item.name == HOLDER_ITEM {
                if holder.is_some() {
                    return Err(CertificateError::DigestMismatch(
                        "the holder item is repeated",
                    ));
                }
                holder = Some(item);
            } else {
                let v = match &item.value {
                    FieldValue::Text(s) => serde_json::Value::String(s.clone()),
                    FieldValue::Int(i) => serde_json::Value::from(*i),
                    FieldValue::Bool(b) => serde_json::Value::Bool(*b),
                };
                if values.insert(item.name.clone(), v).is_some() {
                    return Err(CertificateError::DigestMismatch("an item is repeated"));
                }
                disclosed.insert(item.name.clone(), item);
            }
        }
        if values.len() != so.digests.len() {
            return Err(CertificateError::DigestMismatch(
                "a signed field has no disclosed item",
            ));
        }
        let holder = holder.ok_or(CertificateError::DigestMismatch(
            "the holder item is missing",
        ))?;

        // 5. The holder code: checksum, and a code type this certificate type is held by.
        let FieldValue::Text(hv) = &holder.value else {
            return Err(CertificateError::BadHolderCode("not text"));
        };
        let (code_type, code) = hv
            .split_once(':')
            .ok_or(CertificateError::BadHolderCode("not <type>:<code>"))?;
        let holder_code = HolderCode::parse(code_type, code)
            .map_err(|_| CertificateError::BadHolderCode("malformed or wrong check character"))?;
        if !cert_type
            .holder_code_types
            .contains(&holder_code.code_type())
        {
            return Err(CertificateError::BadHolderCode(
                "this type is not held by that kind of holder",
            ));
        }

        // 6. Field values against the type's schema.
        cert_type
            .validate(&serde_json::Value::Object(values))
            .map_err(CertificateError::Schema)?;

        Ok(Checked {
            id: id.as_str().to_owned(),
            log_form: verified.log_form(),
            type_code: so.type_code.clone(),
            issuer: so.issuer.clone(),
            valid_until: so.valid_until.clone(),
            pseudonym: self.pseudonym(&holder_code),
            payload: encode_payload(&holder, &disclosed),
            principal,
        })
    }

    /// Admits checked certificates: uniqueness (steps 7–10 of the module documentation),
    /// then one append of all that pass, which commits them together. Returns, for each
    /// certificate in order, its identifier and its `CertificateIssued` entry's index with
    /// the checkpoint, or why it was refused. An identifier repeated within `batch` is
    /// admitted once, at its first place; the later ones are
    /// [`CertificateError::Duplicate`], as they would be one after the other.
    ///
    /// It is [`Self::seal_all`] followed by [`Self::admit_sealed`].
    pub async fn admit_checked(
        &self,
        batch: Vec<Checked>,
    ) -> Vec<Result<(String, crate::Appended), CertificateError>> {
        self.admit_sealed(self.seal_all(batch).await).await
    }

    /// The part of admission that does not depend on which identifiers are taken (steps 9
    /// and 8): registers the issuer keys used for the first time, gets the holder keys,
    /// seals the payloads and builds the entries and their side writes. A bulk import
    /// seals chunk k+1 while chunk k is being appended; uniqueness is decided afterwards,
    /// by [`Self::admit_sealed`], exactly as if the chunks were admitted one after the
    /// other. A holder key generated here stays pending (shared by later certificates of
    /// the holder) until the [`Sealed`] batch is dropped.
    pub async fn seal_all(&self, batch: Vec<Checked>) -> Sealed<'_> {
        let mut out: Vec<Option<Result<Ready<'_>, CertificateError>>> =
            (0..batch.len()).map(|_| None).collect();
        // 9. Register the issuer keys used for the first time, each in its own append
        // (before the entries are built, so that a registration is never later, in time
        // or index, than a certificate it signed).
        let mut principals: HashMap<[u8; 32], &Principal> = HashMap::new();
        for c in &batch {
            principals.insert(c.principal.key_id(), &c.principal);
        }
        let mut failed: HashMap<[u8; 32], CertificateError> = HashMap::new();
        for (key_id, p) in principals {
            if let Err(e) = self.ensure_registered(p).await {
                failed.insert(key_id, e);
            }
        }
        // 8. Holder keys, sealed payloads, entries and side writes.
        let time = self.clock.now_millis();
        for (at, c) in batch.iter().enumerate() {
            out[at] = Some(match failed.get(&c.principal.key_id()) {
                Some(e) => Err(e.clone()),
                None => self.ready(at, c, time),
            });
        }
        Sealed {
            items: batch
                .into_iter()
                .zip(out)
                .map(|(c, r)| (c.id, r.unwrap_or(Err(CertificateError::Unavailable))))
                .collect(),
        }
    }

    /// Admits a sealed batch: step 7 (the identifier is not earlier in the batch, not
    /// being issued right now, not in the log), then one append of every certificate that
    /// passes (step 10). The answers are those of [`Self::admit_checked`].
    pub async fn admit_sealed(
        &self,
        sealed: Sealed<'_>,
    ) -> Vec<Result<(String, crate::Appended), CertificateError>> {
        let mut out: Vec<Option<Result<(String, crate::Appended), CertificateError>>> =
            (0..sealed.items.len()).map(|_| None).collect();
        let mut ids = Vec::with_capacity(sealed.items.len());
        let mut candidates = Vec::with_capacity(sealed.items.len());
        for (at, (id, r)) in sealed.items.into_iter().enumerate() {
            match r {
                Ok(ready) => candidates.push(ready),
                Err(e) => out[at] = Some(Err(e)),
            }
            ids.push(id);
        }
        // 7. Unique identifier: not earlier in this batch, not being issued right now...
        let mut reserved: Vec<(Ready<'_>, InFlight<'_>)> = Vec::with_capacity(candidates.len());
        let mut seen: HashSet<&str> = HashSet::with_capacity(candidates.len());
        for ready in candidates {
            let id = ids[ready.at].as_str();
            let r = if seen.insert(id) {
                self.reserve(id)
            } else {
                Err(CertificateError::Duplicate)
            };
            match r {
                Ok(guard) => reserved.push((ready, guard)),
                Err(e) => out[ready.at] = Some(Err(e)),
            }
        }
        // ...and not in the log: read after the reservation, all in one read transaction.
        let mut unique: Vec<Ready<'_>> = Vec::with_capacity(reserved.len());
        let mut guards: Vec<InFlight<'_>> = Vec::with_capacity(reserved.len());
        let keys: Vec<[u8; 16]> = reserved
            .iter()
            .map(|(r, _)| certificate_key(&ids[r.at]))
            .collect();
        let refs: Vec<&[u8]> = keys.iter().map(|k| k.as_slice()).collect();
        match self.store.get_many(Table::Certificates, &refs) {
            Ok(found) => {
                for ((ready, guard), stored) in reserved.into_iter().zip(found) {
                    match stored {
                        None => {
                            unique.push(ready);
                            guards.push(guard);
                        }
                        Some(_) => out[ready.at] = Some(Err(CertificateError::Duplicate)),
                    }
                }
            }
            Err(e) => {
                let e = store_err(e);
                for (ready, _) in reserved {
                    out[ready.at] = Some(Err(e.clone()));
                }
            }
        }
        // 10. One append for the batch; if an insert-only key turns out to exist (a race
        // past the checks above), append them one by one so that only that one fails.
        if !unique.is_empty() {
            match self.append_ready(&unique).await {
                Ok(appended) => {
                    for (k, r) in unique.iter().enumerate() {
                        out[r.at] = Some(Ok((
                            ids[r.at].clone(),
                            crate::Appended {
                                index: appended.index + k as u64,
                                checkpoint: appended.checkpoint.clone(),
                            },
                        )));
                    }
                }
                Err(CertificateError::Duplicate) if unique.len() > 1 => {
                    for r in &unique {
                        let one = self.append_ready(std::slice::from_ref(r)).await;
                        out[r.at] = Some(one.map(|a| (ids[r.at].clone(), a)));
                    }
                }
                Err(e) => {
                    for r in &unique {
                        out[r.at] = Some(Err(e.clone()));
                    }
                }
            }
        }
        // The identifiers stay reserved until the append is answered.
        drop(guards);
        // Every place was filled above; an empty one would be a bug, reported as such.
        out.into_iter()
            .map(|o| o.unwrap_or(Err(CertificateError::Unavailable)))
            .collect()
    }

    /// Gets the holder's key, seals the payload and builds the entry and its side writes
    /// (indices relative to the entry) of `c`, whose identifier `guard` holds.
    fn ready(&self, at: usize, c: &Checked, time: u64) -> Result<Ready<'_>, CertificateError> {
        // 8. The holder's key, and the payload sealed under it.
        let (hkey, new_key) = self.holder_key(&c.pseudonym)?;
        // However this issuance ends, a key generated for it leaves the pending map: by
        // then it is either committed or abandoned.
        let pending = PendingKey {
            map: &self.pending_keys,
            holder: new_key.then_some(c.pseudonym),
        };
        let sealed = vault::seal(&hkey, random::<24>()?, c.id.as_bytes(), &c.payload);
        let entry = Entry::CertificateIssued(CertificateIssued {
            time,
            holder: c.pseudonym,
            issuer_key: c.principal.key_id(),
            security_object: c.log_form.clone(),
        })
        .encode()
        .map_err(|_| {
            CertificateError::Malformed(CertError::Cose("the entry would exceed 64 KiB"))
        })?;
        let record = StatusRecord {
            status: Status::Valid,
            issued_index: 0,
            type_code: c.type_code.clone(),
            issuer: c.issuer.clone(),
            holder: c.pseudonym,
            valid_until: c.valid_until.clone(),
            successor: None,
        };
        let mut holder_index = c.pseudonym.to_vec();
        holder_index.extend_from_slice(c.type_code.as_bytes());
        let put = |table, key: Vec<u8>, value, mode| Put {
            table,
            key,
            value,
            mode,
        };
        let puts = vec![
            PendingPut {
                put: put(
                    Table::Certificates,
                    certificate_key(&c.id).to_vec(),
                    Vec::new(),
                    PutMode::Insert,
                ),
                key_index_of: None,
                index_of: Some(0),
            },
            // Tables keyed by the issued entry's index grow at their right edge, which
            // keeps their pages full (keys in arrival order would leave them half empty).
            PendingPut {
                put: put(
                    Table::HolderIndex,
                    holder_index,
                    Vec::new(),
                    PutMode::Insert,
                ),
                key_index_of: Some(0),
                index_of: None,
            },
            PendingPut {
                put: put(Table::Payloads, Vec::new(), sealed, PutMode::Insert),
                key_index_of: Some(0),
                index_of: None,
            },
            PendingPut::plain(put(
                Table::HolderKeys,
                c.pseudonym.to_vec(),
                hkey.to_vec(),
                PutMode::InsertOrSame,
            )),
            PendingPut {
                put: put(Table::Status, Vec::new(), record.encode(), PutMode::Insert),
                key_index_of: Some(0),
                index_of: Some(0),
            },
        ];
        Ok(Ready {
            at,
            entry,
            puts,
            _pending: pending,
        })
    }

    /// Appends the entries of `ready`, in order, with their side writes, as one job.
    async fn append_ready(&self, ready: &[Ready<'_>]) -> Result<crate::Appended, CertificateError> {
        let mut entries = Vec::with_capacity(ready.len());
        let mut puts = Vec::with_capacity(ready.len() * 5);
        for (k, r) in ready.iter().enumerate() {
            entries.push(r.entry.clone());
            puts.extend(r.puts.iter().map(|p| PendingPut {
                put: p.put.clone(),
                key_index_of: p.key_index_of.map(|i| i + k),
                index_of: p.index_of.map(|i| i + k),
            }));
        }
        self.log
            .append_with(entries, puts)
            .await
            .map_err(append_err)
    }
}
