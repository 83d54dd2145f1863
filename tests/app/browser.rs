//! The browser suite: the whole sign-in and what follows, clicked through in
//! headless Chromium (driven over WebDriver by fantoccini), with screenshots
//! of each page saved under `target/screenshots/`, and on every page
//! axe-core's accessibility rules and a phone-width check.
//!
//! Needs `chromium` and `chromedriver` (Debian: `apt-get install chromium
//! chromium-driver`; `CHROMEDRIVER` and `CHROMIUM` override the paths) and
//! axe-core (`npm ci --prefix tests/browser`). Without them the tests say so
//! and skip, except in CI (`CI` set), where that is a failure: `.ci/run`
//! installs them.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::helpers::spawn_app;

/// A phone-sized viewport (CSS pixels), for the layout check.
const PHONE: (u32, u32) = (390, 844);
const DESKTOP: (u32, u32) = (1100, 900);

/// axe-core (the npm package, `npm ci --prefix tests/browser`), injected
/// into every page the suite looks at: WCAG 2.1 A and AA and axe's best
/// practices (labels, alternative text, headings, landmarks, language,
/// contrast, …), maintained by people who write such rules for a living.
fn axe_core() -> Option<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/browser/node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(path).ok()
}

/// Runs axe on the page (after `axe_core()` is injected) and returns its
/// serious and critical violations, one line each with where they are.
const AXE_RUN: &str = r#"
const done = arguments[arguments.length - 1];
axe.run(document)
  .then((results) => done(results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)))
  .catch((error) => done([`axe did not run: ${error}`]));
"#;

/// chromedriver in a process group of its own, with the Chromium processes it
/// starts; the whole group is killed when the test ends, also when it panics
/// (killing chromedriver alone would leave headless Chromium running).
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        // `kill -KILL -PGID`: the group's id is chromedriver's pid.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A headless Chromium session, or `None` (after saying why) when there is no
/// browser here and this is not CI.
async fn open_browser() -> Option<(Client, Driver, tempfile::TempDir)> {
    let chromedriver =
        std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !(Path::new(&chromedriver).exists() && Path::new(&chromium).exists()) {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the browser suite, but {chromedriver} or {chromium} is missing"
        );
        eprintln!(
            "SKIPPED browser tests: no {chromedriver} or {chromium} (apt-get install chromium chromium-driver)"
        );
        return None;
    }
    if axe_core().is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the browser suite, but axe-core is missing (npm ci --prefix tests/browser)"
        );
        eprintln!(
            "SKIPPED browser tests: no axe-core to check the pages with (npm ci --prefix tests/browser)"
        );
        return None;
    }
    // `--port=0`: chromedriver takes a free port itself and says which on
    // stdout, so no other process can take it between our choice and its.
    let mut child = Command::new(&chromedriver)
        .arg("--port=0")
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let driver = Driver(child);
    let (port_sender, port_receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead as _;
        let mut lines = std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok);
        for line in lines.by_ref() {
            // "ChromeDriver was started successfully on port 33413."
            if let Some((_, port)) = line.split_once("started successfully on port ") {
                let _ = port_sender.send(port.trim_end_matches('.').parse::<u16>());
                break;
            }
        }
        // Keep reading, so that chromedriver never blocks on a full pipe.
        lines.for_each(drop);
    });
    let port = port_receiver
        .recv_timeout(Duration::from_secs(10))
        .expect("chromedriver names its port within 10 s")
        .expect("a port number");
    let webdriver = format!("http://127.0.0.1:{port}");
    let profile = tempfile::tempdir().unwrap();
    let capabilities = json!({
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--disable-quic",
                format!("--user-data-dir={}", profile.path().display()),
                format!("--window-size={},{}", DESKTOP.0, DESKTOP.1),
            ]
        }
    });
    let mut builder = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
    builder.capabilities(capabilities.as_object().unwrap().clone());
    // chromedriver needs a moment to listen: retry for up to 10 s.
    for _ in 0..100 {
        if let Ok(client) = builder.connect(&webdriver).await {
            return Some((client, driver, profile));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("could not start a Chromium session through {chromedriver}");
}

fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Saves a screenshot of the page and checks it at desktop and phone width.
async fn look_at(browser: &Client, name: &str) {
    let png = browser.screenshot().await.unwrap();
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).unwrap();
    let axe = axe_core().expect("checked in open_browser");
    browser.execute(&axe, vec![]).await.unwrap();
    let violations = browser.execute_async(AXE_RUN, vec![]).await.unwrap();
    assert_eq!(
        violations,
        json!([]),
        "axe-core: serious or critical accessibility violations on {name}"
    );

    browser.set_window_size(PHONE.0, PHONE.1).await.unwrap();
    let overflow = browser
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
            vec![],
        )
        .await
        .unwrap();
    let png = browser.screenshot().await.unwrap();
    std::fs::write(screenshot_dir().join(format!("{name}-phone.png")), png).unwrap();
    browser.set_window_size(DESKTOP.0, DESKTOP.1).await.unwrap();
    assert!(
        overflow.as_i64().unwrap_or(0) <= 0,
        "{name} scrolls sideways on a phone by {overflow} px"
    );
}

/// Clicks the element, waiting (at most 5 s) for it to appear: the previous
/// click may still be loading the page it is on.
async fn click(browser: &Client, css: &str) {
    browser
        .wait()
        .at_most(Duration::from_secs(5))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|error| panic!("no {css}: {error}"))
        .click()
        .await
        .unwrap();
}

/// The page's text once it contains `expected` (a click may still be loading
/// the next page); waits at most 5 s.
async fn wait_for_text(browser: &Client, expected: &str) -> String {
    let mut text = String::new();
    for _ in 0..50 {
        if let Ok(body) = browser.find(Locator::Css("body")).await
            && let Ok(found) = body.text().await
        {
            text = found;
            if text.contains(expected) {
                return text;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{expected:?} never appeared; the page says:\n{text}");
}

#[tokio::test]
async fn a_visitor_signs_in_reads_mail_sees_the_flow_and_signs_out_by_clicking() {
    let Some((browser, _driver, _profile)) = open_browser().await else {
        return;
    };
    let app = spawn_app().await;

    // Step 2: the question, then the provider's pages (steps 3 and 4).
    browser.goto(&app.url("/")).await.unwrap();
    look_at(&browser, "home").await;
    click(&browser, "a.provider-demo").await;
    look_at(&browser, "demo-sign-in").await;
    click(&browser, "button.account").await;
    look_at(&browser, "consent").await;
    click(&browser, "button[name=decision][value=allow]").await;

    // Steps 5 to 7 happened on the server; the profile shows step 7.
    wait_for_text(&browser, "Read it again now").await;
    assert_eq!(browser.current_url().await.unwrap().path(), "/profile");
    look_at(&browser, "profile").await;

    // Mail: first its permission (incremental consent), asked for at the
    // provider with the same sign-in and consent pages.
    click(&browser, "nav a[href='/mail']").await;
    wait_for_text(&browser, "Allow this app to read your mail").await;
    look_at(&browser, "mail-permission").await;
    click(&browser, "form[action='/mail/permission'] button").await;
    wait_for_text(&browser, "Continue as").await;
    click(&browser, "button.account").await;
    wait_for_text(&browser, "Read your mail").await;
    click(&browser, "button[name=decision][value=allow]").await;

    // An older page, back to the newest, and one message.
    wait_for_text(&browser, "Your mail").await;
    look_at(&browser, "mail").await;
    click(&browser, "a[rel=next]").await;
    wait_for_text(&browser, "(older page)").await;
    assert!(
        browser
            .current_url()
            .await
            .unwrap()
            .query()
            .unwrap_or("")
            .starts_with("cursor=")
    );
    click(&browser, "a[rel=first]").await;
    wait_for_text(&browser, "read from Demo provider's mail API.").await;
    click(&browser, "ul.mail-list a").await;
    wait_for_text(&browser, "Back to your mail").await;
    assert!(
        browser
            .current_url()
            .await
            .unwrap()
            .path()
            .starts_with("/mail/")
    );
    look_at(&browser, "message").await;

    // /flow: all seven steps of the latest attempt (the mail permission,
    // whose step 7 is the first mail read), no secret.
    click(&browser, "nav a[href='/flow']").await;
    wait_for_text(&browser, "Your sign-in, step by step").await;
    wait_for_text(&browser, "Incremental consent").await;
    let done = browser
        .find_all(Locator::Css("ol.timeline > li.done"))
        .await
        .unwrap();
    assert_eq!(done.len(), 7);
    wait_for_text(&browser, "(hidden)").await;
    look_at(&browser, "flow").await;

    // /learn and the exercise, answered right.
    click(&browser, "nav a[href='/learn']").await;
    wait_for_text(&browser, "How signing in with a third party works").await;
    look_at(&browser, "learn").await;
    browser.goto(&app.url("/learn/exercise")).await.unwrap();
    look_at(&browser, "exercise").await;
    for select in browser.find_all(Locator::Css("select")).await.unwrap() {
        let name = select.attr("name").await.unwrap().unwrap();
        select
            .select_by_value(name.trim_start_matches("step_"))
            .await
            .unwrap();
    }
    click(&browser, "form.exercise button[type=submit]").await;
    wait_for_text(&browser, "All seven in the right order").await;
    look_at(&browser, "exercise-checked").await;

    // Sign-out is a button (POST with the CSRF token).
    click(&browser, "form[action='/logout'] button").await;
    wait_for_text(&browser, "Not signed in").await;
    assert_eq!(browser.current_url().await.unwrap().path(), "/");
    browser.close().await.unwrap();
}

#[tokio::test]
async fn denied_consent_gets_a_page_that_explains_and_offers_to_try_again() {
    let Some((browser, _driver, _profile)) = open_browser().await else {
        return;
    };
    // The check itself catches problems: a field without a label, faint
    // text, a page without a language.
    browser
        .goto("data:text/html,<p style='color:%23bbb'>faint</p><h3>x</h3><input name=q>")
        .await
        .unwrap();
    browser
        .execute(&axe_core().expect("checked in open_browser"), vec![])
        .await
        .unwrap();
    let found = browser.execute_async(AXE_RUN, vec![]).await.unwrap();
    let found = found.as_array().unwrap();
    for expected in [
        "label (critical)",
        "color-contrast (serious)",
        "html-has-lang (serious)",
    ] {
        assert!(
            found
                .iter()
                .any(|violation| violation.as_str().unwrap().starts_with(expected)),
            "{expected} not caught: {found:?}"
        );
    }

    let app = spawn_app().await;
    browser.goto(&app.url("/mail")).await.unwrap();
    look_at(&browser, "chooser").await;
    click(&browser, "a.provider-demo").await;
    click(&browser, "button.account").await;
    click(&browser, "button[name=decision][value=deny]").await;
    let text = wait_for_text(&browser, "You chose not to sign in").await;
    assert!(text.contains("What to do"));
    look_at(&browser, "consent-denied").await;
    click(&browser, "a.button[href^='/login']").await;
    wait_for_text(&browser, "Sign in with Demo provider").await;
    assert_eq!(browser.current_url().await.unwrap().path(), "/login");
    look_at(&browser, "try-again").await;
    browser.close().await.unwrap();
}

#[tokio::test]
async fn a_visitor_signs_out_at_the_provider_then_deletes_the_account_by_clicking() {
    let Some((browser, _driver, _profile)) = open_browser().await else {
        return;
    };
    let app = spawn_app().await;
    let sign_in = || async {
        browser
            .goto(&app.url("/login?return_to=%2Fprofile"))
            .await
            .unwrap();
        click(&browser, "a.provider-demo").await;
        click(&browser, "button.account").await;
        click(&browser, "button[name=decision][value=allow]").await;
        wait_for_text(&browser, "Read it again now").await;
    };

    // "Sign out of Demo provider too": revoked there, then its end-session
    // endpoint sends the browser back to /signed-out.
    sign_in().await;
    click(&browser, "form[action='/logout/provider'] button").await;
    let text = wait_for_text(&browser, "You are signed out").await;
    assert!(text.contains("Demo provider confirmed"), "{text}");
    assert!(
        text.contains("You were signed out at Demo provider too"),
        "{text}"
    );
    assert_eq!(browser.current_url().await.unwrap().path(), "/signed-out");
    look_at(&browser, "signed-out").await;

    // Delete the account: a confirmation page that lists what goes, then the button.
    sign_in().await;
    click(&browser, "a[href='/account/delete']").await;
    wait_for_text(&browser, "Delete your account").await;
    look_at(&browser, "delete-account").await;
    click(&browser, "form[action='/account/delete'] button").await;
    wait_for_text(&browser, "Your account is deleted").await;
    look_at(&browser, "account-deleted").await;
    browser.goto(&app.url("/profile")).await.unwrap();
    wait_for_text(&browser, "Choose how to sign in").await;
    browser.close().await.unwrap();
}

#[tokio::test]
async fn a_person_links_a_second_account_and_unlinks_it_by_clicking() {
    let Some((browser, _driver, _profile)) = open_browser().await else {
        return;
    };
    let app = spawn_app().await;
    browser
        .goto(&app.url("/login?return_to=%2Fprofile"))
        .await
        .unwrap();
    click(&browser, "a.provider-demo").await;
    click(&browser, "button.account").await;
    click(&browser, "button[name=decision][value=allow]").await;
    wait_for_text(&browser, "Read it again now").await;

    // "Link a Demo provider account": the page after the POST goes on to
    // the provider by itself; there Bob signs in and allows.
    click(&browser, "form[action='/auth/demo/link'] button").await;
    wait_for_text(&browser, "Continue as").await;
    click(&browser, "ul.accounts li:nth-child(2) button.account").await;
    click(&browser, "button[name=decision][value=allow]").await;
    wait_for_text(&browser, "Account linked").await;
    look_at(&browser, "linked").await;
    click(&browser, "a.button[href='/profile']").await;
    let text = wait_for_text(&browser, "Bob Baker").await;
    assert!(text.contains("Alice Adams"), "{text}");
    look_at(&browser, "profile-linked").await;

    // Unlink Bob's account: back on the profile without it.
    click(&browser, "form[action$='/unlink'] button").await;
    wait_for_text(&browser, "Read it again now").await;
    let text = browser
        .find(Locator::Css("#linked-accounts"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.contains("Bob Baker"), "{text}");
    browser.close().await.unwrap();
}
