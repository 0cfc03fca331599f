//! The languages of the pages: the catalogue of every user-visible string,
//! and choosing a language for a request.
//!
//! Strings are data, not code: one TOML file per language
//! (`crates/latchkey/locales/<tag>.toml`, compiled in), whose tables flatten
//! into dotted keys (`[login] title = "Sign in"` is `login.title`). A theme's
//! `locales/<tag>.toml` is laid over them: it may override some strings of
//! a built-in language or add a language; a key it lacks falls back to
//! English. `{name}` in a text is a placeholder the page fills in.
//!
//! The language of a request (OIDC Core §3.1.2.1, RFC 9110 §12.5.4): the
//! first of the authorization request's `ui_locales` that the catalogue has,
//! then the `Accept-Language` ranges by weight, then English. A tag matches
//! as RFC 4647 §3.4 "lookup" does (`de-AT` falls back to `de`), and a bare
//! language also matches a regional catalogue (`pt` finds `pt-BR`).

use std::collections::{BTreeMap, HashMap};

/// The language every page falls back to, and the reference catalogue:
/// every built-in language has exactly its keys.
pub const DEFAULT_LANG: &str = "en";

/// The built-in catalogues: tag and TOML text.
pub const BUILTIN: &[(&str, &str)] = &[
    ("en", include_str!("../../locales/en.toml")),
    ("de", include_str!("../../locales/de.toml")),
    ("fr", include_str!("../../locales/fr.toml")),
    ("es", include_str!("../../locales/es.toml")),
];

/// How many `ui_locales` or `Accept-Language` entries are considered; the
/// rest are ignored (a header is at most 16 KiB, and nobody prefers forty
/// languages).
const MAX_RANGES: usize = 16;

/// What is wrong with a catalogue file.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct CatalogueError {
    /// The file (or built-in catalogue) at fault.
    pub origin: String,
    pub message: String,
}

impl CatalogueError {
    fn new(origin: &str, message: impl Into<String>) -> Self {
        CatalogueError {
            origin: origin.to_owned(),
            message: message.into(),
        }
    }
}

/// One language's strings.
#[derive(Debug, Clone, Default)]
struct Texts {
    /// The tag as written in the file name (`pt-BR`), for `<html lang>`.
    tag: String,
    texts: HashMap<String, String>,
}

/// Every language's strings, the built-in ones and a theme's.
#[derive(Debug, Clone)]
pub struct Catalogue {
    /// By lowercased tag.
    langs: BTreeMap<String, Texts>,
}

impl Catalogue {
    /// The built-in languages.
    pub fn builtin() -> Result<Catalogue, CatalogueError> {
        let mut c = Catalogue::empty();
        for (tag, text) in BUILTIN {
            c.overlay(tag, text, &format!("built-in locales/{tag}.toml"))?;
        }
        Ok(c)
    }

    /// A catalogue without a single string.
    pub fn empty() -> Catalogue {
        Catalogue {
            langs: BTreeMap::new(),
        }
    }

    /// Lays the TOML catalogue `text` over the language `tag` (adding the
    /// language if it is new). `origin` names the file in errors.
    pub fn overlay(&mut self, tag: &str, text: &str, origin: &str) -> Result<(), CatalogueError> {
        if !is_language_tag(tag) {
            return Err(CatalogueError::new(
                origin,
                format!("{tag:?} is not a language tag such as de or pt-BR"),
            ));
        }
        let table: toml::Table = toml::from_str(text)
            .map_err(|e| CatalogueError::new(origin, format!("not valid TOML: {e}")))?;
        let mut flat = Vec::new();
        flatten("", &table, &mut flat).map_err(|m| CatalogueError::new(origin, m))?;
        // A text for a key the pages know may only use the placeholders
        // the pages fill in (English's): another would fail every page
        // that shows it.
        if let Some(english) = self.langs.get(DEFAULT_LANG) {
            for (key, text) in &flat {
                let Some(reference) = english.texts.get(key) else {
                    continue;
                };
                let known = placeholders(reference);
                if let Some(unknown) = placeholders(text).into_iter().find(|p| !known.contains(p)) {
                    return Err(CatalogueError::new(
                        origin,
                        format!(
                            "{key}: the pages fill in no {{{unknown}}} here (they fill in: {known:?})"
                        ),
                    ));
                }
            }
        }
        let entry = self
            .langs
            .entry(tag.to_ascii_lowercase())
            .or_insert_with(|| Texts {
                tag: tag.to_owned(),
                texts: HashMap::new(),
            });
        entry.texts.extend(flat);
        Ok(())
    }

    /// The languages, by their tags as written.
    pub fn languages(&self) -> impl Iterator<Item = &str> {
        self.langs.values().map(|t| t.tag.as_str())
    }

    /// Every key of a language's own file(s), without the English fallback.
    pub fn keys(&self, lang: &str) -> impl Iterator<Item = &str> {
        self.langs
            .get(&lang.to_ascii_lowercase())
            .into_iter()
            .flat_map(|t| t.texts.keys().map(String::as_str))
    }

    /// The text of `key` in `lang`, else in English; `None` if neither has
    /// it.
    pub fn text(&self, lang: &str, key: &str) -> Option<&str> {
        let own = self
            .langs
            .get(&lang.to_ascii_lowercase())
            .and_then(|t| t.texts.get(key));
        own.or_else(|| self.langs.get(DEFAULT_LANG).and_then(|t| t.texts.get(key)))
            .map(String::as_str)
    }

    /// The language for a request: its `ui_locales` (space-separated tags,
    /// in order of preference) first, then its `Accept-Language` header,
    /// then English. Returns the tag as the catalogue writes it.
    pub fn negotiate(&self, ui_locales: Option<&str>, accept_language: Option<&str>) -> &str {
        let ui = ui_locales
            .unwrap_or("")
            .split_ascii_whitespace()
            .take(MAX_RANGES);
        let accepted = accept_language
            .map(accept_language_ranges)
            .unwrap_or_default();
        ui.chain(accepted.iter().map(String::as_str))
            .find_map(|range| self.lookup(range))
            .unwrap_or(DEFAULT_LANG)
    }

    /// The language `ui_locales` names, if the catalogue has one of them
    /// (for a request whose own `ui_locales` overrides what was negotiated).
    pub fn ui_locale(&self, ui_locales: &str) -> Option<&str> {
        ui_locales
            .split_ascii_whitespace()
            .take(MAX_RANGES)
            .find_map(|range| self.lookup(range))
    }

    /// RFC 4647 §3.4 lookup of one range: the range itself, then shorter
    /// and shorter prefixes (`de-CH-1996` → `de-CH` → `de`); a bare
    /// language then matches the first regional catalogue of it.
    fn lookup(&self, range: &str) -> Option<&str> {
        if range == "*" || !is_language_tag(range) {
            return None;
        }
        let mut candidate = range.to_ascii_lowercase();
        loop {
            if let Some(t) = self.langs.get(&candidate) {
                return Some(&t.tag);
            }
            match candidate.rfind('-') {
                Some(i) => candidate.truncate(i),
                None => break,
            }
        }
        let prefix = format!("{candidate}-");
        self.langs
            .iter()
            .find(|(k, _)| k.starts_with(&prefix))
            .map(|(_, t)| t.tag.as_str())
    }
}

/// Fills the `{name}` placeholders of `text` from `args`, each value passed
/// through `escape` (the page escapes values for HTML, and not the text
/// around them, which `escape_text` handles). A placeholder without a value
/// is an error naming it; a `{` that starts no placeholder is kept.
pub fn fill(
    text: &str,
    args: &[(&str, String)],
    escape_text: impl Fn(&str) -> String,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let name_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        if name_len == 0 || !after[name_len..].starts_with('}') {
            out.push_str(&escape_text(&rest[..=open]));
            rest = after;
            continue;
        }
        let name = &after[..name_len];
        let value = args
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
            .ok_or_else(|| format!("no value for the placeholder {{{name}}}"))?;
        out.push_str(&escape_text(&rest[..open]));
        out.push_str(value);
        rest = &after[name_len + 1..];
    }
    out.push_str(&escape_text(rest));
    Ok(out)
}

/// The placeholders of a text (`{client}` → `client`), for checking that
/// every translation has the English one's.
pub fn placeholders(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close)
                if close > 0
                    && after[..close]
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                out.push(&after[..close]);
                rest = &after[close + 1..];
            }
            _ => rest = after,
        }
    }
    out.sort_unstable();
    out
}

/// The language ranges of an `Accept-Language` value (RFC 9110 §12.5.4),
/// by descending weight (stable for equal weights); weight 0 ("not
/// acceptable") and malformed entries are dropped.
pub fn accept_language_ranges(header: &str) -> Vec<String> {
    let mut ranges: Vec<(u16, String)> = header
        .split(',')
        .take(MAX_RANGES)
        .filter_map(|item| {
            let mut parts = item.split(';');
            let range = parts.next()?.trim();
            let mut weight = 1000;
            for p in parts {
                let (k, v) = p.split_once('=')?;
                if k.trim().eq_ignore_ascii_case("q") {
                    weight = parse_qvalue(v.trim())?;
                }
            }
            (weight > 0 && !range.is_empty()).then(|| (weight, range.to_owned()))
        })
        .collect();
    ranges.sort_by_key(|r| std::cmp::Reverse(r.0));
    ranges.into_iter().map(|(_, r)| r).collect()
}

/// An RFC 9110 §12.4.2 qvalue in thousandths: `0`, `0.5`, `1.000`.
fn parse_qvalue(v: &str) -> Option<u16> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths: u16 = format!("{frac:0<3}").parse().ok()?;
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// A BCP 47 tag in the shape this catalogue needs: letters for the
/// language, then `-`-separated alphanumeric subtags of 1 to 8.
pub fn is_language_tag(tag: &str) -> bool {
    let mut subtags = tag.split('-');
    let lang_ok = subtags
        .next()
        .is_some_and(|l| (2..=8).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphabetic()));
    lang_ok
        && subtags
            .all(|s| (1..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// `[a] b = "x"` → `("a.b", "x")`; anything but strings and tables is an
/// error naming the key.
fn flatten(
    prefix: &str,
    table: &toml::Table,
    out: &mut Vec<(String, String)>,
) -> Result<(), String> {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::String(s) => out.push((key, s.clone())),
            toml::Value::Table(t) => flatten(&key, t, out)?,
            _ => return Err(format!("{key}: a text must be a string")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn builtin() -> Catalogue {
        Catalogue::builtin().unwrap()
    }

    /// Every built-in language has exactly English's keys, each with the
    /// same placeholders and a non-empty text: a page in German shows no
    /// English fallback, and no translation drops the client's name.
    #[test]
    fn every_builtin_language_has_every_key() {
        let c = builtin();
        let mut english: Vec<&str> = c.keys(DEFAULT_LANG).collect();
        english.sort_unstable();
        assert!(english.len() > 40, "{english:?}");
        for (tag, _) in BUILTIN {
            let mut keys: Vec<&str> = c.keys(tag).collect();
            keys.sort_unstable();
            let missing: Vec<_> = english.iter().filter(|k| !keys.contains(k)).collect();
            let extra: Vec<_> = keys.iter().filter(|k| !english.contains(k)).collect();
            assert!(missing.is_empty(), "locales/{tag}.toml lacks {missing:?}");
            assert!(
                extra.is_empty(),
                "locales/{tag}.toml has keys English lacks: {extra:?}"
            );
            for key in &english {
                let en = c.text(DEFAULT_LANG, key).unwrap();
                let own = c.text(tag, key).unwrap();
                assert!(!own.trim().is_empty(), "{tag}: {key} is empty");
                assert_eq!(
                    placeholders(en),
                    placeholders(own),
                    "{tag}: {key} has other placeholders than English"
                );
            }
        }
    }

    #[test]
    fn ui_locales_come_before_accept_language() {
        let c = builtin();
        let al = Some("fr-CH, fr;q=0.9, en;q=0.8");
        assert_eq!(c.negotiate(Some("de"), al), "de");
        // Unknown ui_locales are skipped, not an error (OIDC Core §3.1.2.1).
        assert_eq!(c.negotiate(Some("tlh ja es-MX"), al), "es");
        assert_eq!(c.negotiate(Some("tlh"), al), "fr");
        assert_eq!(c.negotiate(None, al), "fr");
        assert_eq!(c.negotiate(Some(""), None), "en");
        assert_eq!(c.ui_locale("xx de-AT"), Some("de"));
        assert_eq!(c.ui_locale("xx"), None);
    }

    #[test]
    fn accept_language_by_weight() {
        let c = builtin();
        for (header, lang) in [
            ("de-AT", "de"),
            ("de-DE-1996", "de"),
            ("DE", "de"),
            ("en;q=0.2, es;q=0.9", "es"),
            ("fr;q=0, de;q=0.1", "de"),
            ("ja, zh-Hans", "en"),
            ("*", "en"),
            ("es;q=1.5, de", "de"),
            ("es;q=abc, fr;q=0.5", "fr"),
            ("", "en"),
            (";;;,,=,q=1", "en"),
            ("en-GB;q=0.8, de;q=0.8", "en"),
        ] {
            assert_eq!(c.negotiate(None, Some(header)), lang, "{header:?}");
        }
        assert_eq!(
            accept_language_ranges("a;q=0.5, b, c;q=0.500, d;q=1.0"),
            ["b", "d", "a", "c"]
        );
    }

    #[test]
    fn a_theme_adds_and_overrides_languages() {
        let mut c = builtin();
        c.overlay(
            "pt-BR",
            "[login]\ntitle = \"Entrar\"",
            "theme/locales/pt-BR.toml",
        )
        .unwrap();
        c.overlay(
            "de",
            "[login]\ntitle = \"Einloggen\"",
            "theme/locales/de.toml",
        )
        .unwrap();
        assert_eq!(c.negotiate(Some("pt"), None), "pt-BR");
        assert_eq!(c.negotiate(None, Some("pt-br")), "pt-BR");
        assert_eq!(c.text("pt-BR", "login.title"), Some("Entrar"));
        // A key the theme's language lacks falls back to English.
        assert_eq!(c.text("pt-BR", "login.password"), Some("Password"));
        assert_eq!(c.text("de", "login.title"), Some("Einloggen"));
        assert_eq!(c.text("de", "login.password"), Some("Passwort"));
        assert_eq!(c.text("de", "no.such.key"), None);
        for (tag, text, says) in [
            ("pt-BR", "[login]\ntitle = 3", "login.title"),
            ("de", "[login]\ntitle = \"{brand}\"", "no {brand}"),
            ("pt-BR", "[login\n", "not valid TOML"),
            ("../x", "", "language tag"),
        ] {
            let e = c.overlay(tag, text, "theme/locales/x.toml").unwrap_err();
            assert!(e.to_string().contains(says), "{e}");
            assert!(e.to_string().starts_with("theme/locales/x.toml"), "{e}");
        }
    }

    #[test]
    fn placeholders_are_filled_and_escaped_apart() {
        let esc = |s: &str| s.replace('<', "&lt;");
        let args = [("client", "<b>X</b>".to_owned())];
        assert_eq!(
            fill("<{client}> {x {} }", &args, esc).unwrap(),
            "&lt;<b>X</b>> {x {} }"
        );
        assert!(
            fill("{missing}", &args, esc)
                .unwrap_err()
                .contains("missing")
        );
        assert_eq!(placeholders("{b} and {a}, {not one}"), ["a", "b"]);
    }
}
