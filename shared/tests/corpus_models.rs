//! Corpus models that once stopped start-up or a subscription (the issue "Every CDS model a
//! real app ships"): each loads as a model version, and its DDL deploys and is queryable.

use std::path::PathBuf;

use mtx_shared::model::ModelVersion;
use mtx_shared::sql::{Dialect, create_statements};
use mtx_shared::testing::ScratchDatabase;
use sqlx::{AssertSqlSafe, Connection as _};

fn corpus_csn(case: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../models/corpus")
        .join(case)
        .join("csn.json");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn load(case: &str) -> ModelVersion {
    ModelVersion::from_json(case, &corpus_csn(case)).unwrap_or_else(|e| panic!("{case}: {e}"))
}

#[test]
fn a_projection_with_a_path_expression_loads_as_a_model_version() {
    let version = load("path-to-one/v1");
    let view = version
        .persistence
        .view("c_p1_S_BookList")
        .expect("the projection is a view");
    assert!(view.columns.iter().any(|c| c.name == "authorName"));
}

#[test]
fn an_arrayed_element_loads_as_a_model_version() {
    let version = load("arrayed/v1");
    let contacts = version
        .persistence
        .table("c_arr_Contacts")
        .expect("the entity is a table");
    assert!(contacts.column("phones").is_some());
    assert!(contacts.column("emails").is_some());
}

#[tokio::test]
async fn localized_views_of_a_composition_of_aspects_deploy_and_answer_on_postgres() {
    let version = load("compositions-deep/v1");
    let database = ScratchDatabase::create().await.expect("scratch database");
    let mut conn = sqlx::PgConnection::connect(database.url())
        .await
        .expect("connects");

    let mut tx = conn.begin().await.expect("transaction");
    for statement in create_statements(&version.persistence, Dialect::Postgres, None) {
        sqlx::raw_sql(AssertSqlSafe(statement.as_str()))
            .execute(&mut *tx)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    tx.commit().await.expect("commits");

    sqlx::raw_sql(
        "INSERT INTO c_comp_Orders_items_parts (up__up__ID, up__pos, no, name) \
         VALUES ('o1', 1, 1, 'bolt');
         INSERT INTO c_comp_Orders_items_parts_texts (locale, up__up__ID, up__pos, no, name) \
         VALUES ('de', 'o1', 1, 1, 'Bolzen');
         SET cap.locale = 'de'",
    )
    .execute(&mut conn)
    .await
    .expect("rows and locale");
    let names: Vec<String> =
        sqlx::query_scalar("SELECT name FROM localized_c_comp_S_Orders_items_parts")
            .fetch_all(&mut conn)
            .await
            .expect("the localized view answers");
    assert_eq!(names, ["Bolzen"]);
}
