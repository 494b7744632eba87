"""Pages: the browser chat for end users, and the console's decision pages for ML engineers."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from optiroute.api_errors import OptiRouteError
from optiroute.http import HtmxHttpRequest
from routing.access.keys import get_chat_key_for_user
from routing.chat.forms import ChatForm
from routing.chat.services import chat_browser_send

SESSION_KEY = "chat_history"


@login_required
def chat(request: HtmxHttpRequest) -> HttpResponse:
    try:
        key = get_chat_key_for_user(request.user)
    except OptiRouteError as exc:
        return render(request, "routing/chat.html", {"blocked": exc.message}, status=exc.status)
    history = request.session.get(SESSION_KEY, [])
    form = ChatForm(request.POST or None)
    if request.method != "POST":
        return render(request, "routing/chat.html", {"form": form, "turns": _turns(history)})
    if not form.is_valid():
        turn = {"error": "; ".join(str(m) for errors in form.errors.values() for m in errors)}
        return render(request, "routing/chat.html#turn", {"turn": turn}, status=400)
    text, profile = form.cleaned_data["message"], form.cleaned_data["profile"]
    try:
        reply = chat_browser_send(api_key=key, history=history, text=text, profile=profile)
    except OptiRouteError as exc:
        turn = {"user": text, "error": exc.message}
    else:
        answer = reply["choices"][0]["message"]["content"]
        request.session[SESSION_KEY] = [*history, {"role": "user", "content": text},
                                        {"role": "assistant", "content": answer}][-40:]
        turn = {"user": text, "answer": answer, "meta": reply["optiroute"]}
    return render(request, "routing/chat.html#turn", {"turn": turn}) if request.htmx else redirect("chat")


@login_required
@require_POST
def chat_reset(request: HttpRequest) -> HttpResponse:
    request.session.pop(SESSION_KEY, None)
    return redirect("chat")


def _turns(history: list[dict[str, str]]) -> list[dict[str, str]]:
    """Earlier user/assistant pairs of this session, for the first render."""
    return [{"user": q["content"], "answer": a["content"]} for q, a in zip(history[::2], history[1::2], strict=False)]
