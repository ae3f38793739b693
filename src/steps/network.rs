//! The devcontainer's network: on a Linux engine a devcontainer cannot reach the API kind
//! publishes on 127.0.0.1 through host.docker.internal (the engine refuses it), so it joins the
//! `kind` network and dials the node by name. The join carries our mark (a network alias), so
//! `down` undoes only a join it made, never one the user's devcontainer.json asked for.

use super::{Cx, Diff, Looked, Step};
use crate::core::ownership::join_alias;
use crate::core::plan::{act, Op};
use crate::drivers::docker::network::{self, KIND_NETWORK};
use anyhow::Result;

#[derive(Default)]
pub struct Network {
    /// Our container (hostname) when we stand in a devcontainer that must be on kind's network.
    me: Option<String>,
    joined: Option<network::Joined>,
}

#[async_trait::async_trait(?Send)]
impl Step for Network {
    fn name(&self) -> String {
        "network".into()
    }

    async fn observe(&mut self, cx: &Cx<'_>) -> Result<Looked> {
        let Some(zone) = cx.zone() else {
            return Ok(Looked::Not("where we stand is not known".into()));
        };
        let Some(conn) = cx.docker() else {
            return Ok(Looked::Not("Docker was not reached".into()));
        };
        // Our hostname is our container id unless the devcontainer set one; a lookup that fails
        // names what was looked up.
        let me = crate::zone::hostname().unwrap_or_default();
        let joined = network::joined(&conn, &me, KIND_NETWORK).await?;
        if network::should_join(&zone) || joined.as_ref().is_some_and(|j| j.ours(cx.cluster())) {
            self.me = Some(me);
            self.joined = joined;
        }
        Ok(Looked::Yes)
    }

    fn diff(&self, cx: &Cx<'_>) -> Diff {
        match (&self.me, &self.joined, cx.zone()) {
            (Some(me), None, Some(z)) if network::should_join(&z) => Diff::one(act(
                Op::JoinNetwork,
                format!("network/{KIND_NETWORK}"),
                format!("join this container ({me}) to `{KIND_NETWORK}`: a devcontainer on a Linux engine reaches the API kind publishes on 127.0.0.1 by the node's name there"),
                "not joined",
            )),
            _ => Diff::default(),
        }
    }

    async fn apply(&mut self, cx: &Cx<'_>) -> Result<Vec<String>> {
        let (Some(me), Some(conn)) = (self.me.clone(), cx.docker()) else {
            return Ok(Vec::new());
        };
        network::join(&conn, &me, KIND_NETWORK, &join_alias(cx.cluster())).await?;
        eprintln!("joined this container ({me}) to the `{KIND_NETWORK}` network: on a Linux engine that is how a devcontainer reaches the API kind publishes on 127.0.0.1");
        Ok(vec![format!(
            "joined container {me} to network {KIND_NETWORK}"
        )])
    }

    async fn remove(&mut self, cx: &Cx<'_>) -> Result<Vec<String>> {
        let (Some(me), Some(conn)) = (self.me.clone(), cx.docker()) else {
            return Ok(Vec::new());
        };
        match &self.joined {
            Some(j) if j.ours(cx.cluster()) => {
                network::leave(&conn, &me, KIND_NETWORK).await?;
                eprintln!("this container ({me}) left the `{KIND_NETWORK}` network it joined");
                Ok(vec![format!("container {me} left network {KIND_NETWORK}")])
            }
            _ => Ok(Vec::new()),
        }
    }
}
