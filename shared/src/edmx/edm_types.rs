//! CDS builtin types → EDM primitive types and their facets, as the compiler maps them.

use crate::csn::{Builtin, Scalar};

pub(super) fn edm_type(builtin: Builtin) -> &'static str {
    match builtin {
        Builtin::Uuid => "Edm.Guid",
        Builtin::Boolean => "Edm.Boolean",
        Builtin::UInt8 => "Edm.Byte",
        Builtin::Int16 => "Edm.Int16",
        Builtin::Int32 | Builtin::Integer => "Edm.Int32",
        Builtin::Int64 => "Edm.Int64",
        Builtin::Decimal => "Edm.Decimal",
        Builtin::Double => "Edm.Double",
        Builtin::Date => "Edm.Date",
        Builtin::Time => "Edm.TimeOfDay",
        Builtin::DateTime | Builtin::Timestamp => "Edm.DateTimeOffset",
        Builtin::String | Builtin::LargeString => "Edm.String",
        Builtin::Binary | Builtin::LargeBinary => "Edm.Binary",
        // refused before (see `flatten`); the compiler's fallback type
        Builtin::Vector | Builtin::Map => "Edm.PrimitiveType",
    }
}

pub(super) fn collection_of(edm: &str, collection: bool) -> String {
    if collection {
        format!("Collection({edm})")
    } else {
        edm.to_owned()
    }
}

/// `Type` and the facets the compiler writes for a scalar (`addTypeFacets`), without the
/// variable scale of an unconstrained decimal (written after `DefaultValue`).
pub(super) fn scalar_attributes(scalar: &Scalar, collection: bool) -> Vec<(&'static str, String)> {
    let edm = edm_type(scalar.builtin);
    let mut attributes = vec![("Type", collection_of(edm, collection))];
    if let Some(length) = scalar.length {
        attributes.push(("MaxLength", length.to_string()));
    }
    if let Some(precision) = scalar.precision {
        attributes.push(("Precision", precision.to_string()));
    }
    if let Some(scale) = scalar.scale {
        attributes.push(("Scale", scale.to_string()));
    } else if scalar.builtin == Builtin::Timestamp {
        attributes.push(("Precision", "7".into()));
    }
    attributes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(
        builtin: Builtin,
        length: Option<u32>,
        precision: Option<u32>,
        scale: Option<u32>,
    ) -> Scalar {
        Scalar {
            builtin,
            length,
            precision,
            scale,
        }
    }

    fn attributes(s: Scalar) -> Vec<(&'static str, String)> {
        scalar_attributes(&s, false)
    }

    #[test]
    fn builtins_map_to_the_compilers_edm_types() {
        let cases = [
            (Builtin::Uuid, "Edm.Guid"),
            (Builtin::UInt8, "Edm.Byte"),
            (Builtin::Integer, "Edm.Int32"),
            (Builtin::Int64, "Edm.Int64"),
            (Builtin::Time, "Edm.TimeOfDay"),
            (Builtin::DateTime, "Edm.DateTimeOffset"),
            (Builtin::LargeString, "Edm.String"),
            (Builtin::LargeBinary, "Edm.Binary"),
        ];
        for (builtin, edm) in cases {
            assert_eq!(edm_type(builtin), edm, "{builtin:?}");
        }
    }

    #[test]
    fn facets_follow_the_compilers_rules() {
        let ty = |s: &str| ("Type", s.to_owned());
        assert_eq!(
            attributes(scalar(Builtin::String, Some(20), None, None)),
            [ty("Edm.String"), ("MaxLength", "20".into())]
        );
        assert_eq!(
            attributes(scalar(Builtin::Decimal, None, Some(9), Some(2))),
            [
                ty("Edm.Decimal"),
                ("Precision", "9".into()),
                ("Scale", "2".into())
            ]
        );
        // only Timestamp gets the implicit precision, DateTime has none
        assert_eq!(
            attributes(scalar(Builtin::Timestamp, None, None, None)),
            [ty("Edm.DateTimeOffset"), ("Precision", "7".into())]
        );
        assert_eq!(
            attributes(scalar(Builtin::DateTime, None, None, None)),
            [ty("Edm.DateTimeOffset")]
        );
        assert_eq!(
            scalar_attributes(&scalar(Builtin::String, None, None, None), true),
            [ty("Collection(Edm.String)")]
        );
    }
}
