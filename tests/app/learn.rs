//! `/learn` and the ordering exercise: the teaching pages, without JavaScript.

use reqwest::StatusCode;

use crate::helpers::{attribute_values, browser, spawn_app};

const STEP_NAMES: [&str; 7] = [
    "Register your application to get a client_id and client_secret",
    "Ask the visitor if they want to sign in via a third party",
    "Redirect to the third party&#x27;s authorization endpoint",
    "Receive the authorization code",
    "Make a request to the access token endpoint",
    "Receive the access token",
    "Make a request to the third party&#x27;s API endpoint",
];

#[tokio::test]
async fn learn_shows_the_seven_steps_in_order_a_diagram_and_the_glossary() {
    let app = spawn_app().await;
    let (status, html) = app.get_html(&browser(), "/learn").await;
    assert_eq!(status, StatusCode::OK);
    let positions: Vec<usize> = STEP_NAMES
        .iter()
        .map(|name| html.find(name).unwrap_or_else(|| panic!("{name} missing")))
        .collect();
    assert!(
        positions.windows(2).all(|pair| pair[0] < pair[1]),
        "in order"
    );
    assert!(
        html.contains("<svg class=\"sequence\""),
        "the sequence diagram"
    );
    assert!(!html.contains("<script"), "no JavaScript");
    for term in [
        "Client ID",
        "Authorization code",
        "Access token",
        "PKCE",
        "Nonce",
        "ID token",
        "State",
    ] {
        assert!(
            html.contains(&format!("<dt>{term} ")),
            "{term} in the glossary"
        );
    }
    assert!(
        html.contains("EPP"),
        "the authorization code is not a domain-transfer code"
    );
    assert!(html.contains("RFC 6749 §4.1.2"));
}

#[tokio::test]
async fn the_exercise_checks_each_step_and_explains_the_wrong_ones() {
    let app = spawn_app().await;
    let browser = browser();
    let (status, html) = app.get_html(&browser, "/learn/exercise").await;
    assert_eq!(status, StatusCode::OK);
    let shown = attribute_values(&html, "select", "name");
    assert_eq!(shown.len(), 7);
    assert_ne!(
        shown,
        (1..=7).map(|n| format!("step_{n}")).collect::<Vec<_>>(),
        "shuffled"
    );
    // Every label belongs to its select.
    assert_eq!(attribute_values(&html, "label", "for").len(), 7);

    // All right.
    let right: Vec<(String, String)> = shown
        .iter()
        .map(|name| (name.clone(), name.trim_start_matches("step_").to_owned()))
        .collect();
    let response = browser
        .post(app.url("/learn/exercise"))
        .form(&right)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(html.contains("All seven in the right order"), "{html}");

    // Steps 3 and 4 swapped: those two are wrong, with the reason.
    let swapped: Vec<(String, String)> = right
        .iter()
        .map(|(name, position)| {
            let position = match position.as_str() {
                "3" => "4",
                "4" => "3",
                other => other,
            };
            (name.clone(), position.to_owned())
        })
        .collect();
    let html = browser
        .post(app.url("/learn/exercise"))
        .form(&swapped)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        html.matches("<strong>Not yet:</strong>").count(),
        2,
        "{html}"
    );
    assert_eq!(html.matches("<strong>Right:</strong>").count(), 5);
    assert!(html.contains("(you said 4)"));
    assert!(html.contains("The code exists only after"));
}

#[tokio::test]
async fn every_link_within_learn_leads_to_a_part_of_the_page() {
    let app = spawn_app().await;
    let (status, html) = app.get_html(&browser(), "/learn").await;
    assert_eq!(status, StatusCode::OK);
    let ids = attribute_values(&html, "[id]", "id");
    let in_page: Vec<String> = attribute_values(&html, "a[href^='#']", "href");
    assert!(!in_page.is_empty());
    for href in &in_page {
        let target = href.trim_start_matches('#');
        assert!(ids.iter().any(|id| id == target), "{href} leads nowhere");
    }
    // Each attack in the table links to the glossary entry of its defence.
    let document = scraper::Html::parse_document(&html);
    let rows = scraper::Selector::parse("#attacks tbody tr").unwrap();
    let glossary_links = scraper::Selector::parse("a[href^='#term-']").unwrap();
    let rows: Vec<_> = document.select(&rows).collect();
    assert!(rows.len() >= 5, "the attacks table");
    for row in rows {
        assert!(
            row.select(&glossary_links).next().is_some(),
            "{} links no defence",
            row.value().attr("id").unwrap_or_default()
        );
    }
}

/// Posts positions for the steps in the order the exercise showed them:
/// `place(n)` is the position given to step n.
async fn answer_exercise(
    app: &crate::helpers::TestApp,
    browser: &reqwest::Client,
    place: impl Fn(u8) -> u8,
) -> (Vec<(String, String)>, String) {
    let (_, html) = app.get_html(browser, "/learn/exercise").await;
    let answers: Vec<(String, String)> = attribute_values(&html, "select", "name")
        .into_iter()
        .map(|name| {
            let step: u8 = name.trim_start_matches("step_").parse().unwrap();
            (name, place(step).to_string())
        })
        .collect();
    let response = browser
        .post(app.url("/learn/exercise"))
        .form(&answers)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    (answers, response.text().await.unwrap())
}

#[tokio::test]
async fn moving_one_step_early_marks_only_the_two_steps_out_of_order() {
    let app = spawn_app().await;
    // The learner's order: 1, 6, 2, 3, 4, 5, 7. Judged by absolute position,
    // steps 2 to 6 would all be wrong.
    let order = [1, 6, 2, 3, 4, 5, 7];
    let position_of = |step: u8| {
        let index = order.iter().position(|&placed| placed == step).unwrap();
        u8::try_from(index + 1).unwrap()
    };
    let (_, html) = answer_exercise(&app, &browser(), position_of).await;
    assert_eq!(
        html.matches("<strong>Not yet:</strong>").count(),
        2,
        "{html}"
    );
    assert_eq!(html.matches("<strong>Right:</strong>").count(), 5);
    assert!(
        html.contains("It comes before “Receive the access token”, which you put right before it.")
    );
}

#[tokio::test]
async fn a_number_given_to_two_steps_is_refused_and_the_choices_are_kept() {
    let app = spawn_app().await;
    // Steps 3 and 4 both numbered 3; nothing numbered 4.
    let (answers, html) =
        answer_exercise(&app, &browser(), |step| if step == 4 { 3 } else { step }).await;
    assert!(
        html.contains("You gave the number 3 to two steps"),
        "{html}"
    );
    assert!(html.contains(STEP_NAMES[2]) && html.contains(STEP_NAMES[3]));
    assert!(!html.contains("<strong>Right:</strong>"), "not checked");
    // The form comes back in the same order, every choice still selected.
    let shown = attribute_values(&html, "select", "name");
    let selected = attribute_values(&html, "option[selected]", "value");
    let posted_names: Vec<String> = answers.iter().map(|(name, _)| name.clone()).collect();
    let posted_values: Vec<String> = answers.iter().map(|(_, value)| value.clone()).collect();
    assert_eq!(shown, posted_names);
    assert_eq!(selected, posted_values);
}

#[tokio::test]
async fn an_empty_exercise_answer_is_a_clear_400() {
    let app = spawn_app().await;
    let response = browser()
        .post(app.url("/learn/exercise"))
        .form(&[("nothing", "here")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("was not filled in"));
}

#[tokio::test]
async fn setup_shows_each_provider_without_its_secret() {
    let app = crate::helpers::spawn_app_with(&[
        ("DEMO_CLIENT_SECRET", "demo-secret-never-shown"),
        ("GITHUB_CLIENT_ID", "gh-client"),
        ("GITHUB_CLIENT_SECRET", "gh-secret-never-shown"),
    ])
    .await;
    let (status, html) = app.get_html(&browser(), "/setup").await;
    assert_eq!(status, StatusCode::OK);
    let document = scraper::Html::parse_document(&html);
    let text: String = document.root_element().text().collect();
    assert!(!text.contains("never-shown"), "{text}");
    assert!(text.contains(&app.url("/auth/github/callback")));
    assert!(text.contains(&app.url("/auth/demo/callback")));
    assert!(text.contains("set (not shown)"));
    // The demo provider's discovery was reached, and its features listed.
    assert!(text.contains("reachable; 1 signing key"), "{text}");
    assert!(text.contains("S256"));
    assert!(text.contains("/revoke"));
    assert!(text.contains("OAuth 2.0 (no OpenID Connect)"));
}

#[tokio::test]
async fn learn_explains_a_sign_ins_life_with_a_state_diagram_of_its_states() {
    let app = spawn_app().await;

    let (status, html) = app.get_html(&browser(), "/learn").await;

    assert_eq!(status, StatusCode::OK);
    let document = scraper::Html::parse_document(&html);
    let select = |css: &str| scraper::Selector::parse(css).unwrap();
    for id in [
        "lifecycle",
        "refresh-tokens",
        "rotation",
        "single-flight",
        "sign-out",
    ] {
        assert!(
            document
                .select(&select(&format!("section#{id}")))
                .next()
                .is_some(),
            "section #{id}"
        );
    }
    // The state diagram: SVG drawn on the server, scaled to the column so
    // that it fits a phone, with no script and no inline style (CSP).
    let diagram = document
        .select(&select("#lifecycle svg.lifecycle"))
        .next()
        .expect("the state diagram");
    assert_eq!(diagram.value().attr("width"), Some("100%"));
    assert!(diagram.value().attr("viewBox").is_some());
    let labels: Vec<String> = diagram
        .select(&select("text"))
        .map(|label| label.text().collect())
        .collect();
    for state in [
        "Signed out",
        "Pending sign-in",
        "Session live",
        "Signed in",
        "Token expiring",
        "Refreshing",
        "Try again",
        "Sign in again",
    ] {
        assert!(
            labels.iter().any(|label| label == state),
            "{state} in the diagram: {labels:?}"
        );
    }
    for state in &signin_reference::teaching::lifecycle::STATES {
        assert!(
            labels.iter().any(|label| label == state.name),
            "{}",
            state.name
        );
    }
    assert!(!html.contains("style="), "no inline styles");
    assert!(!html.contains("<script"), "no JavaScript");
    // Every transition is also said in words, from state to state.
    let transitions = document.select(&select("#lifecycle ol li")).count();
    assert_eq!(
        transitions,
        signin_reference::teaching::lifecycle::TRANSITIONS.len()
    );
    let text: String = document.root_element().text().collect();
    for taught in [
        "Token expiring → Refreshing.",
        "offline_access",
        "access_type=offline",
        "RFC 6749 §6",
        "RFC 6749 §10.4",
        "RFC 9700 §4.14.2",
        "RFC 7009 §2.1",
        "OpenID Connect Core §12.2",
        "RP-Initiated Logout 1.0 §2",
        "POST /logout/all",
        "POST /logout/provider",
        "continuous access evaluation",
        "github.com",
        "account.live.com/consent/Manage",
    ] {
        assert!(text.contains(taught), "{taught}");
    }
}

#[tokio::test]
async fn learn_explains_incremental_consent_and_admin_consent() {
    let app = crate::helpers::spawn_app().await;
    let (status, html) = app.get_html(&crate::helpers::browser(), "/learn").await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let document = scraper::Html::parse_document(&html);
    let section = scraper::Selector::parse("section#incremental-consent").unwrap();
    let text: String = document
        .select(&section)
        .next()
        .expect("a topic on incremental consent")
        .text()
        .collect();
    for words in [
        "include_granted_scopes",
        "Admin consent",
        "adminconsent",
        "mail was not allowed",
    ] {
        assert!(text.contains(words), "{words}: {text}");
    }
    assert!(html.contains("id=\"term-admin-consent\""), "glossary entry");
}

#[tokio::test]
async fn learn_explains_why_accounts_are_never_merged_by_email() {
    let app = crate::helpers::spawn_app().await;
    let (status, html) = app.get_html(&crate::helpers::browser(), "/learn").await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let document = scraper::Html::parse_document(&html);
    // The profile's "why" link points here.
    let section = scraper::Selector::parse("section#never-merged-by-email").unwrap();
    let text: String = document
        .select(&section)
        .next()
        .expect("a topic on merging by email")
        .text()
        .collect();
    for words in ["issuer and the sub", "nOAuth", "Link a", "already linked"] {
        assert!(text.contains(words), "{words}: {text}");
    }
}
