//! Event-time windows. Every window starts at a multiple of `slide` (since the Unix epoch) and
//! lasts `size`; `slide` divides `size`. State is kept per *pane*, the `slide`-long stretch a
//! record falls in, so a record is folded once however many hopping windows hold it, and a
//! window's result is the merge of its `size / slide` panes.

use crate::config::WindowSpec;

impl WindowSpec {
    /// The start of the pane holding event time `t` (µs).
    pub fn pane_of(&self, t: i64) -> i64 {
        t - t.rem_euclid(self.slide_us)
    }

    /// Panes per window: 1 for tumbling windows.
    pub fn panes(&self) -> i64 {
        self.size_us / self.slide_us
    }

    /// The starts of the windows holding pane `pane`, the latest first.
    pub fn windows_of_pane(&self, pane: i64) -> impl Iterator<Item = i64> + use<> {
        let slide = self.slide_us;
        (0..self.panes()).map(move |k| pane.saturating_sub(k * slide))
    }

    /// The panes of the window starting at `start`, in time order.
    pub fn panes_of_window(&self, start: i64) -> impl Iterator<Item = i64> + use<> {
        let slide = self.slide_us;
        (0..self.panes()).map(move |k| start.saturating_add(k * slide))
    }

    /// Whether a record at `t` comes too late: the first window holding it ends at or before
    /// the `watermark`, so it may already be written. A late record counts in none of its
    /// windows (not in the later, still open ones either): every window then holds exactly the
    /// records in its span that were on time, whenever commits happened.
    pub fn is_late(&self, t: i64, watermark: Option<i64>) -> bool {
        watermark.is_some_and(|w| self.pane_of(t).saturating_add(self.slide_us) <= w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000_000;
    const M: i64 = 60_000_000;

    fn hopping() -> WindowSpec {
        WindowSpec {
            size_us: H,
            slide_us: 15 * M,
            lateness_us: 0,
        }
    }

    #[test]
    fn panes_align_to_the_epoch_also_before_it() {
        let w = hopping();
        assert_eq!(w.pane_of(16 * M), 15 * M);
        assert_eq!(w.pane_of(15 * M), 15 * M);
        assert_eq!(w.pane_of(-1), -15 * M);
        assert_eq!(w.panes(), 4);
    }

    #[test]
    fn a_pane_is_in_size_over_slide_windows_and_a_window_has_as_many_panes() {
        let w = hopping();
        let windows: Vec<i64> = w.windows_of_pane(H).collect();
        assert_eq!(windows, vec![H, H - 15 * M, H - 30 * M, H - 45 * M]);
        for start in windows {
            assert!(w.panes_of_window(start).any(|p| p == H));
        }
        let tumbling = WindowSpec {
            size_us: H,
            slide_us: H,
            lateness_us: 0,
        };
        assert_eq!(tumbling.windows_of_pane(H).collect::<Vec<_>>(), vec![H]);
    }

    #[test]
    fn late_means_the_first_window_holding_the_record_has_ended() {
        let w = hopping();
        // A record at 1:20 is in windows ending 1:30 ... 2:15.
        let t = H + 20 * M;
        assert!(!w.is_late(t, None));
        assert!(!w.is_late(t, Some(H + 29 * M)));
        assert!(w.is_late(t, Some(H + 30 * M)));
        assert!(w.is_late(t, Some(2 * H + 15 * M)));
    }
}
