//! `/learn`: how the flow works (the seven steps with a sequence diagram, the
//! glossary, the attacks and their defences, the topics around the flow, and
//! a sign-in's life after it: refresh, rotation, single flight and sign-out,
//! with a state diagram) and the ordering exercise, checked on the server.

use actix_web::{HttpResponse, web};
use serde::Serialize;

use crate::app::AppState;
use crate::error::AppError;
use crate::teaching::attacks::{self, AttackRow};
use crate::teaching::exercise::{self, Feedback, Refusal, Row};
use crate::teaching::glossary::{TERMS, Term};
use crate::teaching::lifecycle::{self, Lifecycle};
use crate::teaching::steps::{STEPS, Step};
use crate::teaching::topics::{TOPICS, Topic};
use crate::web::Visitor;

#[derive(Serialize)]
struct LearnPage {
    steps: &'static [Step],
    terms: &'static [Term],
    attacks: Vec<AttackRow>,
    topics: &'static [Topic],
    lifecycle: Lifecycle,
}

/// `GET /learn`
pub(super) async fn show_learn(
    state: web::Data<AppState>,
    visitor: Visitor,
) -> Result<HttpResponse, AppError> {
    let page = LearnPage {
        steps: &STEPS,
        terms: &TERMS,
        attacks: attacks::table(),
        topics: &TOPICS,
        lifecycle: lifecycle::lifecycle(),
    };
    visitor.render(&state, "learn.html", &page)
}

#[derive(Serialize)]
struct ExercisePage {
    /// The form: the steps in the order shown, with any position chosen.
    rows: Vec<Row>,
    /// Why the last answer was not checked, to show above the form.
    refusal: Option<String>,
    /// After an answer: one line per step, in the order shown.
    feedback: Option<Vec<Feedback>>,
    all_correct: bool,
    positions: [u8; 7],
}

impl ExercisePage {
    fn form(rows: Vec<Row>, refusal: Option<String>) -> Self {
        ExercisePage {
            rows,
            refusal,
            feedback: None,
            all_correct: false,
            positions: [1, 2, 3, 4, 5, 6, 7],
        }
    }
}

/// `GET /learn/exercise`: the steps, shuffled.
pub(super) async fn show_exercise(
    state: web::Data<AppState>,
    visitor: Visitor,
) -> Result<HttpResponse, AppError> {
    let rows = exercise::shuffled_steps()
        .into_iter()
        .map(|step| Row { step, chosen: None })
        .collect();
    let page = ExercisePage::form(rows, None);
    visitor.render(&state, "exercise.html", &page)
}

/// `POST /learn/exercise`: `step_{n}=position` for each step, in the order the
/// form listed them. A number given to two steps sends the form back, the
/// choices kept, with the reason. Answers change nothing on the server, so
/// the form needs no CSRF token.
pub(super) async fn check_exercise(
    state: web::Data<AppState>,
    visitor: Visitor,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let answers = exercise::answers_from_form(&form);
    let page = match exercise::check(&answers) {
        Ok(feedback) => ExercisePage {
            all_correct: feedback.len() == STEPS.len() && feedback.iter().all(|line| line.correct),
            feedback: Some(feedback),
            ..ExercisePage::form(Vec::new(), None)
        },
        Err(Refusal::NoAnswer) => return Err(AppError::BadForm),
        Err(refusal @ Refusal::NumberUsedTwice { .. }) => {
            ExercisePage::form(exercise::rows(&answers), Some(refusal.to_string()))
        }
    };
    visitor.render(&state, "exercise.html", &page)
}
