//! The ordering exercise: the seven steps shuffled, the learner numbers them,
//! the server checks each answer. Nothing is stored: the answer names each step
//! by its number, so checking needs no state.

use rand::seq::SliceRandom as _;
use serde::Serialize;

use super::{STEPS, Step};

/// The steps in a new random order, never already sorted.
pub fn shuffled_steps() -> Vec<Step> {
    let mut steps = STEPS.to_vec();
    let mut rng = rand::thread_rng();
    while steps.windows(2).all(|pair| pair[0].number < pair[1].number) {
        steps.shuffle(&mut rng);
    }
    steps
}

/// How the learner placed one step.
#[derive(Debug, Serialize)]
pub struct Feedback {
    pub step: Step,
    /// The position the learner gave it, if any.
    pub given: Option<u8>,
    pub correct: bool,
}

/// Checks `answers` (step number, position given) against the true order, in
/// the order the learner saw the steps. Each step must be numbered exactly once.
pub fn check(answers: &[(u8, Option<u8>)]) -> Vec<Feedback> {
    answers
        .iter()
        .filter_map(|(number, given)| {
            let step = *STEPS.iter().find(|step| step.number == *number)?;
            Some(Feedback {
                step,
                given: *given,
                correct: *given == Some(step.number),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shuffle_holds_each_step_once_and_is_not_in_order() {
        for _ in 0..20 {
            let steps = shuffled_steps();
            let mut numbers: Vec<u8> = steps.iter().map(|step| step.number).collect();
            assert_ne!(numbers, [1, 2, 3, 4, 5, 6, 7]);
            numbers.sort_unstable();
            assert_eq!(numbers, [1, 2, 3, 4, 5, 6, 7]);
        }
    }

    #[test]
    fn each_answer_is_checked_on_its_own() {
        let feedback = check(&[(4, Some(4)), (3, Some(5)), (9, Some(1)), (7, None)]);
        assert_eq!(feedback.len(), 3, "unknown steps are ignored");
        assert!(feedback[0].correct);
        assert!(!feedback[1].correct);
        assert!(!feedback[2].correct && feedback[2].given.is_none());
    }
}
