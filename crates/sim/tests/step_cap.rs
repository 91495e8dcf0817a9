//! The process-wide cap on step budgets (`sim::cap_step_budget`, what a scenario
//! binary's `--step-budget=N` sets). A file of its own: the cap holds for the whole process, and
//! each integration test file is a process of its own.

use sim::{Config, Context, HaltReason, Node, NodeId, Simulation, Time, cap_step_budget};
use std::time::Duration;

struct Spinner;

impl Node for Spinner {
    type Msg = ();
    type Timer = ();
    type Request = ();
    type Response = ();
    type Durable = ();
    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        ctx.set_timer(Duration::ZERO, ());
    }
    fn on_message(&mut self, _: &mut Context<'_, Self>, _: NodeId, _: ()) {}
    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, _: ()) {
        ctx.set_timer(Duration::ZERO, ());
    }
}

#[test]
fn the_cap_lowers_every_later_runs_budget_and_never_raises_one() {
    cap_step_budget(500);
    let mut capped = Simulation::new(Config::new(1, 5), |_, _| Spinner);
    let halt = capped.run_until(Time::from_millis(1)).unwrap_err();
    assert_eq!(halt.reason, HaltReason::StepBudget { steps: 500 });
    let mut smaller = Simulation::new(Config::new(1, 5).step_budget(200), |_, _| Spinner);
    let halt = smaller.run_until(Time::from_millis(1)).unwrap_err();
    assert_eq!(halt.reason, HaltReason::StepBudget { steps: 200 });
}
