//! The tenant's site collections, kept current across discovery rounds with
//! `/sites/delta` when the tenant offers it, else by listing `/sites` every round.

use std::collections::BTreeMap;

use log::{info, warn};

use super::enumerate::{Pager, fetch_all};
use crate::error::{Error, Result};
use crate::graph::RequestKind;
use crate::graph::types::{Collection, Site};

/// Fields of a site discovery reads.
const SITE_SELECT: &str = "id,name,displayName,webUrl";

/// A live site collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteInfo {
    /// Graph site id (`host,siteCollectionId,webId`).
    pub id: String,
    /// Display name (or short name) when Graph sent one.
    pub name: Option<String>,
    /// The site's URL (empty when Graph sent none).
    pub web_url: String,
}

impl From<Site> for SiteInfo {
    fn from(s: Site) -> SiteInfo {
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
    delta_link: Option<String>,
    known: BTreeMap<String, SiteInfo>,
}

impl SitesFeed {
    /// A feed that follows `/sites/delta` (only changes after the first round), and
    /// falls back to listing `/sites` when the tenant does not serve it.
    pub fn delta() -> SitesFeed {
        SitesFeed {
            use_delta: true,
            delta_link: None,
            known: BTreeMap::new(),
        }
    }

    /// A feed that lists `/sites` page by page every time.
    pub fn listing() -> SitesFeed {
        SitesFeed {
            use_delta: false,
            ..SitesFeed::delta()
        }
    }

    /// Every live site, sorted by id.
    pub fn fetch(&mut self, pager: &Pager<'_>) -> Result<Vec<SiteInfo>> {
        if self.use_delta {
            match self.fetch_delta(pager) {
                Ok(sites) => return Ok(sites),
                Err(Error::Graph(g)) if matches!(g.status, 400 | 404 | 405 | 501) => {
                    info!("/sites/delta is not available ({g}); listing /sites every round");
                    self.use_delta = false;
                    self.delta_link = None;
                    self.known.clear();
                }
                Err(e) => return Err(e),
            }
        }
        let first = format!("/sites?$select={SITE_SELECT}&$top={}", pager.page_size);
        let mut sites: Vec<SiteInfo> = fetch_all::<Site>(pager, &first, RequestKind::List)?
            .into_iter()
            .filter(|s| s.removed.is_none())
            .map(SiteInfo::from)
            .collect();
        sites.sort_by(|a, b| a.id.cmp(&b.id));
        sites.dedup_by(|a, b| a.id == b.id);
        Ok(sites)
    }

    /// Applies the changes since the stored deltaLink (or enumerates from scratch),
    /// committing the new set and link only once the round reached its deltaLink.
    fn fetch_delta(&mut self, pager: &Pager<'_>) -> Result<Vec<SiteInfo>> {
        let mut restarted = false;
        'round: loop {
            let (mut url, mut known, mut kind) = match &self.delta_link {
                Some(link) if !restarted => (
                    link.clone(),
                    self.known.clone(),
                    RequestKind::DeltaWithToken,
                ),
                _ => (
                    "/sites/delta".to_string(),
                    BTreeMap::new(),
                    RequestKind::DeltaInitial,
                ),
            };
            loop {
                pager.check_stop()?;
                let page: Collection<Site> = match pager.client.get_json(&url, kind) {
                    Err(Error::Graph(g)) if g.status == 410 && !restarted => {
                        warn!("/sites/delta token expired (410); enumerating sites again");
                        restarted = true;
                        continue 'round;
                    }
                    other => other?,
                };
                for site in page.value {
                    if site.removed.is_some() {
                        known.remove(&site.id);
                    } else {
                        known.insert(site.id.clone(), SiteInfo::from(site));
                    }
                }
                match (page.next_link, page.delta_link) {
                    (Some(next), _) if next != url => {
                        url = next;
                        kind = RequestKind::DeltaWithToken;
                    }
                    (Some(_), _) => {
                        return Err(Error::Protocol(
                            "/sites/delta returned a nextLink to the same page".into(),
                        ));
                    }
                    (None, Some(delta)) => {
                        self.delta_link = Some(delta);
                        self.known = known;
                        return Ok(self.known.values().cloned().collect());
                    }
                    (None, None) => {
                        return Err(Error::Protocol(
                            "/sites/delta page has neither nextLink nor deltaLink".into(),
                        ));
                    }
                }
            }
        }
    }
}
