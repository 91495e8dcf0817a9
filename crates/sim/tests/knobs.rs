//! `SIM_SEED` and `SIM_CASES` change which fault plans a property explores and how many, never
//! what one case does. Alone in its test binary, because it sets environment variables.

use sim::check::{CASES_VAR, Failure, PlanBounds, Property, SEED_VAR, plans};
use sim::{FaultPlan, Time};
use std::cell::RefCell;
use std::time::Duration;

/// The (seed, plan) pairs a property with this name explores under the current environment.
fn explored(name: &str) -> Vec<(u64, FaultPlan)> {
    let seen = RefCell::new(Vec::new());
    Property::new(name).cases(6).check(
        plans(PlanBounds::new(3, Duration::from_millis(100))),
        |case| {
            seen.borrow_mut().push((case.seed, case.plan.clone()));
            Ok::<(), Failure>(())
        },
    );
    seen.into_inner()
}

fn set(var: &str, value: Option<&str>) {
    // SAFETY: this test binary has one test, so no other thread reads the environment.
    unsafe {
        match value {
            Some(v) => std::env::set_var(var, v),
            None => std::env::remove_var(var),
        }
    }
}

#[test]
fn the_seed_and_cases_variables_change_the_search_and_nothing_else() {
    set(SEED_VAR, None);
    set(CASES_VAR, None);
    let default = explored("knobs");
    assert_eq!(default.len(), 6);
    assert_eq!(
        explored("knobs"),
        default,
        "unset: the fixed seed, every time"
    );

    set(SEED_VAR, Some("0"));
    let zero = explored("knobs");
    set(SEED_VAR, Some("1"));
    let one = explored("knobs");
    assert_eq!(explored("knobs"), one, "one SIM_SEED, one search");
    assert_ne!(one, default);
    assert_ne!(
        zero, default,
        "SIM_SEED=0 is a seed like any other, not 'unset'"
    );
    assert_ne!(zero, one);

    set(CASES_VAR, Some("11"));
    let more = explored("knobs");
    assert_eq!(more.len(), 11);
    assert_eq!(more[..6], one[..], "more cases extend the same search");

    // A failure found under SIM_SEED says so, and its replay command needs neither variable.
    set(CASES_VAR, Some("3"));
    let property = Property::new("fails").replay_command("cargo test fails");
    let report = std::panic::catch_unwind(|| {
        property.check(
            plans(PlanBounds::new(2, Duration::from_millis(100))),
            |_| Err(Failure::new("always").at(Time::ZERO)),
        )
    })
    .expect_err("the property fails");
    let report = report
        .downcast_ref::<String>()
        .expect("a report")
        .to_string();
    assert!(report.contains("property violated: fails"), "{report}");
    assert!(
        report
            .contains("found with SIM_SEED=1 (the same search again: SIM_SEED=1 cargo test fails)"),
        "{report}"
    );
    assert!(
        report.contains("SIM_REPLAY='{\"property\":\"fails\""),
        "{report}"
    );

    set(SEED_VAR, Some("seven"));
    let typo = std::panic::catch_unwind(|| explored("knobs")).expect_err("a typo stops the run");
    let typo = typo
        .downcast_ref::<String>()
        .expect("a message")
        .to_string();
    assert!(
        typo.contains("SIM_SEED must be a whole number, got \"seven\""),
        "{typo}"
    );
    set(SEED_VAR, None);
    set(CASES_VAR, None);
}
