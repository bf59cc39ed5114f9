//! NATS JetStream adapter: the message log of the cluster. One stream per deployment stores
//! every room's messages in order; the server republishes each one for live delivery; a durable
//! consumer feeds the persister.

mod access;
mod durable;
mod error;
mod events;
mod feed;
mod live;
mod log;
mod logins;
mod names;
mod stream;
#[cfg(test)]
mod testing;

pub use access::{NatsAccess, NatsCredentials};
pub use durable::{Deliveries, Delivery, DurableConsumer};
pub use error::NatsError;
pub use events::NatsEvents;
pub use feed::NatsUserFeed;
pub use live::{LiveMessage, LiveSubscription};
pub use log::{Appended, NatsLog};
pub use logins::NatsLoginAnnouncements;
pub use stream::StreamSettings;
