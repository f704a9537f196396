//! The seeded schedule of one chaos seed: which mutation, fault or kill happens when.
//!
//! Only kinds and instants are decided here; the scheduler picks the concrete items from
//! the simulator's truth at run time, with its own generator derived from the same seed.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A change to the tenant, applied through the simulator's control API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutation {
    /// A new file in a random folder.
    CreateFile,
    /// A new folder with a few files in it.
    CreateFolder,
    /// New content for a file.
    EditFile,
    /// A new name for a file or folder (large folders preferred).
    Rename,
    /// A folder (large ones preferred) moved under another folder.
    MoveFolder,
    /// A file moved to another folder.
    MoveFile,
    /// A file deleted.
    DeleteFile,
    /// A folder deleted with its subtree.
    DeleteFolder,
    /// An item deleted and a new one created with the same name in the same place.
    DeleteAndRecreate,
    /// Sharing set on an item.
    Share,
    /// Sharing removed from a shared item.
    Unshare,
    /// New generated content of another size for a file (up to a few MB, so that a
    /// kill often finds it half downloaded); only with the download dimension.
    ResizeFile,
    /// A user, group or guest granted read or write on an item (breaking its
    /// inheritance); the mutations below come with the sharing dimension.
    Grant,
    /// A sharing link (anyone, organization or specific people) on an item.
    Link,
    /// A grant (not the owner's) removed from an item with unique permissions.
    Revoke,
    /// An inheriting item given unique permissions (a copy of what it inherited).
    BreakInheritance,
    /// An item with unique permissions made to inherit again.
    RestoreInheritance,
    /// An inheriting item moved below a folder whose permissions come from elsewhere.
    MoveAcrossBoundary,
}

const MUTATIONS: [Mutation; 11] = [
    Mutation::CreateFile,
    Mutation::CreateFolder,
    Mutation::EditFile,
    Mutation::Rename,
    Mutation::MoveFolder,
    Mutation::MoveFile,
    Mutation::DeleteFile,
    Mutation::DeleteFolder,
    Mutation::DeleteAndRecreate,
    Mutation::Share,
    Mutation::Unshare,
];

/// The mutations of the sharing dimension.
const SHARING_MUTATIONS: [Mutation; 6] = [
    Mutation::Grant,
    Mutation::Link,
    Mutation::Revoke,
    Mutation::BreakInheritance,
    Mutation::RestoreInheritance,
    Mutation::MoveAcrossBoundary,
];

/// A fault injected into the simulator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// 503/500/connection-reset rates on Graph requests, until [`Fault::ErrorsOff`].
    Errors {
        /// Probability of a 503 with Retry-After.
        error_503: f64,
        /// Probability of a 500.
        error_500: f64,
        /// Probability of a dropped connection.
        reset: f64,
    },
    /// Back to no injected errors.
    ErrorsOff,
    /// Every Graph request answered 429 + Retry-After for this long.
    ThrottleStorm {
        /// Length of the storm.
        ms: u64,
    },
    /// Every access token expires: the next Graph calls get 401.
    ExpireAccessTokens,
    /// Every delta token expires: the next delta calls get 410.
    ExpireDeltaTokens,
    /// Every subscription expires (deleted by "Graph").
    ExpireSubscriptions,
    /// Notifications dropped, duplicated, reordered and delayed, until [`Fault::NotificationsOff`].
    Notifications {
        /// Probability that a notification is lost.
        drop: f64,
        /// Probability that it is delivered twice.
        duplicate: f64,
        /// Probability that a batch is reordered.
        reorder: f64,
        /// Random delay, up to this many milliseconds.
        delay_ms: u64,
    },
    /// Back to faithful delivery.
    NotificationsOff,
    /// Download bodies cut short (reset or clean close) at these rates, until
    /// [`Fault::DownloadsOff`]; only with the download dimension.
    Downloads {
        /// Probability that a body ends with a reset part way.
        reset: f64,
        /// Probability that a body ends cleanly but short.
        truncate: f64,
    },
    /// Back to whole download bodies.
    DownloadsOff,
    /// Every download URL issued so far expires (401 on use).
    ExpireDownloadUrls,
}

impl Fault {
    /// Short name for counters and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Fault::Errors { .. } => "errors",
            Fault::ErrorsOff => "errors_off",
            Fault::ThrottleStorm { .. } => "throttle_storm",
            Fault::ExpireAccessTokens => "expire_access_tokens",
            Fault::ExpireDeltaTokens => "expire_delta_tokens",
            Fault::ExpireSubscriptions => "expire_subscriptions",
            Fault::Notifications { .. } => "notification_faults",
            Fault::NotificationsOff => "notification_faults_off",
            Fault::Downloads { .. } => "download_faults",
            Fault::DownloadsOff => "download_faults_off",
            Fault::ExpireDownloadUrls => "expire_download_urls",
        }
    }
}

/// What happens at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    /// Change the tenant.
    Mutate(Mutation),
    /// Inject or lift a fault.
    Fault(Fault),
    /// SIGKILL the engine, then start it again after this many milliseconds.
    Kill {
        /// Pause between the kill and the restart.
        restart_after_ms: u64,
    },
}

/// One scheduled action.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// Milliseconds after the engine's first start.
    pub at_ms: u64,
    /// What to do.
    pub action: Action,
}

/// The size of a schedule.
#[derive(Debug, Clone, Copy)]
pub struct PlanShape {
    /// Length of the chaotic phase.
    pub duration_ms: u64,
    /// Mutations spread over it.
    pub mutations: u32,
    /// SIGKILLs of the engine at random moments (half of the 429 storms add one more).
    pub kills: u32,
    /// Fault episodes (each may be a window with an on and an off step).
    pub faults: u32,
    /// The download dimension: file resizes, download faults and URL expiry join the
    /// draw (without it a seed's plan is what it always was).
    pub downloads: bool,
    /// The sharing dimension: grants, links, revokes, inheritance broken and restored
    /// and moves across permission boundaries join the draw.
    pub sharing: bool,
}

/// A seeded schedule, sorted by time.
pub fn plan(seed: u64, shape: PlanShape) -> Vec<Step> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let span = shape.duration_ms.max(1);
    let mut steps = Vec::new();
    // Without a dimension the draw is what it always was.
    let mut kinds: Vec<Mutation> = MUTATIONS.to_vec();
    if shape.downloads {
        kinds.push(Mutation::ResizeFile);
    }
    if shape.sharing {
        kinds.extend(SHARING_MUTATIONS);
    }
    for _ in 0..shape.mutations {
        let at_ms = rng.random_range(0..span);
        let m = kinds[rng.random_range(0..kinds.len())];
        steps.push(Step {
            at_ms,
            action: Action::Mutate(m),
        });
    }
    for k in 0..shape.kills {
        // The first kill lands early, often during the first crawl; later ones anywhere.
        let at_ms = if k == 0 {
            rng.random_range(0..span / 4 + 1)
        } else {
            rng.random_range(0..span)
        };
        steps.push(Step {
            at_ms,
            action: Action::Kill {
                restart_after_ms: rng.random_range(0..800),
            },
        });
    }
    for _ in 0..shape.faults {
        let at_ms = rng.random_range(0..span);
        let window = rng.random_range(300..2000);
        let (on, off) = match rng.random_range(0..if shape.downloads { 8 } else { 6 }) {
            0 => (
                Fault::Errors {
                    error_503: rng.random_range(0.0..0.15),
                    error_500: rng.random_range(0.0..0.1),
                    reset: rng.random_range(0.0..0.1),
                },
                Some(Fault::ErrorsOff),
            ),
            1 => (Fault::ThrottleStorm { ms: window }, None),
            2 => (Fault::ExpireAccessTokens, None),
            3 => (Fault::ExpireDeltaTokens, None),
            4 => (Fault::ExpireSubscriptions, None),
            6 => (
                Fault::Downloads {
                    reset: rng.random_range(0.0..0.3),
                    truncate: rng.random_range(0.0..0.3),
                },
                Some(Fault::DownloadsOff),
            ),
            7 => (Fault::ExpireDownloadUrls, None),
            _ => (
                Fault::Notifications {
                    drop: rng.random_range(0.0..0.5),
                    duplicate: rng.random_range(0.0..0.5),
                    reorder: rng.random_range(0.0..0.5),
                    delay_ms: rng.random_range(0..1500),
                },
                Some(Fault::NotificationsOff),
            ),
        };
        steps.push(Step {
            at_ms,
            action: Action::Fault(on),
        });
        // A change right after a storm starts makes the engine meet it; half of the
        // storms also kill the engine while its Retry-After is likely in force: the
        // restarted process must still honour it.
        if matches!(on, Fault::ThrottleStorm { .. }) {
            steps.push(Step {
                at_ms: at_ms + 1,
                action: Action::Mutate(Mutation::EditFile),
            });
        }
        if matches!(on, Fault::ThrottleStorm { .. }) && rng.random_bool(0.5) {
            steps.push(Step {
                at_ms: at_ms + rng.random_range(100..600),
                action: Action::Kill {
                    restart_after_ms: rng.random_range(0..300),
                },
            });
        }
        if let Some(off) = off {
            steps.push(Step {
                at_ms: at_ms + window,
                action: Action::Fault(off),
            });
        }
    }
    // Stable: equal instants keep their generation order.
    steps.sort_by_key(|s| s.at_ms);
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHAPE: PlanShape = PlanShape {
        duration_ms: 5000,
        mutations: 40,
        kills: 2,
        faults: 6,
        downloads: false,
        sharing: false,
    };

    #[test]
    fn same_seed_same_plan_and_sorted() {
        let a = plan(7, SHAPE);
        assert_eq!(a, plan(7, SHAPE));
        assert_ne!(a, plan(8, SHAPE));
        assert!(a.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
        let kills = a
            .iter()
            .filter(|s| matches!(s.action, Action::Kill { .. }))
            .count();
        assert!(kills >= 2);
        let mutations = a
            .iter()
            .filter(|s| matches!(s.action, Action::Mutate(_)))
            .count();
        assert!(mutations >= 40);
        // Without the download dimension no download step is ever drawn.
        assert!(a.iter().all(|s| !matches!(
            s.action,
            Action::Mutate(Mutation::ResizeFile)
                | Action::Fault(Fault::Downloads { .. } | Fault::ExpireDownloadUrls)
        )));
    }

    #[test]
    fn the_download_dimension_draws_download_steps() {
        let shape = PlanShape {
            downloads: true,
            mutations: 200,
            faults: 40,
            ..SHAPE
        };
        let steps = plan(3, shape);
        let has = |f: fn(&Action) -> bool| steps.iter().any(|s| f(&s.action));
        assert!(has(|a| matches!(a, Action::Mutate(Mutation::ResizeFile))));
        assert!(has(|a| matches!(a, Action::Fault(Fault::Downloads { .. }))));
        assert!(has(|a| matches!(
            a,
            Action::Fault(Fault::ExpireDownloadUrls)
        )));
    }

    #[test]
    fn the_sharing_dimension_draws_every_sharing_mutation() {
        let shape = PlanShape {
            sharing: true,
            mutations: 300,
            ..SHAPE
        };
        let steps = plan(4, shape);
        for m in SHARING_MUTATIONS {
            assert!(steps.iter().any(|s| s.action == Action::Mutate(m)), "{m:?}");
        }
        assert!(plan(4, SHAPE).iter().all(|s| !matches!(
            s.action,
            Action::Mutate(m) if SHARING_MUTATIONS.contains(&m)
        )));
    }
}
