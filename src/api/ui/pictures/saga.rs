//! The saga picture as a page fragment: drawn on the saga's page, and served alone at
//! `/ui/sagas/{id}/picture` so the page can refresh it while the saga is live.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Response};

use super::graph::{self, Edge, NodeBox, NodeState, StepPicture};
use crate::api::sagas::SagaId;
use crate::api::{ApiError, AppState};
use crate::engine::lifecycle::SagaState;
use crate::store::{EventRow, SagaRow};

/// One line of the text alternative under the drawing.
pub struct PictureLine {
    pub name: String,
    pub state: &'static str,
    pub label: String,
    /// For a waiting step: what it waits for and until when.
    pub waiting: Option<String>,
    pub undo: Option<(String, &'static str, String)>,
}

#[derive(Template)]
#[template(path = "pictures_graph.html")]
pub struct PictureFragment {
    pub live: bool,
    pub width: i32,
    pub height: i32,
    pub title: String,
    pub desc: String,
    pub nodes: Vec<NodeBox>,
    pub edges: Vec<Edge>,
    pub lines: Vec<PictureLine>,
}

/// The fragment for a saga: `None` when its definition is gone (the page then shows no
/// picture rather than failing).
pub async fn fragment(
    s: &AppState,
    saga: &SagaRow,
    history: &[EventRow],
) -> Result<Option<String>, ApiError> {
    let Some(def) =
        s.rt.definition(&saga.workflow, saga.workflow_version)
            .await?
    else {
        return Ok(None);
    };
    let state: SagaState = match serde_json::from_value(saga.state.clone()) {
        Ok(st) => st,
        Err(e) => {
            tracing::warn!(saga_id = %saga.id, error = %e, "unreadable saga state; no picture");
            return Ok(None);
        }
    };
    let steps = graph::derive(&def, &state, history);
    let (nodes, edges, height) = graph::layout(&steps);
    let page = PictureFragment {
        live: !matches!(
            state,
            SagaState::Completed | SagaState::Compensated | SagaState::Cancelled
        ),
        width: graph::WIDTH,
        height,
        title: format!(
            "{} v{}: {} steps, the saga is {}",
            def.name,
            def.version,
            steps.len(),
            state.status()
        ),
        desc: describe(&steps),
        nodes,
        edges,
        lines: steps.iter().map(line).collect(),
    };
    page.render().map(Some).map_err(|e| {
        tracing::error!(error = %e, "picture template failed");
        ApiError::internal()
    })
}

/// The drawing's `<desc>`: every node's state in one sentence each.
fn describe(steps: &[StepPicture]) -> String {
    steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut d = format!("Step {} {} is {}", i + 1, s.name, s.state.key());
            if let Some((_, u)) = &s.undo {
                d.push_str(&format!("; its compensation is {}", u.key()));
            }
            d.push('.');
            d
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn line(s: &StepPicture) -> PictureLine {
    PictureLine {
        name: s.name.clone(),
        state: s.state.key(),
        label: s.state.label(),
        waiting: match &s.state {
            NodeState::Waiting { signal, until } => Some(format!(
                "for {signal} until {}",
                crate::api::ui::view::when(until)
            )),
            _ => None,
        },
        undo: s.undo.as_ref().map(|(action, st)| {
            let label = match st {
                NodeState::NotReached => "○ not run".to_string(),
                other => other.label(),
            };
            (action.clone(), st.key(), label)
        }),
    }
}

/// `GET /ui/sagas/{id}/picture`: the picture alone, which the saga page polls while live.
#[utoipa::path(get, path = "/ui/sagas/{id}/picture", tag = "console", params(("id" = String, Path, description = "saga id")), responses((status = 200, description = "HTML fragment")))]
pub async fn picture(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = SagaId::parse(&id)?;
    let saga = s.rt.store.get_saga(id.0).await?;
    let history = s.rt.store.history(id.0).await?;
    match fragment(&s, &saga, &history).await? {
        Some(html) => Ok(Html(html).into_response()),
        None => Err(ApiError::not_found(
            "this saga's workflow definition is not known here",
        )),
    }
}
