"""normalize_usage: one small test per provider shape, from real recorded payloads (tests/data/payloads)."""

import json

import pytest

from core.usage import normalize_usage
from tests.helpers import DATA

PAYLOADS = DATA / "payloads"


def load(name: str) -> dict:
    return json.loads((PAYLOADS / name).read_text())


def shape(i, o, c=0, w=0, r=0):
    return {"input_tokens": i, "output_tokens": o, "cached_tokens": c, "cache_write_tokens": w, "reasoning_tokens": r}


def test_openai_chat_reasoning_counts_in_output():
    assert normalize_usage("openai", load("openai_chat_completion_o3mini_reasoning.json")) == shape(11, 809, r=768)


def test_openai_chat_cached_tokens_are_part_of_input():
    assert normalize_usage("openai", load("openai_chat_completion_cached_tokens.json")) == shape(4020, 4, c=4012)


def test_openai_chat_usage_object_alone():
    usage = load("openai_chat_completion_spec_default.json")["usage"]
    assert normalize_usage("openai", usage) == shape(19, 10)


def test_openai_stream_final_chunk():
    assert normalize_usage("openai", load("openai_chat_stream_final_usage_chunk.json")) == shape(53, 15)


def test_openai_responses_api_reasoning():
    assert normalize_usage("openai", load("openai_responses_spec_reasoning.json")) == shape(81, 1035, r=832)


def test_openai_responses_stream_completed_event_without_details():
    assert normalize_usage("openai", load("openai_responses_stream_completed_event.json")) == shape(37, 11)


def test_openai_responses_cache_write_tokens():
    usage = {
        "input_tokens": 4100,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 4012},
        "output_tokens": 9,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 4109,
    }
    assert normalize_usage("openai", {"usage": usage}) == shape(4100, 9, w=4012)


def test_anthropic_cache_read_and_write_are_added_to_input():
    # input_tokens 3 excludes the 1111 cache reads and 418 cache writes.
    got = normalize_usage("anthropic", load("anthropic_message_cache_creation_and_read.json"))
    assert got == shape(3 + 1111 + 418, 33, c=1111, w=418)


def test_anthropic_plain_message():
    assert normalize_usage("anthropic", load("anthropic_message_sdk_snapshot.json")) == shape(406, 50)


def test_gemini_openai_compatible_thinking_only_in_total():
    # prompt 35 + completion 12 = 47 but total 109: 62 thinking tokens, billed as output.
    got = normalize_usage("gemini", load("gemini_openai_compat_chat_completion.json"))
    assert got == shape(35, 12 + 62, r=62)


def test_gemini_native_usage_metadata():
    payload = {
        "usageMetadata": {
            "promptTokenCount": 1200,
            "candidatesTokenCount": 80,
            "thoughtsTokenCount": 250,
            "cachedContentTokenCount": 1000,
            "totalTokenCount": 1530,
        }
    }
    assert normalize_usage("gemini", payload) == shape(1200, 330, c=1000, r=250)


def test_gemini_native_tool_use_prompt_counts_as_input():
    payload = {
        "usageMetadata": {
            "promptTokenCount": 100,
            "toolUsePromptTokenCount": 40,
            "candidatesTokenCount": 10,
            "totalTokenCount": 150,
        }
    }
    assert normalize_usage("gemini", payload) == shape(140, 10)


def test_mistral_prompt_tokens_details_cached():
    assert normalize_usage("mistral", load("mistral_chat_completion_cached_tokens.json")) == shape(268, 5, c=224)


def test_mistral_num_cached_tokens_shape():
    payload = {
        "usage": {"prompt_tokens": 1500, "completion_tokens": 20, "total_tokens": 1520, "num_cached_tokens": 1280}
    }
    assert normalize_usage("mistral", payload) == shape(1500, 20, c=1280)


def test_ollama_native_final_message():
    assert normalize_usage("ollama", load("ollama_api_chat_final_nonstreaming.json")) == shape(26, 298)


def test_ollama_native_stream_final_chunk():
    assert normalize_usage("ollama", load("ollama_api_chat_stream_final_chunk.json")) == shape(169, 15)


def test_ollama_openai_compatible():
    assert normalize_usage("ollama", load("ollama_openai_compat_chat_completion.json")) == shape(136, 15)


def test_sdk_objects_are_accepted():
    from openai.types.completion_usage import CompletionUsage, PromptTokensDetails

    usage = CompletionUsage(
        prompt_tokens=100,
        completion_tokens=7,
        total_tokens=107,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=64),
    )
    assert normalize_usage("openai", usage) == shape(100, 7, c=64)


@pytest.mark.parametrize(
    "payload, needle",
    [
        ({"choices": []}, "no usage"),
        ({"usage": {"prompt_tokens": -3, "completion_tokens": 1}}, "prompt_tokens"),
        ({"usage": {"prompt_tokens": 1.5, "completion_tokens": 1}}, "prompt_tokens"),
        (
            {"usage": {"prompt_tokens": 5, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": 9}}},
            "exceed",
        ),
        ("not json", "JSON object"),
    ],
)
def test_malformed_usage_is_refused_with_the_field(payload, needle):
    with pytest.raises(ValueError, match=needle):
        normalize_usage("openai", payload)


def test_anthropic_thinking_tokens_are_reasoning():
    # Anthropic's newer responses report extended-thinking tokens inside output_tokens, itemised here.
    payload = {
        "model": "claude-sonnet-4-5",
        "usage": {
            "input_tokens": 120,
            "output_tokens": 900,
            "cache_read_input_tokens": 0,
            "cache_creation_input_tokens": 0,
            "output_tokens_details": {"thinking_tokens": 640},
        },
    }
    assert normalize_usage("anthropic", payload) == shape(120, 900, r=640)


def test_anthropic_cache_creation_split_by_duration():
    # Newer responses add the 5-minute / 1-hour split beside the flat total: counted once, not twice.
    payload = {
        "usage": {
            "input_tokens": 10,
            "output_tokens": 4,
            "cache_read_input_tokens": 0,
            "cache_creation_input_tokens": 500,
            "cache_creation": {"ephemeral_5m_input_tokens": 300, "ephemeral_1h_input_tokens": 200},
        }
    }
    assert normalize_usage("anthropic", payload) == shape(510, 4, w=500)


def test_unknown_model_and_unknown_provider_still_read():
    # The library's model catalogue is not needed to read tokens: a self-hosted model behind any
    # OpenAI-compatible server is read with the chat API's reader.
    payload = {"model": "qwen3:0.6b", "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}}
    assert normalize_usage("vllm", payload) == shape(9, 3)
