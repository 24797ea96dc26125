//! Failure isolation by bisection, with fair deadlines. When a call fails (trap, deadline, memory
//! cap, too much output), its records are split in halves and each half retried (on a fresh
//! instance), until the failing records stand alone: only a record that fails alone is failed.
//! One poison record in a batch of n costs about 2·log2(n) extra calls; the rest still passes.
//!
//! A call that runs out of time also halves the largest part sent from then on, and a part that
//! takes under a quarter of the deadline doubles it again. So records that are each slow but well
//! within the deadline are never failed for their batch's total: the parts shrink until they fit
//! (a few deadlines, once) and the rest of the batch goes in parts of that size.
//!
//! A budget bounds the work: a plugin that fails on every record, or hangs on every record, must
//! not turn one batch into thousands of calls or minutes of deadlines. When the budget is spent
//! the unanswered records fail with the last failure (to quarantine: nothing is lost). A stopping
//! pipeline ends it at once: the rest are `Interrupted`, and not answered at all.

use std::ops::Range;
use std::time::{Duration, Instant};

use super::failure::Failure;
use super::verdict::Verdict;

/// The answers of one batched call: one verdict per item, or the failure of the whole call.
pub type Answers<R> = Result<Vec<Verdict<R>>, Failure>;

/// How many failed calls, and how many deadline hits, one batch may spend on isolation; and the
/// deadline, against which a part's time is judged.
#[derive(Debug, Clone)]
pub struct Budget {
    failed_calls: u32,
    deadlines: u32,
    deadline: Duration,
    /// The failure that spent the budget: every later item fails with it, without a call.
    spent: Option<Failure>,
}

impl Budget {
    /// The budget of one batch under `deadline`: 64 failed calls, of which 32 deadline hits.
    pub fn new(deadline: Duration) -> Self {
        Budget {
            failed_calls: 64,
            deadlines: 32,
            deadline,
            spent: None,
        }
    }

    /// Spends one failure; false when the budget is exhausted (or the pipeline is stopping).
    fn spend(&mut self, failure: &Failure) -> bool {
        if *failure == Failure::Interrupted || self.failed_calls == 0 || (failure.is_deadline() && self.deadlines == 0)
        {
            self.spent = Some(failure.clone());
            return false;
        }
        self.failed_calls -= 1;
        if failure.is_deadline() {
            self.deadlines -= 1;
        }
        true
    }
}

/// Runs `call` over `items` and appends one verdict per item to `out`, in order. `call` must
/// return one answer per item it is given; a length mismatch counts as a failure.
pub fn run_isolated<T, R>(
    items: &[T],
    budget: &mut Budget,
    call: &mut dyn FnMut(&[T]) -> Answers<R>,
    out: &mut Vec<Verdict<R>>,
) {
    // Parts still to answer, the leftmost on top, so answers come out in order.
    let mut pending: Vec<Range<usize>> = Vec::with_capacity(16);
    pending.push(0..items.len());
    // The largest part to send: halved after a deadline, doubled after a part well within it.
    let mut cap = items.len().max(1);
    while let Some(mut part) = pending.pop() {
        if part.is_empty() {
            continue;
        }
        if let Some(failure) = &budget.spent {
            out.extend(part.map(|_| Verdict::Failed(failure.clone())));
            continue;
        }
        if part.len() > cap {
            pending.push(part.start + cap..part.end);
            part = part.start..part.start + cap;
        }
        let started = Instant::now();
        let failure = match call(&items[part.clone()]) {
            Ok(answers) if answers.len() == part.len() => {
                out.extend(answers);
                if started.elapsed() < budget.deadline / 4 {
                    cap = cap.saturating_mul(2).min(items.len());
                }
                continue;
            }
            Ok(answers) => Failure::Contract {
                message: format!("returned {} answers for {} items", answers.len(), part.len()),
            },
            Err(failure) => failure,
        };
        if !budget.spend(&failure) {
            pending.push(part);
            continue;
        }
        if part.len() == 1 {
            out.push(Verdict::Failed(failure));
            continue;
        }
        let middle = part.start + part.len() / 2;
        if failure.is_deadline() {
            cap = middle - part.start;
        }
        pending.push(middle..part.end);
        pending.push(part.start..middle);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEADLINE: Duration = Duration::from_secs(3600);

    /// A fake plugin call that fails whenever the slice holds a poison item (a negative number).
    fn fake(calls: &mut u32) -> impl FnMut(&[i32]) -> Result<Vec<Verdict<i32>>, Failure> + '_ {
        move |items| {
            *calls += 1;
            if items.iter().any(|x| *x < 0) {
                Err(Failure::Trap {
                    message: "poison".into(),
                })
            } else {
                Ok(items.iter().map(|x| Verdict::Ok(*x)).collect())
            }
        }
    }

    #[test]
    fn one_poison_item_in_a_thousand_fails_alone() {
        for at in [0, 1, 10, 499, 500, 637, 998, 999] {
            let mut items: Vec<i32> = (0..1000).collect();
            items[at] = -1;
            let mut calls = 0;
            let mut out = Vec::new();
            run_isolated(&items, &mut Budget::new(DEADLINE), &mut fake(&mut calls), &mut out);
            assert_eq!(out.len(), 1000);
            for (i, verdict) in out.iter().enumerate() {
                match verdict {
                    Verdict::Failed(_) => assert_eq!(i, at),
                    Verdict::Ok(x) => assert_eq!(*x, i as i32),
                    Verdict::Rejected(_) => panic!("unexpected rejection"),
                }
            }
            assert!(calls <= 2 * 10 + 12, "poison at {at}: {calls} calls");
        }
    }

    #[test]
    fn exhausted_budget_fails_the_rest_without_losing_items() {
        let items = vec![-1; 500];
        let mut calls = 0;
        let mut out = Vec::new();
        run_isolated(&items, &mut Budget::new(DEADLINE), &mut fake(&mut calls), &mut out);
        assert_eq!(out.len(), 500);
        assert!(out.iter().all(|v| matches!(v, Verdict::Failed(_))));
        assert!(calls <= 65, "{calls} calls");
    }

    #[test]
    fn deadlines_have_their_own_smaller_budget() {
        let mut budget = Budget::new(DEADLINE);
        let deadline = Failure::Deadline { deadline_ms: 1 };
        let spent = (0..100).take_while(|_| budget.spend(&deadline)).count();
        assert_eq!(spent, 32);
    }

    #[test]
    fn wrong_answer_count_is_a_contract_failure() {
        let mut out: Vec<Verdict<i32>> = Vec::new();
        let mut short = |_: &[i32]| -> Result<Vec<Verdict<i32>>, Failure> { Ok(vec![]) };
        run_isolated(&[1], &mut Budget::new(DEADLINE), &mut short, &mut out);
        assert!(matches!(&out[0], Verdict::Failed(Failure::Contract { .. })));
    }

    /// Work that is slow per item but well within the deadline: a call "runs out of time" when
    /// its items' total passes the deadline. Every item must be answered, at a bounded cost.
    #[test]
    fn slow_items_are_never_failed_for_the_total_of_their_batch() {
        let per_item = 50u32; // of a deadline of 1000
        let mut deadlines = 0;
        let mut calls = 0;
        let mut slow = |items: &[i32]| -> Result<Vec<Verdict<i32>>, Failure> {
            calls += 1;
            if items.len() as u32 * per_item > 1000 {
                deadlines += 1;
                return Err(Failure::Deadline { deadline_ms: 1000 });
            }
            Ok(items.iter().map(|x| Verdict::Ok(*x)).collect())
        };
        let items: Vec<i32> = (0..10_000).collect();
        let mut out = Vec::new();
        // A deadline of zero: no part is fast enough to grow again, as with slow real work.
        run_isolated(&items, &mut Budget::new(Duration::ZERO), &mut slow, &mut out);
        assert_eq!(out.len(), 10_000);
        assert!(out.iter().all(|v| matches!(v, Verdict::Ok(_))));
        assert!(deadlines <= 10, "{deadlines} deadlines");
        // Parts of 19 (the most that fit), plus at most one short remainder per halving.
        assert!(calls <= deadlines + 10_000 / 19 + 1 + 14, "{calls} calls");
    }

    #[test]
    fn an_interrupt_ends_the_batch_without_more_calls() {
        let mut calls = 0;
        let mut stopping = |_: &[i32]| -> Result<Vec<Verdict<i32>>, Failure> {
            calls += 1;
            Err(Failure::Interrupted)
        };
        let mut out = Vec::new();
        run_isolated(&[1, 2, 3], &mut Budget::new(DEADLINE), &mut stopping, &mut out);
        assert_eq!(calls, 1);
        assert_eq!(out, vec![Verdict::Failed(Failure::Interrupted); 3]);
    }

    #[test]
    fn a_spent_budget_fails_later_batches_without_a_call() {
        let mut budget = Budget::new(DEADLINE);
        let mut calls = 0;
        let mut out = Vec::new();
        run_isolated(&vec![-1; 100], &mut budget, &mut fake(&mut calls), &mut out);
        let before = calls;
        let mut again = Vec::new();
        run_isolated(&[1, 2], &mut budget, &mut fake(&mut calls), &mut again);
        assert_eq!(calls, before, "no call once the budget is spent");
        assert!(again.iter().all(|v| matches!(v, Verdict::Failed(Failure::Trap { .. }))));
    }
}
