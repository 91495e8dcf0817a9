//! Step 1: the steps of a payment, as pure functions: the transaction that takes a payment on
//! ([`begin`]), the one that ends it ([`finish`]), and what a front does with the store's
//! answer to its begin ([`after_begin`]). Nothing here runs a simulation: each transaction is
//! applied to a store's disk ([`StoreDisk::apply`], given) in every state the key can be in.
//!
//! `cargo test --test step1_steps` runs just this step.

use idempotency::Key;
use idempotency::{
    Account, Answer, ChargeId, Expect, FRONT_A, FRONT_B, Next, Payment, Record, Reply, StoreDisk,
    Txn, after_begin, begin, finish,
};
use sim::check::Property;
use sim::proptest::prelude::*;
use sim::{NodeId, Time};
use std::time::Duration;

const WINDOW: Duration = Duration::from_secs(2);

fn payments() -> impl Strategy<Value = Payment> {
    (0u64..4, 0u32..2, 1u64..=3).prop_map(|(order, account, amount)| Payment {
        order,
        account: Account(account),
        amount: amount * 100,
    })
}

fn answers() -> impl Strategy<Value = Answer> {
    prop_oneof![
        (1u64..4).prop_map(|c| Answer::Approved {
            charge: ChargeId(c)
        }),
        Just(Answer::Declined),
    ]
}

fn fronts() -> impl Strategy<Value = NodeId> {
    prop_oneof![Just(FRONT_A), Just(FRONT_B)]
}

/// What a key can hold before a step: nothing, a `Pending` or a `Done` record (of this payment
/// or of another), written long enough ago to have expired or not.
fn prior_records() -> impl Strategy<Value = Option<(Record, bool)>> {
    let record = prop_oneof![
        (payments(), fronts()).prop_map(|(payment, owner)| Record::Pending { payment, owner }),
        (payments(), answers()).prop_map(|(payment, answer)| Record::Done { payment, answer }),
    ];
    prop_oneof![Just(None), (record, any::<bool>()).prop_map(Some)]
}

const NOW: Time = Time::from_millis(10_000);

/// A store's disk whose key `Key(1)` holds `prior` (`true`: written more than a window ago).
fn disk_with(prior: Option<(Record, bool)>) -> StoreDisk {
    let mut disk = StoreDisk::default();
    if let Some((record, old)) = prior {
        let written = if old {
            NOW - WINDOW - Duration::from_millis(1)
        } else {
            NOW - Duration::from_millis(1)
        };
        disk.records.insert(Key(1), (record, written));
    }
    disk
}

/// Whether the key is free before the step, by the rule itself (not by asking the store): no
/// record, or a `Done` one written more than a window ago. A `Pending` record never expires.
fn free(prior: &Option<(Record, bool)>) -> bool {
    match prior {
        None => true,
        Some((Record::Done { .. }, old)) => *old,
        Some((Record::Pending { .. }, _)) => false,
    }
}

/// What the key holds before the step, by the same rule: `None` if free.
fn held(prior: &Option<(Record, bool)>) -> Option<Record> {
    if free(prior) {
        None
    } else {
        prior.map(|(record, _)| record)
    }
}

fn describe(prior: &Option<(Record, bool)>) -> String {
    match prior {
        None => "no record".into(),
        Some((record, true)) => format!("{record:?}, written more than a window ago"),
        Some((record, false)) => format!("{record:?}"),
    }
}

#[test]
fn begin_takes_the_key() {
    Property::new(
        "begin: the begin transaction takes the key only if it is free (no record, or an expired \
         one), and then leaves it Pending for this payment, owned by this front; it never moves \
         money, and it is one transaction, so two begins cannot both take a key",
    )
    .cases(300)
    .replay_command("cargo test -p idempotency --test step1_steps begin_takes_the_key")
    .book("book/src/05-idempotency.md#begin")
    .check_inputs(
        (prior_records(), payments(), fronts(), fronts()),
        |(prior, payment, me, other)| {
            let txn = begin(Key(1), *payment, *me);
            if txn.key != Key(1) {
                return Err(format!(
                    "begin(Key(1), ..) made a transaction on {:?}",
                    txn.key
                ));
            }
            let mut disk = disk_with(*prior);
            let live = held(prior);
            let (applied, after) = disk.apply(&txn, NOW, WINDOW);
            let mine = Record::Pending {
                payment: *payment,
                owner: *me,
            };
            if live.is_none() && (!applied || after != Some(mine)) {
                return Err(format!(
                    "with {} under the key, begin by {me} left {after:?} (applied: {applied}); \
                     a free key must end up {mine:?}",
                    describe(prior)
                ));
            }
            if live.is_some() && (applied || after != live) {
                return Err(format!(
                    "with {} under the key, begin by {me} applied ({applied}) and left \
                     {after:?}: a key someone holds must be left as it is",
                    describe(prior)
                ));
            }
            if !disk.credits.is_empty() {
                return Err(format!(
                    "with {} under the key, begin credited {:?}: taking a payment on moves no \
                     money",
                    describe(prior),
                    disk.credits
                ));
            }
            // A second begin, by either front, right after: the key is taken now.
            let again = begin(Key(1), *payment, *other);
            let (second, _) = disk.apply(&again, NOW, WINDOW);
            if second {
                return Err(format!(
                    "with {} under the key, a begin by {me} and then one by {other} both \
                     applied: two attempts at once would both go on to charge",
                    describe(prior)
                ));
            }
            Ok(())
        },
    );
}

#[test]
fn finish_ends_it_once() {
    Property::new(
        "finish: the finish transaction applies only while the key is Pending, and then, in the \
         same write, records Done with the answer and credits the payment if it was approved \
         (and only then); applied twice, it credits once",
    )
    .cases(300)
    .replay_command("cargo test -p idempotency --test step1_steps finish_ends_it_once")
    .book("book/src/05-idempotency.md#finish")
    .check_inputs(
        (prior_records(), payments(), answers()),
        |(prior, payment, answer)| {
            let txn: Txn = finish(Key(1), *payment, *answer);
            if txn.key != Key(1) {
                return Err(format!(
                    "finish(Key(1), ..) made a transaction on {:?}",
                    txn.key
                ));
            }
            let mut disk = disk_with(*prior);
            let live = held(prior);
            let (applied, after) = disk.apply(&txn, NOW, WINDOW);
            let pending = matches!(live, Some(Record::Pending { .. }));
            let credits_due = usize::from(matches!(answer, Answer::Approved { .. }));
            if pending {
                let done = Record::Done {
                    payment: *payment,
                    answer: *answer,
                };
                if !applied || after != Some(done) {
                    return Err(format!(
                        "with {} under the key, finish with {answer:?} left {after:?} (applied: \
                         {applied}): it must record {done:?}, in the same transaction as the \
                         credit, so that no crash can come between them",
                        describe(prior)
                    ));
                }
                if disk.credits.len() != credits_due {
                    return Err(format!(
                        "with {} under the key, finish with {answer:?} credited {} times: an \
                         approved payment is credited once, a declined one not at all",
                        describe(prior),
                        disk.credits.len()
                    ));
                }
                if let Some((_, credited, _)) = disk.credits.first()
                    && credited != payment
                {
                    return Err(format!(
                        "finish credited {credited:?}, not the payment {payment:?}"
                    ));
                }
            } else if applied || !disk.credits.is_empty() || after != live {
                return Err(format!(
                    "with {} under the key, finish with {answer:?} applied ({applied}), left \
                     {after:?} and credited {:?}: only a Pending key is finished; anything else \
                     was finished already, or was never begun",
                    describe(prior),
                    disk.credits
                ));
            }
            let before = disk.credits.len();
            let (twice, _) = disk.apply(&txn, NOW, WINDOW);
            if twice || disk.credits.len() != before {
                return Err(format!(
                    "with {} under the key, the same finish applied a second time (a resend, \
                     or a duplicate from the network) and credited again",
                    describe(prior)
                ));
            }
            Ok(())
        },
    );
}

/// The answer the rules give, written out case by case.
fn expected_next(me: NodeId, payment: &Payment, applied: bool, record: Option<&Record>) -> Next {
    if applied {
        return Next::Charge;
    }
    match record {
        Some(r) if r.payment() != payment => Next::Answer(Reply::KeyReused),
        Some(Record::Done { answer, .. }) => Next::Answer(Reply::Paid(*answer)),
        Some(Record::Pending { owner, .. }) if *owner == me => Next::Charge,
        Some(Record::Pending { .. }) => Next::Answer(Reply::InProgress),
        None => Next::Charge,
    }
}

#[test]
fn after_begin_decides() {
    Property::new(
        "after-begin: a begin that applied leads to the charge; one that did not, to the first \
         answer again if the key is Done for this payment, to KeyReused if it holds another \
         payment, to InProgress if another front holds it Pending, and to the charge if this \
         front does (its own begin, from before a crash)",
    )
    .cases(400)
    .replay_command("cargo test -p idempotency --test step1_steps after_begin_decides")
    .book("book/src/05-idempotency.md#after-begin")
    .check_inputs(
        (fronts(), payments(), prior_records()),
        |(me, payment, prior)| {
            let mut disk = disk_with(*prior);
            let (applied, after) = disk.apply(
                &Txn {
                    key: Key(1),
                    when: Expect::Absent,
                    write: Some(Record::Pending {
                        payment: *payment,
                        owner: *me,
                    }),
                    credit: None,
                },
                NOW,
                WINDOW,
            );
            let got = after_begin(*me, payment, applied, after.as_ref());
            let expected = expected_next(*me, payment, applied, after.as_ref());
            if got != expected {
                return Err(format!(
                    "{me} began {payment:?}; the store answered applied: {applied}, record: \
                     {after:?}; after_begin said {got:?}, and the rules say {expected:?}"
                ));
            }
            Ok(())
        },
    );
}
