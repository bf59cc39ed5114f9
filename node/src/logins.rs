//! The sockets this node holds, by the login they authenticated with, so that a login that ends
//! closes them at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chat_shared::domain::LoginId;
use chat_shared::ports::LoginSockets;
use tokio_util::sync::CancellationToken;

/// Each login's sockets: a socket's id and the token that stops its session.
#[derive(Default)]
pub struct SocketsByLogin {
    sockets: Mutex<HashMap<LoginId, Vec<(u64, CancellationToken)>>>,
}

impl SocketsByLogin {
    fn lock(&self) -> MutexGuard<'_, HashMap<LoginId, Vec<(u64, CancellationToken)>>> {
        self.sockets.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts socket `socket` among `login`'s until the returned watch drops; `stop` is
    /// cancelled if the login ends meanwhile.
    pub fn watch(self: &Arc<Self>, login: LoginId, socket: u64, stop: CancellationToken) -> LoginWatch {
        self.lock().entry(login).or_default().push((socket, stop));
        LoginWatch { sockets: self.clone(), login, socket }
    }
}

impl LoginSockets for SocketsByLogin {
    fn close(&self, login: LoginId) -> usize {
        let stopped = self.lock().remove(&login).unwrap_or_default();
        for (_, stop) in &stopped {
            stop.cancel();
        }
        metrics::counter!("chat_ws_login_ended_closes_total").increment(stopped.len() as u64);
        stopped.len()
    }
}

/// A socket's place among its login's, given back when it drops.
pub struct LoginWatch {
    sockets: Arc<SocketsByLogin>,
    login: LoginId,
    socket: u64,
}

impl LoginWatch {
    pub fn login(&self) -> LoginId {
        self.login
    }
}

impl Drop for LoginWatch {
    fn drop(&mut self) {
        let mut sockets = self.sockets.lock();
        if let Some(held) = sockets.get_mut(&self.login) {
            held.retain(|(socket, _)| *socket != self.socket);
            // Logins without sockets are forgotten: the map holds connected logins only.
            if held.is_empty() {
                sockets.remove(&self.login);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closing_a_login_stops_its_sockets_only() {
        let sockets = Arc::new(SocketsByLogin::default());
        let (ann, bob) = (LoginId::generate(), LoginId::generate());
        let stops: Vec<CancellationToken> = (0..3).map(|_| CancellationToken::new()).collect();
        let _watches = [
            sockets.watch(ann, 1, stops[0].clone()),
            sockets.watch(ann, 2, stops[1].clone()),
            sockets.watch(bob, 3, stops[2].clone()),
        ];
        assert_eq!(sockets.close(ann), 2);
        assert!(stops[0].is_cancelled() && stops[1].is_cancelled());
        assert!(!stops[2].is_cancelled());
        assert_eq!(sockets.close(ann), 0);
    }

    #[test]
    fn a_socket_that_ends_is_forgotten_and_so_is_a_login_without_sockets() {
        let sockets = Arc::new(SocketsByLogin::default());
        let ann = LoginId::generate();
        let first = sockets.watch(ann, 1, CancellationToken::new());
        let second_stop = CancellationToken::new();
        let second = sockets.watch(ann, 2, second_stop.clone());
        drop(first);
        assert_eq!(sockets.lock()[&ann].len(), 1);
        drop(second);
        assert!(sockets.lock().is_empty());
        assert_eq!(sockets.close(ann), 0);
        assert!(!second_stop.is_cancelled());
    }
}
