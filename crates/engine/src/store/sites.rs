//! SharePoint sites in scope.

use rusqlite::{OptionalExtension, params};

use super::{SiteRecord, Store};
use crate::error::Result;

impl Store {
    /// Adds a site or refreshes a known one (clearing its removed flag). Returns `true`
    /// when the site is new to the store or was flagged removed.
    pub fn upsert_site(&self, id: &str, name: Option<&str>, web_url: Option<&str>) -> Result<bool> {
        let tx = self.conn.unchecked_transaction()?;
        let removed: Option<bool> = tx
            .prepare_cached("SELECT removed FROM sites WHERE id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?;
        tx.prepare_cached(
            "INSERT INTO sites (id, name, web_url) VALUES (?1, ?2, ?3)
             ON CONFLICT (id) DO UPDATE SET
                 name = COALESCE(excluded.name, name),
                 web_url = COALESCE(excluded.web_url, web_url),
                 removed = 0",
        )?
        .execute(params![id, name, web_url])?;
        tx.commit()?;
        Ok(removed.is_none_or(|r| r))
    }

    /// Flags a site as removed; returns whether the site was known.
    pub fn mark_site_removed(&self, id: &str) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached("UPDATE sites SET removed = 1 WHERE id = ?1")?
            .execute([id])?;
        Ok(n > 0)
    }

    /// Every known site, sorted by id.
    pub fn sites(&self) -> Result<Vec<SiteRecord>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, name, web_url, removed FROM sites ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            Ok(SiteRecord {
                id: r.get(0)?,
                name: r.get(1)?,
                web_url: r.get(2)?,
                removed: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_upsert_remove_and_list() {
        let s = Store::open_in_memory().unwrap();
        assert!(
            s.upsert_site("s2", Some("Team"), Some("https://x/s2"))
                .unwrap()
        );
        assert!(!s.upsert_site("s2", None, None).unwrap());
        assert!(s.upsert_site("s1", None, None).unwrap());
        assert!(s.mark_site_removed("s1").unwrap());
        assert!(!s.mark_site_removed("nope").unwrap());
        let sites = s.sites().unwrap();
        assert_eq!(sites.len(), 2);
        assert_eq!((sites[0].id.as_str(), sites[0].removed), ("s1", true));
        assert_eq!(sites[1].name.as_deref(), Some("Team"));
        assert_eq!(sites[1].web_url.as_deref(), Some("https://x/s2"));
        assert!(s.upsert_site("s1", None, None).unwrap(), "back in scope");
    }
}
