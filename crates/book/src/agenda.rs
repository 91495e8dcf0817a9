//! Workshop agendas for half a day, one day and two days, computed from each chapter's minutes
//! in `course.toml`: chapters in course order, breaks every 90 minutes or so, lunch on full
//! days, and whatever does not fit listed as take-home work.

use course::Course;
use std::fmt::Write;

struct Format {
    name: &'static str,
    days: u32,
    /// Teaching minutes per day, breaks not counted.
    minutes_per_day: u32,
}

const FORMATS: [Format; 3] = [
    Format {
        name: "Half a day",
        days: 1,
        minutes_per_day: 180,
    },
    Format {
        name: "One day",
        days: 1,
        minutes_per_day: 360,
    },
    Format {
        name: "Two days",
        days: 2,
        minutes_per_day: 360,
    },
];

const OPENING: u32 = 15;
const CLOSING: u32 = 15;

fn clock(minutes_since_nine: u32) -> String {
    let total = 9 * 60 + minutes_since_nine;
    format!("{:02}:{:02}", total / 60, total % 60)
}

/// The agendas as Markdown tables.
pub fn render(course: &Course) -> String {
    let mut out = String::new();
    for format in &FORMATS {
        let _ = writeln!(out, "\n#### {}\n", format.name);
        let mut chapters = course.chapters.iter().peekable();
        for day in 1..=format.days {
            if format.days > 1 {
                let _ = writeln!(out, "\n**Day {day}**\n");
            }
            let _ = writeln!(out, "| time | session | minutes |\n| --- | --- | --- |");
            let mut now = 0;
            let mut taught = 0;
            let mut since_break = 0;
            let mut had_lunch = false;
            let opening = if day == 1 {
                "Welcome, setup check, how to read a timeline"
            } else {
                "Recap of day 1, questions"
            };
            let _ = writeln!(out, "| {} | {opening} | {OPENING} |", clock(now));
            now += OPENING;
            taught += OPENING;
            since_break += OPENING;
            while let Some(chapter) = chapters.peek() {
                if taught + chapter.minutes + CLOSING > format.minutes_per_day {
                    break;
                }
                if since_break + chapter.minutes > 100 {
                    let lunch_time = format.minutes_per_day > 240 && (150..330).contains(&now);
                    let (what, length) = if lunch_time && !had_lunch {
                        had_lunch = true;
                        ("Lunch", 60)
                    } else {
                        ("Break", 15)
                    };
                    let _ = writeln!(out, "| {} | *{what}* | {length} |", clock(now));
                    now += length;
                    since_break = 0;
                }
                let label = if chapter.number == 0 {
                    chapter.title.clone()
                } else {
                    format!("Chapter {}: {}", chapter.number, chapter.title)
                };
                let _ = writeln!(out, "| {} | {label} | {} |", clock(now), chapter.minutes);
                now += chapter.minutes;
                taught += chapter.minutes;
                since_break += chapter.minutes;
                chapters.next();
            }
            let _ = writeln!(
                out,
                "| {} | Wrap-up: what surprised you, what you will check at work | {CLOSING} |",
                clock(now)
            );
        }
        let rest: Vec<String> = chapters
            .by_ref()
            .map(|c| format!("chapter {} ({})", c.number, c.title))
            .collect();
        if !rest.is_empty() {
            let _ = writeln!(out, "\nTake-home: {}.", rest.join(", "));
        }
    }
    let _ = writeln!(out, "\n#### What each session is for\n");
    for chapter in &course.chapters {
        let _ = writeln!(out, "- **{}** ({} min)", chapter.title, chapter.minutes);
        for objective in &chapter.objectives {
            let _ = writeln!(out, "  - {objective}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn course(minutes: &[u32]) -> Course {
        let chapters: Vec<String> = minutes
            .iter()
            .enumerate()
            .map(|(i, m)| {
                format!(
                    "[[chapter]]\nslug = \"c{i}\"\nnumber = {i}\ntitle = \"T{i}\"\npage = \"p\"\n\
                     exercise = \"e\"\nsolution = \"s\"\nminutes = {m}\nobjectives = []\n\
                     hints = [\"a\", \"b\", \"c\"]\n"
                )
            })
            .collect();
        toml::from_str(&chapters.join("\n")).unwrap()
    }

    #[test]
    fn chapters_that_do_not_fit_are_take_home() {
        let text = render(&course(&[30, 90, 90, 90]));
        let half_day = &text[..text.find("#### One day").unwrap()];
        assert!(half_day.contains("| 09:15 | T0 | 30 |"), "{half_day}");
        assert!(half_day.contains("| 09:45 | *Break* | 15 |"), "{half_day}");
        assert!(
            half_day.contains("| 10:00 | Chapter 1: T1 | 90 |"),
            "{half_day}"
        );
        assert!(
            half_day.contains("Take-home: chapter 2 (T2), chapter 3 (T3)."),
            "{half_day}"
        );
        let one_day =
            &text[text.find("#### One day").unwrap()..text.find("#### Two days").unwrap()];
        assert!(!one_day.contains("Take-home"), "{one_day}");
        assert_eq!(one_day.matches("*Lunch*").count(), 1, "{one_day}");
    }
}
