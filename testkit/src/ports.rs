use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::Mutex;

static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A TCP port on 127.0.0.1 that was free a moment ago.
///
/// Binds `127.0.0.1:0`, reads the port the kernel chose and closes the
/// socket. A port is never handed out twice by one test process.
///
/// Race: between this call and the server's own bind, another process (or an
/// outgoing connection's ephemeral port) may take the port. The server
/// helpers handle that: when the child exits with "address already in use"
/// before it is ready, they pick a new port and start it again (a few
/// attempts). Code that binds the port itself should do the same.
pub fn free_port() -> u16 {
    for _ in 0..1000 {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .unwrap_or_else(|e| panic!("testkit: cannot bind 127.0.0.1:0: {e}"));
        let port = listener
            .local_addr()
            .expect("testkit: local_addr of a bound listener")
            .port();
        drop(listener);
        let mut guard = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
        if guard.get_or_insert_with(HashSet::new).insert(port) {
            return port;
        }
    }
    panic!("testkit: no free loopback port found in 1000 attempts");
}

/// Whether a server's log says that its listen address was taken.
pub(crate) fn is_bind_conflict(log: &str) -> bool {
    let log = log.to_ascii_lowercase();
    log.contains("address already in use") || log.contains("address in use")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_distinct_and_bindable() {
        let a = free_port();
        let b = free_port();
        assert_ne!(a, b);
        TcpListener::bind(("127.0.0.1", a)).unwrap();
    }

    #[test]
    fn detects_bind_conflicts() {
        assert!(is_bind_conflict(
            "listen tcp 127.0.0.1:8086: bind: address already in use"
        ));
        assert!(is_bind_conflict("Error: Address already in use"));
        assert!(!is_bind_conflict(
            "Opening ipv4 listen socket on port 1883."
        ));
    }
}
