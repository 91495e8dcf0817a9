//! `SIM_REPLAY` runs exactly the saved case instead of generating new ones. Alone in its test
//! binary, because it sets an environment variable.

use sim::check::{Failure, PlanBounds, Property, REPLAY_VAR, plans};
use sim::{Fault, FaultPlan, NodeId, Time};
use std::time::Duration;

#[test]
fn the_replay_variable_runs_only_the_saved_case() {
    let plan = FaultPlan::default().at(
        Time::from_millis(3),
        Fault::Pause {
            node: NodeId(0),
            duration: Duration::from_millis(9),
        },
    );
    let saved = format!(
        r#"{{"property":"replayed","seed":77,"plan":{}}}"#,
        plan.to_json()
    );
    // SAFETY: this test binary has one test, so no other thread reads the environment.
    unsafe { std::env::set_var(REPLAY_VAR, &saved) };
    let seen = std::cell::RefCell::new(Vec::new());
    let explored = Property::new("replayed").check(
        plans(PlanBounds::new(2, Duration::from_millis(100))),
        |case| {
            seen.borrow_mut().push((case.seed, case.plan.clone()));
            Ok::<(), Failure>(())
        },
    );
    assert_eq!(explored.cases, 1);
    assert_eq!(seen.into_inner(), vec![(77, plan)]);
    // A property with another name ignores the saved case and generates its own.
    let others = Property::new("another").cases(5).check(
        plans(PlanBounds::new(2, Duration::from_millis(100))),
        |_| Ok(()),
    );
    assert_eq!(others.cases, 5);
}
