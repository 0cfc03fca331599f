//! The second factors' pages (docs/mfa.md): `GET, POST /login/mfa`, the
//! second step of a sign-in (fields `challenge`, `csrf_token`, and `code`
//! or `recovery_code`), and `GET, POST /account/totp`, enrolling an
//! authenticator app (fields `csrf_token`, `action` = `confirm` with
//! `code`, `continue`, or `remove`). What they do is `core::login`,
//! `core::enrol` and `core::mfa`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::{authorize_outcome, expired, signed_in};
use crate::core::csrf::FormScope;
use crate::core::discovery::paths;
use crate::core::enrol::{self, Confirmed, TotpPage};
use crate::core::error::Error;
use crate::core::login::{self, MfaAttempt, MfaOutcome, MfaPrompt};
use crate::core::mfa::SecondFactors;
use crate::core::mfa::challenge::Proof;
use crate::core::params::Params;
use crate::core::secret::Secret;
use crate::core::sessions::Session;
use crate::core::settings::MfaPolicy;
use crate::http::AppState;
use crate::http::browser::{Browser, BrowserSession, CsrfForm, PageForm, PageQuery};
use crate::http::client_addr::ClientAddr;
use crate::http::cookies;
use crate::http::error::{PageError, PageStatus, page, see_other};
use crate::http::html::View;
use crate::http::locale::Locale;

/// The catalogue key of a wrong or used code.
pub const WRONG_CODE: &str = "mfa.wrong_code";

/// What the second-step template shows.
#[derive(Debug, Serialize)]
pub struct MfaView<'a> {
    pub client_name: Option<&'a str>,
    pub csrf_token: &'a str,
    pub challenge: &'a str,
    /// A catalogue key.
    pub error: Option<&'static str>,
    /// The code and recovery-code forms (the user has TOTP or codes left).
    pub otp: bool,
    /// The passkey option (the user has a passkey).
    pub passkey: bool,
}

impl View for MfaView<'_> {
    const TEMPLATE: &'static str = "login_mfa.html";
}

impl<'a> MfaView<'a> {
    pub(crate) fn new(
        client_name: Option<&'a str>,
        csrf_token: &'a str,
        challenge: &'a str,
        error: Option<&'static str>,
        factors: &SecondFactors,
    ) -> Self {
        MfaView {
            client_name,
            csrf_token,
            challenge,
            error,
            otp: factors.totp || factors.recovery_codes > 0,
            passkey: factors.passkeys > 0,
        }
    }
}

/// The posted second-step form. No `Debug`: it holds a code.
pub struct MfaForm {
    challenge: String,
    proof: Result<Proof, Error>,
    csrf_token: String,
}

impl PageForm for MfaForm {
    fn csrf_scope<'a>(params: &'a Params, _: Option<&'a Session>) -> Option<FormScope<'a>> {
        Some(FormScope::Challenge(params.get("challenge").unwrap_or("")))
    }

    fn from_params(params: &Params) -> Result<Self, Error> {
        Ok(MfaForm {
            challenge: params.get("challenge").unwrap_or("").to_owned(),
            proof: Proof::from_fields(params.get("code"), params.get("recovery_code")),
            csrf_token: params.get("csrf_token").unwrap_or("").to_owned(),
        })
    }
}

pub async fn get(
    State(app): State<AppState>,
    browser: Browser,
    locale: Locale,
    PageQuery(params): PageQuery,
) -> Response {
    let challenge = params.get("challenge").unwrap_or("");
    let answer = match login::second_factor_prompt(&app, challenge, browser.existing()).await {
        Ok(MfaPrompt::Form {
            client_name,
            factors,
        }) => page(
            PageStatus::Shown,
            &locale,
            &MfaView::new(
                client_name.as_deref(),
                &browser.csrf_token(&app, FormScope::Challenge(challenge)),
                challenge,
                None,
                &factors,
            ),
        ),
        Ok(MfaPrompt::Expired) => expired(&locale),
        Err(e) => PageError(e, locale).into_response(),
    };
    (browser.cookie(), answer).into_response()
}

pub async fn post(
    State(app): State<AppState>,
    ClientAddr(client_addr): ClientAddr,
    submitted: CsrfForm<MfaForm>,
) -> Response {
    let form = &submitted.form;
    let locale = &submitted.locale;
    let proof = match &form.proof {
        Ok(p) => p.clone(),
        Err(_) => {
            // Neither field (or both): the form again, as for a wrong code,
            // without counting anything.
            return match login::second_factor_prompt(
                &app,
                &form.challenge,
                Some(submitted.browser()),
            )
            .await
            {
                Ok(MfaPrompt::Form {
                    client_name,
                    factors,
                }) => page(
                    PageStatus::Invalid,
                    locale,
                    &MfaView::new(
                        client_name.as_deref(),
                        &form.csrf_token,
                        &form.challenge,
                        Some(WRONG_CODE),
                        &factors,
                    ),
                ),
                Ok(MfaPrompt::Expired) => expired(locale),
                Err(e) => PageError(e, locale.clone()).into_response(),
            };
        }
    };
    let attempt = MfaAttempt {
        challenge_id: &form.challenge,
        proof,
        client_addr,
    };
    let previous = submitted.visitor.browser.session_cookie();
    let outcome = login::second_factor(&app, submitted.browser(), previous, attempt).await;
    answer(
        &app,
        locale,
        &form.csrf_token,
        &form.challenge,
        WRONG_CODE,
        outcome,
    )
}

/// The answer to a second step, whichever factor it was (a code here, a
/// passkey in `pages::passkeys`): the session cookie and the way on, the
/// form again with `refused` (a catalogue key), or the expired page.
pub(super) fn answer(
    app: &AppState,
    locale: &Locale,
    csrf_token: &str,
    challenge: &str,
    refused: &'static str,
    outcome: Result<MfaOutcome, Error>,
) -> Response {
    match outcome {
        Ok(MfaOutcome::SignedIn { session, next }) => signed_in(app, &session, next, locale),
        Ok(MfaOutcome::Refused {
            client_name,
            factors,
        }) => page(
            PageStatus::WrongCredentials,
            locale,
            &MfaView::new(
                client_name.as_deref(),
                csrf_token,
                challenge,
                Some(refused),
                &factors,
            ),
        ),
        Ok(MfaOutcome::Expired) => expired(locale),
        Err(e) => PageError(e, locale.clone()).into_response(),
    }
}

/// What the TOTP enrolment template shows (`/account/totp`).
#[derive(Debug, Serialize)]
pub struct TotpView<'a> {
    pub csrf_token: &'a str,
    /// The pending authorization request that waits for the enrolment.
    pub request_id: &'a str,
    /// A catalogue key.
    pub error: Option<&'static str>,
    /// Setting up: the key as text and as a QR code (inline SVG).
    pub secret: Option<&'a str>,
    pub qr_svg: Option<String>,
    /// Every user must have a second factor (`mfa = "required"`), or the
    /// application asked for two factors.
    pub required: bool,
    /// Set up already, with this many recovery codes left.
    pub enrolled: bool,
    pub recovery_left: u32,
    /// Just confirmed: the recovery codes, shown this once.
    pub recovery_codes: Vec<&'a str>,
}

impl View for TotpView<'_> {
    const TEMPLATE: &'static str = "account_totp.html";
}

impl<'a> TotpView<'a> {
    fn empty(csrf_token: &'a str, request_id: &'a str) -> Self {
        TotpView {
            csrf_token,
            request_id,
            error: None,
            secret: None,
            qr_svg: None,
            required: !request_id.is_empty(),
            enrolled: false,
            recovery_left: 0,
            recovery_codes: Vec::new(),
        }
    }
}

/// The catalogue key of a wrong confirmation code.
pub const WRONG_SETUP_CODE: &str = "totp.wrong_code";

/// The QR code of an `otpauth://` URI as an SVG element (no script, no
/// inline style: the pages' CSP allows it as it is).
pub fn qr_svg(uri: &str) -> Option<String> {
    let code = qrcode::QrCode::with_error_correction_level(uri, qrcode::EcLevel::M).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    // The renderer starts with an XML declaration, which HTML does not take.
    let start = svg.find("<svg")?;
    Some(svg[start..].to_owned())
}

/// A browser without a session signs in, then comes back here.
fn login_first() -> Response {
    let q = form_urlencoded::Serializer::new(String::new())
        .append_pair("return_to", paths::ACCOUNT_TOTP)
        .finish();
    see_other(&format!("{}?{q}", paths::LOGIN_PAGE))
}

/// The setup page (or, set up, the page that removes it).
async fn totp_page(
    app: &AppState,
    session: &Session,
    csrf: &str,
    request_id: &str,
    error: Option<&'static str>,
    status: PageStatus,
    locale: &Locale,
) -> Response {
    let shown = match enrol::totp_page(app, session).await {
        Ok(p) => p,
        Err(e) => return PageError(e, locale.clone()).into_response(),
    };
    let mut view = TotpView::empty(csrf, request_id);
    view.error = error;
    view.required |= app.settings().mfa == MfaPolicy::Required;
    match &shown {
        TotpPage::Setup { secret, uri } => {
            view.secret = Some(secret.expose());
            view.qr_svg = qr_svg(uri.expose());
        }
        TotpPage::Enrolled {
            recovery_codes_left,
        } => {
            view.enrolled = true;
            view.recovery_left = *recovery_codes_left;
        }
    }
    page(status, locale, &view)
}

pub async fn totp_get(
    State(app): State<AppState>,
    visitor: BrowserSession,
    locale: Locale,
    PageQuery(params): PageQuery,
) -> Response {
    let Some(session) = visitor.session else {
        return login_first();
    };
    let csrf = visitor
        .browser
        .csrf_token(&app, FormScope::Account(&session));
    let request_id = params.get("request").unwrap_or("");
    let answer = totp_page(
        &app,
        &session,
        &csrf,
        request_id,
        None,
        PageStatus::Shown,
        &locale,
    )
    .await;
    (visitor.browser.cookie(), answer).into_response()
}

/// The posted TOTP forms. No `Debug`: it holds a code.
pub struct TotpForm {
    action: TotpAction,
    request_id: String,
    csrf_token: String,
}

enum TotpAction {
    Confirm(String),
    Continue,
    Remove,
}

impl PageForm for TotpForm {
    fn csrf_scope<'a>(_: &'a Params, session: Option<&'a Session>) -> Option<FormScope<'a>> {
        session.map(FormScope::Account)
    }

    fn unbound(_: &Params, _: &Locale) -> Response {
        login_first()
    }

    fn from_params(params: &Params) -> Result<Self, Error> {
        let action = match params.get("action") {
            Some("confirm") => TotpAction::Confirm(params.require("code")?.to_owned()),
            Some("continue") => TotpAction::Continue,
            Some("remove") => TotpAction::Remove,
            _ => {
                return Err(Error::invalid_request(
                    "action must be confirm, continue or remove",
                ));
            }
        };
        Ok(TotpForm {
            action,
            request_id: params.get("request").unwrap_or("").to_owned(),
            csrf_token: params.get("csrf_token").unwrap_or("").to_owned(),
        })
    }
}

pub async fn totp_post(State(app): State<AppState>, submitted: CsrfForm<TotpForm>) -> Response {
    let Some(session) = &submitted.visitor.session else {
        return login_first();
    };
    let form = &submitted.form;
    let locale = &submitted.locale;
    let previous = submitted.visitor.browser.session_cookie();
    match &form.action {
        TotpAction::Confirm(code) => {
            match enrol::confirm_totp(&app, previous, session, code).await {
                Ok(Confirmed::Enrolled {
                    recovery_codes,
                    session_id,
                    session,
                }) => {
                    // The session changed: so does the token of the next form.
                    let csrf = submitted
                        .visitor
                        .browser
                        .csrf_token(&app, FormScope::Account(&session));
                    let mut view = TotpView::empty(&csrf, &form.request_id);
                    view.recovery_codes = recovery_codes.iter().map(Secret::expose).collect();
                    let cookie = cookies::session(
                        app.settings(),
                        session_id.expose(),
                        app.settings().session_absolute_ttl_seconds,
                    );
                    (cookie, page(PageStatus::Shown, locale, &view)).into_response()
                }
                Ok(Confirmed::WrongCode) => {
                    totp_page(
                        &app,
                        session,
                        &form.csrf_token,
                        &form.request_id,
                        Some(WRONG_SETUP_CODE),
                        PageStatus::Invalid,
                        locale,
                    )
                    .await
                }
                Ok(Confirmed::AlreadyEnrolled) => see_other(paths::ACCOUNT_TOTP),
                Err(e) => PageError(e, locale.clone()).into_response(),
            }
        }
        TotpAction::Continue => {
            match enrol::continue_request(&app, &form.request_id, submitted.browser(), session)
                .await
            {
                Ok(Some(outcome)) => authorize_outcome(outcome, locale),
                Ok(None) => see_other(paths::ACCOUNT_PAGE),
                Err(e) => PageError(e, locale.clone()).into_response(),
            }
        }
        TotpAction::Remove => match enrol::remove_totp(&app, session).await {
            Ok(_) => see_other(paths::ACCOUNT_PAGE),
            Err(e) => PageError(e, locale.clone()).into_response(),
        },
    }
}
