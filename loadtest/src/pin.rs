//! `--pin`: the broker on core 0, the consumer on core 1 (like `taskset
//! -a -p`), so that the broker and the consumer no longer take turns on
//! the same core and a consumer's rate is not its share of a contended
//! core. Every thread of the process is pinned (`/proc/<pid>/task/*`);
//! threads it starts later inherit the mask.

use anyhow::Context;

/// Pins every thread of `pid` to `core`.
pub fn pin_process(pid: u32, core: usize) -> anyhow::Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    anyhow::ensure!(
        core < cores,
        "--pin needs core {core}, but this machine has {cores} core(s)"
    );
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .with_context(|| format!("listing threads of {pid}"))?;
    for task in tasks {
        let tid: libc::pid_t = task?
            .file_name()
            .to_string_lossy()
            .parse()
            .context("thread id")?;
        // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET writes within it.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        unsafe { libc::CPU_SET(core, &mut set) };
        // SAFETY: `set` is a valid cpu_set_t of the size passed.
        let rc =
            unsafe { libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            // A thread that exited between listing and pinning is fine.
            if err.raw_os_error() != Some(libc::ESRCH) {
                return Err(err)
                    .with_context(|| format!("pinning thread {tid} of {pid} to core {core}"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_a_child_process() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        pin_process(child.id(), 0).unwrap();
        let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
        let allowed = status
            .lines()
            .find(|l| l.starts_with("Cpus_allowed_list:"))
            .unwrap()
            .to_string();
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(allowed.ends_with("\t0"), "{allowed}");
        assert!(pin_process(1, 4096).is_err());
    }
}
