//! placeholder until the scripted provider lands
use super::*;
use std::path::Path;
pub struct ScriptedProvider;
impl ScriptedProvider {
    pub fn from_file(_path: &Path) -> Result<Self, LlmError> { Ok(ScriptedProvider) }
}
impl Provider for ScriptedProvider {
    fn chat<'a>(&'a self, _ctx: &'a CallContext, _request: &'a ChatRequest) -> BoxFuture<'a, Result<ChatResponse, LlmError>> {
        Box::pin(async { Err(LlmError::Unavailable("todo".into())) })
    }
}
