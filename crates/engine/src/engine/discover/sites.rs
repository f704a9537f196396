//! The tenant's site collections, kept current across discovery rounds with
//! `/sites/delta` when the tenant offers it, else by listing `/sites` every round.

use log::info;
use serde::{Deserialize, Serialize};

use super::feed::{FeedState, follow};
use super::pager::{Pager, fetch_all};
use crate::error::{Error, Result};
use crate::graph::RequestKind;
use crate::graph::types::Site;

/// Fields of a site discovery reads.
const SITE_SELECT: &str = "id,name,displayName,webUrl";

/// A live site collection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteInfo {
    /// Graph site id (`host,siteCollectionId,webId`).
    pub id: String,
    /// Display name (or short name) when Graph sent one.
    pub name: Option<String>,
    /// The site's URL (empty when Graph sent none).
    pub web_url: String,
}

impl SiteInfo {
    /// What discovery keeps of a site Graph listed.
    fn from_graph(s: Site) -> SiteInfo {
        SiteInfo {
            id: s.id,
            name: s.display_name.or(s.name),
            web_url: s.web_url.unwrap_or_default(),
        }
    }
}

/// Where the list of sites comes from, and what the last round learned.
#[derive(Debug, Clone)]
pub struct SitesFeed {
    use_delta: bool,
    state: FeedState<SiteInfo>,
}

impl SitesFeed {
    /// A feed that follows `/sites/delta` (only changes after the first round), and
    /// falls back to listing `/sites` when the tenant does not serve it.
    pub fn delta() -> SitesFeed {
        SitesFeed::resume(FeedState::default())
    }

    /// A delta feed that continues from a saved state.
    pub fn resume(state: FeedState<SiteInfo>) -> SitesFeed {
        SitesFeed {
            use_delta: true,
            state,
        }
    }

    /// A feed that lists `/sites` page by page every time.
    pub fn listing() -> SitesFeed {
        SitesFeed {
            use_delta: false,
            ..SitesFeed::delta()
        }
    }

    /// The state to save (deltaLink and known sites).
    pub fn state(&self) -> &FeedState<SiteInfo> {
        &self.state
    }

    /// Every live site, sorted by id.
    pub fn fetch(&mut self, pager: &Pager<'_>) -> Result<Vec<SiteInfo>> {
        if self.use_delta {
            let delta = follow(
                pager,
                "/sites/delta",
                "/sites/delta",
                &[],
                &mut self.state,
                |known, site: Site| {
                    if site.removed.is_some() {
                        known.remove(&site.id);
                    } else {
                        known.insert(site.id.clone(), SiteInfo::from_graph(site));
                    }
                },
            );
            match delta {
                Ok(()) => return Ok(self.state.known.values().cloned().collect()),
                Err(Error::Graph(g)) if matches!(g.status, 400 | 404 | 405 | 501) => {
                    info!("/sites/delta is not available ({g}); listing /sites every round");
                    self.use_delta = false;
                    self.state = FeedState::default();
                }
                Err(e) => return Err(e),
            }
        }
        let first = format!("/sites?$select={SITE_SELECT}&$top={}", pager.page_size);
        let mut sites: Vec<SiteInfo> = fetch_all::<Site>(pager, &first, RequestKind::List)?
            .into_iter()
            .filter(|s| s.removed.is_none())
            .map(SiteInfo::from_graph)
            .collect();
        sites.sort_by(|a, b| a.id.cmp(&b.id));
        sites.dedup_by(|a, b| a.id == b.id);
        Ok(sites)
    }
}
