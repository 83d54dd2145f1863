//! The ordering exercise: the seven steps shuffled, the learner numbers them,
//! the server checks each answer. Nothing is stored: the answer names each step
//! by its number, so checking needs no state.
//!
//! Each step is judged against its neighbours in the learner's order, not
//! against its absolute position: a step is right when it comes after the
//! step the learner put just before it and before the one just after it.
//! Judged by position, moving one step early would shift every later step and
//! mark them all wrong, although the learner ordered them right.

use rand::seq::SliceRandom as _;
use serde::Serialize;

use super::steps::{STEPS, Step};

/// The steps in a new random order, never already sorted.
pub fn shuffled_steps() -> Vec<Step> {
    let mut steps = STEPS.to_vec();
    let mut rng = rand::thread_rng();
    while steps.windows(2).all(|pair| pair[0].number < pair[1].number) {
        steps.shuffle(&mut rng);
    }
    steps
}

/// One answer: a step (by its true number) and the position the learner gave
/// it, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub step: u8,
    pub position: Option<u8>,
}

/// The answers in a posted form, `step_{n}=position`, in the order the form
/// listed them. Fields that name no step are ignored, and so is a step named a
/// second time; a position outside 1 to 7 counts as no answer.
pub fn answers_from_form(fields: &[(String, String)]) -> Vec<Answer> {
    let mut answers: Vec<Answer> = Vec::with_capacity(STEPS.len());
    for (name, value) in fields {
        let Some(step) = name
            .strip_prefix("step_")
            .and_then(|number| number.parse::<u8>().ok())
            .filter(|number| step_numbered(*number).is_some())
        else {
            continue;
        };
        if answers.iter().any(|answer| answer.step == step) {
            continue;
        }
        let position = value
            .parse::<u8>()
            .ok()
            .filter(|position| (1..=STEPS.len()).contains(&usize::from(*position)));
        answers.push(Answer { step, position });
    }
    answers
}

/// A step as the form shows it, with the position the learner chose (kept
/// when the answer is refused, so nothing has to be chosen again).
#[derive(Debug, Serialize)]
pub struct Row {
    pub step: Step,
    pub chosen: Option<u8>,
}

/// The form's rows: the answered steps in the order they were shown, then any
/// step the answer left out.
pub fn rows(answers: &[Answer]) -> Vec<Row> {
    let answered = answers.iter().filter_map(|answer| {
        Some(Row {
            step: *step_numbered(answer.step)?,
            chosen: answer.position,
        })
    });
    let left_out = STEPS
        .iter()
        .filter(|step| !answers.iter().any(|answer| answer.step == step.number))
        .map(|step| Row {
            step: *step,
            chosen: None,
        });
    answered.chain(left_out).collect()
}

/// Why an answer is not checked.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The form named no step at all.
    #[error("The form named no step.")]
    NoAnswer,
    /// Two steps got the same number: the order between them is undecided.
    #[error(
        "You gave the number {position} to two steps, “{}” and “{}”. Give each number from 1 to 7 to exactly one step.",
        .first.name,
        .second.name
    )]
    NumberUsedTwice {
        position: u8,
        first: &'static Step,
        second: &'static Step,
    },
}

/// Which side of its neighbour a misplaced step belongs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Before,
    After,
}

/// A neighbour in the learner's order that a step is out of order with.
#[derive(Debug, Serialize)]
pub struct Conflict {
    pub neighbour: Step,
    /// Where the step belongs relative to that neighbour.
    pub belongs: Side,
}

/// How the learner placed one step.
#[derive(Debug, Serialize)]
pub struct Feedback {
    pub step: Step,
    /// The position the learner gave it, if any.
    pub given: Option<u8>,
    pub correct: bool,
    /// For a misplaced step: the neighbour it is out of order with.
    pub conflict: Option<Conflict>,
}

/// Checks the answers, in the order the learner saw the steps. A step without
/// a position is wrong and takes no part in the order of the others.
pub fn check(answers: &[Answer]) -> Result<Vec<Feedback>, Refusal> {
    let placed: Vec<(&'static Step, u8)> = answers
        .iter()
        .filter_map(|answer| Some((step_numbered(answer.step)?, answer.position?)))
        .collect();
    if answers
        .iter()
        .all(|answer| step_numbered(answer.step).is_none())
    {
        return Err(Refusal::NoAnswer);
    }
    if let Some(refusal) = number_used_twice(&placed) {
        return Err(refusal);
    }
    // The learner's order: the placed steps sorted by the position given.
    let mut order = placed;
    order.sort_by_key(|(_, position)| *position);
    let order: Vec<&Step> = order.into_iter().map(|(step, _)| step).collect();

    Ok(answers
        .iter()
        .filter_map(|answer| {
            let step = step_numbered(answer.step)?;
            let conflict = answer
                .position
                .and_then(|_| conflict_with_neighbours(&order, step));
            Some(Feedback {
                step: *step,
                given: answer.position,
                correct: answer.position.is_some() && conflict.is_none(),
                conflict,
            })
        })
        .collect())
}

/// The first position given to two steps, naming both.
fn number_used_twice(placed: &[(&'static Step, u8)]) -> Option<Refusal> {
    placed
        .iter()
        .enumerate()
        .find_map(|(index, (first, position))| {
            let (second, _) = placed[index + 1..]
                .iter()
                .find(|(_, other)| other == position)?;
            Some(Refusal::NumberUsedTwice {
                position: *position,
                first,
                second,
            })
        })
}

/// The neighbour `step` is out of order with in `order`, the one before it
/// first.
fn conflict_with_neighbours(order: &[&Step], step: &Step) -> Option<Conflict> {
    let index = order
        .iter()
        .position(|placed| placed.number == step.number)?;
    let before = index
        .checked_sub(1)
        .and_then(|previous| order.get(previous));
    let after = order.get(index + 1);
    if let Some(before) = before.filter(|before| before.number > step.number) {
        return Some(Conflict {
            neighbour: **before,
            belongs: Side::Before,
        });
    }
    after
        .filter(|after| after.number < step.number)
        .map(|after| Conflict {
            neighbour: **after,
            belongs: Side::After,
        })
}

fn step_numbered(number: u8) -> Option<&'static Step> {
    STEPS.iter().find(|step| step.number == number)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers that give each step (listed in true order) the position at the
    /// same index.
    fn positions(given: [u8; 7]) -> Vec<Answer> {
        (1..=7)
            .zip(given)
            .map(|(step, position)| Answer {
                step,
                position: Some(position),
            })
            .collect()
    }

    fn wrong_steps(feedback: &[Feedback]) -> Vec<u8> {
        feedback
            .iter()
            .filter(|line| !line.correct)
            .map(|line| line.step.number)
            .collect()
    }

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
    fn the_true_order_is_all_right() {
        let feedback = check(&positions([1, 2, 3, 4, 5, 6, 7])).expect("checked");
        assert!(feedback.iter().all(|line| line.correct));
    }

    #[test]
    fn moving_one_step_early_marks_only_the_pair_out_of_order() {
        // Step 6 put second: 1, 6, 2, 3, 4, 5, 7. By position, five steps
        // would be wrong; by neighbours only 6 and 2 are.
        let feedback = check(&positions([1, 3, 4, 5, 6, 2, 7])).expect("checked");
        assert_eq!(wrong_steps(&feedback), [2, 6]);
        let six = &feedback[5];
        let conflict = six.conflict.as_ref().expect("a conflict");
        assert_eq!(
            (conflict.neighbour.number, conflict.belongs),
            (2, Side::After)
        );
        let two = &feedback[1];
        let conflict = two.conflict.as_ref().expect("a conflict");
        assert_eq!(
            (conflict.neighbour.number, conflict.belongs),
            (6, Side::Before)
        );
    }

    #[test]
    fn a_swap_marks_the_two_swapped_steps() {
        let feedback = check(&positions([1, 2, 4, 3, 5, 6, 7])).expect("checked");
        assert_eq!(wrong_steps(&feedback), [3, 4]);
    }

    #[test]
    fn the_whole_order_reversed_is_all_wrong() {
        let feedback = check(&positions([7, 6, 5, 4, 3, 2, 1])).expect("checked");
        assert_eq!(wrong_steps(&feedback), [1, 2, 3, 4, 5, 6, 7]);
    }

    #[test]
    fn a_number_used_twice_is_refused_naming_both_steps() {
        let refusal = check(&positions([1, 2, 3, 3, 5, 6, 7])).expect_err("refused");
        assert_eq!(
            refusal,
            Refusal::NumberUsedTwice {
                position: 3,
                first: &STEPS[2],
                second: &STEPS[3],
            }
        );
        let message = refusal.to_string();
        assert!(message.contains("number 3 to two steps"), "{message}");
        assert!(message.contains(STEPS[2].name) && message.contains(STEPS[3].name));
    }

    #[test]
    fn a_step_without_a_position_is_wrong_and_the_rest_are_judged_without_it() {
        let mut answers = positions([1, 2, 3, 4, 5, 6, 7]);
        answers[3].position = None;
        let feedback = check(&answers).expect("checked");
        assert_eq!(wrong_steps(&feedback), [4]);
        assert!(feedback[3].conflict.is_none() && feedback[3].given.is_none());
    }

    #[test]
    fn the_form_is_read_in_its_order_ignoring_what_names_no_step() {
        let fields: Vec<(String, String)> = [
            ("step_4", "1"),
            ("step_9", "2"),
            ("csrf", "x"),
            ("step_2", "9"),
            ("step_4", "5"),
            ("step_3", "two"),
        ]
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
        assert_eq!(
            answers_from_form(&fields),
            [
                Answer {
                    step: 4,
                    position: Some(1)
                },
                Answer {
                    step: 2,
                    position: None
                },
                Answer {
                    step: 3,
                    position: None
                },
            ]
        );
        assert_eq!(check(&[]).expect_err("nothing"), Refusal::NoAnswer);
    }

    #[test]
    fn a_refused_form_keeps_the_order_shown_and_every_choice() {
        let answers = [
            Answer {
                step: 5,
                position: Some(2),
            },
            Answer {
                step: 1,
                position: Some(2),
            },
        ];
        let rows = rows(&answers);
        let shown: Vec<(u8, Option<u8>)> = rows
            .iter()
            .map(|row| (row.step.number, row.chosen))
            .collect();
        assert_eq!(
            shown,
            [
                (5, Some(2)),
                (1, Some(2)),
                (2, None),
                (3, None),
                (4, None),
                (6, None),
                (7, None),
            ]
        );
    }
}
