//! The documentation that is generated from the code, and fails here when it
//! drifts: `docs/configuration.md` is rendered from the doc comments and
//! defaults of `Settings` (src/core/settings.rs). Regenerate it with
//! `LATCHKEY_BLESS=1 cargo test -p latchkey --test it docs::`.

use std::path::PathBuf;

use latchkey::config::Settings;

const CONFIG_SOURCE: &str = include_str!("../../src/core/settings.rs");
const BEGIN: &str = "<!-- BEGIN GENERATED: do not edit; see tests/it/docs.rs -->";
const END: &str = "<!-- END GENERATED -->";

/// One setting as the source declares it.
#[derive(Debug)]
struct Field {
    /// The `// --- Section ---` comment it sits under, if any.
    section: Option<String>,
    name: String,
    doc: String,
}

/// The fields of `pub struct Settings`, with their `///` comments, in
/// declaration order.
fn settings_fields(source: &str) -> Vec<Field> {
    let start = source
        .find("pub struct Settings {")
        .expect("src/core/settings.rs declares `pub struct Settings {`");
    let body = &source[start..];
    let end = body.find("\n}").expect("the struct ends");
    let mut fields = Vec::new();
    let mut doc: Vec<String> = Vec::new();
    let mut section = None;
    for line in body[..end].lines().skip(1) {
        let line = line.trim();
        if let Some(d) = line.strip_prefix("///") {
            doc.push(d.trim().to_owned());
        } else if let Some(s) = line
            .strip_prefix("// ---")
            .and_then(|s| s.strip_suffix("---"))
        {
            section = Some(s.trim().to_owned());
        } else if let Some(rest) = line.strip_prefix("pub ") {
            let name = rest.split(':').next().unwrap_or("").trim().to_owned();
            fields.push(Field {
                section: section.clone(),
                name,
                doc: doc.join(" "),
            });
            doc.clear();
        } else if line.starts_with("#[") || line.is_empty() || line.starts_with("//") {
            // Attributes, blank lines and plain comments do not end a doc.
        } else {
            doc.clear();
        }
    }
    fields
}

fn default_of(name: &str, defaults: &serde_json::Value) -> String {
    match defaults.get(name) {
        None | Some(serde_json::Value::Null) => "unset".to_owned(),
        Some(serde_json::Value::String(s)) if s.is_empty() => "empty".to_owned(),
        Some(serde_json::Value::String(s)) => format!("`{s}`"),
        Some(serde_json::Value::Array(a)) if a.is_empty() => "empty".to_owned(),
        Some(v) => format!("`{v}`"),
    }
}

fn render(fields: &[Field]) -> String {
    let defaults = serde_json::to_value(Settings::default()).expect("settings serialize");
    let mut out = String::new();
    let mut current: Option<&str> = None;
    let mut first = true;
    for f in fields {
        if first || f.section.as_deref() != current {
            current = f.section.as_deref();
            if !first {
                out.push('\n');
            }
            if let Some(s) = current {
                out.push_str(&format!("### {s}\n\n"));
            }
            out.push_str("| setting | environment | default | what |\n|---|---|---|---|\n");
            first = false;
        }
        out.push_str(&format!(
            "| `{}` | `LATCHKEY_{}` | {} | {} |\n",
            f.name,
            f.name.to_uppercase(),
            default_of(&f.name, &defaults),
            f.doc.replace('|', "\\|"),
        ));
    }
    out
}

#[test]
fn every_setting_is_documented() {
    let fields = settings_fields(CONFIG_SOURCE);
    assert!(fields.len() > 20, "parsed {} settings", fields.len());
    let undocumented: Vec<&str> = fields
        .iter()
        .filter(|f| f.doc.is_empty())
        .map(|f| f.name.as_str())
        .collect();
    assert!(
        undocumented.is_empty(),
        "settings without a `///` comment (it becomes their documentation): {undocumented:?}"
    );
    // Every serialized setting is a parsed field and the other way round.
    let defaults = serde_json::to_value(Settings::default()).unwrap();
    let keys: Vec<&String> = defaults.as_object().unwrap().keys().collect();
    for k in &keys {
        assert!(
            fields.iter().any(|f| &&f.name == k),
            "setting {k} was not found in the struct's source"
        );
    }
    assert_eq!(keys.len(), fields.len());
}

#[test]
fn configuration_reference() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = render(&settings_fields(CONFIG_SOURCE));
    let (head, tail) = match (text.find(BEGIN), text.find(END)) {
        (Some(b), Some(e)) if b < e => (text[..b].to_owned(), text[e + END.len()..].to_owned()),
        _ => (String::from("# Configuration\n\n"), String::from("\n")),
    };
    let wanted = format!("{head}{BEGIN}\n{generated}{END}{tail}");
    if std::env::var_os("LATCHKEY_BLESS").is_some() {
        std::fs::write(&path, &wanted).unwrap();
        return;
    }
    assert!(
        text == wanted,
        "docs/configuration.md is out of date with Settings (src/core/settings.rs); run \
         `LATCHKEY_BLESS=1 cargo test -p latchkey --test it docs::` and commit the result"
    );
}

/// docs/theming.md names every built-in template and every catalogue key
/// (with its placeholders), and no key the catalogue lacks: a theme author
/// reads what the pages really use.
#[test]
fn theming_lists_every_template_and_key() {
    use latchkey::core::i18n::{Catalogue, placeholders};
    let doc = include_str!("../../../../docs/theming.md");
    for (name, _) in latchkey::http::html::TEMPLATES {
        assert!(
            doc.contains(&format!("| `{name}` |")),
            "docs/theming.md lacks the template {name}"
        );
    }
    let catalogue = Catalogue::builtin().unwrap();
    let mut keys: Vec<&str> = catalogue.keys("en").collect();
    keys.sort_unstable();
    let documented: Vec<(String, String)> = doc
        .lines()
        .filter_map(|l| {
            let mut cells = l.split('|').map(str::trim).skip(1);
            let key = cells.next()?.strip_prefix('`')?.strip_suffix('`')?;
            let holes = cells.next()?;
            (key.contains('.') && !key.ends_with(".html"))
                .then(|| (key.to_owned(), holes.replace('`', "")))
        })
        .collect();
    for key in &keys {
        let text = catalogue.text("en", key).unwrap();
        let row = documented.iter().find(|(k, _)| k == key);
        let Some((_, holes)) = row else {
            panic!("docs/theming.md lacks the key {key}");
        };
        let mut listed: Vec<&str> = holes
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .collect();
        listed.sort_unstable();
        assert_eq!(
            listed,
            placeholders(text),
            "docs/theming.md: placeholders of {key}"
        );
    }
    for (key, _) in &documented {
        assert!(
            keys.contains(&key.as_str()),
            "docs/theming.md lists {key}, which the catalogue lacks"
        );
    }
}
