//! Which level is served next: smooth weighted round robin, with no I/O.

use super::PriorityLevels;

/// Decides, one message at a time, which level of a prioritized queue to
/// serve next (nginx's smooth weighted round robin).
///
/// Each pick, every level with work gains its weight in credit; the level
/// with the most credit is served (the higher level on a tie) and pays back
/// the total weight of the levels that had work. So while every level has
/// work, level `i` is served `weight(i)` of every `sum of weights` picks,
/// spread out rather than in bursts; a level without work gains nothing and
/// holds no one back, and it cannot hoard credit for when it returns.
///
/// Kept apart from the consumer so the rule can be checked on its own
/// (see the property tests) without a broker or a clock.
///
/// ```
/// use weir_tasks::priority::{PriorityLevels, WeightedRoundRobin};
/// let mut rr = WeightedRoundRobin::new(&PriorityLevels::new([2, 1]).unwrap());
/// let picks: Vec<_> = (0..3).filter_map(|_| rr.next(&[true, true])).collect();
/// assert_eq!(picks, vec![0, 1, 0]);
/// assert_eq!(rr.next(&[false, true]), Some(1));
/// assert_eq!(rr.next(&[false, false]), None);
/// ```
#[derive(Clone, Debug)]
pub struct WeightedRoundRobin {
    weights: Vec<i64>,
    credit: Vec<i64>,
}

impl WeightedRoundRobin {
    /// A round robin over `levels`, with no credit yet.
    pub fn new(levels: &PriorityLevels) -> Self {
        WeightedRoundRobin {
            weights: levels.weights().iter().map(|&w| i64::from(w)).collect(),
            credit: vec![0; levels.len()],
        }
    }

    /// The level to serve next, given which levels have work (`has_work[i]`
    /// for level `i`; missing entries count as no work); `None` when none has.
    pub fn next(&mut self, has_work: &[bool]) -> Option<usize> {
        let ready = |l: &usize| has_work.get(*l).copied().unwrap_or(false);
        let mut total = 0;
        let mut pick: Option<usize> = None;
        for l in (0..self.weights.len()).filter(ready) {
            total += self.weights[l];
            self.credit[l] += self.weights[l];
            // Strictly more credit wins, so a tie goes to the higher level.
            if pick.is_none_or(|p| self.credit[l] > self.credit[p]) {
                pick = Some(l);
            }
        }
        let pick = pick?;
        self.credit[pick] -= total;
        Some(pick)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn round_robin(weights: &[u32]) -> WeightedRoundRobin {
        WeightedRoundRobin::new(&PriorityLevels::new(weights.iter().copied()).expect("weights"))
    }

    #[test]
    fn equal_weights_alternate() {
        let mut rr = round_robin(&[1, 1, 1]);
        let picks: Vec<_> = (0..6).filter_map(|_| rr.next(&[true; 3])).collect();
        assert_eq!(picks, vec![0, 1, 2, 0, 1, 2]);
    }

    proptest! {
        /// While every level has work, each gets its weight's share of any
        /// run: within one pick per level of it at every point, and exactly
        /// at every whole cycle of `sum of weights` picks.
        #[test]
        fn every_level_gets_its_share(
            weights in prop::collection::vec(1u32..=12, 1..=5),
            cycles in 1usize..=20,
        ) {
            let mut rr = round_robin(&weights);
            let levels = weights.len();
            let total: u32 = weights.iter().sum();
            let mut served = vec![0u64; levels];
            for n in 1..=cycles * total as usize {
                let l = rr.next(&vec![true; levels]).expect("every level has work");
                served[l] += 1;
                for (i, &w) in weights.iter().enumerate() {
                    let share = n as f64 * f64::from(w) / f64::from(total);
                    prop_assert!(
                        (served[i] as f64 - share).abs() <= levels as f64,
                        "after {n} picks level {i} (weight {w} of {total}) served {} times",
                        served[i]
                    );
                }
                if n % total as usize == 0 {
                    let whole = (n / total as usize) as u64;
                    for (i, &w) in weights.iter().enumerate() {
                        prop_assert_eq!(served[i], whole * u64::from(w));
                    }
                }
            }
        }

        /// Only levels with work are chosen, and one is whenever any has work:
        /// a level without work never holds the others back.
        #[test]
        fn only_levels_with_work_are_chosen(
            weights in prop::collection::vec(1u32..=12, 1..=5),
            rounds in prop::collection::vec(prop::collection::vec(any::<bool>(), 5), 1..200),
        ) {
            let mut rr = round_robin(&weights);
            for has_work in rounds {
                let has_work = &has_work[..weights.len()];
                match rr.next(has_work) {
                    Some(l) => prop_assert!(has_work[l], "chose level {l} without work"),
                    None => prop_assert!(has_work.iter().all(|w| !w), "chose none of {has_work:?}"),
                }
            }
        }

        /// Levels that never have work change nothing for the others: they
        /// share the picks by their own weights, exactly per whole cycle.
        #[test]
        fn dry_levels_leave_the_others_their_shares(
            weights in prop::collection::vec(1u32..=12, 2..=5),
            dry in prop::collection::vec(any::<bool>(), 5),
            cycles in 1usize..=10,
        ) {
            let mut has_work: Vec<bool> = dry[..weights.len()].iter().map(|d| !d).collect();
            has_work[0] = true;
            let mut rr = round_robin(&weights);
            let total: u32 = weights.iter().zip(&has_work).filter(|(_, w)| **w).map(|(w, _)| w).sum();
            let mut served = vec![0u64; weights.len()];
            for _ in 0..cycles * total as usize {
                served[rr.next(&has_work).expect("level 0 has work")] += 1;
            }
            for (i, &w) in weights.iter().enumerate() {
                let want = if has_work[i] { cycles as u64 * u64::from(w) } else { 0 };
                prop_assert_eq!(served[i], want, "level {}", i);
            }
        }
    }
}
