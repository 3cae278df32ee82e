//! The chat request, answer and stream chunk as the gateway speaks them:
//! OpenAI's chat-completions format, which is also the canonical form every
//! adapter translates from and to.
//!
//! Fields the gateway understands are typed; everything else a client sends
//! is kept in `extra` (flattened) and passed on to OpenAI-compatible
//! providers unchanged, so a proxy does not silently drop what it does not
//! know. Adapters for other wire formats refuse content they cannot express
//! (`invalid_input` naming the field) rather than dropping it.

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

/// `POST /v1/chat/completions` as a client sends it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ChatRequest {
    /// `provider/model` or an alias from the configuration.
    pub model: String,
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    /// One stop sequence or a list; always a list here.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "one_or_many")]
    pub stop: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    /// Everything else (`seed`, `user`, `logprobs`, ...), passed on to
    /// OpenAI-compatible providers as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ChatRequest {
    /// Whether the client asked for a stream.
    pub fn streams(&self) -> bool {
        self.stream == Some(true)
    }

    /// The output token limit, whichever of the two spellings was used.
    pub fn output_limit(&self) -> Option<u32> {
        self.max_completion_tokens.or(self.max_tokens)
    }

    /// Whether a streaming client asked for the final usage chunk.
    pub fn wants_stream_usage(&self) -> bool {
        self.stream_options.as_ref().and_then(|o| o.include_usage).unwrap_or(false)
    }

    /// The JSON mode asked for, if any.
    pub fn json_mode(&self) -> Option<JsonMode<'_>> {
        match self.response_format.as_ref()? {
            ResponseFormat { kind, .. } if kind == "json_object" => Some(JsonMode::Object),
            ResponseFormat { kind, json_schema: Some(schema), .. } if kind == "json_schema" => {
                Some(JsonMode::Schema(schema))
            }
            _ => None,
        }
    }
}

/// `stream_options`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StreamOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_usage: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    System,
    Developer,
    User,
    Assistant,
    Tool,
}

/// One message of the conversation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The calls an assistant message made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// Which call a `tool` message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Message {
    /// A message of `role` with plain `text`.
    pub fn text(role: Role, text: impl Into<String>) -> Message {
        Message {
            role,
            content: Some(Content::Text(text.into())),
            name: None,
            tool_calls: None,
            tool_call_id: None,
            extra: Map::new(),
        }
    }

    /// The text parts joined, ignoring images: what a system prompt or a
    /// tool result says.
    pub fn joined_text(&self) -> String {
        match &self.content {
            None => String::new(),
            Some(Content::Text(text)) => text.clone(),
            Some(Content::Parts(parts)) => parts
                .iter()
                .filter_map(|p| match p {
                    Part::Text { text } => Some(text.as_str()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

/// A message's content: a string or a list of parts.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    Text(String),
    Parts(Vec<Part>),
}

impl Content {
    /// The parts, a plain string being one text part.
    pub fn parts(&self) -> Vec<Part> {
        match self {
            Content::Text(text) => vec![Part::Text { text: text.clone() }],
            Content::Parts(parts) => parts.clone(),
        }
    }
}

impl Serialize for Content {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Content::Text(text) => s.serialize_str(text),
            Content::Parts(parts) => parts.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Content, D::Error> {
        struct ContentVisitor;
        impl<'de> Visitor<'de> for ContentVisitor {
            type Value = Content;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or a list of content parts")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Content, E> {
                Ok(Content::Text(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Content, E> {
                Ok(Content::Text(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Content, A::Error> {
                let mut parts = Vec::new();
                while let Some(part) = seq.next_element()? {
                    parts.push(part);
                }
                Ok(Content::Parts(parts))
            }
        }
        d.deserialize_any(ContentVisitor)
    }
}

/// One content part.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// `{"type": "text", "text": ...}`.
    Text { text: String },
    /// `{"type": "image_url", "image_url": {"url", "detail"?}}`: a `data:` URL or an http(s) one.
    Image { url: String, detail: Option<String> },
    /// Any other part (`input_audio`, `file`, ...), kept as sent.
    Other(Value),
}

impl Part {
    /// The `type` of the part as the client wrote it.
    pub fn kind(&self) -> &str {
        match self {
            Part::Text { .. } => "text",
            Part::Image { .. } => "image_url",
            Part::Other(v) => v["type"].as_str().unwrap_or("unknown"),
        }
    }
}

impl Serialize for Part {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let value = match self {
            Part::Text { text } => serde_json::json!({ "type": "text", "text": text }),
            Part::Image { url, detail: None } => {
                serde_json::json!({ "type": "image_url", "image_url": { "url": url } })
            }
            Part::Image { url, detail: Some(detail) } => {
                serde_json::json!({ "type": "image_url", "image_url": { "url": url, "detail": detail } })
            }
            Part::Other(value) => value.clone(),
        };
        value.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Part {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Part, D::Error> {
        let value = Value::deserialize(d)?;
        match value["type"].as_str() {
            Some("text") => match value["text"].as_str() {
                Some(text) => Ok(Part::Text { text: text.to_owned() }),
                None => Err(de::Error::custom("a `text` part needs a string `text`")),
            },
            Some("image_url") => {
                let image = &value["image_url"];
                // Older clients send the URL itself as a string.
                let url = image["url"].as_str().or(image.as_str());
                match url {
                    Some(url) => {
                        Ok(Part::Image { url: url.to_owned(), detail: image["detail"].as_str().map(str::to_owned) })
                    }
                    None => Err(de::Error::custom("an `image_url` part needs `image_url.url`")),
                }
            }
            Some(_) => Ok(Part::Other(value)),
            None => Err(de::Error::custom("a content part needs a `type`")),
        }
    }
}

/// A tool the model may call.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tool {
    /// Always `function`.
    #[serde(rename = "type")]
    pub kind: String,
    pub function: FunctionDef,
}

/// A function tool's declaration.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FunctionDef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A JSON Schema of the arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A call the model made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type", default = "function_kind")]
    pub kind: String,
    pub function: FunctionCall,
}

fn function_kind() -> String {
    "function".to_owned()
}

/// Which function and its arguments: a JSON *string* on this side of the gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    pub name: String,
    pub arguments: String,
}

/// `tool_choice`: `none`, `auto`, `required`, or one named function.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolChoice {
    None,
    Auto,
    Required,
    Function(String),
}

impl Serialize for ToolChoice {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ToolChoice::None => s.serialize_str("none"),
            ToolChoice::Auto => s.serialize_str("auto"),
            ToolChoice::Required => s.serialize_str("required"),
            ToolChoice::Function(name) => {
                serde_json::json!({ "type": "function", "function": { "name": name } }).serialize(s)
            }
        }
    }
}

impl<'de> Deserialize<'de> for ToolChoice {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ToolChoice, D::Error> {
        let value = Value::deserialize(d)?;
        match (&value, value["function"]["name"].as_str()) {
            (Value::String(mode), _) => match mode.as_str() {
                "none" => Ok(ToolChoice::None),
                "auto" => Ok(ToolChoice::Auto),
                "required" => Ok(ToolChoice::Required),
                other => Err(de::Error::custom(format!("unknown tool_choice `{other}`; use none, auto or required"))),
            },
            (Value::Object(_), Some(name)) => Ok(ToolChoice::Function(name.to_owned())),
            _ => {
                Err(de::Error::custom("tool_choice must be a mode or {\"type\":\"function\",\"function\":{\"name\"}}"))
            }
        }
    }
}

/// `response_format`: `text`, `json_object` or `json_schema`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResponseFormat {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_schema: Option<JsonSchemaFormat>,
}

/// The `json_schema` of a `response_format`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JsonSchemaFormat {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// What JSON the client wants back.
#[derive(Debug, Clone, Copy)]
pub enum JsonMode<'a> {
    /// Any JSON object.
    Object,
    /// An object valid against this schema.
    Schema(&'a JsonSchemaFormat),
}

impl JsonMode<'_> {
    /// The schema the answer must fit (`{"type": "object"}` for plain JSON mode).
    pub fn schema(&self) -> Value {
        match self {
            JsonMode::Object => serde_json::json!({ "type": "object" }),
            JsonMode::Schema(format) => {
                format.schema.clone().unwrap_or_else(|| serde_json::json!({ "type": "object" }))
            }
        }
    }
}

/// A whole answer (`object: chat.completion`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatResponse {
    #[serde(default)]
    pub id: String,
    #[serde(default = "completion_object")]
    pub object: String,
    #[serde(default)]
    pub created: u64,
    #[serde(default)]
    pub model: String,
    pub choices: Vec<Choice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn completion_object() -> String {
    "chat.completion".to_owned()
}

/// One choice of a whole answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Choice {
    #[serde(default)]
    pub index: u32,
    pub message: AnswerMessage,
    #[serde(default)]
    pub finish_reason: Option<String>,
    #[serde(default)]
    pub logprobs: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The assistant's message in a whole answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AnswerMessage {
    #[serde(default = "assistant_role")]
    pub role: String,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    #[serde(default)]
    pub refusal: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn assistant_role() -> String {
    "assistant".to_owned()
}

/// Token counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
    /// `prompt_tokens_details`, `completion_tokens_details`, ... as the provider sent them.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Usage {
    /// Counts with the total filled in.
    pub fn new(prompt: u64, completion: u64) -> Usage {
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
            extra: Map::new(),
        }
    }
}

/// One streamed chunk (`object: chat.completion.chunk`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ChatChunk {
    #[serde(default)]
    pub id: String,
    #[serde(default = "chunk_object")]
    pub object: String,
    #[serde(default)]
    pub created: u64,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn chunk_object() -> String {
    "chat.completion.chunk".to_owned()
}

impl ChatChunk {
    /// A chunk with one choice (index 0) carrying `delta` and `finish_reason`.
    pub fn delta(delta: Delta, finish_reason: Option<String>) -> ChatChunk {
        ChatChunk {
            choices: vec![ChunkChoice { index: 0, delta, finish_reason, logprobs: None, extra: Map::new() }],
            ..ChatChunk::default()
        }
    }

    /// A chunk with no choice and the final usage, as OpenAI sends with `include_usage`.
    pub fn usage(usage: Usage) -> ChatChunk {
        ChatChunk { usage: Some(usage), ..ChatChunk::default() }
    }

    /// Whether the client sees anything in it: text, a tool call, a refusal
    /// or a finish. A role-only chunk does not count: it may still be
    /// replaced by a fallback's.
    pub fn carries_output(&self) -> bool {
        self.choices.iter().any(|c| {
            c.finish_reason.is_some()
                || c.delta.content.as_deref().is_some_and(|t| !t.is_empty())
                || c.delta.refusal.as_deref().is_some_and(|t| !t.is_empty())
                || c.delta.tool_calls.as_ref().is_some_and(|t| !t.is_empty())
        })
    }
}

/// One choice of a chunk.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ChunkChoice {
    #[serde(default)]
    pub index: u32,
    #[serde(default)]
    pub delta: Delta,
    #[serde(default)]
    pub finish_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What a chunk adds to the message.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Delta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallDelta>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Delta {
    /// The first delta of a message: the role and empty content.
    pub fn role() -> Delta {
        Delta { role: Some("assistant".to_owned()), content: Some(String::new()), ..Delta::default() }
    }

    /// Some text.
    pub fn text(text: impl Into<String>) -> Delta {
        Delta { content: Some(text.into()), ..Delta::default() }
    }

    /// A fragment of tool call `index`: the id and name come with the first one.
    pub fn tool_call(index: u32, id: Option<String>, name: Option<String>, arguments: impl Into<String>) -> Delta {
        let call = ToolCallDelta {
            index,
            kind: id.as_ref().map(|_| "function".to_owned()),
            id,
            function: Some(FunctionDelta { name, arguments: Some(arguments.into()) }),
        };
        Delta { tool_calls: Some(vec![call]), ..Delta::default() }
    }
}

/// A fragment of a tool call in a stream.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ToolCallDelta {
    pub index: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionDelta>,
}

/// The name (first fragment only) and a piece of the arguments' JSON text.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FunctionDelta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => None,
        Some(OneOrMany::One(one)) => Some(vec![one]),
        Some(OneOrMany::Many(many)) => Some(many),
    })
}

/// Seconds since the epoch, for `created`.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_keep_what_they_do_not_understand_and_read_both_spellings() {
        let req: ChatRequest = serde_json::from_value(json!({
            "model": "openai/gpt-4o-mini",
            "messages": [
                { "role": "system", "content": "be brief" },
                { "role": "user", "content": [
                    { "type": "text", "text": "what is this?" },
                    { "type": "image_url", "image_url": { "url": "data:image/png;base64,AAAA", "detail": "low" } },
                    { "type": "input_audio", "input_audio": { "data": "xx", "format": "wav" } }
                ] }
            ],
            "stop": "END",
            "max_tokens": 5,
            "seed": 7,
            "tool_choice": { "type": "function", "function": { "name": "lookup" } },
            "response_format": { "type": "json_object" }
        }))
        .unwrap();
        assert_eq!(req.stop, Some(vec!["END".to_owned()]));
        assert_eq!(req.output_limit(), Some(5));
        assert_eq!(req.extra["seed"], 7);
        assert_eq!(req.tool_choice, Some(ToolChoice::Function("lookup".into())));
        assert!(matches!(req.json_mode(), Some(JsonMode::Object)));
        let parts = req.messages[1].content.as_ref().unwrap().parts();
        assert_eq!(parts[1], Part::Image { url: "data:image/png;base64,AAAA".into(), detail: Some("low".into()) });
        assert_eq!(parts[2].kind(), "input_audio");
        let back = serde_json::to_value(&req).unwrap();
        assert_eq!(back["messages"][1]["content"][2]["input_audio"]["format"], "wav", "unknown parts pass through");
        assert_eq!(back["seed"], 7);
        assert_eq!(back["messages"][0]["content"], "be brief");
    }

    #[test]
    fn bad_content_is_named() {
        let err = serde_json::from_value::<ChatRequest>(json!({
            "model": "m", "messages": [{ "role": "user", "content": [{ "text": "no type" }] }]
        }))
        .unwrap_err();
        assert!(err.to_string().contains("needs a `type`"), "{err}");
        let err = serde_json::from_value::<ChatRequest>(json!({ "model": "m", "messages": [{ "role": "robot" }] }))
            .unwrap_err();
        assert!(err.to_string().contains("robot"), "{err}");
    }

    #[test]
    fn a_role_only_chunk_carries_no_output() {
        assert!(!ChatChunk::delta(Delta::role(), None).carries_output());
        assert!(ChatChunk::delta(Delta::text("hi"), None).carries_output());
        assert!(ChatChunk::delta(Delta::default(), Some("stop".into())).carries_output());
        assert!(ChatChunk::delta(Delta::tool_call(0, Some("c".into()), Some("f".into()), ""), None).carries_output());
    }
}
