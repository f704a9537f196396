//! Injected failures: seeded dice rolled once per Graph request.

use parking_lot::Mutex;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::sim::config::Faults;

/// What the dice decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Injected {
    None,
    Error503,
    Error500,
    Reset,
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
}
