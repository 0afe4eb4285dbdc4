//! The admin operations behind the console's actions, in one list: each
//! is the very function the admin JSON API's handler calls
//! (`crate::routes::admin::ops`), which does the engine change and
//! writes its audit record.

pub use crate::routes::admin::ops::{
    audit, clients, cluster, entities, keys, mail, sessions, tokens, users,
};
