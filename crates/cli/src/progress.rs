//! Progress on standard error: a spinner naming the current phase, shown only on a terminal,
//! and the time each phase took when `-v` is given.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

pub struct Phases {
    bar: ProgressBar,
    current: Option<(String, Instant)>,
    verbose: bool,
    started: Instant,
}

impl Phases {
    pub fn new(verbose: bool) -> Self {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                .expect("the template is valid"),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        Phases {
            bar,
            current: None,
            verbose,
            started: Instant::now(),
        }
    }

    /// Ends the current phase and starts `name`.
    pub fn phase(&mut self, name: &str) {
        self.end_current();
        self.bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                .expect("the template is valid"),
        );
        self.bar.set_message(name.to_string());
        self.current = Some((name.to_string(), Instant::now()));
    }

    /// Starts `name` as a phase with a count: the returned handle takes (done, total) and
    /// draws a bar.
    pub fn counted(&mut self, name: &str) -> impl Fn(u64, u64) + Send + 'static {
        self.phase(name);
        self.bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed}")
                .expect("the template is valid"),
        );
        let bar = self.bar.clone();
        move |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        }
    }

    fn end_current(&mut self) {
        if let Some((name, at)) = self.current.take()
            && self.verbose
        {
            self.bar
                .suspend(|| eprintln!("{name}: {:.2} s", at.elapsed().as_secs_f64()));
        }
    }

    /// Ends the last phase and clears the spinner; returns the total time.
    pub fn finish(mut self) -> Duration {
        self.end_current();
        self.bar.finish_and_clear();
        self.started.elapsed()
    }
}
