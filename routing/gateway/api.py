from __future__ import annotations

from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from optiroute.schema import error_responses
from routing.access.auth import ApiKeyAuthentication
from routing.gateway.chat import ChatRequest, chat_prepare, models_for_key, route_dry_run
from routing.gateway.openai_wire import chat_complete, chat_stream
from routing.gateway.serializers import (
    CHAT_EVENT,
    ChatCompletionInputSerializer,
    ChatCompletionOutputSerializer,
    DecisionSerializer,
    ModelListSerializer,
    RouteInputSerializer,
)


class RouteView(APIView):
    """A routing decision with its explanation; no LLM is called."""

    authentication_classes = [ApiKeyAuthentication]

    @extend_schema(request={"application/json": RouteInputSerializer},
                   responses={200: DecisionSerializer, **error_responses(400, 401, 415, 422)})
    def post(self, request: Request) -> Response:
        data = RouteInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        decision = route_dry_run(
            text=v["text"], context=v["context"], tokens=v["tokens"], profile=v.get("profile"),
            preferences=v.get("preferences"), constraints=v.get("constraints"), api_key=request.auth,
            strategy=v.get("strategy"), output_tokens=v.get("max_output_tokens"), cascade=v.get("cascade"))
        return Response(DecisionSerializer(decision.as_dict()).data)


class ChatCompletionsView(APIView):
    """OpenAI-compatible chat completions, routed; `stream: true` streams server-sent events."""

    authentication_classes = [ApiKeyAuthentication]

    @extend_schema(request={"application/json": ChatCompletionInputSerializer},
                   responses={(200, "application/json"): ChatCompletionOutputSerializer,
                              (200, "text/event-stream"): OpenApiResponse(CHAT_EVENT, "with stream: true"),
                              **error_responses(400, 401, 403, 404, 415, 422, 429, 502)})
    def post(self, request: Request) -> Response | StreamingHttpResponse:
        data = ChatCompletionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        chat = ChatRequest(model=v["model"], messages=[{"role": m["role"], "content": m["content"]} for m in v["messages"]],
                           max_tokens=v.get("max_completion_tokens") or v.get("max_tokens"),
                           temperature=v.get("temperature"), options=v.get("optiroute"))
        prepared = chat_prepare(request=chat, api_key=request.auth)
        if v["stream"]:
            include_usage = bool((v.get("stream_options") or {}).get("include_usage"))
            response = StreamingHttpResponse(chat_stream(prepared=prepared, include_usage=include_usage),
                                             content_type="text/event-stream")
            response["Cache-Control"] = "no-cache"
        else:
            response = Response(chat_complete(prepared=prepared))
        response["x-optiroute-decision-id"] = str(prepared.decision.id)
        if prepared.chain.models:
            response["x-optiroute-model"] = (prepared.decision.answered_by or prepared.chain.models[0]).name
        return response


class ModelsView(APIView):
    """The routing profiles and the models this key may use."""

    authentication_classes = [ApiKeyAuthentication]

    @extend_schema(responses={200: ModelListSerializer, **error_responses(401)})
    def get(self, request: Request) -> Response:
        return Response({"object": "list", "data": models_for_key(api_key=request.auth)})
