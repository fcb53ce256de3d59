//! Path expressions in views: the joins and `EXISTS` subqueries the compiler writes for them.

use serde_json::json;

use crate::csn::Csn;
use crate::schema::PersistenceModel;
use crate::sql::{Dialect, create_view};

/// Countries ← Authors ← Books (to-one), Authors → Books (to-many backlink).
fn library(views: serde_json::Value) -> Result<PersistenceModel, crate::schema::SchemaError> {
    let mut definitions = json!({
        "Countries": {"kind": "entity", "elements": {
            "code": {"key": true, "type": "cds.String", "length": 3},
            "name": {"type": "cds.String", "length": 60},
        }},
        "Authors": {"kind": "entity", "elements": {
            "ID": {"key": true, "type": "cds.Integer"},
            "name": {"type": "cds.String", "length": 100},
            "country": {"type": "cds.Association", "target": "Countries", "keys": [{"ref": ["code"]}]},
            "books": {"type": "cds.Association", "target": "Books", "cardinality": {"max": "*"},
                "on": [{"ref": ["books", "author"]}, "=", {"ref": ["$self"]}]},
        }},
        "Books": {"kind": "entity", "elements": {
            "ID": {"key": true, "type": "cds.Integer"},
            "title": {"type": "cds.String", "length": 100},
            "author": {"type": "cds.Association", "target": "Authors", "keys": [{"ref": ["ID"]}]},
        }},
    });
    for (name, view) in views.as_object().expect("views object") {
        definitions[name] = view.clone();
    }
    let csn = Csn::from_value(json!({ "definitions": definitions })).expect("valid CSN");
    PersistenceModel::from_csn(&csn)
}

fn view_sql(model: &PersistenceModel, name: &str) -> String {
    create_view(model.view(name).expect("view"), Dialect::Sqlite, None)
}

#[test]
fn to_one_paths_share_one_join_per_association_and_nest_left() {
    let model = library(json!({"V": {"kind": "entity",
    "query": {"SELECT": {"from": {"ref": ["Books"]}, "columns": [
        {"ref": ["ID"]},
        {"ref": ["author", "name"], "as": "authorName"},
        {"ref": ["author", "country", "name"], "as": "countryName"},
        {"ref": ["author", "ID"], "as": "authorID"},
    ]}},
    "elements": {
        "ID": {"key": true, "type": "cds.Integer"},
        "authorName": {"type": "cds.String", "length": 100},
        "countryName": {"type": "cds.String", "length": 60},
        "authorID": {"type": "cds.Integer"},
    }}}))
    .expect("derives");
    assert_eq!(
        view_sql(&model, "V"),
        r#"CREATE VIEW "V" AS SELECT
  "Books_0"."ID",
  "author_1"."name" AS "authorName",
  "country_2"."name" AS "countryName",
  "Books_0"."author_ID" AS "authorID"
FROM (("Books" AS "Books_0" LEFT JOIN "Authors" AS "author_1" ON "Books_0"."author_ID" = "author_1"."ID") LEFT JOIN "Countries" AS "country_2" ON "author_1"."country_code" = "country_2"."code")"#
    );
}

#[test]
fn to_many_paths_join_on_the_backlink_and_exists_becomes_a_subquery() {
    let model = library(json!({
        "Counts": {"kind": "entity",
            "query": {"SELECT": {"from": {"ref": ["Authors"]}, "columns": [
                {"ref": ["ID"]},
                {"func": "count", "args": [{"ref": ["books", "ID"]}], "as": "books"},
            ], "groupBy": [{"ref": ["ID"]}]}},
            "elements": {"ID": {"key": true, "type": "cds.Integer"}, "books": {"type": "cds.Integer"}}},
        "Named": {"kind": "entity",
            "query": {"SELECT": {"from": {"ref": ["Books"]}, "columns": [{"ref": ["ID"]}],
                "where": ["exists", {"ref": [{"id": "author", "where": [
                    {"ref": ["name"]}, "=", {"val": "Poe"}, "or", {"ref": ["name"]}, "=", {"val": "Ende"}]}]}]}},
            "elements": {"ID": {"key": true, "type": "cds.Integer"}}},
    }))
    .expect("derives");
    assert_eq!(
        view_sql(&model, "Counts"),
        r#"CREATE VIEW "Counts" AS SELECT
  "Authors_0"."ID",
  count("books_1"."ID") AS "books"
FROM ("Authors" AS "Authors_0" LEFT JOIN "Books" AS "books_1" ON "books_1"."author_ID" = "Authors_0"."ID")
GROUP BY "Authors_0"."ID""#
    );
    assert_eq!(
        view_sql(&model, "Named"),
        r#"CREATE VIEW "Named" AS SELECT
  "Books_0"."ID"
FROM "Books" AS "Books_0"
WHERE EXISTS (SELECT 1 AS dummy FROM "Authors" AS "_author_exists_1" WHERE "_author_exists_1"."ID" = "Books_0"."author_ID" AND ("_author_exists_1"."name" = 'Poe' OR "_author_exists_1"."name" = 'Ende'))"#
    );
    assert_eq!(
        model.view("Named").expect("view").sources(),
        ["Books", "Authors"]
    );
}

#[test]
fn a_path_inside_an_exists_filter_is_refused_with_its_view() {
    let err = library(json!({"V": {"kind": "entity",
        "query": {"SELECT": {"from": {"ref": ["Books"]}, "columns": [{"ref": ["ID"]}],
            "where": ["exists", {"ref": [{"id": "author", "where": [
                {"ref": ["country", "name"]}, "=", {"val": "X"}]}]}]}},
        "elements": {"ID": {"key": true, "type": "cds.Integer"}}}}))
    .expect_err("unsupported");
    assert_eq!(
        err.to_string(),
        "V: a path expression in the filter of 'exists author' is not supported"
    );
}

#[test]
fn a_mixin_is_exposed_without_a_column_and_refused_in_a_path() {
    let mixin = json!({"author2": {"type": "cds.Association", "target": "Authors",
        "on": [{"ref": ["author2", "ID"]}, "=", {"ref": ["author", "ID"]}]}});
    let elements = json!({"ID": {"key": true, "type": "cds.Integer"},
        "author2": {"type": "cds.Association", "target": "Authors",
            "on": [{"ref": ["author2", "ID"]}, "=", {"ref": ["author", "ID"]}]}});
    let exposed = library(json!({"V": {"kind": "entity",
        "query": {"SELECT": {"from": {"ref": ["Books"]}, "mixin": mixin.clone(),
            "columns": [{"ref": ["ID"]}, {"ref": ["author2"]}]}},
        "elements": elements}}))
    .expect("derives");
    assert_eq!(
        view_sql(&exposed, "V"),
        "CREATE VIEW \"V\" AS SELECT\n  \"Books_0\".\"ID\"\nFROM \"Books\" AS \"Books_0\""
    );
    let err = library(json!({"V": {"kind": "entity",
        "query": {"SELECT": {"from": {"ref": ["Books"]}, "mixin": mixin,
            "columns": [{"ref": ["ID"]}, {"ref": ["author2", "name"], "as": "name"}]}},
        "elements": {"ID": {"key": true, "type": "cds.Integer"},
            "name": {"type": "cds.String", "length": 100}}}}))
    .expect_err("unsupported");
    assert_eq!(
        err.to_string(),
        "V: a path through the mixin association 'author2' is not supported"
    );
}
