//! Query plans of the subtree statements: each recursive step must look children up by
//! (drive, parent) in `item_links`, never loop over the drive's items per row.

use super::super::{items, permissions};
use super::*;

/// The plan lines of `sql` on a store with the schema (no data needed).
fn plan(sql: &str) -> Vec<String> {
    let store = Store::open_in_memory().unwrap();
    let mut stmt = store
        .conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .unwrap();
    let rows = stmt
        .query_map(rusqlite::params![1i64, "x"], |r| r.get::<_, String>(3))
        .unwrap();
    rows.map(Result::unwrap).collect()
}

#[test]
fn subtree_steps_seek_children_by_parent() {
    for (name, sql) in [
        ("delete_subtree", items::DELETE_SUBTREE),
        ("repath_subtree", items::REPATH_SUBTREE),
        ("affected", permissions::AFFECTED),
        ("inheriting_subtree", permissions::INHERITING_SUBTREE),
    ] {
        let lines = plan(sql);
        let step = lines
            .iter()
            .find(|l| l.starts_with("SEARCH l "))
            .unwrap_or_else(|| panic!("{name}: no use of the links: {lines:?}"));
        assert!(
            step.contains("parent_id=?"),
            "{name}: children are not sought by parent: {lines:?}"
        );
        assert!(
            !lines.iter().any(|l| l.starts_with("SCAN c")),
            "{name}: a scan of the items: {lines:?}"
        );
    }
}

#[test]
fn the_old_join_order_is_what_the_test_catches() {
    // The plain join SQLite planned as a loop over the drive for each row of `sub`.
    let old = "WITH RECURSIVE sub (id) AS (SELECT ?2 UNION
         SELECT c.id FROM sub JOIN item_links l ON l.drive_key = ?1 AND l.parent_id = sub.id
         JOIN items c ON c.drive_key = ?1 AND c.id = l.child_id
         WHERE c.deleted = 0)
         SELECT COUNT(*) FROM sub";
    let lines = plan(old);
    assert!(
        lines
            .iter()
            .any(|l| l == "SEARCH l USING PRIMARY KEY (drive_key=?)"),
        "{lines:?}"
    );
}
