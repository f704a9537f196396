//! Injected failures: seeded dice rolled once per Graph or content request, and once
//! more per download for the faults of its body.

use parking_lot::Mutex;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::Faults;
use crate::ids;

/// What the dice decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Injected {
    None,
    Error503,
    Error500,
    Reset,
}

/// What the dice decided for the body of one download.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum DownloadFault {
    None,
    /// The body stops after this fraction (in `[0, 1)`) of its bytes; `reset` when
    /// rolled by `download_reset_rate`, else by `download_truncate_rate`.
    Cut {
        fraction: f64,
        reset: bool,
    },
    /// Content-Length and body carry this many bytes (1 to 1024) past the range.
    Overrun {
        extra: u64,
    },
    /// A range request is answered with another range.
    WrongRange,
}

/// Which delete tombstones incremental delta leaves out (see
/// [`Faults::omit_tombstone_rate`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct TombstoneOmission {
    /// Probability that one deleted item's tombstone is left out.
    pub rate: f64,
    /// Seed of the decision, so every page served agrees.
    pub seed: u64,
}

impl TombstoneOmission {
    /// Whether the tombstone of item `idx` of drive `drive` is left out: a pure function
    /// of the seed, so a retried page and every later round leave out the same ones.
    pub fn omits(&self, drive: usize, idx: u32) -> bool {
        if self.rate <= 0.0 {
            return false;
        }
        let h = ids::mix(ids::mix(self.seed, drive as u64), u64::from(idx));
        // The top 53 bits as a uniform number in [0, 1).
        ((h >> 11) as f64 / (1u64 << 53) as f64) < self.rate
    }
}

/// The current fault knobs and their random source.
#[derive(Debug)]
pub(crate) struct FaultDice {
    state: Mutex<(Faults, ChaCha8Rng)>,
}

impl FaultDice {
    /// Dice for `faults`.
    pub fn new(faults: Faults) -> FaultDice {
        let rng = ChaCha8Rng::seed_from_u64(faults.seed);
        FaultDice {
            state: Mutex::new((faults, rng)),
        }
    }

    /// Replaces the knobs (and reseeds).
    pub fn set(&self, faults: Faults) {
        *self.state.lock() = (faults.clone(), ChaCha8Rng::seed_from_u64(faults.seed));
    }

    /// The tombstone-omission knobs in force: (probability, seed).
    pub fn tombstone_omission(&self) -> TombstoneOmission {
        let g = self.state.lock();
        TombstoneOmission {
            rate: g.0.omit_tombstone_rate,
            seed: g.0.seed,
        }
    }

    /// Whether `/permissions` is refused (the `permissions_denied` fault).
    pub fn permissions_denied(&self) -> bool {
        self.state.lock().0.permissions_denied
    }

    /// Rolls for one request.
    pub fn roll(&self) -> Injected {
        let mut g = self.state.lock();
        let (f, rng) = &mut *g;
        if f.error_503_rate + f.error_500_rate + f.reset_rate <= 0.0 {
            return Injected::None;
        }
        let x: f64 = rng.random();
        if x < f.error_503_rate {
            Injected::Error503
        } else if x < f.error_503_rate + f.error_500_rate {
            Injected::Error500
        } else if x < f.error_503_rate + f.error_500_rate + f.reset_rate {
            Injected::Reset
        } else {
            Injected::None
        }
    }

    /// Rolls for the body of one download.
    pub fn roll_download(&self) -> DownloadFault {
        let mut g = self.state.lock();
        let (f, rng) = &mut *g;
        let rates = [
            f.download_reset_rate,
            f.download_truncate_rate,
            f.download_overrun_rate,
            f.download_wrong_range_rate,
        ];
        if rates.iter().sum::<f64>() <= 0.0 {
            return DownloadFault::None;
        }
        let x: f64 = rng.random();
        let fraction: f64 = rng.random();
        let mut bound = 0.0;
        let hit = rates.iter().position(|r| {
            bound += r;
            x < bound
        });
        match hit {
            Some(0) => DownloadFault::Cut {
                fraction,
                reset: true,
            },
            Some(1) => DownloadFault::Cut {
                fraction,
                reset: false,
            },
            Some(2) => DownloadFault::Overrun {
                extra: 1 + (fraction * 1024.0) as u64 % 1024,
            },
            Some(_) => DownloadFault::WrongRange,
            None => DownloadFault::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_respected_roughly_and_replayable() {
        let f = Faults {
            error_503_rate: 0.2,
            error_500_rate: 0.1,
            reset_rate: 0.1,
            seed: 7,
            ..Faults::default()
        };
        let dice = FaultDice::new(f.clone());
        let rolls: Vec<Injected> = (0..10_000).map(|_| dice.roll()).collect();
        let n503 = rolls.iter().filter(|r| **r == Injected::Error503).count();
        assert!((1500..2500).contains(&n503), "{n503}");
        dice.set(f);
        let again: Vec<Injected> = (0..10_000).map(|_| dice.roll()).collect();
        assert_eq!(rolls, again);
        assert_eq!(FaultDice::new(Faults::default()).roll(), Injected::None);
    }

    #[test]
    fn download_faults_follow_their_rates() {
        let dice = FaultDice::new(Faults {
            download_truncate_rate: 0.5,
            download_wrong_range_rate: 0.5,
            ..Faults::default()
        });
        let rolls: Vec<DownloadFault> = (0..1000).map(|_| dice.roll_download()).collect();
        let cut = rolls
            .iter()
            .filter(
                |r| matches!(r, DownloadFault::Cut { reset: false, fraction } if *fraction < 1.0),
            )
            .count();
        let wrong = rolls
            .iter()
            .filter(|r| **r == DownloadFault::WrongRange)
            .count();
        assert_eq!(cut + wrong, 1000);
        assert!((400..600).contains(&cut), "{cut}");
        let never = FaultDice::new(Faults::default());
        assert_eq!(never.roll_download(), DownloadFault::None);
        let over = FaultDice::new(Faults {
            download_overrun_rate: 1.0,
            ..Faults::default()
        });
        assert!((0..100).all(|_| matches!(over.roll_download(), DownloadFault::Overrun { extra } if (1..=1024).contains(&extra))));
    }

    #[test]
    fn tombstone_omission_is_stable_and_near_its_rate() {
        let dice = FaultDice::new(Faults {
            omit_tombstone_rate: 0.3,
            seed: 5,
            ..Faults::default()
        });
        let o = dice.tombstone_omission();
        let omitted: Vec<u32> = (0..10_000).filter(|&i| o.omits(1, i)).collect();
        assert!((2500..3500).contains(&omitted.len()), "{}", omitted.len());
        let again: Vec<u32> = (0..10_000).filter(|&i| o.omits(1, i)).collect();
        assert_eq!(omitted, again);
        assert!((0..10_000).all(|i| !TombstoneOmission::default().omits(1, i)));
        let all = TombstoneOmission { rate: 1.0, seed: 5 };
        assert!((0..10_000).all(|i| all.omits(1, i)));
    }
}
