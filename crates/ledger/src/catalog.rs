//! The catalog of certificate types: one JSON Schema 2020-12 document per type
//! (`schemas/certificates/*.json`), compiled once at start.
//!
//! The ledger validates a certificate's field values against its type's `properties`,
//! `required` and `additionalProperties`, with `format` assertions on (dates), and reads
//! the `x-proofless` object for the type code, the holder code types and the field list.
//! Schema validation is offline: no remote or file `$ref` is resolved (the `jsonschema`
//! crate is built without its resolvers).

use proofless_core::ids::TypeCode;
use serde::Deserialize;
use std::collections::BTreeMap;
use thiserror::Error;

/// Why the catalog could not be loaded. Names the file at fault.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// Not JSON, or `x-proofless` is missing or malformed.
    #[error("{file}: {reason}")]
    Malformed {
        /// The schema file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// Two files define the same type code.
    #[error("{file}: type code {code} is already defined by {other}")]
    DuplicateType {
        /// The second file.
        file: String,
        /// The type code.
        code: String,
        /// The first file.
        other: String,
    },
}

#[derive(Debug, Deserialize)]
struct Meta {
    type_code: String,
    name_zh: String,
    name_en: String,
    holder_kind: String,
    #[serde(default)]
    holder_kind_alternatives: Vec<Alternative>,
    fields: Vec<FieldMeta>,
}

#[derive(Debug, Deserialize)]
struct Alternative {
    holder_kind: String,
}

/// A field of a certificate type.
#[derive(Debug, Clone, Deserialize)]
pub struct FieldMeta {
    /// The key in the certificate's items.
    pub name: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Whether the field is sensitive (identifies or profiles a person).
    pub sensitive: bool,
}

/// One certificate type.
#[derive(Debug)]
pub struct CertType {
    /// 证照类型代码.
    pub code: TypeCode,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Holder code types accepted: "111" (公民身份号码) and/or "001" (统一社会信用代码).
    pub holder_code_types: Vec<&'static str>,
    /// The fields, in schema order.
    pub fields: Vec<FieldMeta>,
    /// The file it came from.
    pub file: String,
    validator: jsonschema::Validator,
}

/// A value failed its type's schema. Names the field and the rule, never the value.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("field `{field}` violates the schema rule `{rule}`")]
pub struct SchemaViolation {
    /// The field (or `(certificate)` for object-level rules such as a missing field).
    pub field: String,
    /// The schema keyword that failed, e.g. `pattern`, `required`, `maxLength`.
    pub rule: String,
}

impl CertType {
    /// Validates field values (a JSON object of name → value).
    pub fn validate(&self, values: &serde_json::Value) -> Result<(), SchemaViolation> {
        match self.validator.iter_errors(values).next() {
            None => Ok(()),
            Some(e) => {
                let path = e.instance_path().to_string();
                let field = path.trim_start_matches('/').to_owned();
                let rule = e
                    .schema_path()
                    .to_string()
                    .rsplit('/')
                    .next()
                    .unwrap_or("")
                    .to_owned();
                // For `required` and `additionalProperties` the instance path is the
                // object itself; the offending name is not reported (it may be anything
                // the client sent), only the rule.
                Err(SchemaViolation {
                    field: if field.is_empty() {
                        "(certificate)".to_owned()
                    } else {
                        field
                    },
                    rule,
                })
            }
        }
    }
}

fn holder_code_type(kind: &str) -> Option<&'static str> {
    match kind {
        "natural_person" => Some("111"),
        "legal_person" => Some("001"),
        _ => None,
    }
}

/// All certificate types, by type code.
#[derive(Debug, Default)]
pub struct Catalog {
    types: BTreeMap<String, CertType>,
}

impl Catalog {
    /// Compiles the schemas given as (file name, JSON text).
    pub fn load(files: &[(String, String)]) -> Result<Self, CatalogError> {
        let mut types: BTreeMap<String, CertType> = BTreeMap::new();
        for (file, text) in files {
            let bad = |reason: String| CatalogError::Malformed {
                file: file.clone(),
                reason,
            };
            let schema: serde_json::Value =
                serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
            let meta: Meta = serde_json::from_value(
                schema
                    .get("x-proofless")
                    .cloned()
                    .ok_or_else(|| bad("no x-proofless object".into()))?,
            )
            .map_err(|e| bad(format!("x-proofless: {e}")))?;
            let code =
                TypeCode::parse(&meta.type_code).map_err(|e| bad(format!("type_code: {e}")))?;
            let mut holder_code_types = Vec::new();
            let alternatives = meta.holder_kind_alternatives.iter().map(|a| &a.holder_kind);
            for k in std::iter::once(&meta.holder_kind).chain(alternatives) {
                let t =
                    holder_code_type(k).ok_or_else(|| bad(format!("unknown holder_kind {k:?}")))?;
                if !holder_code_types.contains(&t) {
                    holder_code_types.push(t);
                }
            }
            let properties = schema
                .get("properties")
                .and_then(|p| p.as_object())
                .ok_or_else(|| bad("no properties".into()))?;
            for f in &meta.fields {
                if !properties.contains_key(&f.name) || f.name == proofless_core::cert::HOLDER_ITEM
                {
                    return Err(bad(format!("field {:?} is not a usable property", f.name)));
                }
            }
            if properties.len() != meta.fields.len() {
                return Err(bad("x-proofless.fields and properties differ".into()));
            }
            let validator = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .should_validate_formats(true)
                .build(&schema)
                .map_err(|e| bad(format!("schema does not compile: {e}")))?;
            if let Some(other) = types.get(code.as_str()) {
                return Err(CatalogError::DuplicateType {
                    file: file.clone(),
                    code: code.as_str().to_owned(),
                    other: other.file.clone(),
                });
            }
            types.insert(
                code.as_str().to_owned(),
                CertType {
                    code,
                    name_zh: meta.name_zh,
                    name_en: meta.name_en,
                    holder_code_types,
                    fields: meta.fields,
                    file: file.clone(),
                    validator,
                },
            );
        }
        Ok(Self { types })
    }

    /// The type with this code.
    pub fn get(&self, code: &str) -> Option<&CertType> {
        self.types.get(code)
    }

    /// Every type, by code.
    pub fn iter(&self) -> impl Iterator<Item = &CertType> {
        self.types.values()
    }

    /// Number of types.
    pub fn len(&self) -> usize {
        self.types.len()
    }

    /// Whether there are no types.
    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }
}
