"""The official OpenAI Python client against Helmdeck's AI gateway.

Environment: GATEWAY_URL (`http://127.0.0.1:PORT/v1`) and GATEWAY_TOKEN (a
Helmdeck token). Arguments: the models to drive (`openai/m`,
`anthropic/m`, ...). For each: a chat, a stream, a tool call and its
tool-result round trip (whole and streamed), an image, JSON mode. Also the
model list and a refused token. Prints one JSON line.
"""

import base64
import json
import os
import sys

import openai

PNG = base64.b64encode(base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)).decode()
TOOLS = [{
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Look something up",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
    },
}]


def drive(client, model):
    out = {}
    ask = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "hello gateway"}]
    raw = client.chat.completions.with_raw_response.create(model=model, messages=ask, max_tokens=50, temperature=0.2, stop=["NEVER"])
    answer = raw.parse()
    out["text"] = answer.choices[0].message.content
    out["finish"] = answer.choices[0].finish_reason
    out["model"] = answer.model
    out["header"] = raw.headers.get("x-helmdeck-model")
    out["usage"] = [answer.usage.prompt_tokens, answer.usage.completion_tokens, answer.usage.total_tokens]

    chunks = list(client.chat.completions.create(model=model, messages=ask, stream=True, stream_options={"include_usage": True}))
    out["stream"] = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    out["stream_deltas"] = sum(1 for c in chunks if c.choices and c.choices[0].delta.content)
    out["stream_models"] = sorted({c.model for c in chunks})
    out["stream_finish"] = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    out["stream_usage"] = chunks[-1].usage.total_tokens if chunks[-1].usage else None

    first = client.chat.completions.create(model=model, messages=ask, tools=TOOLS, tool_choice="auto")
    call = first.choices[0].message.tool_calls[0]
    out["tool_call"] = [call.function.name, json.loads(call.function.arguments), first.choices[0].finish_reason]
    args, names, ids = "", [], set()
    for chunk in client.chat.completions.create(model=model, messages=ask, tools=TOOLS, stream=True):
        for delta in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            if delta.function and delta.function.name:
                names.append(delta.function.name)
            if delta.id:
                ids.add(delta.id)
            args += (delta.function.arguments or "") if delta.function else ""
    out["tool_stream"] = [names, json.loads(args), len(ids)]
    round_trip = ask + [
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "42 degrees"},
    ]
    out["tool_result"] = client.chat.completions.create(model=model, messages=round_trip, tools=TOOLS).choices[0].message.content
    streamed = client.chat.completions.create(model=model, messages=round_trip, tools=TOOLS, stream=True)
    out["tool_result_stream"] = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)

    image = [{"type": "text", "text": "what is this?"}, {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]
    out["image"] = client.chat.completions.create(model=model, messages=[{"role": "user", "content": image}]).choices[0].message.content

    as_json = client.chat.completions.create(model=model, messages=ask, response_format={"type": "json_object"})
    out["json"] = json.loads(as_json.choices[0].message.content)
    return out


def main():
    url, token = os.environ["GATEWAY_URL"], os.environ["GATEWAY_TOKEN"]
    client = openai.OpenAI(api_key=token, base_url=url, max_retries=0)
    report = {"models": sorted(m.id for m in client.models.list()), "drive": {}}
    for model in sys.argv[1:]:
        report["drive"][model] = drive(client, model)
    wrong = openai.OpenAI(api_key="not-a-token", base_url=url, max_retries=0)
    try:
        wrong.chat.completions.create(model=sys.argv[1], messages=[{"role": "user", "content": "x"}])
        report["refused"] = None
    except openai.AuthenticationError as e:
        report["refused"] = [e.status_code, e.code, e.type]
    print(json.dumps(report))


if __name__ == "__main__":
    main()
