//! Properties over plain inputs (not fault plans) report the rule and the shrunk input.

use sim::check::Property;

#[test]
fn a_rule_about_a_pure_function_reports_the_smallest_input_that_breaks_it() {
    let property = Property::new("doubling: twice a number is even, and at most 200")
        .replay_command("cargo test doubling")
        .book("book/src/x.md#doubling");
    let passing = property.clone().cases(50).check_inputs(0u32..100, |n| {
        if (2 * n) % 2 == 0 {
            Ok(())
        } else {
            Err(format!("2 * {n} is odd"))
        }
    });
    assert_eq!(passing.cases, 50);
    let report = std::panic::catch_unwind(|| {
        property.check_inputs(0u32..1000, |n| {
            if 2 * n <= 200 {
                Ok(())
            } else {
                Err(format!("2 * {n} = {} is more than 200", 2 * n))
            }
        })
    })
    .expect_err("most inputs break it");
    let report = report.downcast_ref::<String>().unwrap().to_string();
    assert!(report.contains("property violated: doubling:"), "{report}");
    // Shrunk to the smallest number that breaks it.
    assert!(
        report.contains("2 * 101 = 202 is more than 200"),
        "{report}"
    );
    assert!(
        report.contains("input (shrunk to a smallest failing case):\n  101"),
        "{report}"
    );
    assert!(report.contains("cargo test doubling"), "{report}");
    assert!(report.contains("read: book/src/x.md#doubling"), "{report}");
}
