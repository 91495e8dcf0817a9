//! Builds the workbook's book with mdBook's library, in-process: the chapter list comes from
//! `course.toml`, and our preprocessor replaces `{{#timeline SLUG/NAME}}`, `{{#table SLUG/NAME}}`
//! and `{{#agenda}}` with what the chapters' solutions draw and measure at build time.

pub mod agenda;
pub mod build;
pub mod checks;
pub mod lab;
pub mod scenario;
pub mod serve;

pub use build::build;
pub use course::{Chapter, Course, Mistake};
