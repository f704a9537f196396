//! A delta feed of tenant objects (sites, groups) kept between discovery rounds:
//! the deltaLink and the set it describes, committed together once a round reached
//! its deltaLink, and saved in the store so that a restart continues with the
//! deltaLink instead of enumerating again.

use std::collections::BTreeMap;

use log::warn;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::pager::Pager;
use crate::error::{Error, Result};
use crate::graph::RequestKind;
use crate::graph::types::Collection;
use crate::store::Store;

/// The deltaLink of a feed and the live objects it describes, by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(serialize = "T: Serialize", deserialize = "T: DeserializeOwned"))]
pub struct FeedState<T> {
    /// Where the next round starts; `None`: enumerate from scratch.
    pub delta_link: Option<String>,
    /// The live objects as of that link.
    pub known: BTreeMap<String, T>,
}

impl<T> Default for FeedState<T> {
    fn default() -> Self {
        FeedState {
            delta_link: None,
            known: BTreeMap::new(),
        }
    }
}

impl<T: Serialize + DeserializeOwned> FeedState<T> {
    /// The state saved under `key`, or an empty one (nothing saved, or unreadable:
    /// then the feed enumerates again, which is always safe).
    pub fn load(store: &Store, key: &str) -> FeedState<T> {
        match store.meta(key) {
            Ok(Some(json)) => serde_json::from_str(&json).unwrap_or_else(|e| {
                warn!("discovery: saved {key} is unreadable ({e}); enumerating again");
                FeedState::default()
            }),
            Ok(None) => FeedState::default(),
            Err(e) => {
                warn!("discovery: cannot read {key} ({e}); enumerating again");
                FeedState::default()
            }
        }
    }

    /// Saves the state under `key` in one write (link and set together).
    pub fn save(&self, store: &Store, key: &str) -> Result<()> {
        let json = serde_json::to_string(self)
            .map_err(|e| Error::Protocol(format!("cannot serialize {key}: {e}")))?;
        store.set_meta(key, &json)
    }
}

/// One round of a delta feed: from the stored deltaLink (or `first` when there is
/// none), page by page to the new deltaLink. `apply` folds each object of a page into
/// a copy of the known set; the copy and the new link replace the state only once the
/// deltaLink is reached. A 410 (token expired) restarts once from `first`.
pub fn follow<O: DeserializeOwned, T: Clone>(
    pager: &Pager<'_>,
    what: &str,
    first: &str,
    headers: &[(&str, &str)],
    state: &mut FeedState<T>,
    mut apply: impl FnMut(&mut BTreeMap<String, T>, O),
) -> Result<()> {
    let mut restarted = false;
    'round: loop {
        let (mut url, mut known, mut kind) = match &state.delta_link {
            Some(link) if !restarted => (
                link.clone(),
                state.known.clone(),
                RequestKind::DeltaWithToken,
            ),
            _ => (
                first.to_string(),
                BTreeMap::new(),
                RequestKind::DeltaInitial,
            ),
        };
        loop {
            pager.check_stop()?;
            let page: Collection<O> = match pager.client.get_json_with(&url, headers, kind) {
                Err(Error::Graph(g)) if g.status == 410 && !restarted => {
                    warn!("{what} token expired (410); enumerating again");
                    restarted = true;
                    continue 'round;
                }
                other => other?,
            };
            for object in page.value {
                apply(&mut known, object);
            }
            match (page.next_link, page.delta_link) {
                (Some(next), _) if next != url => {
                    url = next;
                    kind = RequestKind::DeltaWithToken;
                }
                (Some(_), _) => {
                    return Err(Error::Protocol(format!(
                        "{what} returned a nextLink to the same page"
                    )));
                }
                (None, Some(delta)) => {
                    state.delta_link = Some(delta);
                    state.known = known;
                    return Ok(());
                }
                (None, None) => {
                    return Err(Error::Protocol(format!(
                        "{what} page has neither nextLink nor deltaLink"
                    )));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_survive_the_store_and_bad_ones_start_over() {
        let store = Store::open_in_memory().unwrap();
        let empty: FeedState<String> = FeedState::load(&store, "k");
        assert_eq!(empty, FeedState::default());
        let state = FeedState {
            delta_link: Some("https://graph/x?token=1".into()),
            known: [("a".to_string(), "A".to_string())].into(),
        };
        state.save(&store, "k").unwrap();
        assert_eq!(FeedState::<String>::load(&store, "k"), state);
        store.set_meta("k", "{not json").unwrap();
        assert_eq!(FeedState::<String>::load(&store, "k"), FeedState::default());
    }
}
