//! Failure isolation by bisection: when a batched call fails, the batch is split in halves and
//! each half retried (on a fresh instance) until the failing items stand alone. One poison record
//! in a batch of n costs about 2·log2(n) extra calls; everything else in the batch still passes.
//!
//! A budget bounds the work: a plugin that fails on every record, or hangs on every record, must
//! not turn one batch into thousands of calls or minutes of deadlines. When the budget is spent
//! the still-unresolved items fail with the last error (they go to quarantine, nothing is lost).

use super::failure::Failure;
use super::verdict::Verdict;

/// The answers of one batched call: one verdict per item, or the failure of the whole call.
pub type Answers<R> = Result<Vec<Verdict<R>>, Failure>;

/// How many failed calls, and how many deadline hits, one batch may spend on isolation. The
/// deadline budget allows isolating one hanging record in a batch of 2^12.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    failed_calls: u32,
    deadlines: u32,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            failed_calls: 64,
            deadlines: 14,
        }
    }
}

impl Budget {
    /// Spends one failure; false when the budget is exhausted.
    fn spend(&mut self, failure: &Failure) -> bool {
        if self.failed_calls == 0 || (failure.is_deadline() && self.deadlines == 0) {
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
    if items.is_empty() {
        return;
    }
    let failure = match call(items) {
        Ok(answers) if answers.len() == items.len() => {
            out.extend(answers);
            return;
        }
        Ok(answers) => Failure::Contract {
            message: format!("returned {} answers for {} items", answers.len(), items.len()),
        },
        Err(failure) => failure,
    };
    if items.len() == 1 || !budget.spend(&failure) {
        out.extend(items.iter().map(|_| Verdict::Failed(failure.clone())));
        return;
    }
    let (left, right) = items.split_at(items.len() / 2);
    run_isolated(left, budget, call, out);
    run_isolated(right, budget, call, out);
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut items: Vec<i32> = (0..1000).collect();
        items[637] = -1;
        let mut calls = 0;
        let mut out = Vec::new();
        run_isolated(&items, &mut Budget::default(), &mut fake(&mut calls), &mut out);
        assert_eq!(out.len(), 1000);
        for (i, verdict) in out.iter().enumerate() {
            match verdict {
                Verdict::Failed(_) => assert_eq!(i, 637),
                Verdict::Ok(x) => assert_eq!(*x, i as i32),
                Verdict::Rejected(_) => panic!("unexpected rejection"),
            }
        }
        assert!(calls <= 2 * 10 + 1, "{calls} calls");
    }

    #[test]
    fn exhausted_budget_fails_the_rest_without_losing_items() {
        let items = vec![-1; 500];
        let mut calls = 0;
        let mut out = Vec::new();
        run_isolated(&items, &mut Budget::default(), &mut fake(&mut calls), &mut out);
        assert_eq!(out.len(), 500);
        assert!(out.iter().all(|v| matches!(v, Verdict::Failed(_))));
        assert!(calls < 200, "{calls} calls");
    }

    #[test]
    fn deadlines_have_their_own_smaller_budget() {
        let mut budget = Budget::default();
        let deadline = Failure::Deadline { deadline_ms: 1 };
        let spent = (0..100).take_while(|_| budget.spend(&deadline)).count();
        assert_eq!(spent, 14);
    }

    #[test]
    fn wrong_answer_count_is_a_contract_failure() {
        let mut out: Vec<Verdict<i32>> = Vec::new();
        let mut short = |_: &[i32]| -> Result<Vec<Verdict<i32>>, Failure> { Ok(vec![]) };
        run_isolated(&[1], &mut Budget::default(), &mut short, &mut out);
        assert!(matches!(&out[0], Verdict::Failed(Failure::Contract { .. })));
    }
}
