//! The theme and brand of the pages, from the settings: `brand_name`,
//! `brand_logo_url`, `brand_color`, and `theme_dir`, whose files replace
//! the built-in ones by name (docs/theming.md):
//!
//! ```text
//! theme_dir/
//!   login.html, consent.html, …   templates, by the built-in names
//!   latchkey.css                  the stylesheet
//!   locales/<tag>.toml            strings: overrides, or a new language
//! ```
//!
//! Loaded once, at start ([`load`]); a file that cannot be read, a template
//! that does not compile or render, or a catalogue that does not parse
//! stops the start with an error naming the file.

use std::path::Path;

use super::html::{Brand, Pages, STYLESHEET_FILE, ThemeError, ThemeFiles};
use crate::core::settings::{self, Settings};

/// A theme file larger than this is refused: templates and catalogues are
/// a few KiB, and the start should not read whatever sits in the directory.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The pages for `settings`: the built-in templates, stylesheet and
/// catalogue with the theme's files laid over them and the brand applied.
/// The caller renders every page once ([`Pages::check`]).
pub fn load(settings: &Settings) -> Result<Pages, ThemeError> {
    let theme = match settings.theme_dir.as_deref() {
        Some(dir) => read_dir(Path::new(dir))?,
        None => ThemeFiles::default(),
    };
    Pages::new(&theme, &brand(settings)?)
}

/// The `brand_*` settings, as the pages use them.
fn brand(settings: &Settings) -> Result<Brand, ThemeError> {
    let logo_origin = match settings.brand_logo_url.as_deref() {
        Some(logo) => settings::logo_origin(logo, &settings.issuer)
            .map_err(|e| ThemeError(format!("brand_logo_url: {e}")))?,
        None => None,
    };
    Ok(Brand {
        name: settings.brand_name.clone(),
        logo_url: settings.brand_logo_url.clone(),
        logo_origin,
        color: settings.brand_color.map(|c| c.rgb()),
    })
}

/// Reads a theme directory: `*.html` templates and `latchkey.css` at its
/// top, `locales/*.toml` under it. Other files are left alone.
fn read_dir(dir: &Path) -> Result<ThemeFiles, ThemeError> {
    let mut theme = ThemeFiles::default();
    for path in files(dir)? {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name == STYLESHEET_FILE {
            theme.stylesheet = Some(read(&path)?);
        } else if name.ends_with(".html") {
            theme
                .templates
                .push((name.to_owned(), read(&path)?, path.display().to_string()));
        }
    }
    let locales = dir.join("locales");
    if locales.is_dir() {
        for path in files(&locales)? {
            let Some(tag) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".toml"))
            else {
                continue;
            };
            theme
                .locales
                .push((tag.to_owned(), read(&path)?, path.display().to_string()));
        }
    }
    Ok(theme)
}

/// The regular files of `dir`, sorted (so that errors come in a stable
/// order).
fn files(dir: &Path) -> Result<Vec<std::path::PathBuf>, ThemeError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| ThemeError(format!("theme_dir {}: {e}", dir.display())))?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| ThemeError(format!("theme_dir {}: {e}", dir.display())))?;
        if entry
            .file_type()
            .is_ok_and(|t| t.is_file() || t.is_symlink())
            && entry.path().is_file()
        {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

fn read(path: &Path) -> Result<String, ThemeError> {
    let too_big = std::fs::metadata(path).is_ok_and(|m| m.len() > MAX_FILE_BYTES);
    if too_big {
        return Err(ThemeError(format!(
            "{}: larger than {MAX_FILE_BYTES} bytes",
            path.display()
        )));
    }
    std::fs::read_to_string(path).map_err(|e| ThemeError(format!("{}: {e}", path.display())))
}
