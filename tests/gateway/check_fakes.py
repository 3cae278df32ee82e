"""Check each fake provider of the gateway tests with that provider's
official client library, so the fakes cannot drift from the real formats.

Environment: FAKE_KEY (the key every fake accepts) and, for each fake to
check, FAKE_OPENAI_URL, FAKE_ANTHROPIC_URL, FAKE_GEMINI_URL,
FAKE_OLLAMA_URL (base URLs as each client wants them). Prints one JSON line:
{provider: {scenario: result}}; a client that rejects what a fake sends
raises, and the script exits non-zero with the traceback.
"""

import base64
import json
import os
import sys

# A 1x1 PNG: the fakes answer with the size they decode from the bytes.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)
KEY = os.environ["FAKE_KEY"]
TOOL_SCHEMA = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}


def refused(call, *errors):
    """The class name of the error `call` raised (one of `errors`), or a failure."""
    try:
        call()
    except errors as e:
        return type(e).__name__
    raise AssertionError(f"expected one of {errors}")


def check_openai(url):
    import openai

    client = openai.OpenAI(api_key=KEY, base_url=url, max_retries=0)
    ask = [{"role": "user", "content": "hello fake"}]
    out = {"text": client.chat.completions.create(model="m", messages=ask).choices[0].message.content}
    stream = client.chat.completions.create(model="m", messages=ask, stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    out["stream"] = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    out["stream_usage"] = chunks[-1].usage.total_tokens
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": TOOL_SCHEMA}}]
    call = client.chat.completions.create(model="m", messages=ask, tools=tools).choices[0].message.tool_calls[0]
    out["tool"] = [call.function.name, json.loads(call.function.arguments)]
    args = ""
    for chunk in client.chat.completions.create(model="m", messages=ask, tools=tools, stream=True):
        for delta in chunk.choices[0].delta.tool_calls or []:
            args += delta.function.arguments or ""
    out["tool_stream"] = json.loads(args)
    image = [{"type": "text", "text": "what?"},
             {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(PNG).decode()}}]
    out["image"] = client.chat.completions.create(model="m", messages=[{"role": "user", "content": image}]).choices[0].message.content
    bad = openai.OpenAI(api_key="wrong", base_url=url, max_retries=0)
    out["bad_key"] = refused(lambda: bad.chat.completions.create(model="m", messages=ask), openai.AuthenticationError)
    out["rate_limited"] = refused(lambda: client.chat.completions.create(model="rate-limited", messages=ask), openai.RateLimitError)
    out["models"] = [m.id for m in client.models.list()]
    return out


def check_anthropic(url):
    import anthropic

    client = anthropic.Anthropic(api_key=KEY, base_url=url, max_retries=0)
    ask = [{"role": "user", "content": "hello fake"}]
    answer = client.messages.create(model="m", max_tokens=50, messages=ask)
    out = {"text": answer.content[0].text, "stop": answer.stop_reason}
    with client.messages.stream(model="m", max_tokens=50, messages=ask) as stream:
        out["stream"] = "".join(stream.text_stream)
        out["stream_usage"] = stream.get_final_message().usage.output_tokens
    tools = [{"name": "lookup", "description": "look up", "input_schema": TOOL_SCHEMA}]
    block = [b for b in client.messages.create(model="m", max_tokens=50, messages=ask, tools=tools).content if b.type == "tool_use"][0]
    out["tool"] = [block.name, block.input]
    with client.messages.stream(model="m", max_tokens=50, messages=ask, tools=tools) as stream:
        final = stream.get_final_message()
    out["tool_stream"] = [b.input for b in final.content if b.type == "tool_use"][0]
    image = [{"type": "text", "text": "what?"},
             {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": base64.b64encode(PNG).decode()}}]
    out["image"] = client.messages.create(model="m", max_tokens=50, messages=[{"role": "user", "content": image}]).content[0].text
    bad = anthropic.Anthropic(api_key="wrong", base_url=url, max_retries=0)
    out["bad_key"] = refused(lambda: bad.messages.create(model="m", max_tokens=5, messages=ask), anthropic.AuthenticationError)
    out["rate_limited"] = refused(
        lambda: client.messages.create(model="rate-limited", max_tokens=5, messages=ask), anthropic.RateLimitError
    )
    out["models"] = [m.id for m in client.models.list()]
    return out


def check_gemini(url):
    from google import genai
    from google.genai import errors, types

    options = types.HttpOptions(base_url=url, retry_options=types.HttpRetryOptions(attempts=1))
    client = genai.Client(api_key=KEY, http_options=options)
    out = {"text": client.models.generate_content(model="m", contents="hello fake").text}
    out["stream"] = "".join(c.text or "" for c in client.models.generate_content_stream(model="m", contents="hello fake"))
    lookup = types.FunctionDeclaration(name="lookup", description="look up", parameters_json_schema=TOOL_SCHEMA)
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[lookup])],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    call = client.models.generate_content(model="m", contents="hello fake", config=config).function_calls[0]
    out["tool"] = [call.name, call.args]
    streamed = [c.function_calls for c in client.models.generate_content_stream(model="m", contents="hello fake", config=config)]
    out["tool_stream"] = [calls[0].args for calls in streamed if calls][0]
    image = [types.Part.from_text(text="what?"), types.Part.from_bytes(data=PNG, mime_type="image/png")]
    out["image"] = client.models.generate_content(model="m", contents=image).text
    bad = genai.Client(api_key="wrong", http_options=options)
    out["bad_key"] = refused(lambda: bad.models.generate_content(model="m", contents="x"), errors.ClientError)
    try:
        client.models.generate_content(model="rate-limited", contents="x")
        raise AssertionError("rate-limited answered")
    except errors.ClientError as e:
        out["rate_limited"] = e.code
    out["models"] = [m.name for m in client.models.list()]
    return out


def check_ollama(url):
    import ollama

    client = ollama.Client(host=url, headers={"Authorization": f"Bearer {KEY}"})
    ask = [{"role": "user", "content": "hello fake"}]
    answer = client.chat(model="m", messages=ask, stream=False)
    out = {"text": answer.message.content, "stream_usage": answer.eval_count}
    out["stream"] = "".join(c.message.content or "" for c in client.chat(model="m", messages=ask, stream=True))
    tools = [{"type": "function", "function": {"name": "lookup", "description": "look up", "parameters": TOOL_SCHEMA}}]
    call = client.chat(model="m", messages=ask, tools=tools, stream=False).message.tool_calls[0]
    out["tool"] = [call.function.name, dict(call.function.arguments)]
    streamed = [c.message.tool_calls for c in client.chat(model="m", messages=ask, tools=tools, stream=True)]
    out["tool_stream"] = [dict(calls[0].function.arguments) for calls in streamed if calls][0]
    image = [{"role": "user", "content": "what?", "images": [PNG]}]
    out["image"] = client.chat(model="m", messages=image, stream=False).message.content
    bad = ollama.Client(host=url, headers={"Authorization": "Bearer wrong"})
    try:
        bad.chat(model="m", messages=ask, stream=False)
        raise AssertionError("a wrong key answered")
    except ollama.ResponseError as e:
        out["bad_key"] = e.status_code
    try:
        client.chat(model="rate-limited", messages=ask, stream=False)
        raise AssertionError("rate-limited answered")
    except ollama.ResponseError as e:
        out["rate_limited"] = e.status_code
    out["models"] = [m.model for m in client.list().models]
    return out


def main():
    checks = {"openai": check_openai, "anthropic": check_anthropic, "gemini": check_gemini, "ollama": check_ollama}
    report = {}
    for name, check in checks.items():
        url = os.environ.get(f"FAKE_{name.upper()}_URL")
        if url:
            report[name] = check(url)
    print(json.dumps(report))


if __name__ == "__main__":
    sys.exit(main())
