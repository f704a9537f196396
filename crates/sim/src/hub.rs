//! The tenants of one simulator, and how a request finds its own.
//!
//! Graph's URLs are the same for every tenant: the bearer token decides whose data a
//! request reads (its `tid` claim; here the token's tenant suffix, see
//! [`crate::auth::Auth`]), the token endpoint's path names the tenant, and a download
//! URL carries its tenant. The control API addresses tenant `k` as
//! `/_sim/tenants/{k}/...`; plain `/_sim/...` is tenant 0. Requests that name no
//! tenant (no token, an unknown route) are answered and counted by tenant 0.

use std::collections::HashMap;
use std::sync::Arc;

use crate::api::{TenantSummary, TenantTotals};
use crate::auth::Auth;
use crate::config::SimConfig;
use crate::identity::Certificates;
use crate::request::SimRequest;
use crate::state::Shared;
use crate::subscriptions::{SubscriptionContext, Subscriptions};
use crate::{Result, generator};

/// Every tenant's state, by index, and the index by tenant id.
pub(crate) struct Hub {
    tenants: Vec<Arc<Shared>>,
    /// Tenant id → index.
    by_id: HashMap<String, usize>,
}

impl Hub {
    /// Generates `config.tenants` tenants ([`SimConfig::for_tenant`]) served at `url`
    /// (Graph) and `content_url` (the content host). Their subscriptions share one
    /// timer thread and one pool of delivery workers.
    pub fn build(config: &SimConfig, url: &str, content_url: &str) -> Result<Hub> {
        let certificates = Arc::new(Certificates::read(&config.client_certificate_files)?);
        let mut tenants: Vec<Arc<Shared>> = Vec::with_capacity(config.tenants as usize);
        let mut by_id = HashMap::with_capacity(config.tenants as usize);
        for k in 0..config.tenants {
            let own = config.for_tenant(k);
            let data = generator::generate(&own)?;
            let first = tenants.first().map(|t| t.subs.clone());
            let subs_for = |t: Arc<parking_lot::RwLock<crate::tenant::Tenant>>| {
                let ctx = SubscriptionContext {
                    tenant_id: own.tenant_id.clone(),
                    resolve: Box::new(move |resource: &str| t.read().resolve_resource(resource)),
                    config: own.notifications.clone(),
                };
                match first {
                    None => Subscriptions::new(ctx),
                    Some(first) => first.sibling(ctx),
                }
            };
            let shared = Shared::new(
                k,
                &own,
                data,
                subs_for,
                url.to_string(),
                content_url.to_string(),
                certificates.clone(),
            );
            if by_id.insert(own.tenant_id.clone(), tenants.len()).is_some() {
                return Err(crate::Error::Config(format!(
                    "two tenants would have the id {}: choose another sim.tenant_id",
                    own.tenant_id
                )));
            }
            tenants.push(Arc::new(shared));
        }
        Ok(Hub { tenants, by_id })
    }

    /// Tenant 0.
    pub fn first(&self) -> &Arc<Shared> {
        &self.tenants[0]
    }

    /// Every tenant, by index.
    pub fn tenants(&self) -> &[Arc<Shared>] {
        &self.tenants
    }

    /// Tenant `k`, if there is one.
    pub fn get(&self, k: usize) -> Option<&Arc<Shared>> {
        self.tenants.get(k)
    }

    /// The tenant a `/_sim/tenants/{k}` segment names (decimal digits only).
    pub fn by_segment(&self, k: &str) -> Option<&Arc<Shared>> {
        if k.is_empty() || k.len() > 9 || !k.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        self.get(k.parse().ok()?)
    }

    /// The tenant a token endpoint's `{tenant}` names; an unknown one goes to tenant
    /// 0, whose token endpoint refuses it as Entra does (`AADSTS90002`).
    pub fn by_tenant_id(&self, id: &str) -> &Arc<Shared> {
        self.by_id
            .get(id)
            .map_or(self.first(), |&k| &self.tenants[k])
    }

    /// The tenant a Graph request's bearer token was issued in (tenant 0 when the
    /// token names none; a token whose tenant does not exist is refused there).
    pub fn by_token(&self, req: &SimRequest) -> &Arc<Shared> {
        self.get(Auth::tenant_of(req)).unwrap_or(self.first())
    }

    /// The tenant of a download URL (its `tenant` parameter, tenant 0 without).
    pub fn by_download(&self, req: &SimRequest) -> &Arc<Shared> {
        req.query("tenant")
            .and_then(|k| self.by_segment(k))
            .unwrap_or(self.first())
    }

    /// Every tenant's summary and the totals (`GET /_sim/tenants`).
    pub fn summaries(&self) -> (Vec<TenantSummary>, TenantTotals) {
        let list: Vec<TenantSummary> = self.tenants.iter().map(|t| t.summary()).collect();
        let totals = TenantTotals::of(&list);
        (list, totals)
    }

    /// Stops every tenant's subscriptions (the shared threads stop with the last).
    pub fn shutdown(&self) {
        for t in &self.tenants {
            t.subs.shutdown();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub(tenants: u32) -> Hub {
        let config = SimConfig {
            tenants,
            items: 5,
            ..SimConfig::default()
        };
        Hub::build(&config, "http://127.0.0.1:9", "http://127.0.0.1:8").unwrap()
    }

    fn bearer(token: &str) -> SimRequest {
        SimRequest {
            headers: vec![("Authorization".into(), format!("Bearer {token}"))],
            ..SimRequest::default()
        }
    }

    #[test]
    fn requests_find_their_tenant() {
        let hub = hub(3);
        assert_eq!(hub.tenants().len(), 3);
        assert_eq!(hub.by_segment("2").unwrap().index, 2);
        for bad in ["3", "", "-1", "+1", "1.0", "x", "4294967296"] {
            assert!(hub.by_segment(bad).is_none(), "{bad:?}");
        }
        assert_eq!(hub.by_tenant_id("sim-tenant-2").index, 2);
        assert_eq!(hub.by_tenant_id("sim-tenant").index, 0);
        assert_eq!(hub.by_tenant_id("elsewhere").index, 0);

        for t in hub.tenants() {
            let (_, token) = t.auth.issue();
            let req = bearer(&token);
            let own = hub.by_token(&req);
            assert_eq!(own.index, t.index);
            assert!(own.auth.check(&req).is_ok());
            for other in hub.tenants().iter().filter(|o| o.index != t.index) {
                assert!(
                    other.auth.check(&req).is_err(),
                    "a token is valid in its tenant only"
                );
            }
        }
        let (_, token) = hub.tenants()[1].auth.issue();
        assert!(token.ends_with(".1"));
        let (_, token0) = hub.first().auth.issue();
        assert_eq!(
            token0.matches('.').count(),
            2,
            "tenant 0's tokens are unchanged"
        );
        // A token naming a tenant that does not exist goes to tenant 0, which refuses it.
        let req = bearer(&format!("{token0}.7"));
        assert_eq!(hub.by_token(&req).index, 0);
        assert!(hub.first().auth.check(&req).is_err());
        assert_eq!(hub.by_token(&SimRequest::default()).index, 0);

        let url = hub.tenants()[2].download_urls.url("d", "i", 0);
        let query: Vec<(String, String)> = url
            .split_once('?')
            .unwrap()
            .1
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let download = SimRequest {
            query,
            ..SimRequest::default()
        };
        assert_eq!(hub.by_download(&download).index, 2);
        hub.shutdown();
    }

    #[test]
    fn tenants_have_disjoint_drives() {
        let hub = hub(4);
        let mut seen = std::collections::HashSet::new();
        for t in hub.tenants() {
            for d in t.drives() {
                assert!(seen.insert(d.id), "drive ids are unique across tenants");
            }
        }
        hub.shutdown();
    }
}
