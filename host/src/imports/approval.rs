//! `relive:agent/approval`: ask a person to approve an action — a journaled
//! wait; the run is suspended until the answer comes (DESIGN §5). Tools
//! that need approval ask through the same helper.

use super::bindings::wit_approval;
use super::{HostState, decode, encode};
use crate::journal::{ApprovalAnswer, ApprovalRequest, EntryKind};

impl HostState {
    /// Asks a person to approve `action` (a journaled wait) and returns
    /// the answer; used by `approval.request` and by tools that require
    /// approval.
    pub(super) async fn ask_approval(
        &mut self,
        action: &str,
        details: String,
    ) -> wasmtime::Result<ApprovalAnswer> {
        let request = encode(&ApprovalRequest {
            action: action.to_string(),
            details,
        });
        let text = self
            .recorder
            .wait(EntryKind::Approval, action, request)
            .await
            .map_err(|stop| self.recorder.fail(stop))?;
        decode(&mut self.recorder, &text)
    }
}

impl wit_approval::Host for HostState {
    async fn request(
        &mut self,
        action: String,
        details: String,
    ) -> wasmtime::Result<wit_approval::Decision> {
        self.check_size("approval details", details.len() + action.len())?;
        Ok(match self.ask_approval(&action, details).await? {
            ApprovalAnswer::Approved { details, .. } => wit_approval::Decision::Approved(details),
            ApprovalAnswer::Rejected { reason, .. } => wit_approval::Decision::Rejected(reason),
        })
    }
}
