//! `course.toml`: the single list of chapters. Everything that needs the chapter list reads it
//! through here: xtask (learners' and authors' commands, the checks) and the book builder. It is
//! its own small crate so that a learner's `cargo xtask hint` compiles nothing the book needs.

pub mod scenario;

use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Course {
    #[serde(rename = "chapter")]
    pub chapters: Vec<Chapter>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chapter {
    /// Also the exercise's package name.
    pub slug: String,
    pub number: u32,
    pub title: String,
    /// The page, from the workspace root.
    pub page: PathBuf,
    pub exercise: PathBuf,
    pub solution: PathBuf,
    /// Workshop minutes: reading, demo and exercise.
    pub minutes: u32,
    pub objectives: Vec<String>,
    pub hints: Vec<String>,
    #[serde(default, rename = "mistake")]
    pub mistakes: Vec<Mistake>,
    /// The page's diagnosis drills ("Read the incident"), drawn with `{{#drill SLUG/FEATURE}}`.
    #[serde(default, rename = "drill")]
    pub drills: Vec<Drill>,
    /// How many processes `cargo xtask real` starts for this chapter's nodes; a chapter
    /// without it has no real run (its crate has no `SLUG-real` example).
    #[serde(default)]
    pub real_nodes: Option<u32>,
}

/// A diagnosis drill: a broken variant of the reference (a feature of the solution, not one of
/// the classic mistakes), one of the chapter's scenarios run with it, and the property that
/// the page's hidden answer names, which must reject the variant.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Drill {
    /// The solution's cargo feature (`drill-...`).
    pub feature: String,
    /// The scenario whose run with the variant the page draws.
    pub scenario: String,
    /// The short name of the property the answer names.
    pub rejected_by: String,
    /// What the variant does wrong, for authors (the learner reads only the timeline).
    pub what: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mistake {
    /// The solution's cargo feature that swaps in the wrong code.
    pub feature: String,
    /// The short name of the property (or snapshot) that must reject it.
    pub rejected_by: String,
    /// The mistake in a phrase.
    pub what: String,
}

impl Chapter {
    /// The solution's package name.
    pub fn solution_package(&self) -> String {
        format!("{}-solution", self.slug)
    }

    /// The solution's example that runs its scenarios (named per chapter, because the examples
    /// of all solutions are built into one folder).
    pub fn scenario_example(&self) -> String {
        format!("{}-scenario", self.slug)
    }

    /// The page's path inside the book's `src/`.
    pub fn page_in_book(&self) -> PathBuf {
        self.page
            .strip_prefix("book/src")
            .unwrap_or(&self.page)
            .to_path_buf()
    }
}

impl Course {
    pub fn load(root: &Path) -> Result<Course, String> {
        let path = root.join("course.toml");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let course: Course =
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        for chapter in &course.chapters {
            if chapter.hints.len() < 3 {
                return Err(format!(
                    "course.toml: chapter {} needs three progressive hints",
                    chapter.slug
                ));
            }
        }
        Ok(course)
    }

    pub fn chapter(&self, slug: &str) -> Result<&Chapter, String> {
        self.chapters
            .iter()
            .find(|c| c.slug == slug)
            .ok_or_else(|| {
                let slugs: Vec<&str> = self.chapters.iter().map(|c| c.slug.as_str()).collect();
                format!(
                    "no chapter {slug:?} in course.toml; there are: {}",
                    slugs.join(", ")
                )
            })
    }
}
