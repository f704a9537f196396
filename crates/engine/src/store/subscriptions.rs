//! Change-notification subscriptions (the clientState itself is never stored, only its hash).

use rusqlite::params;

use super::{Store, SubscriptionRecord};
use crate::error::Result;

impl Store {
    /// Inserts or replaces a subscription.
    pub fn upsert_subscription(
        &self,
        id: &str,
        drive: &str,
        resource: &str,
        expires_at_ms: i64,
        client_state_hash: &str,
    ) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO subscriptions (id, drive_id, resource, expires_at_ms, client_state_hash)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (id) DO UPDATE SET
                     drive_id = excluded.drive_id,
                     resource = excluded.resource,
                     expires_at_ms = excluded.expires_at_ms,
                     client_state_hash = excluded.client_state_hash",
            )?
            .execute(params![id, drive, resource, expires_at_ms, client_state_hash])?;
        Ok(())
    }

    /// Every stored subscription, sorted by id.
    pub fn subscriptions(&self) -> Result<Vec<SubscriptionRecord>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, drive_id, resource, expires_at_ms, client_state_hash
             FROM subscriptions ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(SubscriptionRecord {
                id: r.get(0)?,
                drive_id: r.get(1)?,
                resource: r.get(2)?,
                expires_at_ms: r.get(3)?,
                client_state_hash: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Records a renewed subscription's new expiry; returns whether it existed.
    pub fn update_subscription_expiry(&self, id: &str, expires_at_ms: i64) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached("UPDATE subscriptions SET expires_at_ms = ?2 WHERE id = ?1")?
            .execute(params![id, expires_at_ms])?;
        Ok(n > 0)
    }

    /// Deletes a subscription; returns whether it existed.
    pub fn delete_subscription(&self, id: &str) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached("DELETE FROM subscriptions WHERE id = ?1")?
            .execute([id])?;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_upsert_list_delete() {
        let s = Store::open_in_memory().unwrap();
        s.upsert_subscription("s2", "d1", "/drives/d1/root", 100, "h1")
            .unwrap();
        s.upsert_subscription("s1", "d2", "/drives/d2/root", 50, "h2")
            .unwrap();
        s.upsert_subscription("s2", "d1", "/drives/d1/root", 200, "h3")
            .unwrap();
        let subs = s.subscriptions().unwrap();
        assert_eq!(subs.len(), 2);
        assert_eq!(subs[0].id, "s1");
        assert_eq!(
            subs[1],
            SubscriptionRecord {
                id: "s2".into(),
                drive_id: "d1".into(),
                resource: "/drives/d1/root".into(),
                expires_at_ms: 200,
                client_state_hash: "h3".into(),
            }
        );
        assert!(s.update_subscription_expiry("s2", 300).unwrap());
        assert!(!s.update_subscription_expiry("nope", 300).unwrap());
        assert_eq!(s.subscriptions().unwrap()[1].expires_at_ms, 300);
        assert!(s.delete_subscription("s1").unwrap());
        assert!(!s.delete_subscription("s1").unwrap());
        assert_eq!(s.subscriptions().unwrap().len(), 1);
    }
}
