//! placeholder until the OpenAI provider lands
use super::*;
use std::time::Duration;
pub struct OpenAiProvider;
impl OpenAiProvider {
    pub fn new(_base_url: String, _model: String, _api_key: Option<String>, _timeout: Duration) -> Self { OpenAiProvider }
}
impl Provider for OpenAiProvider {
    fn chat<'a>(&'a self, _ctx: &'a CallContext, _request: &'a ChatRequest) -> BoxFuture<'a, Result<ChatResponse, LlmError>> {
        Box::pin(async { Err(LlmError::Unavailable("todo".into())) })
    }
}
