"""``/console/api/projects/{id}/words``: a project's own sensitive words, and a text tested
against every word the accept path would refuse it for."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from smsgate.api.responses import JsonResponse
from smsgate.console.requests import audit, operator_only, project_id_of, read, state_of
from smsgate.domain import admin as rules
from smsgate.domain import errors


class Words(msgspec.Struct, forbid_unknown_fields=True):
    words: list[str]


class TextBody(msgspec.Struct, forbid_unknown_fields=True):
    text: str


@operator_only
async def add_words(request: Request) -> Response:
    project_id = project_id_of(request)
    words = rules.words_to_add((await read(request, Words)).words)
    state = state_of(request)
    added = await state.write(state.writer.add_words, project_id, words)
    audit(request, "words_add", project_id=project_id, count=len(words))
    return JsonResponse({"added": added, "words": state.reader.words(project_id)})


@operator_only
async def remove_words(request: Request) -> Response:
    project_id = project_id_of(request)
    words = rules.words_to_remove((await read(request, Words)).words)
    state = state_of(request)
    removed = await state.write(state.writer.remove_words, project_id, words)
    audit(request, "words_remove", project_id=project_id, count=len(words))
    return JsonResponse({"removed": removed, "words": state.reader.words(project_id)})


@operator_only
async def test_text(request: Request) -> Response:
    """Every lexicon entry (the built-in ones and the project's) found in a text, where the
    sender's spelling of it starts: what the accept path would refuse it for."""
    project_id = project_id_of(request)
    text = (await read(request, TextBody)).text
    if len(text) > 2000:
        raise errors.BadRequest("Parameter: text has at most 2000 characters.")
    state = state_of(request)
    context = state.project(project_id)
    if context is None:
        raise errors.ProjectNotFound()
    own = set(state.reader.words(project_id))
    matches = [{"position": position, "word": word, "source": "project" if word in own else "built-in"}
               for position, word in context.rules.lexicon.find_all(text)]
    first = context.rules.lexicon.find(text)
    return JsonResponse({"matches": matches, "refused_for": first})
