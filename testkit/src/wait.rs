use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, Instant};

/// What a [`wait_until`] probe returns: `bool`, `Option<T>` or
/// `Result<T, E: Display>`. `false`, `None` and `Err` mean "not yet"; an
/// `Err`'s text is the last observed state, shown when the wait times out.
pub trait PollOutcome {
    type Output;
    fn into_outcome(self) -> Result<Self::Output, Option<String>>;
}

impl PollOutcome for bool {
    type Output = ();
    fn into_outcome(self) -> Result<(), Option<String>> {
        if self {
            Ok(())
        } else {
            Err(None)
        }
    }
}

impl<T> PollOutcome for Option<T> {
    type Output = T;
    fn into_outcome(self) -> Result<T, Option<String>> {
        self.ok_or(None)
    }
}

impl<T, E: Display> PollOutcome for Result<T, E> {
    type Output = T;
    fn into_outcome(self) -> Result<T, Option<String>> {
        self.map_err(|e| Some(format!("{e:#}")))
    }
}

/// Polls `probe` (every 50 ms, then every 100 ms) until it succeeds, and
/// returns its value. Panics after `timeout` with a message naming `what`
/// and, for `Result` probes, the last error.
///
/// ```no_run
/// # async fn example(influx: &testkit::InfluxDb1) {
/// use std::time::Duration;
/// testkit::wait_until("3 points in InfluxDB", Duration::from_secs(10), || async {
///     let n = influx.count("db", "SELECT count(v) FROM m").await;
///     if n == 3 { Ok(()) } else { Err(format!("have {n}")) }
/// })
/// .await;
/// # }
/// ```
pub async fn wait_until<F, Fut>(
    what: &str,
    timeout: Duration,
    mut probe: F,
) -> <Fut::Output as PollOutcome>::Output
where
    F: FnMut() -> Fut,
    Fut: Future,
    Fut::Output: PollOutcome,
{
    let start = Instant::now();
    let mut last: Option<String> = None;
    let mut tries = 0u32;
    loop {
        tries += 1;
        match probe().await.into_outcome() {
            Ok(v) => return v,
            Err(state) => {
                if state.is_some() {
                    last = state;
                }
            }
        }
        if start.elapsed() >= timeout {
            match last {
                Some(state) => panic!(
                    "testkit: timed out after {timeout:?} ({tries} tries) waiting for {what}; last state: {state}"
                ),
                None => panic!("testkit: timed out after {timeout:?} ({tries} tries) waiting for {what}"),
            }
        }
        let pause = if tries < 20 { 50 } else { 100 };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
}

/// [`wait_until`] for the servers' `wait_for*` methods: polls `fetch` until
/// its value passes `pred` and returns that value. On timeout the panic
/// shows the last fetch error or the last value (as `describe` puts it).
pub(crate) async fn wait_for_match<T, F, Fut>(
    what: &str,
    timeout: Duration,
    mut fetch: F,
    pred: impl Fn(&T) -> bool,
    describe: impl Fn(&T) -> String,
) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let (pred, describe) = (&pred, &describe);
    wait_until(what, timeout, || {
        let fetched = fetch();
        async move {
            let value = fetched.await?;
            if pred(&value) {
                Ok(value)
            } else {
                Err(anyhow::anyhow!("{}", describe(&value)))
            }
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn returns_value_of_first_success() {
        let mut n = 0;
        let v = wait_until("n reaches 3", Duration::from_secs(5), || {
            n += 1;
            let n = n;
            async move { (n >= 3).then_some(n) }
        })
        .await;
        assert_eq!(v, 3);
        wait_until("true", Duration::from_secs(1), || async { true }).await;
    }

    #[tokio::test]
    #[should_panic(expected = "waiting for the impossible; last state: still 7")]
    async fn timeout_names_what_and_last_state() {
        wait_until("the impossible", Duration::from_millis(200), || async {
            Err::<(), _>("still 7")
        })
        .await;
    }
}
