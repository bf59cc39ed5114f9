//! How many WebSockets this node holds, in all and per user, against the configured caps.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chat_shared::domain::UserId;

/// The sockets this node holds. Caps of 0 are no caps.
pub struct Connections {
    max_total: usize,
    max_per_user: u32,
    total: AtomicUsize,
    per_user: Mutex<HashMap<UserId, u32>>,
}

impl Connections {
    pub fn new(max_total: usize, max_per_user: u32) -> Self {
        Self { max_total, max_per_user, total: AtomicUsize::new(0), per_user: Mutex::new(HashMap::new()) }
    }

    fn per_user(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, u32>> {
        self.per_user.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A place for one more socket, held until the admission drops; `None` when the node
    /// holds as many as it may.
    pub fn admit(self: &Arc<Self>) -> Option<Admission> {
        let admitted = self.total.fetch_update(Ordering::AcqRel, Ordering::Acquire, |total| {
            (self.max_total == 0 || total < self.max_total).then_some(total + 1)
        });
        admitted.ok().map(|_| Admission { connections: self.clone(), user: None })
    }
}

/// One socket's place on the node, and, once it authenticated, among its user's.
pub struct Admission {
    connections: Arc<Connections>,
    user: Option<UserId>,
}

impl Admission {
    /// Counts the socket as `user`'s; `false` when they hold as many as they may already.
    pub fn for_user(&mut self, user: UserId) -> bool {
        let connections = &self.connections;
        let mut per_user = connections.per_user();
        let held = per_user.entry(user).or_insert(0);
        if connections.max_per_user != 0 && *held >= connections.max_per_user {
            return false;
        }
        *held += 1;
        self.user = Some(user);
        true
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.connections.total.fetch_sub(1, Ordering::AcqRel);
        if let Some(user) = self.user {
            let mut per_user = self.connections.per_user();
            if let Some(held) = per_user.get_mut(&user) {
                *held -= 1;
                // Users without sockets are forgotten: the map holds connected users only.
                if *held == 0 {
                    per_user.remove(&user);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_node_admits_up_to_its_cap_and_again_once_a_socket_leaves() {
        let connections = Arc::new(Connections::new(2, 0));
        let first = connections.admit().unwrap();
        let _second = connections.admit().unwrap();
        assert!(connections.admit().is_none());
        drop(first);
        assert!(connections.admit().is_some());
    }

    #[test]
    fn a_user_gets_up_to_their_cap_and_others_are_unaffected() {
        let connections = Arc::new(Connections::new(0, 2));
        let (ann, bob) = (UserId::generate(), UserId::generate());
        let mut sockets: Vec<Admission> = (0..3).map(|_| connections.admit().unwrap()).collect();
        assert!(sockets[0].for_user(ann));
        assert!(sockets[1].for_user(ann));
        assert!(!sockets[2].for_user(ann));
        assert!(sockets[2].for_user(bob));
        sockets.remove(0);
        let mut again = connections.admit().unwrap();
        assert!(again.for_user(ann));
    }

    #[test]
    fn no_caps_admit_everyone_and_users_without_sockets_are_forgotten() {
        let connections = Arc::new(Connections::new(0, 0));
        let ann = UserId::generate();
        let mut sockets: Vec<Admission> = (0..100).map(|_| connections.admit().unwrap()).collect();
        for socket in &mut sockets {
            assert!(socket.for_user(ann));
        }
        drop(sockets);
        assert!(connections.per_user().is_empty());
        assert_eq!(connections.total.load(Ordering::Acquire), 0);
    }

    #[test]
    fn a_refused_user_leaves_no_entry_behind() {
        let connections = Arc::new(Connections::new(0, 1));
        let ann = UserId::generate();
        let mut first = connections.admit().unwrap();
        assert!(first.for_user(ann));
        let mut second = connections.admit().unwrap();
        assert!(!second.for_user(ann));
        drop((first, second));
        assert!(connections.per_user().is_empty());
    }
}
