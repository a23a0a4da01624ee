//! The workflow families: one folder each, owning its actions and compensations, its SQL,
//! its routes, its settings, its metrics and its seeds. This file is the one list that names
//! them.

pub mod credentials;
pub mod data_bundle;
pub mod family;
pub mod hardware;
pub mod ops_bulk;
pub mod partner;
pub mod sample;

use std::sync::Arc;

pub use family::{Assembly, Context, Family};

/// A database error as a step error: worth another attempt once the database answers.
pub(crate) fn db_error(e: impl std::fmt::Display) -> crate::engine::action::StepError {
    crate::engine::action::StepError::retryable("database", e.to_string())
}

/// A domain row a step acts on must be its own saga's: the saga input names the row, and a
/// step must not charge, refund or ship another saga's order when an input names it.
pub(crate) fn own_row(
    ctx: &crate::engine::action::StepContext,
    row_saga: Option<uuid::Uuid>,
    what: &str,
) -> Result<(), crate::engine::action::StepError> {
    if row_saga == Some(ctx.saga_id) {
        Ok(())
    } else {
        Err(crate::engine::action::StepError::permanent(
            "not_this_sagas",
            format!("the {what} named in the input belongs to another saga"),
        ))
    }
}

/// A provider's error as a step error: retryable ones keep the provider's `Retry-After`; our
/// own credentials refused park the saga (see [`credentials`]).
pub(crate) fn provider_error(e: crate::providers::Error) -> crate::engine::action::StepError {
    use crate::engine::action::StepError;
    if let crate::providers::Error::Held { retry_in, .. } = &e {
        // Never sent: wait without spending an attempt.
        return StepError::deferred("provider_held", e.held_message(), *retry_in);
    }
    if let Some(park) = credentials::park_if_rejected(&e) {
        return park;
    }
    if e.retryable() {
        StepError::Retryable {
            code: e.code().to_string(),
            message: e.to_string(),
            retry_after: e.retry_after(),
        }
    } else {
        StepError::permanent(e.code(), e.to_string())
    }
}

/// Every family, in the order their routes and order views are asked. Adding a family is one
/// line here; [`Assembly::new`] refuses two that register one name.
pub fn all(cx: &Context<'_>) -> Result<Vec<Arc<dyn Family>>, family::Error> {
    Ok(vec![
        Arc::new(data_bundle::DataBundle::new(cx)?),
        Arc::new(partner::Partner::new(cx)?),
        Arc::new(hardware::Hardware::new(cx)?),
        Arc::new(ops_bulk::OpsBulk::new(cx)),
        Arc::new(sample::Sample::new(cx)),
    ])
}

/// Builds and joins every family: what `App::build` and `sagaflow workflows check` use.
pub fn assemble(cx: &Context<'_>) -> Result<Assembly, family::Error> {
    Assembly::new(all(cx)?)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    /// The layers below the families, which must not name one.
    const CORE: &[&str] = &[
        "src/engine",
        "src/store",
        "src/api",
        "src/config.rs",
        "src/telemetry.rs",
    ];

    fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
        if path.is_dir() {
            let mut entries: Vec<_> = std::fs::read_dir(path)
                .expect("readable source folder")
                .map(|e| e.expect("readable entry").path())
                .collect();
            entries.sort();
            for entry in entries {
                rust_files(&entry, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path.to_path_buf());
        }
    }

    /// The core reaches a family only through the registration list in this file: no
    /// `families::` path, and no family's workflow named in code (comments may mention them).
    #[test]
    fn core_layers_name_no_family() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        for part in CORE {
            rust_files(&root.join(part), &mut files);
        }
        assert!(files.len() > 20, "the core's files were found");
        let workflows = [
            "\"data_bundle\"",
            "\"partner_subscription\"",
            "\"partner_renewal\"",
            "\"hardware_order\"",
        ];
        let mut found = Vec::new();
        for file in &files {
            let text = std::fs::read_to_string(file).expect("readable source file");
            for (n, line) in text.lines().enumerate() {
                let code = line.trim_start();
                if code.starts_with("//") {
                    continue;
                }
                if code.contains("families::") || workflows.iter().any(|w| code.contains(w)) {
                    found.push(format!("{}:{}: {code}", file.display(), n + 1));
                }
            }
        }
        assert!(
            found.is_empty(),
            "core code names a family:\n{}",
            found.join("\n")
        );
    }
}
