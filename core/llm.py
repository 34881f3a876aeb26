"""Public facade of the tracked LLM client: `complete()` walks an operation's provider chain with fallback and
budget-aware skips, `instrument()` wraps an existing `openai.OpenAI` client. The code lives in
`core.providers.tracked`."""

from core.providers.tracked import (  # noqa: F401  (the facade's public names)
    AllProvidersFailed,
    complete,
    complete_traced,
    instrument,
)
