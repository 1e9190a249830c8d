//! The HTTP backends against a recording server: request shapes per the documented APIs,
//! retries on transient failures only, clear errors for everything else.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use nightshift_llm_http::fake::FakeServer;
use nightshift_llm_http::{Api, ChatRequest, Client, Endpoint, HttpError};
use nightshift_worker_protocol::{ChatMessage, FinishReason, Sampling};
use serde_json::json;

fn endpoint(api: Api, url: &str) -> Endpoint {
    Endpoint {
        retries: 2,
        backoff: Duration::from_millis(10),
        timeout: Duration::from_secs(5),
        ..Endpoint::new(api, url, "test-model")
    }
}

fn ask(client: &Client) -> Result<nightshift_llm_http::ChatReply, HttpError> {
    let messages = [ChatMessage::new("user", "Summarise: we ship on Friday.")];
    let schema = json!({"type": "object", "properties": {"overview": {"type": "string"}}, "required": ["overview"]});
    let sampling = Sampling::default();
    client.chat(&ChatRequest {
        messages: &messages,
        json_schema: Some(&schema),
        max_tokens: 64,
        sampling: &sampling,
        images: &[],
    })
}

fn openai_answer(content: &str) -> String {
    json!({
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 21, "completion_tokens": 7},
    })
    .to_string()
}

#[test]
fn openai_request_carries_the_schema_and_the_reply_is_read() {
    let server =
        FakeServer::start(Box::new(|_| (200, openai_answer(r#"{"overview":"ship"}"#)))).unwrap();
    let mut ep = endpoint(Api::OpenAi, &format!("{}/v1", server.url()));
    ep.api_key = Some("sk-local".into());
    let reply = ask(&Client::new(ep)).unwrap();
    assert_eq!(reply.text, r#"{"overview":"ship"}"#);
    assert_eq!((reply.tokens_in, reply.tokens_out), (21, 7));
    assert_eq!(reply.finish_reason, FinishReason::Stop);
    let seen = server.requests();
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(r.json["model"], "test-model");
    assert_eq!(r.json["max_tokens"], 64);
    assert_eq!(r.json["stream"], false);
    assert_eq!(r.json["response_format"]["type"], "json_schema");
    assert_eq!(
        r.json["response_format"]["json_schema"]["schema"]["required"][0],
        "overview"
    );
    assert_eq!(r.json["messages"][0]["role"], "user");
    assert!(
        r.headers
            .iter()
            .any(|(k, v)| k == "authorization" && v == "Bearer sk-local")
    );
}

#[test]
fn transient_failures_are_retried_then_succeed() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let server = FakeServer::start(Box::new(move |_| match c.fetch_add(1, Ordering::SeqCst) {
        0 => (503, r#"{"error":{"message":"Loading model"}}"#.into()),
        1 => (429, "{}".into()),
        _ => (200, openai_answer("{}")),
    }))
    .unwrap();
    let reply = ask(&Client::new(endpoint(Api::OpenAi, &server.url()))).unwrap();
    assert_eq!(reply.text, "{}");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[test]
fn a_server_that_stays_down_gives_a_clear_error_after_the_retries() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let server = FakeServer::start(Box::new(move |_| {
        c.fetch_add(1, Ordering::SeqCst);
        (500, r#"{"error":{"message":"CUDA out of memory"}}"#.into())
    }))
    .unwrap();
    let err = ask(&Client::new(endpoint(Api::OpenAi, &server.url()))).unwrap_err();
    assert_eq!(calls.load(Ordering::SeqCst), 3, "1 + 2 retries");
    let msg = err.to_string();
    assert!(
        msg.contains("HTTP 500") && msg.contains("CUDA out of memory"),
        "{msg}"
    );
}

#[test]
fn client_errors_are_not_retried_and_name_the_servers_message() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let server = FakeServer::start(Box::new(move |_| {
        c.fetch_add(1, Ordering::SeqCst);
        (
            404,
            r#"{"error":"model \"test-model\" not found, try pulling it first"}"#.into(),
        )
    }))
    .unwrap();
    let err = ask(&Client::new(endpoint(Api::Ollama, &server.url()))).unwrap_err();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(!err.is_transient());
    assert!(
        err.to_string().contains("not found, try pulling it first"),
        "{err}"
    );
}

#[test]
fn nobody_listening_is_unreachable() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = ask(&Client::new(endpoint(
        Api::OpenAi,
        &format!("http://127.0.0.1:{port}"),
    )))
    .unwrap_err();
    assert!(matches!(err, HttpError::Unreachable { .. }), "{err}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
}

#[test]
fn a_body_that_is_not_the_documented_shape_is_an_invalid_response() {
    let server = FakeServer::start(Box::new(|_| (200, "<html>proxy error</html>".into()))).unwrap();
    let err = ask(&Client::new(endpoint(Api::OpenAi, &server.url()))).unwrap_err();
    assert!(matches!(err, HttpError::InvalidResponse { .. }), "{err}");
    assert!(err.to_string().contains("proxy error"), "{err}");
    let server = FakeServer::start(Box::new(|_| (200, r#"{"choices":[]}"#.into()))).unwrap();
    let err = ask(&Client::new(endpoint(Api::OpenAi, &server.url()))).unwrap_err();
    assert!(err.to_string().contains("choices[0]"), "{err}");
}

#[test]
fn a_server_slower_than_the_timeout_is_an_error_not_a_hang() {
    let server = FakeServer::start(Box::new(|_| {
        std::thread::sleep(Duration::from_secs(3));
        (200, openai_answer("{}"))
    }))
    .unwrap();
    let ep = Endpoint {
        timeout: Duration::from_millis(300),
        retries: 0,
        ..endpoint(Api::OpenAi, &server.url())
    };
    let started = std::time::Instant::now();
    let err = ask(&Client::new(ep)).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2), "{err}");
    assert!(matches!(err, HttpError::Unreachable { .. }), "{err}");
}

#[test]
fn ollama_chat_uses_format_and_options_and_unload_is_confirmed_by_ps() {
    let loaded = Arc::new(AtomicUsize::new(1));
    let l = Arc::clone(&loaded);
    let server = FakeServer::start(Box::new(move |req| match req.path.as_str() {
        "/api/chat" => (
            200,
            json!({"model": "test-model", "message": {"role": "assistant", "content": "{\"overview\":\"x\"}"},
                   "done": true, "done_reason": "stop", "prompt_eval_count": 30, "prompt_eval_duration": 1_000_000_000u64,
                   "eval_count": 5, "eval_duration": 500_000_000u64})
            .to_string(),
        ),
        "/api/generate" if req.json["keep_alive"] == 0 => {
            l.store(0, Ordering::SeqCst);
            (200, json!({"model": "test-model", "done": true, "done_reason": "unload"}).to_string())
        }
        "/api/ps" => {
            let models = if l.load(Ordering::SeqCst) == 1 {
                json!([{"name": "test-model:latest", "model": "test-model:latest", "size_vram": 1}])
            } else {
                json!([])
            };
            (200, json!({"models": models}).to_string())
        }
        _ => (404, "{}".into()),
    }))
    .unwrap();
    let mut ep = endpoint(Api::Ollama, &server.url());
    ep.n_ctx = Some(8192);
    let client = Client::new(ep);
    let reply = ask(&client).unwrap();
    assert_eq!((reply.tokens_in, reply.tokens_out), (30, 5));
    assert_eq!(reply.gen_tokens_per_s, Some(10.0));
    let chat = &server.requests()[0];
    assert_eq!(chat.json["format"]["required"][0], "overview");
    assert_eq!(chat.json["stream"], false);
    assert_eq!(chat.json["options"]["num_predict"], 64);
    assert_eq!(chat.json["options"]["num_ctx"], 8192);
    assert!(client.unload(Duration::from_secs(2)).unwrap());
    let paths: Vec<String> = server.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/api/chat", "/api/generate", "/api/ps"]);
}

#[test]
fn images_travel_as_content_parts_or_ollama_images() {
    let png = b"\x89PNG\r\n\x1a\nfake".to_vec();
    for api in [Api::OpenAi, Api::Ollama] {
        let server = FakeServer::start(Box::new(move |_| match api {
            Api::OpenAi => (200, openai_answer("a slide")),
            Api::Ollama => (
                200,
                json!({"message": {"role": "assistant", "content": "a slide"}, "done": true})
                    .to_string(),
            ),
        }))
        .unwrap();
        let client = Client::new(endpoint(api, &server.url()));
        let messages = [
            ChatMessage::new("system", "You describe slides."),
            ChatMessage::new("user", "What is on screen?"),
        ];
        let sampling = Sampling::default();
        let reply = client
            .chat(&ChatRequest {
                messages: &messages,
                json_schema: None,
                max_tokens: 32,
                sampling: &sampling,
                images: std::slice::from_ref(&png),
            })
            .unwrap();
        assert_eq!(reply.text, "a slide");
        let body = &server.requests()[0].json;
        let b64 = nightshift_llm_http::base64(&png);
        match api {
            Api::OpenAi => {
                assert_eq!(body["messages"][0]["content"], "You describe slides.");
                let parts = &body["messages"][1]["content"];
                assert_eq!(parts[0]["text"], "What is on screen?");
                assert_eq!(
                    parts[1]["image_url"]["url"],
                    format!("data:image/png;base64,{b64}")
                );
            }
            Api::Ollama => assert_eq!(body["messages"][1]["images"][0], b64.as_str()),
        }
    }
    assert_eq!(nightshift_llm_http::base64(b"Man"), "TWFu");
    assert_eq!(nightshift_llm_http::base64(b"Ma"), "TWE=");
    assert_eq!(nightshift_llm_http::base64(b"M"), "TQ==");
}
