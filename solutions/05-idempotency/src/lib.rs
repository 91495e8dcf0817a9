//! The reference solution of chapter 5, *Exactly once, or twice*: a payment service of two
//! front nodes that charge cards through a processor and credit balances in a shared store,
//! keyed by the client's idempotency key so that every retry is safe to do twice, across
//! crashes. Same API and documentation as the exercise (`exercises/05-idempotency`), whose
//! tests it runs unchanged.
//!
//! Cargo features swap in the classic mistakes the tests must reject (see `course.toml` for
//! what each is and which property rejects it).

pub mod tables;

use sim::{Context, Node, NodeId, OpId, Time, TimerId};
use std::collections::BTreeMap;
use std::time::Duration;

/// The first front of the payment service: it takes clients' payments.
pub const FRONT_A: NodeId = NodeId(0);
/// The second front: the same service, on another machine.
pub const FRONT_B: NodeId = NodeId(1);
/// Both fronts, in the order the client tries them.
pub const FRONTS: [NodeId; 2] = [FRONT_A, FRONT_B];
/// The store both fronts share: idempotency records and balances, durable (given).
pub const STORE: NodeId = NodeId(2);
/// The card processor, outside the service: it moves the money (given).
pub const PROCESSOR: NodeId = NodeId(3);
/// The client that takes users' payments and retries them.
pub const CLIENT: NodeId = NodeId(4);
/// How many nodes a run has.
pub const NODES: u32 = 5;

// ANCHOR: config
/// How long things wait, and how long keys live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayConfig {
    /// How long the client waits for the answer to one attempt before it sends the next.
    pub timeout: Duration,
    /// The client sends no attempt of a payment later than this after the payment's first.
    pub give_up_after: Duration,
    /// How long a front waits for the store or the processor before it sends the same step
    /// again.
    pub resend_after: Duration,
    /// How long the store keeps a finished key: after this, the key is unknown again.
    pub window: Duration,
}

impl Default for PayConfig {
    /// A 60 ms timeout, giving up 600 ms after the first attempt, resending a step after 30 ms,
    /// keys kept for 2 s.
    fn default() -> PayConfig {
        PayConfig {
            timeout: Duration::from_millis(60),
            give_up_after: Duration::from_millis(600),
            resend_after: Duration::from_millis(30),
            window: Duration::from_secs(2),
        }
    }
}
// ANCHOR_END: config

// ANCHOR: types
/// An idempotency key: chosen by the client, one per payment a user asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(pub u64);

/// A customer account: its balance is what the customer has paid in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Account(pub u32);

/// The processor's name for one charge of a card.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChargeId(pub u64);

/// What a user asked for: take `amount` (in cents) from the card of `account` and add it to
/// the account's balance. `order` is the shop's number for it, unique per request.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Payment {
    pub order: u64,
    pub account: Account,
    pub amount: u64,
}

/// Short, for timelines: `order 3: 1200 to Account(1)`.
impl std::fmt::Debug for Payment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "order {}: {} to {:?}",
            self.order, self.amount, self.account
        )
    }
}

/// What became of a payment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Answer {
    /// The card was charged (once) and the balance credited.
    Approved { charge: ChargeId },
    /// The card was not charged.
    Declined,
}

/// What the store holds under a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record {
    /// `owner` took the payment on and has not finished it.
    Pending { payment: Payment, owner: NodeId },
    /// The payment is over; `answer` is what every attempt of it gets.
    Done { payment: Payment, answer: Answer },
}

impl Record {
    /// The payment the record is about.
    pub fn payment(&self) -> &Payment {
        match self {
            Record::Pending { payment, .. } | Record::Done { payment, .. } => payment,
        }
    }
}

/// When a transaction applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Whatever the key holds.
    Anything,
    /// Only if the key holds no record (or only one that has expired).
    Absent,
    /// Only if the key holds a `Pending` record.
    Pending,
}

/// One transaction of the store: all of it happens, in one durable write, or none of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Txn {
    pub key: Key,
    /// What the key must hold for the transaction to apply.
    pub when: Expect,
    /// The record to leave under the key, if any.
    pub write: Option<Record>,
    /// A payment whose amount to add to its account's balance, if any.
    pub credit: Option<Payment>,
}

/// Which step of a payment a transaction is, echoed in the store's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Begin,
    Finish,
}

/// What a front tells the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// The payment is over: this is its answer.
    Paid(Answer),
    /// Another attempt of this payment is being worked on: ask again later.
    InProgress,
    /// The key belongs to a different payment: nothing was done.
    KeyReused,
}

/// What the nodes send each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Msg {
    /// Client to front: one attempt of a payment.
    Pay { key: Key, payment: Payment },
    /// Front to client.
    Reply { key: Key, reply: Reply },
    /// Front to store.
    Txn { step: Step, txn: Txn },
    /// Store to front: whether the transaction applied, and the key's record after it.
    TxnDone {
        step: Step,
        key: Key,
        applied: bool,
        record: Option<Record>,
    },
    /// Front to processor: charge the card, once per `reference`.
    Charge { reference: Key, payment: Payment },
    /// Processor to front.
    Charged { reference: Key, answer: Answer },
}

/// The nodes' timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// The client: attempt `attempt` of the payment under `key` has had `timeout`.
    Attempt { key: Key, attempt: u32 },
    /// A front: the step it took for `key` (its `turn`-th) has had `resend_after`.
    Resend { key: Key, turn: u64 },
}

/// What the user gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Approved {
        charge: ChargeId,
    },
    Declined,
    /// The service refused the key.
    Refused,
    /// No answer came in time: the payment may or may not have happened.
    Unknown,
}
// ANCHOR_END: types

/// The most the processor approves in one charge; larger ones are declined.
pub const CARD_LIMIT: u64 = 5_000;

// ANCHOR: store
/// What the store keeps on disk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreDisk {
    /// Each key's record, and when it was written.
    pub records: BTreeMap<Key, (Record, Time)>,
    /// Each account's balance.
    pub balances: BTreeMap<Account, u64>,
    /// Every credit it applied, in order: (key of the transaction, payment, when).
    pub credits: Vec<(Key, Payment, Time)>,
}

impl StoreDisk {
    /// The record under `key` at `now`: a `Done` record older than `window` counts as none.
    pub fn live(&self, key: Key, now: Time, window: Duration) -> Option<Record> {
        let (record, written) = self.records.get(&key)?;
        match record {
            Record::Done { .. } if now >= *written + window => None,
            _ => Some(*record),
        }
    }

    /// Applies `txn` at `now` if its key holds what it expects, all of it at once: returns
    /// whether it applied, and the key's record afterwards.
    pub fn apply(&mut self, txn: &Txn, now: Time, window: Duration) -> (bool, Option<Record>) {
        let current = self.live(txn.key, now, window);
        let applies = match txn.when {
            Expect::Anything => true,
            Expect::Absent => current.is_none(),
            Expect::Pending => matches!(current, Some(Record::Pending { .. })),
        };
        if !applies {
            return (false, current);
        }
        if let Some(record) = txn.write {
            self.records.insert(txn.key, (record, now));
        }
        if let Some(payment) = txn.credit {
            *self.balances.entry(payment.account).or_insert(0) += payment.amount;
            self.credits.push((txn.key, payment, now));
        }
        (true, self.live(txn.key, now, window))
    }
}

/// The store: applies each transaction it receives, durably, and answers with the result.
#[derive(Debug)]
pub struct Store {
    pub config: PayConfig,
}

impl Store {
    fn on_txn(&self, ctx: &mut Context<'_, Service>, from: NodeId, step: Step, txn: Txn) {
        let now = ctx.now();
        let (applied, record) = ctx.durable_mut().store.apply(&txn, now, self.config.window);
        ctx.send(
            from,
            Msg::TxnDone {
                step,
                key: txn.key,
                applied,
                record,
            },
        );
    }
}
// ANCHOR_END: store

// ANCHOR: processor
/// What the processor keeps on disk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcessorDisk {
    /// The answer it gave each reference.
    pub answers: BTreeMap<Key, Answer>,
    /// Every charge it made, in order: (charge, reference, payment, when).
    pub charges: Vec<(ChargeId, Key, Payment, Time)>,
}

/// The card processor: it charges a card at most once per reference (a second `Charge` with
/// a reference it has seen gets the first answer again), and declines more than
/// [`CARD_LIMIT`].
#[derive(Debug)]
pub struct Processor;

impl Processor {
    fn on_charge(
        &self,
        ctx: &mut Context<'_, Service>,
        from: NodeId,
        reference: Key,
        payment: Payment,
    ) {
        let now = ctx.now();
        let disk = &mut ctx.durable_mut().processor;
        let answer = match disk.answers.get(&reference) {
            Some(answer) => *answer,
            None => {
                let answer = if payment.amount > CARD_LIMIT {
                    Answer::Declined
                } else {
                    let charge = ChargeId(disk.charges.len() as u64 + 1);
                    disk.charges.push((charge, reference, payment, now));
                    Answer::Approved { charge }
                };
                disk.answers.insert(reference, answer);
                answer
            }
        };
        ctx.send(from, Msg::Charged { reference, answer });
    }
}
// ANCHOR_END: processor

/// What a front keeps on disk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FrontDisk {
    /// The payments it took on and has not answered yet, and whom to answer.
    pub in_flight: BTreeMap<Key, (Payment, NodeId)>,
    /// The mistake of keeping idempotency records per front: this front's own.
    #[cfg(feature = "mistake-keys-per-node")]
    pub mine: BTreeMap<Key, Answer>,
}

/// What every node keeps on disk; each uses its own part.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Disk {
    pub store: StoreDisk,
    pub processor: ProcessorDisk,
    pub front: FrontDisk,
}

// ANCHOR: steps
/// The first step of a payment: the transaction that takes it on, before any money moves.
/// Two attempts under one key can run it at the same moment, one on each front: of all the
/// attempts that ever run it for a key, at most one may find that it applied. What it leaves
/// under the key must tell anyone who reads it later, the front itself after a crash among
/// them, which payment it is and whose it is to charge.
pub fn begin(key: Key, payment: Payment, me: NodeId) -> Txn {
    #[cfg(feature = "mistake-check-then-act")]
    {
        // Reads the key and writes nothing: two attempts at once both find it free.
        let _ = (payment, me);
        Txn {
            key,
            when: Expect::Anything,
            write: None,
            credit: None,
        }
    }
    #[cfg(not(feature = "mistake-check-then-act"))]
    Txn {
        key,
        when: Expect::Absent,
        write: Some(Record::Pending { payment, owner: me }),
        credit: None,
    }
}

/// The last step: the transaction that ends the payment with `answer`. The answer and the
/// money it stands for are one fact: if a crash could fall between writing one and writing the
/// other, a retry would find the payment unfinished and charge again (Twilio's bug). It will
/// be sent more than once (resends, a front that restarted), and it must end a payment only
/// once, and only one that was taken on. A balance is what the customer really paid in.
pub fn finish(key: Key, payment: Payment, answer: Answer) -> Txn {
    let credit = match answer {
        Answer::Approved { .. } => Some(payment),
        Answer::Declined => None,
    };
    #[cfg(any(feature = "mistake-check-then-act", feature = "drill-blind-finish"))]
    let when = Expect::Anything;
    #[cfg(not(any(feature = "mistake-check-then-act", feature = "drill-blind-finish")))]
    let when = Expect::Pending;
    #[cfg(feature = "mistake-record-after-effect")]
    {
        // The credit alone; the record follows in a transaction of its own (record_after).
        let _ = when;
        Txn {
            key,
            when: Expect::Pending,
            write: None,
            credit,
        }
    }
    #[cfg(not(feature = "mistake-record-after-effect"))]
    Txn {
        key,
        when,
        write: Some(Record::Done { payment, answer }),
        credit,
    }
}

/// What a front does after its `begin` came back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Charge the card (with the key as the processor's reference).
    Charge,
    /// Answer the client now.
    Answer(Reply),
}

/// Decides what follows a `begin` for `payment` sent by front `me`, from whether it `applied`
/// and the key's `record` after it. A front charges only a payment that is its own to charge,
/// and a begin that did not apply may still be its own: its first copy, or a begin from before
/// a crash, may have applied. Every other attempt is answered with what the record says of
/// this key, in the terms of [`Reply`]; a key cannot stand for two different payments.
pub fn after_begin(me: NodeId, payment: &Payment, applied: bool, record: Option<&Record>) -> Next {
    if applied {
        return Next::Charge;
    }
    match record {
        Some(record) if record.payment() != payment => Next::Answer(Reply::KeyReused),
        Some(Record::Done { answer, .. }) => Next::Answer(Reply::Paid(*answer)),
        Some(Record::Pending { owner, .. }) if *owner == me => Next::Charge,
        Some(Record::Pending { .. }) => Next::Answer(Reply::InProgress),
        // Not applied yet nothing there: only an `Absent` begin can find that, and it would
        // have applied; charging is what it would have led to.
        None => Next::Charge,
    }
}
// ANCHOR_END: steps

/// Where a front is with one payment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the store's answer to `begin`.
    Beginning,
    /// Waiting for the processor.
    Charging,
    /// Waiting for the store's answer to `finish`, which ends with `answer`.
    Finishing { answer: Answer },
    /// The mistake's extra step: waiting for the record after the credit.
    #[cfg(feature = "mistake-record-after-effect")]
    Recording { answer: Answer },
}

/// One payment a front works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Work {
    pub payment: Payment,
    /// Whom to answer.
    pub client: NodeId,
    pub phase: Phase,
    /// Counts the steps taken, so that a `Resend` timer of an earlier step does nothing.
    pub turn: u64,
    /// The resend timer of the step it is at.
    pub timer: Option<TimerId>,
}

/// A front of the payment service. Its volatile state is what it is working on; what it took
/// on is also in [`FrontDisk`], so that it finishes it after a crash.
#[derive(Debug)]
pub struct Front {
    pub me: NodeId,
    pub config: PayConfig,
    pub work: BTreeMap<Key, Work>,
}

/// The client: one per shop, it turns each user's payment into attempts under one key.
#[derive(Debug)]
pub struct Client {
    pub config: PayConfig,
    pub next_key: u64,
    pub payments: BTreeMap<Key, Attempts>,
}

/// A payment the client is working on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attempts {
    /// The user's request.
    pub op: OpId,
    pub payment: Payment,
    /// When the first attempt went out.
    pub first_at: Time,
    /// The attempt sent last (0 is the first).
    pub attempt: u32,
}

/// One node of the service, by its id: a front ([`FRONTS`]), the [`STORE`], the
/// [`PROCESSOR`] or the [`CLIENT`].
#[derive(Debug)]
pub enum Service {
    Front(Front),
    Store(Store),
    Processor(Processor),
    Client(Client),
}

impl Service {
    /// The node `id`, in a run with `config`.
    pub fn new(id: NodeId, config: PayConfig) -> Service {
        match id {
            STORE => Service::Store(Store { config }),
            PROCESSOR => Service::Processor(Processor),
            CLIENT => Service::Client(Client {
                config,
                next_key: 0,
                payments: BTreeMap::new(),
            }),
            me => Service::Front(Front {
                me,
                config,
                work: BTreeMap::new(),
            }),
        }
    }
}

impl Node for Service {
    type Msg = Msg;
    type Timer = Timer;
    type Request = Payment;
    type Response = Outcome;
    type Durable = Disk;

    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        if let Service::Front(front) = self {
            front.on_start(ctx);
        }
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: Msg) {
        match (self, msg) {
            (Service::Store(store), Msg::Txn { step, txn }) => store.on_txn(ctx, from, step, txn),
            (Service::Processor(processor), Msg::Charge { reference, payment }) => {
                processor.on_charge(ctx, from, reference, payment)
            }
            (Service::Front(front), Msg::Pay { key, payment }) => {
                front.on_pay(ctx, from, key, payment)
            }
            (
                Service::Front(front),
                Msg::TxnDone {
                    step,
                    key,
                    applied,
                    record,
                },
            ) => front.on_txn_done(ctx, step, key, applied, record),
            (Service::Front(front), Msg::Charged { reference, answer }) => {
                front.on_charged(ctx, reference, answer)
            }
            (Service::Client(client), Msg::Reply { key, reply }) => {
                client.on_reply(ctx, key, reply)
            }
            (_, msg) => ctx.note(format!("unexpected {msg:?} from {from}")),
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, timer: Timer) {
        match (self, timer) {
            (Service::Client(client), Timer::Attempt { key, attempt }) => {
                client.on_attempt_timer(ctx, key, attempt)
            }
            (Service::Front(front), Timer::Resend { key, turn }) => front.on_resend(ctx, key, turn),
            _ => {}
        }
    }

    fn on_request(&mut self, ctx: &mut Context<'_, Self>, op: OpId, payment: Payment) {
        match self {
            Service::Client(client) => client.on_request(ctx, op, payment),
            _ => ctx.reply(op, Outcome::Unknown),
        }
    }
}

impl Front {
    /// The processor's reference for the charge of `key`.
    fn reference(&self, key: Key) -> Key {
        #[cfg(feature = "mistake-keys-per-node")]
        {
            // Each front names its own charges: the other front's attempt is a new charge.
            Key(key.0 | (u64::from(self.me.0) + 1) << 48)
        }
        #[cfg(not(feature = "mistake-keys-per-node"))]
        key
    }

    /// The key under which this front keeps `key`'s record in the store.
    fn store_key(&self, key: Key) -> Key {
        self.reference(key)
    }

    /// Sends the message of the step `work` is at, and arms its resend timer.
    fn send_step(&mut self, ctx: &mut Context<'_, Service>, key: Key) {
        let store_key = self.store_key(key);
        let reference = self.reference(key);
        let Some(work) = self.work.get_mut(&key) else {
            return;
        };
        work.turn += 1;
        let msg = match work.phase {
            Phase::Beginning => Msg::Txn {
                step: Step::Begin,
                txn: begin(store_key, work.payment, self.me),
            },
            Phase::Charging => Msg::Charge {
                reference,
                payment: work.payment,
            },
            Phase::Finishing { answer } => Msg::Txn {
                step: Step::Finish,
                txn: finish(store_key, work.payment, answer),
            },
            #[cfg(feature = "mistake-record-after-effect")]
            Phase::Recording { answer } => Msg::Txn {
                step: Step::Finish,
                txn: Txn {
                    key: store_key,
                    when: Expect::Anything,
                    write: Some(Record::Done {
                        payment: work.payment,
                        answer,
                    }),
                    credit: None,
                },
            },
        };
        let target = if matches!(work.phase, Phase::Charging) {
            PROCESSOR
        } else {
            STORE
        };
        let turn = work.turn;
        if let Some(timer) = work.timer.take() {
            ctx.cancel_timer(timer);
        }
        ctx.send(target, msg);
        work.timer = Some(ctx.set_timer(self.config.resend_after, Timer::Resend { key, turn }));
    }

    // ANCHOR: front
    /// After a start or a restart: take up again every payment on disk, from its `begin`.
    pub fn on_start(&mut self, ctx: &mut Context<'_, Service>) {
        #[cfg(feature = "mistake-no-resume")]
        let resume: Vec<(Key, (Payment, NodeId))> = Vec::new();
        #[cfg(not(feature = "mistake-no-resume"))]
        let resume: Vec<(Key, (Payment, NodeId))> = ctx
            .durable()
            .front
            .in_flight
            .iter()
            .map(|(k, v)| (*k, *v))
            .collect();
        for (key, (payment, client)) in resume {
            self.start(ctx, key, payment, client);
        }
    }

    fn start(
        &mut self,
        ctx: &mut Context<'_, Service>,
        key: Key,
        payment: Payment,
        client: NodeId,
    ) {
        self.work.insert(
            key,
            Work {
                payment,
                client,
                phase: Phase::Beginning,
                turn: 0,
                timer: None,
            },
        );
        self.send_step(ctx, key);
    }

    /// An attempt from a client. A crash can come between any two of the front's actions, and
    /// whatever it sent before the crash may still land: nothing may leave the front for a
    /// payment that its disk does not hold. A second attempt of a payment the front is already
    /// working on must not start the work a second time; its sender gets the answer when the
    /// work ends.
    pub fn on_pay(
        &mut self,
        ctx: &mut Context<'_, Service>,
        from: NodeId,
        key: Key,
        payment: Payment,
    ) {
        if self.work.contains_key(&key) {
            return;
        }
        #[cfg(feature = "mistake-keys-per-node")]
        if let Some(answer) = ctx.durable().front.mine.get(&key).copied() {
            ctx.send(
                from,
                Msg::Reply {
                    key,
                    reply: Reply::Paid(answer),
                },
            );
            return;
        }
        ctx.durable_mut()
            .front
            .in_flight
            .insert(key, (payment, from));
        self.start(ctx, key, payment, from);
    }

    /// The store's answer to a step. A `begin` leads where [`after_begin`] says. Every answer
    /// can come late or twice (resends, duplicates), so only the answer to the step the payment
    /// is at may move it. A `finish` that did not apply was not the one that ended the payment:
    /// the client must get the answer the store recorded, which is the one every other attempt
    /// gets. Ending a payment answers whoever sent it (`Msg::Reply`) and forgets it, on disk
    /// too, so that a restart does not take it up again.
    pub fn on_txn_done(
        &mut self,
        ctx: &mut Context<'_, Service>,
        step: Step,
        key: Key,
        applied: bool,
        record: Option<Record>,
    ) {
        let key = self.client_key(key);
        let Some(work) = self.work.get(&key).copied() else {
            return;
        };
        match (step, work.phase) {
            (Step::Begin, Phase::Beginning) => {
                // The mistake's begin writes nothing and always applies: all it learns is
                // whether a record was there when it looked.
                #[cfg(feature = "mistake-check-then-act")]
                let applied = record.is_none();
                match after_begin(self.me, &work.payment, applied, record.as_ref()) {
                    Next::Charge => self.advance(ctx, key, Phase::Charging),
                    Next::Answer(reply) => self.end(ctx, key, reply),
                }
            }
            (Step::Finish, Phase::Finishing { answer }) => {
                #[cfg(feature = "mistake-record-after-effect")]
                {
                    let _ = (applied, record);
                    self.advance(ctx, key, Phase::Recording { answer });
                }
                #[cfg(not(feature = "mistake-record-after-effect"))]
                {
                    let answer = match (applied, record) {
                        (false, Some(Record::Done { answer, .. })) => answer,
                        _ => answer,
                    };
                    self.end(ctx, key, Reply::Paid(answer));
                }
            }
            #[cfg(feature = "mistake-record-after-effect")]
            (Step::Finish, Phase::Recording { answer }) => self.end(ctx, key, Reply::Paid(answer)),
            _ => {}
        }
    }

    /// The processor's answer: the payment moves on to `finish` with it.
    pub fn on_charged(&mut self, ctx: &mut Context<'_, Service>, reference: Key, answer: Answer) {
        let key = self.client_key(reference);
        if self
            .work
            .get(&key)
            .is_some_and(|w| w.phase == Phase::Charging)
        {
            self.advance(ctx, key, Phase::Finishing { answer });
        }
    }

    /// A step has had `resend_after` with no answer: send it again. Every step is safe to
    /// repeat, so repeating is how the front gets past a lost message. Each step arms a
    /// `Resend` timer with a `turn` of its own (any count that never repeats for a key will
    /// do); the timer of a step the payment has moved on from does nothing.
    pub fn on_resend(&mut self, ctx: &mut Context<'_, Service>, key: Key, turn: u64) {
        if self.work.get(&key).is_some_and(|w| w.turn == turn) {
            self.send_step(ctx, key);
        }
    }
    // ANCHOR_END: front

    /// The client's key of a store key or reference this front made.
    fn client_key(&self, key: Key) -> Key {
        #[cfg(feature = "mistake-keys-per-node")]
        {
            Key(key.0 & ((1 << 48) - 1))
        }
        #[cfg(not(feature = "mistake-keys-per-node"))]
        key
    }

    fn advance(&mut self, ctx: &mut Context<'_, Service>, key: Key, phase: Phase) {
        if let Some(work) = self.work.get_mut(&key) {
            work.phase = phase;
        }
        self.send_step(ctx, key);
    }

    /// Answers the client and forgets the payment, on disk too.
    fn end(&mut self, ctx: &mut Context<'_, Service>, key: Key, reply: Reply) {
        let Some(work) = self.work.remove(&key) else {
            return;
        };
        if let Some(timer) = work.timer {
            ctx.cancel_timer(timer);
        }
        let disk = &mut ctx.durable_mut().front;
        disk.in_flight.remove(&key);
        #[cfg(feature = "mistake-keys-per-node")]
        if let Reply::Paid(answer) = reply {
            disk.mine.insert(key, answer);
        }
        ctx.send(work.client, Msg::Reply { key, reply });
    }
}

impl Client {
    /// The front attempt `attempt` of the payment under `key` goes to: the fronts in turn,
    /// starting from `FRONTS[key mod 2]`, so that each retry tries the other.
    pub fn front_for(key: Key, attempt: u32) -> NodeId {
        FRONTS[((key.0 + u64::from(attempt)) % FRONTS.len() as u64) as usize]
    }

    fn send_attempt(&mut self, ctx: &mut Context<'_, Service>, key: Key, attempt: u32) {
        let Some(payment) = self.payments.get(&key).map(|p| p.payment) else {
            return;
        };
        ctx.send(Client::front_for(key, attempt), Msg::Pay { key, payment });
        ctx.set_timer(self.config.timeout, Timer::Attempt { key, attempt });
    }

    // ANCHOR: client
    /// A user's payment: a new key for it (the client's keys count from `Key(0)`), and its
    /// first attempt (`Msg::Pay` to [`Client::front_for`]), with a `Timer::Attempt` armed for
    /// `timeout`.
    pub fn on_request(&mut self, ctx: &mut Context<'_, Service>, op: OpId, payment: Payment) {
        let key = Key(self.next_key);
        self.next_key += 1;
        self.payments.insert(
            key,
            Attempts {
                op,
                payment,
                first_at: ctx.now(),
                attempt: 0,
            },
        );
        self.send_attempt(ctx, key, 0);
    }

    /// A front's reply. `Paid` and `KeyReused` end the payment, and the user gets the answer
    /// (`Refused` for `KeyReused`); `InProgress` is no answer (the attempt timer will try
    /// again), nor is a reply to a payment already over.
    pub fn on_reply(&mut self, ctx: &mut Context<'_, Service>, key: Key, reply: Reply) {
        let outcome = match reply {
            Reply::Paid(Answer::Approved { charge }) => Outcome::Approved { charge },
            Reply::Paid(Answer::Declined) => Outcome::Declined,
            Reply::KeyReused => Outcome::Refused,
            Reply::InProgress => return,
        };
        if let Some(payment) = self.payments.remove(&key) {
            ctx.reply(payment.op, outcome);
        }
    }

    /// The timer of attempt `attempt`: if the payment is still waiting on that attempt, the
    /// next attempt goes out now, to the next front, with the same key and a timer of its own;
    /// unless it would go out later than `give_up_after` after the first (exactly at it is
    /// still in time), and then the user gets `Unknown` and the note `give up Key(N)` (the
    /// key's `Debug`).
    pub fn on_attempt_timer(&mut self, ctx: &mut Context<'_, Service>, key: Key, attempt: u32) {
        let Some(payment) = self.payments.get(&key).copied() else {
            return;
        };
        if payment.attempt != attempt {
            return;
        }
        #[cfg(feature = "mistake-retry-past-window")]
        let late = false;
        #[cfg(not(feature = "mistake-retry-past-window"))]
        let late = ctx.now() > payment.first_at + self.config.give_up_after;
        if late {
            self.payments.remove(&key);
            ctx.note(format!("give up {key:?}"));
            ctx.reply(payment.op, Outcome::Unknown);
            return;
        }
        #[cfg(feature = "mistake-new-key-per-retry")]
        {
            // A fresh key for the retry; the payment moves under it.
            let fresh = Key(self.next_key);
            self.next_key += 1;
            self.payments.remove(&key);
            self.payments.insert(
                fresh,
                Attempts {
                    attempt: attempt + 1,
                    ..payment
                },
            );
            self.send_attempt(ctx, fresh, attempt + 1);
        }
        #[cfg(not(feature = "mistake-new-key-per-retry"))]
        {
            if let Some(p) = self.payments.get_mut(&key) {
                p.attempt = attempt + 1;
            }
            self.send_attempt(ctx, key, attempt + 1);
        }
    }
    // ANCHOR_END: client
}
