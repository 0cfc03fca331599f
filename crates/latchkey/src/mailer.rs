//! The outbox's deliverer of e-mails (`core::mail::KIND`): SMTP with lettre
//! (rustls with aws-lc-rs), or, without `smtp_url`, the log.
//!
//! Each delivery opens one connection, bounded by [`SMTP_TIMEOUT`] (far
//! under the outbox lease), and sends one message. A 5xx answer is a
//! permanent failure; anything else (connection refused, timeout, 4xx) is
//! retried with the outbox's backoff until the e-mail's delivery window
//! (`core::mail::DELIVERY_WINDOW_SECONDS`) has passed.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message as Mail, Tokio1Executor};

use crate::core::mail::{Email, KIND, SmtpTarget, SmtpTls};
use crate::core::outbox::{Deliverer, Delivery, DeliveryFuture, Kind, Message};
use crate::core::settings::Settings;

/// How long one delivery may take, connection included.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

/// Sends the outbox's e-mails.
pub struct Mailer {
    from: Mailbox,
    transport: Transport,
}

enum Transport {
    /// No `smtp_url`: each e-mail is written to the log at `info`, links
    /// included (for `serve --demo` and development).
    Log,
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

impl Mailer {
    /// The mailer the settings ask for. Fails on a `smtp_url` or
    /// `email_from` that `config::checked` would have refused.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Mailer> {
        let from: Mailbox = settings
            .email_from
            .parse()
            .map_err(|e| anyhow::anyhow!("email_from {:?}: {e}", settings.email_from))?;
        let transport = match &settings.smtp_url {
            None => Transport::Log,
            Some(url) => {
                let target = SmtpTarget::parse(url).map_err(|e| anyhow::anyhow!("smtp_url {e}"))?;
                Transport::Smtp(smtp(&target)?)
            }
        };
        Ok(Mailer { from, transport })
    }

    async fn send(&self, m: &Message) -> Delivery {
        let email = match Email::from_payload(&m.payload) {
            Ok(e) => e,
            Err(e) => return Delivery::Permanent(e),
        };
        let to: Mailbox = match email.to.parse() {
            Ok(to) => to,
            Err(e) => return Delivery::Permanent(format!("the recipient is not a mailbox: {e}")),
        };
        match &self.transport {
            Transport::Log => {
                tracing::info!(
                    to = %email.to,
                    subject = %email.subject,
                    text = %email.text,
                    "e-mail (no smtp_url is set: written to the log instead of sent)"
                );
                Delivery::Delivered
            }
            Transport::Smtp(smtp) => {
                let mail = Mail::builder()
                    .from(self.from.clone())
                    .to(to)
                    .subject(email.subject)
                    .body(email.text);
                let mail = match mail {
                    Ok(m) => m,
                    Err(e) => return Delivery::Permanent(format!("cannot build the e-mail: {e}")),
                };
                match tokio::time::timeout(SMTP_TIMEOUT, smtp.send(mail)).await {
                    Ok(Ok(_)) => Delivery::Delivered,
                    Ok(Err(e)) if e.is_permanent() => {
                        Delivery::Permanent(format!("the mail server refused the e-mail: {e}"))
                    }
                    Ok(Err(e)) => Delivery::Retry(format!("sending failed: {e}")),
                    Err(_) => Delivery::Retry("the mail server did not answer in time".into()),
                }
            }
        }
    }
}

fn smtp(target: &SmtpTarget) -> anyhow::Result<AsyncSmtpTransport<Tokio1Executor>> {
    let tls = match target.tls {
        SmtpTls::None => Tls::None,
        SmtpTls::StartTls => Tls::Required(TlsParameters::new(target.host.clone())?),
        SmtpTls::Wrapper => Tls::Wrapper(TlsParameters::new(target.host.clone())?),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(target.host.as_str())
        .port(target.port)
        .tls(tls)
        .timeout(Some(SMTP_TIMEOUT));
    if let Some((user, pass)) = &target.credentials {
        builder = builder.credentials(Credentials::new(user.clone(), pass.clone()));
    }
    Ok(builder.build())
}

impl Deliverer for Mailer {
    fn kind(&self) -> Kind {
        KIND
    }

    fn deliver<'a>(&'a self, message: &'a Message) -> DeliveryFuture<'a> {
        Box::pin(self.send(message))
    }
}
