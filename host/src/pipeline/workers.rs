//! The parallel workers of one pipeline. Each holds its own instance of every transform stage;
//! the partition batches of one poll are dealt out among them, each batch wholly to one worker,
//! so the order within a partition holds. Worker 0's stages are the ones started and swapped
//! in; the others run replicas of them, made again after a swap.

use super::stages::RunningStage;

/// One set of stage instances per worker.
pub struct Workers {
    sets: Vec<Vec<RunningStage>>,
}

impl Workers {
    /// `count` workers (at least one) over `stages`.
    pub fn new(stages: Vec<RunningStage>, count: usize) -> Self {
        let mut sets = Vec::with_capacity(count.max(1));
        let replicas: Vec<Vec<RunningStage>> = (1..count.max(1))
            .map(|_| stages.iter().map(RunningStage::replica).collect())
            .collect();
        sets.push(stages);
        sets.extend(replicas);
        Workers { sets }
    }

    pub fn count(&self) -> usize {
        self.sets.len()
    }

    /// The stages as started and swapped: their names and versions are every worker's.
    pub fn primary(&self) -> &[RunningStage] {
        &self.sets[0]
    }

    pub fn primary_mut(&mut self) -> &mut [RunningStage] {
        &mut self.sets[0]
    }

    /// Every stage instance of every worker.
    pub fn all_mut(&mut self) -> impl Iterator<Item = &mut RunningStage> {
        self.sets.iter_mut().flatten()
    }

    /// After a swap on the primary set: each other worker gets a replica of every stage whose
    /// version changed. Returns the instances replaced.
    pub fn follow_primary(&mut self) -> Vec<RunningStage> {
        let Some((primary, others)) = self.sets.split_first_mut() else {
            return Vec::new();
        };
        let mut retired = Vec::new();
        for set in others {
            for (stage, lead) in set.iter_mut().zip(primary.iter()) {
                if stage.sha256 != lead.sha256 {
                    retired.push(std::mem::replace(stage, lead.replica()));
                }
            }
        }
        retired
    }

    /// Runs `work` on every job, job `i` on worker `i % workers` (worker 0 on this thread, the
    /// others on scoped threads); the results in job order.
    pub fn map<J: Send, R: Send>(&mut self, jobs: Vec<J>, work: impl Fn(&mut [RunningStage], J) -> R + Sync) -> Vec<R> {
        let workers = self.sets.len().min(jobs.len());
        if workers <= 1 {
            let set = &mut self.sets[0];
            return jobs.into_iter().map(|job| work(set, job)).collect();
        }
        let total = jobs.len();
        let mut dealt: Vec<Vec<(usize, J)>> = (0..workers).map(|_| Vec::new()).collect();
        for (i, job) in jobs.into_iter().enumerate() {
            dealt[i % workers].push((i, job));
        }
        let mut results: Vec<Option<R>> = (0..total).map(|_| None).collect();
        let work = &work;
        std::thread::scope(|scope| {
            let mut sets = self.sets.iter_mut();
            let mut dealt = dealt.into_iter();
            let (Some(own_set), Some(own_jobs)) = (sets.next(), dealt.next()) else {
                return;
            };
            let handles: Vec<_> = sets
                .zip(dealt)
                .map(|(set, jobs)| scope.spawn(move || run_all(set, jobs, work)))
                .collect();
            for (i, result) in run_all(own_set, own_jobs, work) {
                results[i] = Some(result);
            }
            for handle in handles {
                match handle.join() {
                    Ok(done) => {
                        for (i, result) in done {
                            results[i] = Some(result);
                        }
                    }
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
        });
        results.into_iter().flatten().collect()
    }
}

fn run_all<J, R>(
    set: &mut [RunningStage],
    jobs: Vec<(usize, J)>,
    work: &(impl Fn(&mut [RunningStage], J) -> R + Sync),
) -> Vec<(usize, R)> {
    jobs.into_iter().map(|(i, job)| (i, work(set, job))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_come_back_in_order_and_each_worker_keeps_its_own_stages() {
        let mut workers = Workers::new(Vec::new(), 3);
        assert_eq!(workers.count(), 3);
        let threads = std::sync::Mutex::new(std::collections::HashSet::new());
        let out = workers.map((0..10).collect(), |_, job: u32| {
            threads.lock().unwrap().insert(std::thread::current().id());
            job * 2
        });
        assert_eq!(out, (0..10).map(|j| j * 2).collect::<Vec<_>>());
        assert_eq!(threads.lock().unwrap().len(), 3, "three workers, three threads");
        let one = workers.map(vec![7], |_, job: u32| (job, std::thread::current().id()));
        assert_eq!(one, [(7, std::thread::current().id())], "one job runs here");
    }
}
