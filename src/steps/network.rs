//! The devcontainer's network: on a Linux engine a devcontainer cannot reach the API kind
//! publishes on 127.0.0.1 through host.docker.internal (the engine refuses it), so it joins the
//! `kind` network and dials the node by name. The join carries our mark (an endpoint driver
//! option naming the environment), so `down` undoes only a join it made, never one the user's
//! devcontainer.json asked for (`--network kind`).

use super::{Cx, Diff, Looked, Step};
use crate::core::plan::{act, Op};
use crate::drivers::docker::network::{self, KIND_NETWORK};
use anyhow::Result;

#[derive(Default)]
pub struct Network {
    /// This container, as Docker names it, when we stand in one of the engine's containers.
    me: Option<String>,
    /// Whether it is on kind's network, and whether by our join.
    attached: Option<bool>,
}

#[async_trait::async_trait(?Send)]
impl Step for Network {
    fn id(&self) -> super::StepId {
        super::StepId::Network
    }

    fn name(&self) -> String {
        "network".into()
    }

    async fn observe(&mut self, cx: &Cx<'_>) -> Result<Looked> {
        let (Some(zone), Some(conn)) = (cx.zone(), cx.docker()) else {
            return Ok(Looked::Not("Docker was not reached".into()));
        };
        // Only a container of this engine can be on its networks; elsewhere there is nothing to
        // join or leave.
        if zone.zone != crate::core::zone::Zone::Devcontainer {
            return Ok(Looked::Yes);
        }
        let Some(me) = network::this_container() else {
            return Ok(Looked::Yes);
        };
        self.attached = network::endpoint(&conn, &me, KIND_NETWORK)
            .await?
            .map(|ep| network::joined_by(&ep, &cx.owner()));
        self.me = Some(me);
        Ok(Looked::Yes)
    }

    fn diff(&self, cx: &Cx<'_>) -> Diff {
        match (&self.me, self.attached, cx.zone()) {
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
        if network::join(&conn, &me, KIND_NETWORK, &cx.owner()).await? {
            eprintln!("joined this container ({me}) to the `{KIND_NETWORK}` network: on a Linux engine that is how a devcontainer reaches the API kind publishes on 127.0.0.1");
            self.attached = Some(true);
            return Ok(vec![format!(
                "joined container {me} to network {KIND_NETWORK}"
            )]);
        }
        Ok(Vec::new())
    }

    async fn remove(&mut self, cx: &Cx<'_>) -> Result<Vec<String>> {
        let (Some(me), Some(conn)) = (self.me.clone(), cx.docker()) else {
            return Ok(Vec::new());
        };
        if network::leave(&conn, &me, KIND_NETWORK, &cx.owner()).await? {
            eprintln!(
                "left the `{KIND_NETWORK}` network that `up` joined this container ({me}) to"
            );
            return Ok(vec![format!(
                "network join of container {me} to {KIND_NETWORK}"
            )]);
        }
        Ok(Vec::new())
    }
}
