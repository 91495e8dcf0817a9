//! Chapter 5 of *Distributed Systems, Like It or Not*: **Exactly once, or twice**.
//!
//! A payment service of two fronts ([`FRONT_A`], [`FRONT_B`]) takes users' payments from a
//! [`Client`], charges cards through a [`Processor`] and credits balances in a [`Store`] that
//! both fronts share. A timeout does not tell the client whether a payment happened, so it
//! retries, through the other front, under the same idempotency key; the fronts make every
//! retry safe to do twice, across crashes. The store and the processor are given; you write
//! the steps of a payment ([`begin`], [`finish`], [`after_begin`]), then the [`Front`] and the
//! [`Client`].
//!
//! Read the chapter first (`cargo xtask serve`, then chapter 5). Every `todo!()` says what to
//! decide. `cargo test` runs the steps in order; `cargo test --test step1_steps` runs one.

use sim::{Context, Node, NodeId, OpId, Time};
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
    let _ = (key, payment, me);
    todo!(
        "step 1: when may a payment be taken on, and what must the key hold afterwards so that no other attempt takes it too?"
    )
}

/// The last step: the transaction that ends the payment with `answer`. The answer and the
/// money it stands for are one fact: if a crash could fall between writing one and writing the
/// other, a retry would find the payment unfinished and charge again (Twilio's bug). It will
/// be sent more than once (resends, a front that restarted), and it must end a payment only
/// once, and only one that was taken on. A balance is what the customer really paid in.
pub fn finish(key: Key, payment: Payment, answer: Answer) -> Txn {
    let _ = (key, payment, answer);
    todo!(
        "step 1: what must be written together with the credit, so that no crash can fall between them, and when must it not apply at all?"
    )
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
    let _ = (me, payment, applied, record);
    todo!(
        "step 1: for each thing the key can hold, is this payment ours to charge, over, someone else's, or not this payment at all?"
    )
}
// ANCHOR_END: steps

/// A front of the payment service. Its volatile state is what it is working on (add the
/// fields you need, and set them up in [`Front::new`]); what it took on must also be on its
/// disk ([`FrontDisk`]), so that it finishes it after a crash.
#[derive(Debug)]
pub struct Front {
    pub me: NodeId,
    pub config: PayConfig,
}

/// The client: one per shop, it turns each user's payment into attempts under one key. Add
/// the fields you need, and set them up in [`Client::new`].
#[derive(Debug)]
pub struct Client {
    pub config: PayConfig,
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
            CLIENT => Service::Client(Client::new(config)),
            me => Service::Front(Front::new(me, config)),
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
    /// A front that has just started (a restart builds a new one too: only its disk survives).
    pub fn new(me: NodeId, config: PayConfig) -> Front {
        Front { me, config }
    }

    // ANCHOR: front
    /// After a start or a restart: take up again every payment on disk, from its `begin`.
    pub fn on_start(&mut self, ctx: &mut Context<'_, Service>) {
        let _ = ctx;
        todo!(
            "step 2: what did this front take on before it crashed, and which step is always safe to start it from again?"
        )
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
        let _ = (ctx, from, key, payment);
        todo!(
            "step 2: what must be on disk before anything else happens, so that a crash now does not lose the payment?"
        )
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
        let _ = (ctx, step, key, applied, record);
        todo!(
            "step 2: is this the answer to the step the payment is at, and where does it lead: the charge, or the end?"
        )
    }

    /// The processor's answer: the payment moves on to `finish` with it.
    pub fn on_charged(&mut self, ctx: &mut Context<'_, Service>, reference: Key, answer: Answer) {
        let _ = (ctx, reference, answer);
        todo!("step 2: which payment is this the charge of, and is it still waiting for it?")
    }

    /// A step has had `resend_after` with no answer: send it again. Every step is safe to
    /// repeat, so repeating is how the front gets past a lost message. Each step arms a
    /// `Resend` timer with a `turn` of its own (any count that never repeats for a key will
    /// do); the timer of a step the payment has moved on from does nothing.
    pub fn on_resend(&mut self, ctx: &mut Context<'_, Service>, key: Key, turn: u64) {
        let _ = (ctx, key, turn);
        todo!("step 2: is the payment still at the step this timer was armed for?")
    }
    // ANCHOR_END: front
}

impl Client {
    pub fn new(config: PayConfig) -> Client {
        Client { config }
    }

    /// The front attempt `attempt` of the payment under `key` goes to: the fronts in turn,
    /// starting from `FRONTS[key mod 2]`, so that each retry tries the other.
    pub fn front_for(key: Key, attempt: u32) -> NodeId {
        let _ = (key, attempt);
        todo!(
            "step 2: which front does attempt 0 go to, and how does each later attempt differ from the one before?"
        )
    }

    // ANCHOR: client
    /// A user's payment: a new key for it (the client's keys count from `Key(0)`), and its
    /// first attempt (`Msg::Pay` to [`Client::front_for`]), with a `Timer::Attempt` armed for
    /// `timeout`.
    pub fn on_request(&mut self, ctx: &mut Context<'_, Service>, op: OpId, payment: Payment) {
        let _ = (ctx, op, payment);
        todo!(
            "step 2: what identifies this payment in every attempt the client will ever send for it?"
        )
    }

    /// A front's reply. `Paid` and `KeyReused` end the payment, and the user gets the answer
    /// (`Refused` for `KeyReused`); `InProgress` is no answer (the attempt timer will try
    /// again), nor is a reply to a payment already over.
    pub fn on_reply(&mut self, ctx: &mut Context<'_, Service>, key: Key, reply: Reply) {
        let _ = (ctx, key, reply);
        todo!("step 2: which replies end the payment, and what does the user get for each?")
    }

    /// The timer of attempt `attempt`: if the payment is still waiting on that attempt, the
    /// next attempt goes out now, to the next front, with the same key and a timer of its own;
    /// unless it would go out later than `give_up_after` after the first (exactly at it is
    /// still in time), and then the user gets `Unknown` and the note `give up Key(N)` (the
    /// key's `Debug`).
    pub fn on_attempt_timer(&mut self, ctx: &mut Context<'_, Service>, key: Key, attempt: u32) {
        let _ = (ctx, key, attempt);
        todo!(
            "step 2: is this timer for the attempt the payment waits on, and is there still time to retry before the service may forget the key?"
        )
    }
    // ANCHOR_END: client
}
