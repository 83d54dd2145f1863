//! `/learn`: how the flow works (the seven steps with a sequence diagram, the
//! glossary, why OAuth) and the ordering exercise, checked on the server.

use actix_web::{HttpResponse, web};
use serde::Serialize;

use super::Visitor;
use crate::error::AppError;
use crate::startup::AppState;
use crate::teaching::exercise::{self, Feedback};
use crate::teaching::glossary::{TERMS, Term};
use crate::teaching::{STEPS, Step};

#[derive(Serialize)]
struct LearnPage {
    steps: &'static [Step],
    terms: &'static [Term],
}

/// `GET /learn`
pub async fn show_learn(
    state: web::Data<AppState>,
    visitor: Visitor,
) -> Result<HttpResponse, AppError> {
    let page = LearnPage {
        steps: &STEPS,
        terms: &TERMS,
    };
    visitor.render(&state, "learn.html", &page)
}

#[derive(Serialize)]
struct ExercisePage {
    /// The steps in the order shown.
    steps: Vec<Step>,
    /// After an answer: one line per step, in the order shown.
    feedback: Option<Vec<Feedback>>,
    all_correct: bool,
    positions: [u8; 7],
}

/// `GET /learn/exercise`: the steps, shuffled.
pub async fn show_exercise(
    state: web::Data<AppState>,
    visitor: Visitor,
) -> Result<HttpResponse, AppError> {
    let page = ExercisePage {
        steps: exercise::shuffled_steps(),
        feedback: None,
        all_correct: false,
        positions: [1, 2, 3, 4, 5, 6, 7],
    };
    visitor.render(&state, "exercise.html", &page)
}

/// `POST /learn/exercise`: `step_{n}=position` for each step, in the order the
/// form listed them. Answers change nothing on the server, so the form needs
/// no CSRF token.
pub async fn check_exercise(
    state: web::Data<AppState>,
    visitor: Visitor,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let answers: Vec<(u8, Option<u8>)> = form
        .iter()
        .filter_map(|(name, value)| {
            let number = name.strip_prefix("step_")?.parse::<u8>().ok()?;
            Some((number, value.parse::<u8>().ok()))
        })
        .take(STEPS.len())
        .collect();
    if answers.is_empty() {
        return Err(AppError::BadForm);
    }
    let feedback = exercise::check(&answers);
    let page = ExercisePage {
        steps: feedback.iter().map(|line| line.step).collect(),
        all_correct: feedback.len() == STEPS.len() && feedback.iter().all(|line| line.correct),
        feedback: Some(feedback),
        positions: [1, 2, 3, 4, 5, 6, 7],
    };
    visitor.render(&state, "exercise.html", &page)
}
