//! `bootstrap verify`: prove each context works layer by layer (dns, tcp, tls, auth, api) and,
//! when one does not, say which layer broke and what to do about it.
//!
//! `target` resolves kubeconfig contexts, `probe` dials them (the shell), `diagnose` turns
//! failure facts into advice (pure), `environment` reads what the file declares (pure), `report`
//! renders the outcome.

pub mod diagnose;
pub mod environment;
pub mod probe;
pub mod report;
pub mod target;

pub use probe::{
    check_passthrough, verify_contexts, verify_contexts_with, HostFacts, PassthroughExpect,
};
pub use report::Report;
pub use target::{load_kubeconfig, resolve, Resolved, Target, TargetError};
