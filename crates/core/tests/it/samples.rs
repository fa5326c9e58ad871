//! Realistic entries shared by the entry tests.

use proofless_core::entry::{
    AccessRecorded, CertificateIssued, ConsentGranted, ConsentRevoked, Decision, Entry, KeyAction,
    KeyEvent, PolicyPublished, RequestSignature, StatusChanged,
};

/// An allowed access that consumed a consent.
pub(crate) fn access_with_consent() -> AccessRecorded {
    AccessRecorded {
        time: 1_764_000_000_000,
        department: "11370200MB2850412X".into(),
        operator: "op-7f3a".into(),
        scenario: "QD-GZF-001".into(),
        policy_version: 3,
        purpose: "公共租赁住房申请资格审核".into(),
        case_number: "QD-2025-000123".into(),
        consent: Some([7; 32]),
        certificates: vec![
            "1.2.156.3005.2.11100000000013338W001.113702000000000000.0000001.001.K".into(),
        ],
        fields: vec!["name".into(), "marital_status".into()],
        decision: Decision::Allow,
        reason: "ok".into(),
        request_digest: [9; 32],
        request: RequestSignature::example(1),
        holder: Some([6; 32]),
    }
}

/// A denied access under a scenario that needs no consent, touching nothing.
pub(crate) fn access_without_consent() -> AccessRecorded {
    AccessRecorded {
        consent: None,
        certificates: Vec::new(),
        fields: Vec::new(),
        decision: Decision::Deny,
        reason: "policy_version_retired".into(),
        policy_version: 0,
        ..access_with_consent()
    }
}

/// An issuer's certificate registered, with its DER and organisation code.
pub(crate) fn key_registered() -> KeyEvent {
    KeyEvent {
        time: 1_763_000_000_000,
        action: KeyAction::Registered,
        role: "issuer".into(),
        key_id: [0xab; 32],
        // Not a real certificate: the entry layout treats it as opaque DER bytes.
        certificate: Some((0..=255u8).cycle().take(700).collect()),
        organisation: Some("11370200MB2850412X".into()),
    }
}

/// A department key retired: no certificate, no organisation.
pub(crate) fn key_retired() -> KeyEvent {
    KeyEvent {
        time: 1,
        action: KeyAction::Retired,
        role: "department".into(),
        key_id: [1; 32],
        certificate: None,
        organisation: None,
    }
}

/// One entry of every shape the tests care about.
pub(crate) fn all() -> Vec<Entry> {
    vec![
        Entry::AccessRecorded(access_with_consent()),
        Entry::AccessRecorded(access_without_consent()),
        Entry::KeyEvent(key_registered()),
        Entry::KeyEvent(key_retired()),
        Entry::CertificateIssued(issued()),
        Entry::StatusChanged(superseded()),
        Entry::PolicyPublished(PolicyPublished {
            time: 1_764_000_000_002,
            version: 2,
            digest: [5; 32],
            scenarios: vec![
                ("QD-GLJT-001".into(), 1, [6; 32]),
                ("QD-GZF-001".into(), 3, [7; 32]),
            ],
        }),
        Entry::StatusChanged(StatusChanged {
            status: 1,
            successor: None,
            ..superseded()
        }),
        Entry::ConsentGranted(consent_granted()),
        Entry::ConsentGranted(ConsentGranted {
            department: None,
            ..consent_granted()
        }),
        Entry::ConsentRevoked(ConsentRevoked {
            time: 1_764_000_100_000,
            channel: "11370000MB0000202K".into(),
            consent: [8; 32],
            request_digest: [10; 32],
            request: RequestSignature::example(3),
        }),
    ]
}

/// A consent granted through a channel for one department.
pub(crate) fn consent_granted() -> ConsentGranted {
    ConsentGranted {
        time: 1_764_000_000_000,
        channel: "11370000MB0000202K".into(),
        holder: [6; 32],
        scenario: "QD-GZF-001".into(),
        policy_version: 3,
        department: Some("11370200MB00001103".into()),
        scope: vec![
            "11100000PL00000014901/claim/name".into(),
            "11100000MB03271699001/predicate/holds_valid".into(),
        ],
        expires: 1_764_001_800_000,
        consent: [8; 32],
        request_digest: [9; 32],
        request: RequestSignature::example(2),
    }
}

/// A certificate admitted (the COSE bytes are opaque to the entry layer).
pub(crate) fn issued() -> CertificateIssued {
    CertificateIssued {
        time: 1_764_000_000_000,
        holder: [3; 32],
        issuer_key: [4; 32],
        security_object: vec![0x84; 200],
    }
}

/// A certificate superseded by its successor.
pub(crate) fn superseded() -> StatusChanged {
    StatusChanged {
        time: 1_764_000_000_001,
        certificate_id: "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U"
            .into(),
        status: 3,
        successor: Some(
            "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.002.S".into(),
        ),
        issuer_key: [4; 32],
        statement: vec![0x84; 100],
    }
}
