"""The generative drafter: asks any OpenAI-compatible ``/v1/chat/completions`` endpoint for a JSON article
(sending scrubbed text only) and falls back to the extractive drafter when the endpoint is not configured,
fails, times out or answers something unusable."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from itsm_ai.knowledge.drafting.extractive import Draft, ExtractiveDrafter
from itsm_ai.knowledge.drafting.pii import scrub
from itsm_ai.knowledge.drafting.text import BULLET, Ticket, clean_title, prepare_tickets, ticket_numbers


class DraftParseError(ValueError):
    """The language model's answer is not a usable article."""


_SYSTEM_PROMPT = (
    "You write IT knowledge base articles from resolved service desk tickets. Use only facts found in the "
    "tickets, keep commands exact, write no personal data. Answer with one JSON object and nothing else: "
    '{"title": string, "symptoms": string, "cause": string or null, "resolution_steps": [string, ...]}.'
)


def parse_draft_answer(content: str, *, names: Sequence[str] = ()) -> dict[str, Any]:
    """Parse a model's JSON answer (tolerating code fences and surrounding prose) into article fields."""
    if not isinstance(content, str) or "{" not in content:
        raise DraftParseError("answer holds no JSON object")
    text = re.sub(r"^```(?:json)?\s*|\s*```$", "", content.strip())
    start, end = text.find("{"), text.rfind("}")
    try:
        data = json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        raise DraftParseError(f"answer is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise DraftParseError("answer is not a JSON object")
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        raise DraftParseError("answer has no title")
    steps = data.get("resolution_steps", data.get("steps"))
    if isinstance(steps, str):
        steps = [s for s in steps.splitlines() if s.strip()]
    if not isinstance(steps, list) or not steps or not all(isinstance(s, str) and s.strip() for s in steps):
        raise DraftParseError("answer has no resolution_steps list of strings")
    symptoms = data.get("symptoms") or ""
    if isinstance(symptoms, list):
        symptoms = " ".join(str(s) for s in symptoms)
    cause = data.get("cause")
    if cause is not None and not isinstance(cause, str):
        raise DraftParseError("cause must be a string or null")
    return {
        "title": clean_title(scrub(title, names=names)),
        "symptoms": scrub(str(symptoms), names=names).strip(),
        "cause": scrub(cause, names=names).strip() or None if cause else None,
        "resolution_steps": [scrub(BULLET.sub("", s).strip(), names=names) for s in steps][:20],
    }


class GenerativeDrafter:
    """Drafts with an OpenAI-compatible chat endpoint; falls back to ``ExtractiveDrafter`` on any trouble."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        model: str | None = None,
        timeout: float = 30.0,
        *,
        fallback: ExtractiveDrafter | None = None,
        max_tickets: int = 12,
        max_chars_per_ticket: int = 1500,
        temperature: float = 0.2,
    ):
        self.base_url = base_url
        self.api_key = api_key
        self.model = model
        self.timeout = timeout
        self.fallback = fallback
        self.max_tickets = max_tickets
        self.max_chars_per_ticket = max_chars_per_ticket
        self.temperature = temperature

    @property
    def configured(self) -> bool:
        """True when an endpoint and a model name are set."""
        return bool(self.base_url and self.model)

    @property
    def endpoint(self) -> str:
        """The chat-completions URL derived from ``base_url``."""
        base = (self.base_url or "").rstrip("/")
        if base.endswith("/chat/completions"):
            return base
        return f"{base}/chat/completions" if base.endswith("/v1") else f"{base}/v1/chat/completions"

    def _fallback(self) -> ExtractiveDrafter:
        return self.fallback or ExtractiveDrafter()

    def build_messages(self, tickets: Sequence[Ticket]) -> list[dict[str, str]]:
        """Chat messages for a cluster; the ticket text is scrubbed of personal data first."""
        prepared = prepare_tickets(tickets)[0][: self.max_tickets]
        blocks = []
        for t in prepared:
            body = (
                f"Ticket {t['number']}\nShort description: {t['short_description']}\n"
                f"Description: {t['description']}\nResolution: {t['resolution_notes']}"
            )
            blocks.append(body[: self.max_chars_per_ticket])
        user = "Write one knowledge article covering these resolved tickets.\n\n" + "\n\n---\n\n".join(blocks)
        return [{"role": "system", "content": _SYSTEM_PROMPT}, {"role": "user", "content": user}]

    def draft(self, tickets: Sequence[Ticket]) -> Draft:
        """Draft with the model, or extractively when the endpoint is unset, fails or answers junk."""
        prepared, names = prepare_tickets(tickets)
        if not self.configured:
            return self._fall_back(tickets, "generative drafter not configured")
        import httpx

        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        body = {
            "model": self.model,
            "messages": self.build_messages(tickets),
            "temperature": self.temperature,
        }
        try:
            response = httpx.post(self.endpoint, json=body, headers=headers, timeout=self.timeout)
            response.raise_for_status()
            content = response.json()["choices"][0]["message"]["content"]
            fields = parse_draft_answer(content, names=names)
        except httpx.TimeoutException:
            return self._fall_back(tickets, f"generative endpoint timed out after {self.timeout:g} s")
        except httpx.HTTPStatusError as exc:
            return self._fall_back(tickets, f"generative endpoint answered HTTP {exc.response.status_code}")
        except httpx.HTTPError as exc:
            return self._fall_back(tickets, f"generative endpoint unreachable: {type(exc).__name__}")
        except (DraftParseError, ValueError, KeyError, IndexError, TypeError) as exc:
            return self._fall_back(tickets, f"generative answer unusable: {exc}")
        coverage, agreement = self._fallback()._support(prepared, fields["resolution_steps"])
        return Draft(
            **fields,
            source_numbers=ticket_numbers(prepared),
            confidence=ExtractiveDrafter._confidence(coverage, agreement, len(prepared)),
            coverage=round(coverage, 3),
            method="generative",
            notes=[f"model {self.model}"],
        )

    def _fall_back(self, tickets: Sequence[Ticket], reason: str) -> Draft:
        draft = self._fallback().draft(tickets)
        draft.notes = [reason, *draft.notes]
        return draft
