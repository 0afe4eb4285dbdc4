//! The cluster's nodes and how far each is behind, as this node sees them.

use serde::Serialize;
use tessera_actors::cluster::NodeStatus;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::state::AppState;

/// One node of the cluster.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NodeView {
    pub node_id: String,
    /// Its heartbeat is fresher than `cluster.node_timeout_ms`.
    pub live: bool,
    /// It said it could answer at its last heartbeat.
    pub ready: bool,
    /// Every change-feed event up to this one is applied on the node.
    pub applied_seq: i64,
    /// Events committed after what it applied.
    pub lag_events: i64,
    pub heartbeat_age_seconds: f64,
    pub up_seconds: f64,
}

impl From<NodeStatus> for NodeView {
    fn from(n: NodeStatus) -> Self {
        NodeView {
            node_id: n.node_id,
            live: n.live,
            ready: n.ready,
            applied_seq: n.applied_seq,
            lag_events: n.lag_events,
            heartbeat_age_seconds: n.heartbeat_age_seconds,
            up_seconds: n.up_seconds,
        }
    }
}

/// The cluster as this node sees it; a single node says so.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClusterView {
    /// `false`: this server runs alone (sled, or PostgreSQL without
    /// `[cluster]`); `nodes` is then empty.
    pub clustered: bool,
    /// This node's id, in a cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// `eventual` or `strict`, in a cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation: Option<String>,
    /// Whether this node may answer from its views now.
    pub serving: bool,
    /// Why it may not, if it may not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_serving: Option<String>,
    pub nodes: Vec<NodeView>,
}

pub async fn status(state: &AppState) -> Result<ClusterView, ApiError> {
    let Some(c) = state.cluster.as_ref() else {
        return Ok(ClusterView {
            clustered: false,
            node_id: None,
            revocation: None,
            serving: true,
            not_serving: None,
            nodes: Vec::new(),
        });
    };
    let nodes = c.nodes().await?;
    Ok(ClusterView {
        clustered: true,
        node_id: Some(c.node_id().to_string()),
        revocation: Some(if c.strict() { "strict" } else { "eventual" }.to_string()),
        serving: c.serving(),
        not_serving: c.not_serving(),
        nodes: nodes.into_iter().map(NodeView::from).collect(),
    })
}
