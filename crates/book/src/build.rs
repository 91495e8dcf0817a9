//! Builds the book in-process with mdBook's library: the table of contents comes from
//! `course.toml`, and our preprocessor replaces `{{#timeline SLUG/NAME}}` with the SVG that the
//! simulator draws for that scenario of the solution, `{{#table SLUG/NAME}}` with a table the
//! solution measures, and `{{#agenda}}` with the workshop agendas computed from the chapters'
//! minutes.

use crate::agenda;
use crate::scenario;
use course::{Chapter, Course};
use mdbook_driver::MDBook;
use mdbook_driver::book::{Book, BookItem};
use mdbook_driver::config::Config;
use mdbook_driver::errors::{Error, Result};
use mdbook_preprocessor::{Preprocessor, PreprocessorContext};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The table of contents: front matter, the chapters in course order, the instructor guide.
fn summary(course: &Course) -> String {
    let mut toc = String::from(
        "# Summary\n\n[Introduction](introduction.md)\n[How to read a timeline](reading-timelines.md)\n",
    );
    // The warm-up (number 0) is front matter, so that mdBook numbers chapters from 1.
    for chapter in course.chapters.iter().filter(|c| c.number == 0) {
        toc.push_str(&format!(
            "[{}](<{}>)\n",
            chapter.title,
            chapter.page_in_book().display()
        ));
    }
    toc.push_str("\n# Chapters\n\n");
    for chapter in course.chapters.iter().filter(|c| c.number > 0) {
        toc.push_str(&format!(
            "- [{}](<{}>)\n",
            chapter.title,
            chapter.page_in_book().display()
        ));
    }
    toc.push_str("\n---\n\n[From the simulator to a real network](real-network.md)\n");
    toc.push_str("[Running the workshop](instructors.md)\n");
    toc
}

/// Builds the HTML into `target/book` and returns that folder.
pub fn build(root: &Path) -> std::result::Result<PathBuf, String> {
    let course = Course::load(root)?;
    let book_dir = root.join("book");
    let summary = mdbook_summary::parse_summary(&summary(&course))
        .map_err(|e| format!("the generated table of contents: {e:#}"))?;
    let config = Config::from_disk(book_dir.join("book.toml"))
        .map_err(|e| format!("book/book.toml: {e:#}"))?;
    let mut book = MDBook::load_with_config_and_summary(&book_dir, config, summary)
        .map_err(|e| format!("loading the book: {e:#}"))?;
    book.with_preprocessor(Workbook {
        root: root.to_path_buf(),
        course,
    });
    book.build()
        .map_err(|e| format!("building the book: {e:#}"))?;
    Ok(book.build_dir_for("html"))
}

/// The drawings' widths to try, narrowest first: the page scales a wide one down to fit, and a
/// reader can zoom it to its actual size.
const WIDTHS: [u32; 4] = [760, 960, 1200, 1500];

/// The trace drawn at the narrowest width at which no note's label has to be cut ("…"), or at
/// the widest: a label that carries the story must be readable in the figure, not only on hover.
pub(crate) fn fitted_svg(trace: &sim::Trace) -> String {
    let mut svg = String::new();
    for width in WIDTHS {
        let options = sim::render::svg::SvgOptions {
            width,
            ..Default::default()
        };
        svg = sim::render::svg::render(trace, &options);
        let cut_note = svg.split("<g class=\"tl-note\"").skip(1).any(|note| {
            note.split("</g>")
                .next()
                .unwrap_or_default()
                .contains("…</text>")
        });
        if !cut_note {
            break;
        }
    }
    svg
}

/// Our preprocessor: timelines and agendas.
struct Workbook {
    root: PathBuf,
    course: Course,
}

const TIMELINE: &str = "{{#timeline ";
const TABLE: &str = "{{#table ";
const DRILL: &str = "{{#drill ";
const CHART: &str = "{{#chart ";
const AGENDA: &str = "{{#agenda}}";

impl Preprocessor for Workbook {
    fn name(&self) -> &str {
        "workbook"
    }

    fn run(&self, ctx: &PreprocessorContext, mut book: Book) -> Result<Book> {
        let src = ctx.root.join(&ctx.config.book.src);
        let mut rendered: BTreeMap<String, String> = BTreeMap::new();
        let mut failure = None;
        book.for_each_mut(|item| {
            let BookItem::Chapter(chapter) = item else {
                return;
            };
            if failure.is_some() {
                return;
            }
            let source = chapter
                .source_path
                .as_ref()
                .map(|p| src.join(p))
                .unwrap_or_default();
            match self.expand(&chapter.content, &source, &mut rendered) {
                Ok(content) => chapter.content = content,
                Err(e) => failure = Some(e),
            }
        });
        if failure.is_none() {
            failure = self.every_drill_drawn(&rendered).err();
        }
        match failure {
            Some(e) => Err(Error::msg(e)),
            None => Ok(book),
        }
    }
}

/// The 1-based line of `needle` in the page's source file, for error messages.
fn line_of(source: &Path, needle: &str) -> usize {
    std::fs::read_to_string(source)
        .ok()
        .and_then(|text| text.lines().position(|l| l.contains(needle)))
        .map_or(0, |i| i + 1)
}

impl Workbook {
    fn expand(
        &self,
        content: &str,
        source: &Path,
        rendered: &mut BTreeMap<String, String>,
    ) -> std::result::Result<String, String> {
        let mut out = String::with_capacity(content.len());
        let mut rest = content;
        loop {
            let next = [TIMELINE, TABLE, DRILL, CHART, AGENDA]
                .into_iter()
                .filter_map(|d| rest.find(d).map(|at| (at, d)))
                .min();
            let Some((start, directive)) = next else {
                break;
            };
            out.push_str(&rest[..start]);
            if directive == AGENDA {
                out.push_str(&agenda::render(&self.course));
                rest = &rest[start + AGENDA.len()..];
                continue;
            }
            let after = &rest[start + directive.len()..];
            let end = after.find("}}").ok_or_else(|| {
                format!(
                    "{}:{}: unclosed {}",
                    source.display(),
                    line_of(source, directive),
                    directive.trim()
                )
            })?;
            let reference = after[..end].trim().to_string();
            let written = format!("{directive}{}", &after[..end]);
            let key = format!("{directive}{reference}");
            if !rendered.contains_key(&key) {
                let expanded = match directive {
                    TIMELINE => self.timeline(&reference),
                    DRILL => self.drill(&reference, &after[end..]),
                    CHART => self.chart_figure(&reference),
                    _ => self.table(&reference),
                };
                let expanded = expanded.map_err(|e| {
                    format!(
                        "{}:{}: {written}}}}}: {e}",
                        source.display(),
                        line_of(source, &written)
                    )
                })?;
                rendered.insert(key.clone(), expanded);
            }
            out.push_str(&rendered[&key]);
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// The contract: every chapter has a diagnosis drill, and its page draws each of them.
    fn every_drill_drawn(
        &self,
        rendered: &BTreeMap<String, String>,
    ) -> std::result::Result<(), String> {
        for chapter in &self.course.chapters {
            if chapter.drills.is_empty() {
                return Err(format!(
                    "chapter {} has no [[chapter.drill]] in course.toml",
                    chapter.slug
                ));
            }
            for drill in &chapter.drills {
                let key = format!("{DRILL}{}/{}", chapter.slug, drill.feature);
                if !rendered.contains_key(&key) {
                    return Err(format!(
                        "{}: no {{{{#drill {}/{}}}}} for the drill in course.toml",
                        chapter.page.display(),
                        chapter.slug,
                        drill.feature
                    ));
                }
            }
        }
        Ok(())
    }

    fn chapter(&self, slug: &str) -> std::result::Result<&Chapter, String> {
        self.course.chapter(slug)
    }

    fn lab_attribute(
        &self,
        chapter: &Chapter,
        reference: &str,
        name: &str,
        figure: &str,
    ) -> std::result::Result<String, String> {
        let listed = scenario::list(&self.root, chapter)?;
        Ok(listed
            .iter()
            .find(|s| s.name == name)
            .map(|entry| lab_attribute(reference, entry, figure))
            .unwrap_or_default())
    }

    /// A scenario's metrics over time, drawn as a line chart, with its replay command.
    fn chart_figure(&self, reference: &str) -> std::result::Result<String, String> {
        let (slug, name) = scenario::split(reference)?;
        let chapter = self.chapter(slug)?;
        let chart = scenario::chart(&self.root, chapter, name)?;
        let lab = self.lab_attribute(chapter, reference, name, "chart")?;
        let svg = without_blank_lines(&sim::render::chart::svg(&chart));
        Ok(format!(
            "\n<figure class=\"chart\" id=\"chart-{slug}-{name}\"{lab}>\n{svg}\n<figcaption>{} \
             <span class=\"replay\">The same run as a timeline: <code>cargo xtask scenario \
             {slug}/{name}</code></span></figcaption>\n</figure>\n",
            escape(&chart.title)
        ))
    }

    /// A table the solution measures at build time, as Markdown.
    fn table(&self, reference: &str) -> std::result::Result<String, String> {
        let (slug, name) = scenario::split(reference)?;
        let markdown = scenario::table(&self.root, self.chapter(slug)?, name)?;
        Ok(format!("\n{}\n", markdown.trim_end()))
    }

    /// A diagnosis drill's figure: the timeline of the drill's scenario run by its broken
    /// variant, with the question and no title (the title would say what to look for).
    /// `page_after` is the page after the directive: its hidden answer must name the property
    /// the drill's variant is proven to break.
    fn drill(&self, reference: &str, page_after: &str) -> std::result::Result<String, String> {
        let (slug, feature) = scenario::split(reference)?;
        let chapter = self.chapter(slug)?;
        let Some(drill) = chapter.drills.iter().find(|d| d.feature == feature) else {
            return Err(format!(
                "course.toml has no drill {feature:?} for {slug}; it has: {}",
                chapter
                    .drills
                    .iter()
                    .map(|d| d.feature.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        };
        let answer = page_after.split("</details>").next().unwrap_or_default();
        let named = format!("`{}`", drill.rejected_by);
        if !answer.contains("<details") || !answer.contains(&named) {
            return Err(format!(
                "the drill must be followed by its answer in <details>, naming the property \
                 {named} that rejects the variant"
            ));
        }
        let trace = scenario::variant_trace(&self.root, chapter, &drill.scenario, &drill.feature)?;
        let svg = without_blank_lines(&fitted_svg(&trace));
        Ok(format!(
            "\n<figure class=\"timeline drill\" id=\"drill-{slug}\">\n{svg}\n<figcaption>A broken \
             variant of the mechanism ran this. Which rule broke, at which node, and when?\
             </figcaption>\n</figure>\n"
        ))
    }

    /// The figure for one scenario: its SVG, a caption, and the command that replays it.
    fn timeline(&self, reference: &str) -> std::result::Result<String, String> {
        let (slug, name) = scenario::split(reference)?;
        let chapter = self.chapter(slug)?;
        let listed = scenario::list(&self.root, chapter)?;
        let Some(entry) = listed.iter().find(|s| s.name == name) else {
            let names: Vec<&str> = listed.iter().map(|s| s.name.as_str()).collect();
            return Err(format!(
                "no scenario {name:?} in {slug}; there are: {}",
                names.join(", ")
            ));
        };
        let trace = scenario::trace(&self.root, chapter, name, None)?;
        let lab = lab_attribute(reference, entry, "timeline");
        // The caption carries the title; inside the drawing a long one would be cut off.
        let svg = without_blank_lines(&fitted_svg(&trace));
        Ok(format!(
            "\n<figure class=\"timeline\" id=\"timeline-{slug}-{name}\"{lab}>\n{svg}\n<figcaption>{} \
             <span class=\"replay\">Replay it: <code>cargo xtask scenario {slug}/{name}</code>; \
             on your own code: <code>--mine</code>, or <code>--compare</code></span>\
             </figcaption>\n</figure>\n",
            escape(&entry.title)
        ))
    }
}

/// The ` data-lab='…'` attribute of a figure whose scenario declares knobs: what the page's
/// controls need to rerun it in the served book (empty for a scenario with none).
fn lab_attribute(reference: &str, entry: &scenario::Listed, figure: &str) -> String {
    #[derive(serde::Serialize)]
    struct Lab<'a> {
        scenario: &'a str,
        figure: &'a str,
        seed: u64,
        params: &'a [scenario::Param],
    }
    if entry.params.is_empty() {
        return String::new();
    }
    let json = serde_json::to_string(&Lab {
        scenario: reference,
        figure,
        seed: entry.seed,
        params: &entry.params,
    })
    .expect("serializable");
    format!(" data-lab='{}'", escape(&json).replace('\'', "&#39;"))
}

/// Markdown ends an inline HTML block at a blank line, so a figure's markup must have none.
fn without_blank_lines(svg: &str) -> String {
    svg.lines()
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_scenario_fails_the_build_naming_file_and_line() {
        let dir = std::env::temp_dir().join(format!("xtask-book-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let page = dir.join("page.md");
        let text = "# Page\n\nSome prose.\n{{#timeline nowhere/gc-pause}}\n";
        std::fs::write(&page, text).unwrap();
        let workbook = Workbook {
            root: dir.clone(),
            course: Course {
                chapters: Vec::new(),
            },
        };
        let error = workbook
            .expand(text, &page, &mut BTreeMap::new())
            .unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            error.starts_with(&format!(
                "{}:4: {{{{#timeline nowhere/gc-pause}}}}: ",
                page.display()
            )),
            "{error}"
        );
        assert!(error.contains("no chapter \"nowhere\""), "{error}");
    }

    #[test]
    fn a_drill_without_an_answer_naming_its_property_fails_the_build() {
        let dir = std::env::temp_dir().join(format!("xtask-drill-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("course.toml"),
            "[[chapter]]\nslug = \"lease\"\nnumber = 3\ntitle = \"T\"\npage = \"p.md\"\n\
             exercise = \"e\"\nsolution = \"s\"\nminutes = 1\nobjectives = []\nhints = [\"a\", \"b\", \"c\"]\n\n\
             [[chapter.drill]]\nfeature = \"drill-x\"\nscenario = \"run\"\n\
             rejected_by = \"one-leader\"\nwhat = \"w\"\n",
        )
        .unwrap();
        let workbook = Workbook {
            root: dir.clone(),
            course: Course::load(&dir).unwrap(),
        };
        let page = dir.join("p.md");
        let expand = |text: &str| workbook.expand(text, &page, &mut BTreeMap::new());
        let unanswered = expand("{{#drill lease/drill-x}}\n\nNo answer here.\n").unwrap_err();
        let wrong = expand(
            "{{#drill lease/drill-x}}\n<details><summary>Answer</summary>`fencing`</details>\n",
        )
        .unwrap_err();
        let unknown = expand("{{#drill lease/drill-y}}\n").unwrap_err();
        let undrawn = workbook.every_drill_drawn(&BTreeMap::new()).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        for error in [&unanswered, &wrong] {
            assert!(
                error.contains("naming the property `one-leader`"),
                "{error}"
            );
        }
        assert!(unknown.contains("no drill \"drill-y\""), "{unknown}");
        assert!(undrawn.contains("no {{#drill lease/drill-x}}"), "{undrawn}");
    }

    #[test]
    fn text_without_directives_is_left_alone() {
        let workbook = Workbook {
            root: PathBuf::new(),
            course: Course {
                chapters: Vec::new(),
            },
        };
        let text = "plain {{#include x.rs}} text";
        let out = workbook.expand(text, Path::new("p.md"), &mut BTreeMap::new());
        assert_eq!(out.unwrap(), text);
    }

    #[test]
    fn the_table_of_contents_follows_the_course() {
        let course: Course = toml::from_str(
            r#"
            [[chapter]]
            slug = "warm-up"
            number = 0
            title = "Warm-up"
            page = "book/src/00-warm-up.md"
            exercise = "e"
            solution = "s"
            minutes = 30
            objectives = []
            hints = ["a", "b", "c"]
            [[chapter]]
            slug = "fd"
            number = 1
            title = "Is it dead?"
            page = "book/src/01-fd.md"
            exercise = "e"
            solution = "s"
            minutes = 90
            objectives = []
            hints = ["a", "b", "c"]
            "#,
        )
        .unwrap();
        let toc = summary(&course);
        assert!(
            toc.contains("[Warm-up](<00-warm-up.md>)\n\n# Chapters\n\n- [Is it dead?](<01-fd.md>)")
        );
        assert!(mdbook_summary::parse_summary(&toc).is_ok());
    }
}
